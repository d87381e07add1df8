# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Durable state for the Graph lab: a snapshot plus an append-only journal.

Every mutation goes through ``put``/``delete``; ``commit()`` appends the request's
mutations to ``journal.jsonl`` in one write *before* the HTTP response leaves, so a lab
killed at any moment restarts with every change it ever acknowledged (and possibly a
change it applied but never acknowledged, which is exactly what a real service does to
a client whose connection drops).  ``compact()`` writes ``snapshot.json`` atomically
(temp file + ``os.replace``) and truncates the journal.
"""

from __future__ import annotations

import json
import os
import pathlib
import threading

COLLECTIONS = ("imported", "autopilot", "entra", "managed", "users", "foreign", "apps", "meta", "identities", "groups", "profiles")


class Store:
    def __init__(self, directory=None, compact_every=20000):
        self.dir = pathlib.Path(directory) if directory else None
        self.data = {c: {} for c in COLLECTIONS}
        self._pending = []
        self._lock = threading.RLock()
        self._journal_lines = 0
        self.compact_every = compact_every
        self._fh = None
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._load()
            self._fh = open(self.dir / "journal.jsonl", "a", encoding="utf-8")

    # -- persistence -------------------------------------------------------------------------
    def _load(self):
        snap = self.dir / "snapshot.json"
        if snap.exists():
            loaded = json.loads(snap.read_text(encoding="utf-8"))
            for c in COLLECTIONS:
                self.data[c] = loaded.get(c, {})
        journal = self.dir / "journal.jsonl"
        if journal.exists():
            with open(journal, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        op = json.loads(line)
                    except ValueError:
                        break  # a torn last line from a crash mid-write: everything before it counts
                    self._apply(op)
                    self._journal_lines += 1

    def _apply(self, op):
        coll = self.data[op["c"]]
        if op.get("d"):
            coll.pop(op["k"], None)
        else:
            coll[op["k"]] = op["v"]

    def put(self, coll, key, value):
        with self._lock:
            self.data[coll][key] = value
            if self.dir:
                self._pending.append({"c": coll, "k": key, "v": value})

    def delete(self, coll, key):
        with self._lock:
            self.data[coll].pop(key, None)
            if self.dir:
                self._pending.append({"c": coll, "k": key, "d": 1})

    def touch(self, coll, key):
        """Re-journal an object mutated in place."""
        with self._lock:
            if self.dir and key in self.data[coll]:
                self._pending.append({"c": coll, "k": key, "v": self.data[coll][key]})

    def commit(self):
        with self._lock:
            if not self._pending or self._fh is None:
                self._pending = []
                return
            text = "".join(json.dumps(op, separators=(",", ":")) + "\n" for op in self._pending)
            self._journal_lines += len(self._pending)
            self._pending = []
            self._fh.write(text)
            self._fh.flush()
            # Rewrite the snapshot once the journal outgrows the state (at least ``compact_every`` lines and four
            # mutations per stored object): a restart replays a bounded journal, and a big campaign does not pay
            # for rewriting its whole state every ``compact_every`` requests.
            if self._journal_lines >= max(self.compact_every, 4 * sum(len(c) for c in self.data.values())):
                self.compact()

    def compact(self):
        with self._lock:
            if not self.dir:
                return
            snap = self.dir / "snapshot.json"
            tmp = snap.with_name("snapshot.json.tmp%d" % os.getpid())
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.data, fh, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, snap)
            self._fh.close()
            self._fh = open(self.dir / "journal.jsonl", "w", encoding="utf-8")
            self._journal_lines = 0

    def close(self):
        with self._lock:
            if self._fh is not None:
                self.commit()
                self.compact()
                self._fh.close()
                self._fh = None
