# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pre-flight, groups and names (issue 16), through ansible-playbook on one small lab fleet:

* playbooks/preflight.yml is green on a good lab fleet, and changes nothing (no campaign folder, no Graph write);
* red (non-zero exit) for an app without a permission the fleet needs and a group tag no profile reaches, each named
  with what to fix;
* playbooks/refresh.yml with the fleet's static group and name template: the devices are members and named, the
  journal and the report say so, and a second run changes nothing.
"""

from __future__ import annotations

import json

import pytest

from winfleet_lab.campaign import Campaign
from winfleet_lab.playbook import ROOT, run_playbook, task_results, write_extravars

pytestmark = pytest.mark.integration

PREFLIGHT = ROOT / "playbooks" / "preflight.yml"
GROUP = "Autopilot lab fleet"
FLEET = {"fleet_poll_interval": 1, "fleet_wait_timeout": 60, "fleet_profile_poll_interval": 0.5,
         "fleet_cleanup_enabled": False, "fleet_group": GROUP, "fleet_computer_name": "LAB-%RAND:6%"}


@pytest.fixture(scope="module")
def camp(tmp_path_factory):
    camp = Campaign(tmp_path_factory.mktemp("preflight"), "127.0.63.1", count=2, seed=1663, overrides=FLEET).start()
    camp.labs.graph.service.add_group(GROUP)
    try:
        yield camp
    finally:
        camp.stop()


def _writes(camp):
    counters = camp.labs.graph_stats()["counters"]
    return sorted(k for k in counters if k.split(" ")[0] in ("POST", "PATCH", "DELETE"))


def _findings(data):
    return task_results(data, "Gather the findings")["ansible_facts"]["preflight"]


def test_preflight_is_green_on_a_good_fleet_and_changes_nothing(camp):
    rc, data, out, err = run_playbook(PREFLIGHT, *camp.args())
    assert rc == 0, out[-3000:] + err[-2000:]
    found = _findings(data)
    assert found["errors"] == 0, found["lines"]
    tenant = task_results(data, "Check the tenant - token, permissions, deployment profiles, licences, group, names")
    assert {"DeviceManagementServiceConfig.ReadWrite.All", "GroupMember.ReadWrite.All"} <= set(tenant["roles"])
    assert [(p["group_tag"], p["profile"]) for p in tenant["profiles"]] == [("WINFLEET-LAB", "User-driven WINFLEET-LAB")]
    assert tenant["group"]["name"] == GROUP
    winrm = task_results(data, "Read a sample of the fleet's PCs over WinRM")
    assert winrm["summary"]["hosts"] == 2 and not winrm["unreadable"]
    assert not camp.dir.exists() and _writes(camp) == []          # nothing created, nothing written


def test_preflight_is_red_with_the_missing_permission_and_profile_named(camp):
    narrow = camp.labs.graph.add_app("narrow-preflight", ["DeviceManagementServiceConfig.ReadWrite.All",
                                                          "Group.Read.All", "LicenseAssignment.Read.All"])
    conn = dict(camp.labs.graph.connection(), client_id=narrow["client_id"], client_secret=narrow["secrets"][0])
    # the narrow app's secret goes in a 0600 file, never on a command line
    secret_vars = write_extravars(camp.workdir, {"lab_graph": conn, "fleet_group_tag": "SALES"})
    rc, data, out, _err = run_playbook(PREFLIGHT, *camp.args(), "-e", secret_vars)
    assert rc != 0, out[-3000:]
    found = _findings(data)
    errors = [f for f in found["findings"] if f["severity"] == "error"]
    text = json.dumps(errors)
    for words in ("GroupMember.ReadWrite.All", "Device.ReadWrite.All", "User.Read.All",
                  "no deployment profile targets group tag SALES", "[OrderID]:SALES", "Grant admin consent"):
        assert words in text, words
    failed = task_results(data, "Fail on errors")
    assert failed["failed"] and "error(s) to fix before the campaign" in failed["msg"]
    assert not camp.dir.exists() and _writes(camp) == []


def test_group_membership_and_names_are_set_once(camp):
    rc, _data, out, err = camp.run(threshold=0)
    assert rc == 0, out[-3000:] + err[-2000:]
    svc = camp.labs.graph.service
    group = next(g for g in svc.store.data["groups"].values() if g["displayName"] == GROUP)
    devices = list(svc.store.data["autopilot"].values())
    assert len(devices) == 2 and sorted(group["_members"]) == sorted(d["_entra"] for d in devices)
    names = {d["serialNumber"]: d.get("displayName") for d in devices}
    assert all(len(n) == 10 and n.startswith("LAB-") and n[4:].isdigit() for n in names.values()), names
    delivered = {s: st["deliver"] for s, st in camp.latest().items() if "deliver" in st}
    assert {(ev["status"], ev["detail"]["group"]["member"]) for ev in delivered.values()} == {("Ready for user", True)}
    assert {ev["detail"]["computer_name"] for ev in delivered.values()} == set(names.values())
    report = json.loads((camp.dir / "report" / "report.json").read_text())
    rows = [r for r in report["devices"] if r.get("computer_name")]
    assert {(r["computer_name"], r["entra_group"]) for r in rows} == {(n, GROUP) for n in names.values()}

    journal = camp.journal.read_bytes()
    rc, data, out, err = camp.run(threshold=0)
    assert rc == 0, out[-3000:] + err[-2000:]
    assert camp.journal.read_bytes() == journal                      # nothing new to journal
    stage = next(t["hosts"]["localhost"] for play in data["plays"] for t in play["tasks"]
                 if t["task"]["name"].endswith("record each device's final state"))
    assert not stage["changed"] and stage["group"]["added"] == 0 and stage["group"]["members"] == 2
    assert {d["serialNumber"]: d.get("displayName") for d in svc.store.data["autopilot"].values()} == names
