# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The labs' secret registry: every password, client secret and token a lab creates is appended here, so
``tools/secretscan.py`` can prove none of them reached a log, a report or a test output.

``register(value, kind)`` appends one JSON line ``{"kind": ..., "value": ...}`` to the file named by the
environment variable ``WINFLEET_SECRETS_REGISTRY``; without it (or for an empty value) it does nothing.
The registry itself holds the secrets: keep it outside the artifacts that are scanned (the scanner skips it anyway).
"""

from __future__ import annotations

import json
import os
import threading

ENV = "WINFLEET_SECRETS_REGISTRY"
KINDS = ("password", "client_secret", "token", "certificate_key", "hardware_hash")
_LOCK = threading.Lock()
_SEEN = set()


def register(value, kind):
    """Remember ``value`` as a secret of ``kind`` (one of ``KINDS``); a no-op when the registry is not configured."""
    path = os.environ.get(ENV)
    if not path or not value:
        return
    if kind not in KINDS:
        raise ValueError("unknown secret kind %r (known: %s)" % (kind, ", ".join(KINDS)))
    value = value if isinstance(value, str) else value.decode("utf-8")
    with _LOCK:
        if (path, kind, value) in _SEEN:
            return
        _SEEN.add((path, kind, value))
        line = json.dumps({"kind": kind, "value": value}) + "\n"
        # One write of one line with O_APPEND: lines from several processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


def load(path):
    """``[(kind, value)]`` from a registry file (unknown or broken lines are skipped)."""
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
        pass
    return out
