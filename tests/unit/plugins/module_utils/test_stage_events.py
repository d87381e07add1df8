# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The journal events of the merge and register stages, and what the register stage takes from the journal
(module_utils/_merge_stage.py, _register_stage.py): pure functions, no lab."""

from __future__ import annotations

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _merge_stage
from ansible_collections.winfleet.autopilot.plugins.module_utils import _register_plan as plan_
from ansible_collections.winfleet.autopilot.plugins.module_utils import _register_stage as ev
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    ALREADY,
    BAD_HASH,
    NOT_FOUND,
    OTHER_ORG,
    PENDING,
    REGISTERED,
    UNEXPECTED,
)


def _event(serial, stage, outcome, status=""):
    return {"serial": serial, "stage": stage, "outcome": outcome, "status": status, "detail": {}, "run": "r",
            "ts": "2026-11-21T10:00:00Z"}


JOURNAL = [
    _event("DONE1", "register", "changed", REGISTERED),
    _event("DONE2", "register", "ok", ALREADY),
    _event("FOREIGN", "register", "failed", OTHER_ORG),
    _event("BADHASH", "register", "failed", BAD_HASH),
    _event("NOTFOUND", "register", "failed", NOT_FOUND),
    _event("FLAKY", "register", "failed", UNEXPECTED),
    _event("KILLED", "register", "skipped", PENDING),        # a run journaled it pending and died while waiting
    _event("TIMEDOUT", "register", "failed", PENDING),       # a run waited until its timeout
    _event("COLLECTED", "collect", "changed", "Hash collected"),
    _event("LATER", "register", "skipped", PENDING),
    _event("LATER", "register", "changed", REGISTERED),           # the latest event counts
    _event("pf3x-lower ", "register", "changed", REGISTERED),     # serials compare trimmed and case-insensitive
]


def test_resume_plan_skips_done_and_final_refusals():
    plan = plan_.register_resume_plan(JOURNAL)
    assert plan.skip == {"DONE1": plan_.REGISTERED_BEFORE, "DONE2": plan_.REGISTERED_BEFORE, "LATER": plan_.REGISTERED_BEFORE,
                         "PF3X-LOWER": plan_.REGISTERED_BEFORE, "FOREIGN": plan_.REFUSED_BEFORE,
                         "BADHASH": plan_.REFUSED_BEFORE, "NOTFOUND": plan_.REFUSED_BEFORE}
    # a passing failure and a device still pending are sent again; the pending ones were this campaign's
    assert plan.submitted_before == {"KILLED", "TIMEDOUT"}
    assert plan.counts() == {plan_.REGISTERED_BEFORE: 4, plan_.REFUSED_BEFORE: 3, plan_.EXCLUDED: 0}


def test_resume_plan_with_retry_failed_and_exclusions():
    plan = plan_.register_resume_plan(JOURNAL, retry_failed=True, exclude_serials=[" flaky", "DONE1", ""])
    assert "FOREIGN" not in plan.skip and "BADHASH" not in plan.skip
    assert plan.skip["FLAKY"] == plan_.EXCLUDED and plan.skip["DONE1"] == plan_.EXCLUDED
    assert plan.skip["DONE2"] == plan_.REGISTERED_BEFORE
    assert plan_.register_resume_plan([]).skip == {}


def test_pending_is_what_the_stage_would_send(tmp_path):
    """_register_plan.pending (the register_pending lookup; the role skips its module when nothing is left): the
    devices of the upload files that resume_plan does not skip, by the journal the module reads. The lookup itself
    runs in the playbook tests (a no-op re-run starts no import; the molecule scenario's upload file without a merge
    is registered)."""
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
    from winfleet_lab.fixtures_graph import devices, write_csv

    campaign = tmp_path / "campaign"
    rows = devices(7, 4)
    serials = [r["serial_number"] for r in rows]
    (campaign / "upload").mkdir(parents=True)
    write_csv(campaign / "upload" / "registration.csv", rows[:3])
    write_csv(campaign / "upload" / "from-the-oem.csv", rows[3:] + rows[:1])  # a file the merge did not write
    folder = str(campaign)
    left, problem = plan_.pending(folder, [folder + "/upload"])  # no journal yet: every device, once
    assert problem is None and sorted(left) == sorted(serials)
    _journal.append(folder, "register", [
        {"serial": serials[0], "outcome": "changed", "status": REGISTERED},
        {"serial": serials[1].lower(), "outcome": "failed", "status": OTHER_ORG},  # compared case-insensitively
        {"serial": serials[2], "outcome": "skipped", "status": PENDING}])         # a killed run's: its verdict is due
    left, problem = plan_.pending(folder, [folder + "/upload"])
    assert problem is None and sorted(left) == sorted([serials[2], serials[3]])
    assert sorted(plan_.pending(folder, [folder + "/upload"], retry_failed=True,
                                exclude_serials=[serials[3]])[0]) == sorted([serials[1], serials[2]])
    _journal.append(folder, "register", [{"serial": s, "outcome": "ok", "status": ALREADY} for s in serials[2:]])
    assert plan_.pending(folder, [folder + "/upload"]) == ([], None)
    # an unreadable upload file is a problem for the module to report (the role then runs it), never an error here
    (campaign / "upload" / "broken.csv").write_text("not,an,upload file\n1,2,3\n")
    left, problem = plan_.pending(folder, [folder + "/upload"])
    assert left == [] and "broken.csv" in problem
    assert plan_.pending(folder, [folder + "/upload/registration.csv"]) == ([], None)


def _res(serial, outcome, failed=False, **kw):
    out = {"serial_number": serial, "outcome": outcome, "failed": failed, "import_id": "winfleet-abc",
           "error_code": None, "request_id": "req-1", "record_id": "rec-" + serial}
    out.update(kw)
    return out


def test_pending_events_are_written_before_the_wait():
    events = ev.register_pending_events([_res("A", None), _res("B", None, error_code=808)])
    assert events == [
        {"serial": "A", "outcome": "skipped", "status": PENDING,
         "detail": {"import_id": "winfleet-abc", "error_code": None, "request_id": "req-1"}},
        {"serial": "B", "outcome": "skipped", "status": PENDING,
         "detail": {"import_id": "winfleet-abc", "error_code": None, "request_id": "req-1"}},
    ]


@pytest.mark.parametrize("res,outcome", [
    (_res("A", REGISTERED), "changed"),
    (_res("A", ev.WOULD_IMPORT), "changed"),
    (_res("A", ALREADY), "ok"),
    (_res("A", OTHER_ORG, True, error_code=808), "failed"),
    (_res("A", UNEXPECTED, True), "failed"),
    (_res("A", PENDING, True), "failed"),      # still pending when the wait timed out
    (_res("A", PENDING, False), "skipped"),    # wait=false: a later run picks it up
])
def test_final_outcomes(res, outcome):
    (event,) = ev.register_final_events([res])
    assert (event["serial"], event["outcome"], event["status"]) == ("A", outcome, res["outcome"])
    assert event["detail"] == {"import_id": "winfleet-abc", "error_code": res["error_code"], "request_id": "req-1"}


def test_error_code_zero_is_none():
    (event,) = ev.register_final_events([_res("A", REGISTERED, error_code=0)])
    assert event["detail"]["error_code"] is None


def test_progress_lines():
    looks = [{"t": 0.0, "ready": 0, "pending": 5, "failed": 0}, {"t": 15.2, "ready": 4, "pending": 0, "failed": 1}]
    lines = ev.progress_lines(looks, {plan_.REGISTERED_BEFORE: 3, plan_.REFUSED_BEFORE: 0, plan_.EXCLUDED: 1},
                              {REGISTERED: 4, OTHER_ORG: 1})
    assert lines == [
        "Registration, look 1: 0 registered, 5 pending, 0 failed (of 5 submitted)",
        "Registration, look 2: 4 registered, 0 pending, 1 failed (of 5 submitted)",
        "5 device(s) handled this run: 1 Device claimed by another organization, 4 Registered; not sent: "
        "3 registered before, 1 excluded",
    ]
    assert ev.progress_lines([], ev.ResumePlan().counts(), {}) == ["0 device(s) handled this run"]


def test_merge_events_name_file_line_and_batch():
    campaign = "/c/fleet"
    paths = [campaign + "/upload/registration-001.csv", campaign + "/upload/registration-002.csv"]
    problems = [
        {"file": campaign + "/collected/files/oem.csv", "line": 7, "serial_number": "BAD1", "reason": "hash truncated"},
        {"file": campaign + "/collected/files/oem.csv", "line": 9, "serial_number": "S2", "reason": "older capture"},
        {"file": campaign + "/collected/files/usb.csv", "line": 3, "serial_number": "", "reason": "no serial"},
        {"file": campaign + "/collected", "line": 0, "serial_number": None, "reason": "no file matches"},
        {"file": "/elsewhere/x.csv", "line": 0, "serial_number": None, "reason": "binary data"},
        {"file": campaign + "/collected/files/oem.csv", "line": 11, "serial_number": "BAD1", "reason": "conflict"},
    ]
    events = _merge_stage.merge_events(["S1", "S2", "S3"], paths, 2, problems, campaign_dir=campaign,
                                       folders=[campaign + "/collected/"])
    assert events == [
        {"serial": "S1", "outcome": "ok", "status": "In upload file",
         "detail": {"file": "registration-001.csv", "line": 2, "batch": 1}},
        {"serial": "S2", "outcome": "ok", "status": "In upload file",
         "detail": {"file": "registration-001.csv", "line": 3, "batch": 1}},
        {"serial": "S3", "outcome": "ok", "status": "In upload file",
         "detail": {"file": "registration-002.csv", "line": 2, "batch": 2}},
        {"serial": "BAD1", "outcome": "failed", "status": "hash truncated",
         "detail": {"file": "collected/files/oem.csv", "line": 7, "batch": None}},
        {"serial": "usb.csv:3", "outcome": "failed", "status": "no serial",
         "detail": {"file": "collected/files/usb.csv", "line": 3, "batch": None}},
        {"serial": "x.csv:0", "outcome": "failed", "status": "binary data",
         "detail": {"file": "/elsewhere/x.csv", "line": 0, "batch": None}},
    ]
    assert _merge_stage.merge_events([], [campaign + "/upload/registration.csv"], 500, []) == []


def test_devices_registered_by_corporate_identifier_are_not_autopilot_devices():
    """A fleet registered by identifier: the deliver stage leaves those devices alone, and a later hash import
    (registration method changed to hash or both) still sends them."""
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _deliver_stage, _journal, _statuses

    events = JOURNAL + [_event("CORP1", "register", "changed", _statuses.CORPID_REGISTERED)]  # a done outcome
    plan = plan_.register_resume_plan(events)
    assert "CORP1" not in plan.skip and plan.skip["DONE1"] == plan_.REGISTERED_BEFORE
    assert _deliver_stage.registered(_journal.summarise(events)) == ["DONE1", "DONE2", "LATER", "pf3x-lower "]
