# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The clean-up stage's logic (module_utils/_cleanup_stage.py): selection, plan, review, steps and journal events."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils import _cleanup_stage as cs

JOURNAL = {
    "devices": {
        "SN-1": {"collect": {"outcome": "changed", "detail": {"name": "PC-1"}}},
        "SN-2": {"collect": {"outcome": "ok", "detail": {"name": "PC-2"}}, "cleanup": {"outcome": "changed"}},
        "SN-3": {"collect": {"outcome": "failed", "detail": {"name": "PC-3"}}},
    },
    "done": {"cleanup": ["SN-2"]},
}


def _plan():
    devices = [{"serial": "SN-1", "name": "PC-1"}, {"serial": "SN-4", "name": "PC-4"}, {"serial": "SN-5", "name": ""}]
    return cs.plan(
        devices,
        intune=[{"id": "md-1", "name": "PC-1", "serial_number": "sn-1"}, {"id": "md-5", "name": "X", "serial_number": "SN-5"}],
        autopilot=[{"id": "ap-1", "serial_number": "SN-1", "found": True}, {"serial_number": "SN-4", "found": False}],
        entra=[{"id": "en-1", "name": "PC-1", "serial_number": "SN-1", "autopilot_id": "ap-1", "join_type": "Entra joined"},
               {"id": "en-h", "name": "PC-1", "serial_number": None, "autopilot_id": None, "join_type": "Hybrid joined"}],
        ad=[{"id": "g-4", "name": "PC-4", "serial_number": "SN-OTHER"}, {"id": "g-1", "name": "PC-1"}],
        configmgr=[{"id": 1677, "name": "PC-1", "serial_number": "SN-1"}])


def test_selection_from_the_journal_skips_cleaned_devices_and_refuses_wildcards():
    sel = cs.selection(JOURNAL)
    assert sel["devices"] == [{"serial": "SN-1", "name": "PC-1"}] and sel["refusal"] is None
    assert [d["serial"] for d in cs.selection(JOURNAL, force=True)["devices"]] == ["SN-1", "SN-2"]
    given = cs.selection(JOURNAL, devices=[{"serial_number": "SN*", "name": "PC-(1)"}, {"serial": " ", "name": ""}])
    assert given["unsafe"] == ["SN*", "(empty serial number)", "PC-(1)"]
    assert given["refusal"].startswith("Refusing to clean") and "Nothing was read or deleted" in given["refusal"]


def test_plan_attributes_records_and_holds_conflicts():
    plan = _plan()
    one, four, five = plan
    assert [(r["service"], r["id"], r["via"]) for r in one["records"]] == [
        ("intune", "md-1", None), ("autopilot", "ap-1", None), ("entra", "en-1", "autopilot"), ("entra", "en-h", None),
        ("ad", "g-1", None), ("configmgr", "1677", None)]
    assert four["records"] == [] and four["conflicts"][0]["id"] == "g-4"  # its name, another serial number
    assert [r["id"] for r in five["records"]] == ["md-5"]


def test_review_counts_and_refuses_over_the_limit():
    plan = _plan()
    rev = cs.review(plan, 6)
    assert rev["count"] == 7 and rev["held"] == ["SN-4"]
    assert rev["refusal"].startswith("This run would delete 7 records (SN-1, SN-5), more than cleanup_max_deletions")
    assert "SN-4: - - HELD BACK: the record has the device's name but the serial number SN-OTHER" in rev["lines"]
    assert cs.review(plan, 7)["refusal"] is None and cs.review(plan)["refusal"] is None


def test_steps_in_order_without_via_records_and_failed_devices():
    plan = _plan()
    assert cs.step(plan, "intune") == [{"id": "md-1", "serial_number": "SN-1"}, {"id": "md-5", "serial_number": "SN-5"}]
    assert cs.step(plan, "entra") == [{"id": "en-h", "serial_number": "SN-1"}]
    assert cs.step(plan, "ad") == [{"object_guid": "g-1", "serial_number": "SN-1"}]
    assert cs.step(plan, "configmgr") == [{"resource_id": 1677, "serial_number": "SN-1"}]
    intune = {"changed": True, "results": [
        {"serial_number": "SN-1", "removed": [], "failed": True, "msg": "HTTP 500"},
        {"serial_number": "SN-5", "removed": [{"id": "md-5"}], "failed": False}]}
    assert cs.step(plan, "autopilot", done={"intune": intune}) == []  # SN-1's Intune step failed
    whole = {"failed": True, "msg": "Missing permission: ..."}
    assert cs.failures(plan, {"intune": whole}) == {"SN-1": "Missing permission: ...", "SN-5": "Missing permission: ..."}


def test_events_cleaned_nothing_failed_disagree_dry_run_and_skipped():
    plan = _plan()
    done = {
        "intune": {"results": [{"serial_number": "SN-1", "removed": [{"id": "md-1"}]},
                               {"serial_number": "SN-5", "removed": [], "failed": True, "msg": "x" * 400}]},
        "autopilot": {"results": [{"serial_number": "SN-1", "id": "ap-1", "before": {}, "changed": True,
                                   "removed": True}]},
        "entra": {"results": [{"serial_number": "SN-1", "removed": [{"id": "EN-H"}]}]},
        "ad": {"skipped": True},
        "configmgr": {"results": [{"serial_number": "SN-1", "removed": [{"id": 1677}]}]},
    }
    one, four, five = cs.events(plan, done)
    assert (one["outcome"], one["status"]) == ("changed", "Cleaned")
    assert [(r["service"], r["id"]) for r in one["detail"]["removed"]] == [
        ("intune", "md-1"), ("autopilot", "ap-1"), ("entra", "en-h"), ("configmgr", "1677"), ("entra", "en-1")]
    assert one["detail"]["planned"] == plan[0]["records"]
    assert (four["outcome"], four["status"]) == ("failed", "Records disagree, not cleaned")
    assert four["detail"]["conflicts"][0]["id"] == "g-4"
    assert five["outcome"] == "failed" and five["status"] == "Cleanup failed: " + "x" * 300
    nothing = cs.events([{"serial": "SN-9", "name": "", "records": [], "conflicts": []}], {})
    assert nothing == [{"serial": "SN-9", "outcome": "ok", "status": "Nothing to clean",
                        "detail": {"removed": [], "planned": []}}]
    dry = cs.events(plan, dry_run=True)
    assert dry[0]["status"] == "Dry run: 6 record(s) would be removed" and dry[0]["outcome"] == "skipped"
    assert cs.events([{"serial": "SN-1"}], status="Cleanup not enabled") == [
        {"serial": "SN-1", "outcome": "skipped", "status": "Cleanup not enabled", "detail": {"removed": [], "planned": []}}]
