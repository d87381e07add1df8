# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find pieces of known hardware hashes in text a tool printed, returned or logged.

The scanner in tools/secretscan.py recognises whole hashes by their structure; a damaged input puts *pieces* of hash
text where a serial or a heading belongs, and those have no structure to recognise. Tests that plant hashes know them,
so they look for every 32-character window of each (windows of the zero padding, ``AAAA...``, carry nothing and are
left out).
"""

from __future__ import annotations

WINDOW = 32


class HashPieces:
    """Every ``WINDOW``-character piece of the given hashes (as found in the base64 text or its unpadded forms)."""

    def __init__(self, hashes, window=WINDOW):
        self.window = window
        self.pieces = set()
        for text in hashes:
            text = text.strip()
            for i in range(0, max(0, len(text) - window + 1)):
                piece = text[i:i + window]
                if len(set(piece)) > 4:
                    self.pieces.add(piece)

    def find(self, text):
        """The first piece of a hash found in ``text`` (its offset), or None."""
        w = self.window
        for i in range(0, max(0, len(text) - w + 1)):
            if text[i:i + w] in self.pieces:
                return i
        return None

    def scan_files(self, paths):
        """``[(path, offset)]`` of every file holding a piece of a hash."""
        hits = []
        for path in paths:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
            at = self.find(text)
            if at is not None:
                hits.append((str(path), at))
        return hits
