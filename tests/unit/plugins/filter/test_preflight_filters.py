# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pre-flight filters as playbooks/preflight.yml calls them: registered results in, findings out."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.filter.preflight_findings import FilterModule


def test_findings_from_registered_results():
    filters = FilterModule().filters()
    tenant = {"changed": False, "findings": [{"severity": "warning", "check": "licences", "message": "m", "fix": "f"}]}
    unreadable = ["pc0001: Host unreachable - refused", "pc0002: Host unreachable - refused"]
    winrm = {"devices": [{}, {}], "unreadable": unreadable, "summary": {"hosts": 2}}
    skipped = {"skipped": True, "changed": False}
    out = filters["preflight_findings"](tenant, winrm=winrm, ad=skipped, configmgr={})
    assert (out["errors"], out["warnings"]) == (1, 1)
    assert out["lines"][0].startswith("ERROR winrm: 2 of 2 sampled hosts cannot be read")
    ok = filters["preflight_findings"]({"findings": []}, winrm={"skipped": True}, ad=skipped)
    assert ok == {"errors": 0, "warnings": 0, "lines": [], "findings": []}


def test_sample():
    assert FilterModule().filters()["preflight_sample"](["a", "b", "c", "d"], 2) == ["a", "c"]
