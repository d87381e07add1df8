# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab's deployment profiles and groups (lab/winfleet_lab/graph/profiles.py, groups.py): its own rule
evaluator, invalid rules refused, the assignment sequence notAssigned -> pending -> assignedInSync after the
service's delays, the profile queue surviving a crash, beta only."""

from __future__ import annotations

import pytest

from winfleet_lab.fixtures_graph import devices, start_lab
from winfleet_lab.graph.common import GraphFault
from winfleet_lab.graph.groups import RuleError, compile_rule

ENTRA = {"physicalIds": ["[ZTDID]:abc", "[OrderId]:Sales"], "operatingSystem": "Windows", "displayName": "PC1",
         "accountEnabled": True}


@pytest.mark.parametrize("rule, expected", [
    ('(device.devicePhysicalIds -any (_ -eq "[OrderID]:SALES"))', True),
    ('(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")) -and (device.deviceOSType -eq "Windows")', True),
    ('device.devicePhysicalIds -all (_ -contains "]:")', True),
    ('not (device.displayName -startsWith "pc")', False),
    ('(device.devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:1")) or (device.accountEnabled -eq false)', False),
])
def test_lab_rule_evaluator(rule, expected):
    assert compile_rule(rule)(ENTRA) is expected


def test_invalid_rule_is_refused():
    with pytest.raises(RuleError):
        compile_rule('device.displayName -like "x"')


def test_assignment_sequence_and_crash(tmp_path):
    lab = start_lab(tmp_path / "lab", time_scale=1.0, processing_delay=0.0, membership_delay=3600.0,
                    profile_assignment_delay=3600.0)
    try:
        svc = lab.service
        with pytest.raises(GraphFault):
            svc.add_group("bad", membership_rule="device.displayName")
        svc.default_profile("SALES")
        svc.add_profile("Unused")                                # no assignment: never chosen
        rows = devices(4242, 2)
        with svc.lock:
            for r in rows:
                rec = svc._create_imports([{"serialNumber": r["serial_number"], "hardwareIdentifier":
                                            r["hardware_hash"], "groupTag": "SALES"}], "req", {"name": "registrar"},
                                          "beta")[0]
                rec["_due"] = 0
            svc._advance()
            svc.store.commit()
        status = {d["serialNumber"]: d["deploymentProfileAssignmentStatus"] for d in svc.store.data["autopilot"].values()}
        assert set(status.values()) == {"notAssigned"}          # the groups have not looked at them yet
        lab.restart(crash=True)                                  # the queue survives: it is in the stored devices
        svc = lab.service
        with svc.lock:                                           # the group processing is due, not the assignment
            for dev in svc.store.data["autopilot"].values():
                assert dev["_profile_step"] == "membership"
                dev["_profile_due"] = 1.0
            svc._profiling = [(1.0, s, i) for (_d, s, i) in svc._profiling]
            svc._advance_profiles(2.0)
        assert {d["deploymentProfileAssignmentStatus"] for d in svc.store.data["autopilot"].values()} == {"pending"}
        svc.process_now()
        devs = list(svc.store.data["autopilot"].values())
        assert {d["deploymentProfileAssignmentStatus"] for d in devs} == {"assignedInSync"}
        assert all(d["deploymentProfileAssignedDateTime"] for d in devs)
        entra = [svc.store.data["entra"][d["_entra"]] for d in devs]
        assert {e["enrollmentProfileName"] for e in entra} == {"User-driven SALES"}
        assert svc.stats["profile_assigned"] == 2
    finally:
        lab.stop()
