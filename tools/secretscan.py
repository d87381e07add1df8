#!/usr/bin/env python3
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Scan test artifacts (logs, reports, JUnit files, pytest and ansible output) for leaked secrets.

Finds, in every file under the given directories:

* the exact secret values listed in a registry (JSON lines ``{"kind", "value"}`` written by
  ``winfleet_lab.secrets.register``), as UTF-8, UTF-16LE or URL-encoded text;
* anything that looks like a full hardware hash: a base64 run that decodes to the hash layout (``OA`` magic, a
  record area and its ``CS`` checksum trailer, checked with the collection's own decoder ``_hwhash``);
* JSON Web Tokens (``eyJ...``) and ``Bearer`` tokens.

Prints one line per hit - file, line and what kind of secret, never the secret - then the figures (files, bytes,
secrets known, occurrences), and exits 1 when anything was found, 0 when the tree is clean, 2 on a usage error.

    python tools/secretscan.py .build/artifacts --registry .build/secrets.jsonl
"""

from __future__ import annotations

import argparse
import binascii
import collections
import fnmatch
import json
import os
import pathlib
import re
import sys
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = "WINFLEET_SECRETS_REGISTRY"
MIN_SECRET = 6  # shorter registered values would match ordinary words; they are reported as skipped
MAX_FILE = 1 << 30

_B64_RUN = re.compile(rb"[A-Za-z0-9+/]{120,}={0,2}")
_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
_BEARER = re.compile(rb"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)")
_REDACTED = re.compile(rb"^(?:x+|\*+|<[^>]*>|\.{3})$", re.I)


def _hwhash():
    """The collection's decoder (imported through the repo's collection link, or the installed collection)."""
    path = ROOT / ".build" / "collections"
    if str(path) not in sys.path and path.is_dir():
        sys.path.insert(0, str(path))
    try:
        from ansible_collections.winfleet.autopilot.plugins.module_utils import _hwhash as mod
    except ImportError:  # the scanner still works without it: a strict structural check below
        return None
    return mod


_DECODER = _hwhash()


def looks_like_full_hash(run):
    """True when ``run`` (base64 bytes) decodes to a whole hardware hash: magic, record area and trailer."""
    text = run.decode("ascii")
    core = text.rstrip("=")
    if len(core) % 4 == 1:
        core = core[:-1]
    try:
        raw = binascii.a2b_base64(core + "=" * (-len(core) % 4))
    except (binascii.Error, ValueError):
        return False
    if raw[:2] != b"OA" or len(raw) < 8:
        return False
    total_len = int.from_bytes(raw[2:4], "little")
    if total_len < 8 or len(raw) < total_len + 36:
        return False
    if raw[total_len:total_len + 2] != b"CS":
        return False
    if _DECODER is not None:
        report = _DECODER.decode(text)
        return report.total_len is not None and not any("magic" in e or "truncated" in e for e in report.errors)
    return True


class Registry:
    def __init__(self, entries):
        self.kinds = {}
        self.skipped = 0
        for kind, value in entries:
            if len(value) < MIN_SECRET:
                self.skipped += 1
                continue
            self.kinds.setdefault(value, kind)
        self.jwts = {v for v in self.kinds if _JWT.fullmatch(v.encode("utf-8", "replace"))}
        # Exact search is only needed for values the patterns do not catch anyway.
        self.needles = []
        for value, kind in sorted(self.kinds.items()):
            if value in self.jwts:
                continue
            forms = {value.encode("utf-8"), value.encode("utf-16-le"), urllib.parse.quote(value, safe="").encode()}
            for form in forms:
                self.needles.append((form, kind))

    def __len__(self):
        return len(self.kinds)


def _line_of(data, pos):
    return data.count(b"\n", 0, pos) + 1


def _text_bytes(data):
    """The file's bytes as UTF-8 for the pattern scan (UTF-16 files are transcoded; positions stay per line)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 64 and data[1:64:2].count(0) > 24):
        codec = "utf-16-be" if data[:2] == b"\xfe\xff" else "utf-16-le"
        body = data[2:] if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data
        return body[: len(body) // 2 * 2].decode(codec, "replace").encode("utf-8")
    return data


def scan_file(path, registry):
    """``[(line, kind)]`` for one file."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_FILE)
    hits = []
    for needle, kind in registry.needles:
        start = data.find(needle)
        while start >= 0:
            hits.append((_line_of(data, start), "registered %s" % kind))
            start = data.find(needle, start + len(needle))
    text = _text_bytes(data)
    for m in _JWT.finditer(text):
        value = m.group(0).decode("ascii")
        kind = registry.kinds.get(value)
        hits.append((_line_of(text, m.start()), "registered %s (JWT)" % kind if kind else "JWT"))
    for m in _BEARER.finditer(text):
        token = m.group(1)
        if _JWT.match(token) or _REDACTED.match(token):
            continue  # counted once as a JWT above / a placeholder
        hits.append((_line_of(text, m.start()), "bearer token"))
    for m in _B64_RUN.finditer(text):
        if m.group(0).startswith(b"T0") and looks_like_full_hash(m.group(0)):
            hits.append((_line_of(text, m.start()), "hardware hash"))
    return sorted(set(hits)), len(data)


def walk(roots, excluded, patterns):
    for root in roots:
        root = pathlib.Path(root)
        if root.is_file():
            yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                path = pathlib.Path(dirpath) / name
                if path.is_symlink() or not path.is_file():
                    continue
                if os.path.realpath(path) in excluded or any(fnmatch.fnmatch(name, p) for p in patterns):
                    continue
                yield path


def main(argv=None):
    ap = argparse.ArgumentParser(prog="secretscan", description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", help="directories (or files) of artifacts to scan")
    ap.add_argument("--registry", action="append", default=[],
                    help="secret registry (JSON lines); default: $%s when set" % ENV)
    ap.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="file names to skip")
    ap.add_argument("--json", metavar="PATH", help="also write the figures and hits (no secrets) as JSON")
    args = ap.parse_args(argv)
    registries = args.registry or ([os.environ[ENV]] if os.environ.get(ENV) else [])
    entries = []
    for reg_path in registries:
        entries.extend(_load(reg_path))
    registry = Registry(entries)
    excluded = {os.path.realpath(p) for p in registries}
    for root in args.roots:
        if not os.path.exists(root):
            print("secretscan: %s does not exist" % root, file=sys.stderr)
            return 2
    started = time.monotonic()
    files = scanned = 0
    by_kind = collections.Counter()
    report = []
    for path in walk(args.roots, excluded, args.exclude):
        try:
            hits, size = scan_file(path, registry)
        except OSError as exc:
            print("secretscan: cannot read %s: %s" % (path, exc.strerror or exc), file=sys.stderr)
            continue
        files += 1
        scanned += size
        for line, kind in hits:
            by_kind[kind] += 1
            report.append({"file": str(path), "line": line, "kind": kind})
            print("secretscan: LEAK %s:%d: %s" % (path, line, kind))
    total = sum(by_kind.values())
    figures = {"files": files, "bytes": scanned, "secrets_known": len(registry), "secrets_too_short": registry.skipped,
               "occurrences": total, "by_kind": dict(by_kind), "seconds": round(time.monotonic() - started, 2)}
    print("secretscan: %d files, %d bytes scanned, %d secrets known (%d too short to search), %d occurrences%s "
          "(%.2f s)" % (files, scanned, len(registry), registry.skipped, total,
                        "" if not total else ": " + ", ".join("%s %d" % kv for kv in sorted(by_kind.items())),
                        figures["seconds"]))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"figures": figures, "hits": report}, indent=2) + "\n")
    return 1 if total else 0


def _load(path):
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict) and item.get("value"):
                    out.append((str(item.get("kind") or "secret"), str(item["value"])))
    except FileNotFoundError:
        print("secretscan: registry %s does not exist (no secret was registered)" % path, file=sys.stderr)
    return out


if __name__ == "__main__":
    sys.exit(main())
