# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deployment profiles (issue 16): the membership rule evaluator, the device's profile state in words, why no profile
reaches a device, and the deliver stage's wait for assignment against the in-process Graph lab (which assigns
profiles after its own, independent evaluation of the same rules)."""

from __future__ import annotations

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _autopilot as ap
from ansible_collections.winfleet.autopilot.plugins.module_utils import _deliver_stage as ds
from ansible_collections.winfleet.autopilot.plugins.module_utils import _profiles as pr
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_stage import register
from winfleet_lab import fixtures_graph
from winfleet_lab.fixtures_graph import devices, write_csv

graph_lab = fixtures_graph.graph_lab
SALES = {"devicePhysicalIds": ["[ZTDId]:1b2c", "[OrderID]:Sales", "[PurchaseOrderId]:PO-77"], "deviceOSType": "Windows",
         "displayName": "PC-0042", "accountEnabled": True}


@pytest.mark.parametrize("rule, expected", [
    ('(device.devicePhysicalIds -any (_ -eq "[OrderID]:Sales"))', True),
    ('(device.devicePhysicalIds -any (_ -eq "[orderid]:SALES"))', True),           # case does not matter
    ('(device.devicePhysicalIds -any (_ -eq "[OrderID]:Finance"))', False),
    ('(device.devicePhysicalIDs -any (_ -startsWith "[ZTDID]"))', True),
    ('(device.devicePhysicalIds -any (_ -contains "PO-7"))', True),
    ('(device.devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:PO-77"))', True),
    ('(device.devicePhysicalIds -all (_ -startsWith "["))', True),
    ('(device.devicePhysicalIds -all (_ -notStartsWith "[ZTDId]"))', False),
    ('(device.devicePhysicalIds -any (_ -eq "[OrderID]:Sales")) -and (device.deviceOSType -eq "Windows")', True),
    ('(device.devicePhysicalIds -any (_ -eq "[OrderID]:Sales")) and not (device.displayName -startsWith "PC")', False),
    ('(device.devicePhysicalIds -any (_ -eq "[OrderID]:HR")) -or (device.displayName -match "^pc-00[0-9]+$")', True),
    ('device.displayName -in ["PC-0041", "pc-0042"]', True),
    ('device.accountEnabled -eq true', True),
    ('(device.devicePhysicalIds -any (_ -eq "[OrderID]:Say `"hi`""))', False),
])
def test_rules(rule, expected):
    assert pr.evaluate(rule, SALES) is expected


@pytest.mark.parametrize("rule", ["", "device.displayName", '(device.devicePhysicalIds -any (_ -eq "x")',
                                  'user.department -eq "x"', 'device.displayName -like "x"',
                                  '(device.devicePhysicalIds -any (x -eq "y"))'])
def test_rules_not_understood_are_refused(rule):
    with pytest.raises(pr.RuleError):
        pr.parse(rule)


@pytest.mark.parametrize("raw, status", [
    ({"deploymentProfileAssignmentStatus": "assignedInSync"}, ap.READY),
    ({"deploymentProfileAssignmentStatus": "assignedUnkownSyncState"}, ap.READY),
    ({"deploymentProfileAssignmentStatus": "pending"}, ap.PROFILE_PENDING),
    ({"deploymentProfileAssignmentStatus": "notAssigned"}, ap.NO_PROFILE),
    ({"deploymentProfileAssignmentStatus": "failed"}, ap.PROFILE_FAILED),
    ({}, ap.REGISTERED),                                           # v1.0 does not say
    ({"deploymentProfileAssignmentStatus": "assignedInSync", "enrollmentState": "enrolled",
      "lastContactedDateTime": "2000-01-01T00:00:00Z"}, ap.INACTIVE),
])
def test_device_status_needs_a_profile_to_be_ready(raw, status):
    assert ap.device_status(dict({"enrollmentState": "notContacted"}, **raw)) == status


def _targets(rule, name="Sales devices", kind=pr.GROUP_TARGET):
    return {"profiles": [{"id": "p1", "name": "User-driven", "assignments": [{"kind": kind, "group_id": "g1"}]}],
            "groups": {"g1": {"id": "g1", "name": name, "rule": rule, "members": set(), "missing": False}},
            "error": None}


def test_explain_names_the_profile_or_the_cause_in_the_users_words():
    dev = {"id": "1b2c", "group_tag": "Sales", "serial_number": "SN-1"}
    assert pr.explain(dev, _targets('(device.devicePhysicalIds -any (_ -eq "[OrderID]:Sales"))')) == (
        "User-driven", "profile 'User-driven' targets the device through group 'Sales devices'")
    name, words = pr.explain(dev, _targets('(device.devicePhysicalIds -any (_ -eq "[OrderID]:Finance"))'))
    assert name is None
    assert words.startswith("no deployment profile targets group tag Sales; profiles reach: 'User-driven' -> "
                            "'Sales devices' (")
    assert pr.explain(dev, {"profiles": [], "groups": {}})[1] == (
        "no deployment profile targets group tag Sales: the tenant has no deployment profile")
    assert pr.explain(dict(dev, group_tag=""), _targets("", kind=pr.ALL_DEVICES))[0] == "User-driven"
    excluded = _targets('(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))')
    excluded["profiles"][0]["assignments"].append({"kind": pr.EXCLUDE, "group_id": "g1"})
    assert pr.explain(dev, excluded)[0] is None
    static = _targets(None)
    static["groups"]["g1"]["members"] = {"dev-1"}
    assert pr.explain(dict(dev, azure_ad_device_id="DEV-1"), static)[0] == "User-driven"


def test_events_say_each_profile_state():
    base = {"found": True, "group_tag": "Sales", "assigned_user": ""}
    devs = [dict(base, serial_number="A", status=ap.READY, deployment_profile="User-driven"),
            dict(base, serial_number="B", status=ap.NO_PROFILE),
            dict(base, serial_number="C", status=ap.NO_PROFILE),
            dict(base, serial_number="D", status=ap.PROFILE_FAILED,
                 deployment_profile_detailed_status="hardwareRequirementsNotMet")]
    explained = {"B": (None, "no deployment profile targets group tag Sales"),
                 "C": ("Kiosk", "profile 'Kiosk' targets the device through group 'Kiosks'")}
    ev = {e["serial"]: e for e in ds.events(devs, profiles=explained)}
    assert [(ev[s]["outcome"], ev[s]["status"]) for s in "ABCD"] == [
        ("ok", ap.READY), ("failed", ap.NO_PROFILE), ("ok", ap.PROFILE_PENDING), ("failed", ap.PROFILE_FAILED)]
    assert ev["A"]["detail"]["profile"]["name"] == "User-driven"
    assert ev["B"]["detail"]["profile"]["cause"] == "no deployment profile targets group tag Sales"
    assert ev["C"]["detail"]["profile"]["name"] == "Kiosk"
    assert "hardware requirements" in ev["D"]["detail"]["profile"]["cause"]


# -- against the in-process lab ---------------------------------------------------------------------------------
def _client(lab):
    return GraphClient(dict(lab.connection("registrar"), backoff_delay=0.01, backoff_max_delay=0.1))


def _register(lab, tmp_path, count, seed, tag):
    rows = devices(seed, count)
    for r in rows:
        r["group_tag"] = tag
    campaign = tmp_path / "campaign"
    (campaign / "upload").mkdir(parents=True)
    write_csv(campaign / "upload" / "registration.csv", rows, group_tag=True)
    register(_client(lab), paths=[str(campaign / "upload")], journal=str(campaign), run="r1", poll_interval=0.05,
             wait_timeout=30, delete_import_records=False)
    return [r["serial_number"] for r in rows], campaign


def test_deliver_waits_for_assignment_and_explains_the_rest(graph_lab, tmp_path):
    svc = graph_lab.service
    svc.default_profile("SALES")
    kiosk = svc.add_profile("Kiosk", self_deploying=True)
    svc.assign_profile(kiosk["id"], svc.add_group(
        "Kiosks", membership_rule='(device.devicePhysicalIds -any (_ -eq "[OrderID]:KIOSK"))')["id"])
    serials, campaign = _register(graph_lab, tmp_path, 3, 1616, "SALES")
    svc.mark_tpm_less([serials[2]])
    client = _client(graph_lab)
    # serial 1 moves to a tag no profile targets, serial 2 to the kiosk profile, which its TPM cannot take
    from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot_devices import update_many
    update_many(client, [{"serial_number": serials[1], "group_tag": "Finance"},
                         {"serial_number": serials[2], "group_tag": "KIOSK"}])
    first = ds.deliver(client, str(campaign), run="r2", profile_wait_timeout=0)      # look once, no wait
    states = {e["serial"]: e["status"] for e in first.events}
    assert states[serials[0]] == ap.PROFILE_PENDING and states[serials[2]] == ap.PROFILE_PENDING
    assert states[serials[1]] == ap.NO_PROFILE
    svc.process_now()                                # the service is done (no sleep: the lab decides)
    again = ds.deliver(client, str(campaign), run="r3", profile_wait_timeout=5, profile_poll_interval=0.05)
    ev = {e["serial"]: e for e in again.events}
    assert (ev[serials[0]]["status"], ev[serials[0]]["detail"]["profile"]["name"]) == (ap.READY, "User-driven SALES")
    assert ev[serials[1]]["outcome"] == "failed"
    assert ev[serials[1]]["detail"]["profile"]["cause"].startswith("no deployment profile targets group tag Finance")
    assert (ev[serials[2]]["status"], ev[serials[2]]["detail"]["profile"]["detailed_status"]) == (
        ap.PROFILE_FAILED, "hardwareRequirementsNotMet")
    assert ds.deliver(client, str(campaign), run="r4").journal_events == []   # a re-run changes nothing


def test_a_devices_own_group_tag_comes_before_the_fleets():
    journal = {"devices": {"SN-2": {"collect": {"detail": {"host": "pc0030"}}}}}
    devs = [{"found": True, "serial_number": s, "group_tag": "FLEET"} for s in ("SN-1", "SN-2", "SN-3")]
    planned = ds.changes(devs, journal, ["SN-1", "SN-2", "SN-3"], group_tag="FLEET",
                         group_tags={"PC0030": "SALES", "sn-3": "FLEET"})
    assert planned == [{"serial_number": "SN-2", "group_tag": "SALES"}]
