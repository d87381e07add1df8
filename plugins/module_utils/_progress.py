# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Progress of a long step while it runs (fleet collection, the import wait, bulk deletions).

A module cannot print while it runs, so a long step rewrites a small JSON file instead, atomically (temporary file
and rename) and at most every ``INTERVAL`` seconds. Whoever watches reads it: the campaign console
(``winfleet.autopilot.campaign``) shows it as its live stage line, and with any other callback a person can
``watch cat <campaign_dir>/progress.json``.

Where the file goes:

1. ``$WINFLEET_AUTOPILOT_PROGRESS`` (a file path): the campaign console sets it for the run, in a private folder;
2. otherwise ``<campaign_dir>/progress.json`` when the step knows its campaign folder (``journal``) and the folder
   exists (not in check mode);
3. otherwise nowhere: reporting is a no-op.

What it holds: counts and the step's fixed words, never a value from a device or a file::

    {"v": 1, "stage": "collect", "step": "Reading hardware hashes over WinRM", "unit": "devices", "total": 50,
     "done": 40, "failed": 3, "skipped": 0, "started": 1764000000.0, "updated": 1764000004.2, "finished": false,
     "pid": 4242, "journal": "/srv/autopilot/campaigns/fleet-a/2026-11"}

Reporting never fails the step: a file that cannot be written is skipped silently.
Counting is thread-safe, and with ``share()`` (before forking) forked children count through a pipe to the parent,
which alone writes the file.
"""

from __future__ import annotations

import json
import os
import threading
import time

ENV = "WINFLEET_AUTOPILOT_PROGRESS"
FILE_NAME = "progress.json"
INTERVAL = 0.5
VERSION = 1


def target(journal=None, check_mode=False, environ=None):
    """The file a step reports to (see the module's docstring), or None."""
    environ = os.environ if environ is None else environ
    path = environ.get(ENV)
    if path:
        return path
    if journal and not check_mode and os.path.isdir(journal):
        return os.path.join(journal, FILE_NAME)
    return None


def read(path):
    """The progress dict of ``path``, or None (missing, being replaced, not ours)."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("v") == VERSION else None


class Reporter:
    """The progress of one step: ``update``/``add``/``result`` while it runs, ``finish`` at the end."""

    def __init__(self, stage, step, total=None, journal=None, unit="devices", check_mode=False, path=None,
                 interval=INTERVAL, clock=time.time):
        self.path = path if path is not None else target(journal, check_mode)
        self.interval = interval
        self.clock = clock
        self.state = {"v": VERSION, "stage": stage, "step": step, "unit": unit, "total": total, "done": 0,
                      "failed": 0, "skipped": 0, "started": clock(), "updated": None, "finished": False,
                      "pid": os.getpid(), "journal": journal or None}
        self._lock = threading.Lock()
        self._written = None
        self._owner = os.getpid()
        self._pipe = None
        self._reader = None
        self.write(force=True)

    # ------------------------------------------------------------------------------------------- counting
    def update(self, force=False, **counts):
        """Set counts (``total``, ``done``, ``failed``, ``skipped``) and write when due."""
        with self._lock:
            self.state.update((k, v) for k, v in counts.items() if k in ("total", "done", "failed", "skipped"))
        self.write(force=force)
        return self

    def add(self, done=0, failed=0):
        """Count finished items, from any thread; in a forked child, through the pipe of ``share``."""
        if os.getpid() != self._owner:
            if self._pipe is not None:
                try:
                    os.write(self._pipe[1], b"d" * done + b"f" * failed)
                except OSError:
                    pass
            return
        with self._lock:
            self.state["done"] += done
            self.state["failed"] += failed
        self.write()

    def result(self, res):
        """Count one item by its result: failed when ``res['failed']``, else done."""
        failed = bool(isinstance(res, dict) and res.get("failed"))
        self.add(done=0 if failed else 1, failed=1 if failed else 0)

    def expect(self, results):
        """Start from a list of results known before the work: None is to do, a skipped one is not counted in the
        total, a failed one counts as failed."""
        results = list(results)
        skipped = sum(1 for r in results if isinstance(r, dict) and r.get("skipped"))
        failed = sum(1 for r in results if isinstance(r, dict) and r.get("failed") and not r.get("skipped"))
        return self.update(total=len(results) - skipped, skipped=skipped, failed=failed, force=True)

    def submitted(self, results):
        """The import wait: ``results`` are the devices it waits for (returned unchanged, for chaining)."""
        self.update(total=len(results), force=True)
        return results

    def look(self, look):
        """The import wait: one look ``{ready, pending, failed}`` at the import records."""
        if look:
            self.update(done=look.get("ready", 0), failed=look.get("failed", 0),
                        total=look.get("ready", 0) + look.get("pending", 0) + look.get("failed", 0))

    def sleeper(self, sleep, looks):
        """``sleep`` that first reports the newest of ``looks()`` (the wait's list of looks)."""
        def wrapped(seconds):
            items = looks()
            if items:
                self.look(items[-1])
            sleep(seconds)
        return wrapped

    def finish(self, looks=None):
        """The step is over: collect what forked children still send, write the final counts."""
        self._unshare()
        if looks:
            self.look(looks[-1])
        with self._lock:
            self.state["finished"] = True
        self.write(force=True)

    # ------------------------------------------------------------------------------------------- forked children
    def share(self):
        """Before forking: children's ``add`` calls reach this process through a pipe (read by a thread)."""
        if self._pipe is not None or self.path is None:
            return
        self._pipe = os.pipe()
        self._reader = threading.Thread(target=self._drain, args=(self._pipe[0],), name="winfleet-progress",
                                        daemon=True)
        self._reader.start()

    def _drain(self, fd):
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.state["done"] += data.count(b"d")
                self.state["failed"] += data.count(b"f")
            self.write()

    def _unshare(self):
        if self._pipe is None or os.getpid() != self._owner:
            return
        try:
            os.close(self._pipe[1])  # the reader ends once every child's copy is closed too
        except OSError:
            pass
        self._reader.join(10)
        try:
            os.close(self._pipe[0])
        except OSError:
            pass
        self._pipe = None

    # ------------------------------------------------------------------------------------------- the file
    def write(self, force=False):
        """Rewrite the file atomically (throttled to one write per ``interval`` unless ``force``)."""
        if self.path is None or os.getpid() != self._owner:
            return False
        with self._lock:
            now = self.clock()
            if not force and self._written is not None and now - self._written < self.interval:
                return False
            self._written = now
            self.state["updated"] = now
            data = json.dumps(self.state, sort_keys=True).encode("utf-8")
            tmp = "%s.%d.%d.tmp" % (self.path, os.getpid(), threading.get_ident())
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            except OSError:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                return False
        return True


def counting(on_done, progress):
    """``on_done(job)`` that also counts the job's result in ``progress`` (either may be None)."""
    if progress is None:
        return on_done or (lambda job: None)

    def done(job):
        if on_done is not None:
            on_done(job)
        progress.result(job.result)
    return done


def tracked(items, stage, step, unit="records"):
    """Yield ``items`` (a list), reporting how many were handled (a bulk deletion's loop)."""
    items = list(items)
    progress = Reporter(stage, step, total=len(items), unit=unit)
    for index, item in enumerate(items):
        if index:
            progress.update(done=index)
        yield item
    progress.update(done=len(items))
    progress.finish()
