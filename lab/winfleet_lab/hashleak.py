# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find pieces of known hardware hashes in text a tool printed, returned or logged.

The scanner in tools/secretscan.py recognises whole hashes by their structure; a damaged input puts *pieces* of hash
text where a serial or a heading belongs, and those have no structure to recognise. Tests that plant hashes know them,
so they look for any 32-character piece of each in the text: every run of base64 characters at least that long is
looked up in the planted hashes (pieces of the zero padding, ``AAAA...``, carry nothing and are left out).
"""

from __future__ import annotations

import re

WINDOW = 32
_RUN = re.compile(r"[A-Za-z0-9+/=]{%d,}" % WINDOW)


class HashPieces:
    """Pieces of the given hashes, looked for in text."""

    def __init__(self, hashes, window=WINDOW):
        self.window = window
        self.haystack = "\n".join(h.strip() for h in hashes)

    def find(self, text):
        """The offset in ``text`` of the first piece of a hash, or None."""
        w = self.window
        for match in _RUN.finditer(text):
            run = match.group()
            for i in range(len(run) - w + 1):
                piece = run[i:i + w]
                if len(set(piece)) > 4 and piece in self.haystack:
                    return match.start() + i
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
