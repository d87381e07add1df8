# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cleanup role through ansible-playbook, against all five places a re-used device leaves records: Intune,
Windows Autopilot and Entra ID (the Graph lab), AD DS (a real Samba AD DC) and Configuration Manager (the
AdminService lab). Check mode predicts exactly what the real run removes, in Microsoft's order; the guards refuse
what they should; the device then registers again; a second run changes nothing and keeps the new registration."""

from __future__ import annotations

import json
import pathlib

import pytest

from winfleet_lab.configmgr.fixtures import running_lab
from winfleet_lab.fixtures_graph import devices, start_lab
from winfleet_lab.playbook import run_playbook, write_extravars

pytestmark = [pytest.mark.integration, pytest.mark.samba]

PLAYBOOK = pathlib.Path(__file__).parent / "cleanup" / "cleanup.yml"
BITLOCKER = "(objectClass=msFVE-RecoveryInformation)"
STEPS = ("Delete the Intune managed devices", "Delete the Windows Autopilot identities and wait until they are gone",
         "Delete the remaining Microsoft Entra device objects (hybrid-joined, orphaned)",
         "Delete the AD DS computer objects (with their BitLocker recovery children)",
         "Delete the Configuration Manager devices")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("cleanup-role-graph") / "lab")
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def configmgr(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("cleanup-role-cm"), host="127.0.40.9") as lab:
        yield lab


def _play(workdir, extravars, check=False):
    rc, data, out, err = run_playbook(PLAYBOOK, "-i", "localhost,", "-c", "local",
                                      "-e", write_extravars(workdir, extravars), check=check, timeout=300)
    assert data is not None, out + err
    return rc, data, out + err


def _tasks(data):
    """(task name without the role prefix, localhost result) in the order the tasks ran."""
    for play in data["plays"]:
        for task in play["tasks"]:
            if "localhost" in task["hosts"]:
                yield task["task"]["name"].split(" : ", 1)[-1], task["hosts"]["localhost"]


def _step_items(data):
    """{step: [(serial, [record ids removed], msg)]} of the deletion steps (one bulk task each: one entry per record
    of the step), and the order the steps ran in."""
    out, order = {}, []
    for name, res in _tasks(data):
        if name in STEPS and not res.get("skipped"):
            items = []
            for r in res["results"]:
                if isinstance(r.get("removed"), list):
                    ids = [str(x["id"]) for x in r["removed"]]
                else:  # autopilot_device: the device itself
                    ids = [r["id"]] if r.get("changed") else []
                items.append((r["serial_number"], ids, r.get("msg")))
            out[name] = items
            order.append(name)
    return out, order


def _journal(campaign):
    path = campaign / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _all_changed(data):
    return [name for name, res in _tasks(data) if res.get("changed")]


def test_reused_device_cleaned_from_all_five_places_then_registers(samba_dc, graph, configmgr, tmp_path):
    dev, other = devices(611, 2)
    serial, name = dev["serial_number"], "WF-REUSED-01"
    seeded = graph.service.seed_reused(serial, dev["hardware_hash"], "hybrid", "alice@lab", device_name=name)
    ou = samba_dc.add_ou("CleanupRole")
    samba_dc.add_computer(name, ou, bitlocker_children=2)              # AD objects usually carry no serial
    samba_dc.add_computer("PC-KEEP-07", ou, serial_number="SN-KEEP-07", bitlocker_children=1)
    samba_dc.add_computer("PC-CONFLICT", ou, serial_number="SN-SOMEONE-ELSE")  # a name another device now uses
    rid = configmgr.add_device(name, serial)
    keep_rid = configmgr.add_device("PC-KEEP-07", "SN-KEEP-07")
    before = graph.service.records(serial)
    assert len(before["managed"]) == 1 and len(before["autopilot"]) == 1 and len(before["entra"]) == 2

    campaign = tmp_path / "campaign"
    ev = {"campaign_dir": str(campaign), "graph": graph.connection(), "ldap": samba_dc.connection(search_base=ou),
          "configmgr": configmgr.connection(),
          "devices": [{"serial": serial, "name": name}, {"serial": other["serial_number"], "name": "PC-CONFLICT"}]}

    # 1. Check mode: predicts, deletes nothing, writes no journal.
    rc, check, out = _play(tmp_path / "check", ev, check=True)
    assert rc == 0, out
    predicted, order = _step_items(check)
    assert order == list(STEPS)
    assert graph.service.records(serial)["managed"] and samba_dc.computer_exists(name)
    assert [d["name"] for d in configmgr.devices()].count(name) == 1
    assert _journal(campaign) == []

    # 2. Guards: too many deletions for the limit, and a wildcard selector: both refuse before deleting anything.
    rc, _data, out = _play(tmp_path / "limit", dict(ev, max_deletions=3))
    assert rc != 0 and "more than cleanup_max_deletions" in out, out
    assert "would delete 6 records" in out
    rc, _data, out = _play(tmp_path / "wild", dict(ev, devices=[{"serial": "SN*", "name": "PC-*"}]))
    assert rc != 0 and "Refusing to clean" in out and "SN*" in out, out
    assert graph.service.records(serial)["managed"] and samba_dc.computer_exists(name)
    assert samba_dc.count(BITLOCKER, base=ou) == 3

    # 3. The real run, then registration.
    rc, real, out = _play(tmp_path / "real", dict(ev, fleet=[{"serial_number": serial,
                                                              "hardware_hash": dev["hardware_hash"]}]))
    assert rc == 0, out
    done, order = _step_items(real)
    assert order == list(STEPS)                          # Intune, Autopilot, Entra, AD DS, ConfigMgr
    assert done == predicted                             # check mode predicted exactly this
    assert done[STEPS[0]] == [(serial, [seeded["managed"]["id"]], None)]
    assert done[STEPS[1]] == [(serial, [seeded["autopilot"]["id"]], None)]
    hybrid = [o for o in before["entra"] if o["trustType"] == "ServerAd"]
    assert done[STEPS[2]] == [(serial, [hybrid[0]["id"]], None)]  # the Autopilot object went with Autopilot
    assert [(s, len(ids), m) for s, ids, m in done[STEPS[3]]] == [(serial, 1, None)]
    assert done[STEPS[4]] == [(serial, [str(rid)], None)]

    after = graph.service.records(serial)
    assert after["managed"] == []
    assert not {o["id"] for o in before["entra"]} & {o["id"] for o in after["entra"]}  # (the new one is registration's)
    assert not samba_dc.computer_exists(name) and samba_dc.computer_exists("PC-KEEP-07")
    assert samba_dc.computer_exists("PC-CONFLICT")      # held back: its serial is another device's
    assert samba_dc.count(BITLOCKER, base=ou) == 1       # the removed computer's two BitLocker children went too
    assert [d["resource_id"] for d in configmgr.devices() if d["name"] == name] == []
    assert keep_rid in [d["resource_id"] for d in configmgr.devices()]

    reimport = dict(_tasks(real))["Register again"]
    assert [r["outcome"] for r in reimport["devices"]] == ["Registered"], reimport
    new_ap = graph.service.records(serial)["autopilot"]
    assert len(new_ap) == 1 and new_ap[0]["id"] != seeded["autopilot"]["id"]

    events = {e["serial"]: e for e in _journal(campaign) if e["stage"] == "cleanup"}
    assert events[serial]["outcome"] == "changed" and events[serial]["status"] == "Cleaned"
    assert sorted(r["service"] for r in events[serial]["detail"]["removed"]) == [
        "ad", "autopilot", "configmgr", "entra", "entra", "intune"]
    assert events[other["serial_number"]]["outcome"] == "failed"
    assert "Records disagree" in events[other["serial_number"]]["status"]

    # 4. Second run: nothing changes, and the freshly registered Autopilot identity is left alone.
    rc, again, out = _play(tmp_path / "again", ev)
    assert rc == 0, out
    assert _all_changed(again) == []
    assert graph.service.records(serial)["autopilot"] == new_ap
