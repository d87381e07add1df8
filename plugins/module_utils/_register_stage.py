# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The register stage of a campaign for a whole fleet in one call (``autopilot_import`` with ``journal``).

read the upload files ─► the journal: what was registered or finally refused before, what a killed run submitted
   ─► Registrar.run (find registered, adopt own import records, /import in batches, wait)
        ├─ every batch sent: ``Registration pending`` journaled (before waiting)
        └─ verdicts in: one event per device journaled, then (optionally) the import records deleted

Order matters for crash safety: a run killed at any point leaves either no trace (re-run: the import records with
this content's ``importId`` are found and adopted), pending events (re-run: adopted, or found registered and
reported ``Registered``) or the final events (re-run: nothing left to send).

The events and what the stage takes from the journal are pure functions (unit-tested in
tests/unit/plugins/module_utils/test_stage_events.py).

Register events (stage ``register``), one per device, ``detail`` always ``{import_id, error_code, request_id}``:

* right after the import requests, before waiting: ``skipped`` / ``Registration pending`` for every device the run
  waits for (sent now or adopted from a killed run), so a run killed while waiting knows they are its own;
* once the verdicts are in: ``changed`` / ``Registered`` (also ``Would import`` in check mode), ``ok`` /
  ``Device already registered``, ``failed`` / the refusal in the seed's words, ``failed`` / ``Registration pending``
  when the wait timed out, ``skipped`` / ``Registration pending`` when the run did not wait.
"""

from __future__ import annotations

import time

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal, _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    ALREADY,
    PENDING,
    REGISTERED,
    Registrar,
    prepare,
    serial_key,
    summarize,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_plan import (
    ResumePlan,
    read_upload_files,
    register_resume_plan,
)

WOULD_IMPORT = "Would import"


def _detail(res, error_code=True):
    return {"import_id": res.get("import_id"), "error_code": (res.get("error_code") or None) if error_code else None,
            "request_id": res.get("request_id")}


def register_pending_events(results):
    """``Registration pending`` events for the devices a run waits for (written before it waits)."""
    return [{"serial": res["serial_number"], "outcome": "skipped", "status": PENDING, "detail": _detail(res, False)}
            for res in results]


def register_outcome(res):
    """The journal outcome of one device's result (``autopilot_import``'s ``devices[]``)."""
    status = res["outcome"]
    if status in (REGISTERED, WOULD_IMPORT):
        return "changed"
    if status == ALREADY:
        return "ok"
    if status == PENDING and not res.get("failed"):
        return "skipped"  # the run did not wait (wait=false): a later run picks it up
    return "failed"


def register_final_events(results):
    """One event per device once the verdicts are in, in the seed's words."""
    return [{"serial": res["serial_number"], "outcome": register_outcome(res), "status": res["outcome"],
             "detail": _detail(res)} for res in results]


def progress_lines(looks, skipped_counts, summary):
    """What the register role prints: one line per look at the import records, then the outcome counts."""
    lines = ["Registration, look %d: %d registered, %d pending, %d failed (of %d submitted)"
             % (n, look["ready"], look["pending"], look["failed"], look["ready"] + look["pending"] + look["failed"])
             for n, look in enumerate(looks, 1)]
    sent = sum(summary.values())
    earlier = ", ".join("%d %s" % (count, reason) for reason, count in skipped_counts.items() if count)
    lines.append("%d device(s) handled this run%s%s" % (
        sent, ": " + ", ".join("%d %s" % (n, s) for s, n in sorted(summary.items())) if summary else "",
        "; not sent: " + earlier if earlier else ""))
    return lines


# ---------------------------------------------------------------------------------------------------------------
# the stage in one call
class StageRun:
    """What one call did: ``results`` (one per device sent or looked at), ``looks``, ``sources`` (upload files read),
    ``skipped`` (counts by reason), ``journal_events`` (appended, or that would be in check mode), ``warnings``."""

    def __init__(self):
        self.results = []
        self.looks = []
        self.sources = []
        self.skipped = ResumePlan().counts()
        self.journal_events = []
        self.warnings = []

    @property
    def summary(self):
        return summarize(self.results)

    def progress(self):
        return progress_lines(self.looks, self.skipped, self.summary)


def register(client, paths=None, devices=None, journal=None, run=None, exclude_serials=(), retry_failed=False,
             group_tag=None, assigned_user=None, batch_size=500, wait=True, wait_timeout=1800.0, poll_interval=15.0,
             delete_import_records=True, update_existing=False, check_mode=False, sleep=time.sleep,
             clock=time.monotonic):
    """Register the devices of ``paths`` (upload files, folders, globs) or ``devices``; with ``journal`` (a campaign
    folder) skip what the journal shows as done and record every device's outcome there. Returns a StageRun."""
    out = StageRun()
    if paths:
        devices, out.sources = read_upload_files(paths)
    devices = list(devices or [])
    plan = register_resume_plan([], exclude_serials=exclude_serials)
    if journal:
        found = _journal.read(journal)
        out.warnings.extend(found.warnings)
        plan = register_resume_plan(found.events, retry_failed=retry_failed, exclude_serials=exclude_serials)
    todo = []
    skipped = set()
    for dev in devices:
        key = serial_key(dev.get("serial_number"))
        if key in plan.skip:
            skipped.add(key)
        else:
            todo.append(dev)
    out.skipped = ResumePlan({k: plan.skip[k] for k in skipped}).counts()
    entries, warnings = prepare(todo, group_tag=group_tag, assigned_user=assigned_user)
    out.warnings.extend(warnings)

    def record(events):
        if journal and events:
            new, warned = _journal.append(journal, "register", events, run=run, check_mode=check_mode)
            out.journal_events.extend(new)
            out.warnings.extend(warned)

    progress = _progress.Reporter("register", "Waiting for the import verdicts", journal=journal, check_mode=check_mode)
    registrar = Registrar(client, batch_size=batch_size, poll_interval=poll_interval, wait=wait, timeout=wait_timeout,
                          delete_import_records=delete_import_records, update_existing=update_existing,
                          resubmit_refused=retry_failed, sleep=progress.sleeper(sleep, lambda: registrar.looks),
                          clock=clock)
    out.results = registrar.run(
        entries, check_mode=check_mode, submitted_before=plan.submitted_before,
        on_submitted=lambda results: record(register_pending_events(progress.submitted(results))),
        on_verdicts=lambda results: record(register_final_events(results)))
    progress.finish(registrar.looks)
    out.looks = registrar.looks
    out.warnings.extend(registrar.warnings)
    return out
