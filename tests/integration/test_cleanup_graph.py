# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""intune_device(_info), entra_device(_info) with autopilot_device and autopilot_import through ansible-playbook
against the Graph lab: a re-used device (Entra joined and hybrid joined) is cleaned Intune -> Autopilot -> Entra,
registers again; check mode predicts the real run; a second run changes nothing; guards delete nothing."""

from __future__ import annotations

import pathlib

import pytest

from winfleet_lab.fixtures_graph import devices, start_lab
from winfleet_lab.playbook import run_playbook, task_results, write_extravars

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parent / "cleanup_graph"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("cleanup-graph") / "lab")
    try:
        yield lab
    finally:
        lab.stop()


def _play(playbook, workdir, extravars, check=False):
    """ansible-playbook with the results_json callback; extra vars (lab secrets) go in through a 0600 file."""
    rc, data, out, err = run_playbook(PLAYBOOKS / playbook, "-i", "localhost,", "-c", "local",
                                      "-e", write_extravars(workdir, extravars),
                                      check=check, timeout=300)
    assert data is not None, out + err
    return rc, data, out + err


def _items(data, name):
    return task_results(data, name).get("results", [])


def _removed_ids(data, name):
    return [[r["id"] for r in item.get("removed", [])] for item in _items(data, name)]


def test_reused_devices_cleaned_in_order_then_registered_again(lab, tmp_path):
    entra_dev, hybrid_dev = devices(501, 2)
    seeded = {
        "entra": lab.service.seed_reused(entra_dev["serial_number"], entra_dev["hardware_hash"], "entra", "alice@lab"),
        "hybrid": lab.service.seed_reused(hybrid_dev["serial_number"], hybrid_dev["hardware_hash"], "hybrid",
                                          "bob@lab"),
    }
    fleet = [{"serial_number": d["serial_number"], "hardware_hash": d["hardware_hash"]} for d in (entra_dev, hybrid_dev)]
    ev = {"graph": lab.connection(), "fleet": fleet}
    log = []  # the lab's request log: (method, path) in the order the lab received them

    def observer(phase, method, path, _status):
        if phase == "request":
            log.append((method, path))

    lab.service.observers.append(observer)
    try:
        rc, data, out = _play("clean.yml", tmp_path / "run1", ev)
    finally:
        lab.service.observers.remove(observer)
    assert rc == 0, out
    # Microsoft's current order (memdocs autopilot/registration-overview, "deregister"): the Intune device, then the
    # user unassigned from the Autopilot record, then the Autopilot record.
    for seed in seeded.values():
        ap_id, md_id = seed["autopilot"]["id"], seed["managed"]["id"]
        steps = [next(i for i, (m, path) in enumerate(log) if m == method and path.endswith(tail)) for method, tail in
                 (("DELETE", "managedDevices/" + md_id), ("POST", ap_id + "/unassignUserFromDevice"),
                  ("DELETE", "windowsAutopilotDeviceIdentities/" + ap_id))]
        assert steps == sorted(steps), log
    # Entra info saw each device's objects while Intune and Autopilot still told their serial.
    info_task = "Entra objects of each device, while its Intune and Autopilot records still tell its serial"
    info = {r["item"]: r["devices"] for r in _items(data, info_task)}
    assert {d["join_type"] for d in info[entra_dev["serial_number"]]} == {"Entra joined"}
    assert sorted(d["trust_type"] for d in info[hybrid_dev["serial_number"]]) == ["AzureAd", "ServerAd"]
    assert all(d["serial_number"] == s for s, objs in info.items() for d in objs)

    # Intune: check mode predicted exactly what went, with a diff.
    assert _removed_ids(data, "Intune (check)") == _removed_ids(data, "Intune") == [
        [seeded["entra"]["managed"]["id"]], [seeded["hybrid"]["managed"]["id"]]]
    check_item = _items(data, "Intune (check)")[0]
    assert check_item["changed"] is True and check_item["diff"]["before"]["devices"][0]["serial_number"] == \
        entra_dev["serial_number"] and check_item["diff"]["after"] == {}
    # Autopilot waited until gone (it took the Autopilot-created Entra objects with it).
    assert [r["removed"] for r in _items(data, "Autopilot")] == [True, True]
    # Entra: only the hybrid object was left to delete; check mode said so too.
    hybrid_obj = next(o for o in seeded["hybrid"]["entra"] if o["trustType"] == "ServerAd")
    predicted = [i for ids in _removed_ids(data, "Entra (check)") for i in ids]
    assert predicted == [i for ids in _removed_ids(data, "Entra") for i in ids] == [hybrid_obj["id"]]
    assert any("synced from Active Directory" in w for w in task_results(data, "Entra").get("warnings", []))
    for dev in (entra_dev, hybrid_dev):
        rec = lab.service.records(dev["serial_number"])
        assert (rec["autopilot"], rec["managed"], rec["entra"]) == ([], [], []), rec

    # Second run: nothing left to change; then the devices register again.
    rc, data, out = _play("clean.yml", tmp_path / "run2", dict(ev, reregister=True))
    assert rc == 0, out
    for name in ("Intune (check)", "Intune", "Autopilot"):
        assert [r["changed"] for r in _items(data, name)] == [False, False], name
    for name in ("Entra (check)", "Entra"):
        assert task_results(data, name).get("changed", False) is False and _removed_ids(data, name) == []
    reimport = task_results(data, "Register again")
    assert reimport["changed"] is True
    assert sorted(d["outcome"] for d in reimport["devices"]) == ["Registered", "Registered"]
    for dev, old in ((entra_dev, seeded["entra"]), (hybrid_dev, seeded["hybrid"])):
        rec = lab.service.records(dev["serial_number"])
        assert len(rec["autopilot"]) == 1 and rec["autopilot"][0]["id"] != old["autopilot"]["id"]
        assert [o["ztdid"] for o in rec["entra"]] == [rec["autopilot"][0]["id"]] and rec["managed"] == []
    assert entra_dev["hardware_hash"][:60] not in out and hybrid_dev["hardware_hash"][:60] not in out


def test_guards_refuse_and_delete_nothing(lab, tmp_path):
    a_dev, b_dev = devices(502, 2)
    a = lab.service.seed_reused(a_dev["serial_number"], a_dev["hardware_hash"], "hybrid", "carol@lab")
    lab.service.seed_reused(b_dev["serial_number"], b_dev["hardware_hash"], "entra", "dave@lab")
    before = {d["serial_number"]: lab.service.records(d["serial_number"]) for d in (a_dev, b_dev)}
    hybrid_name = next(o for o in a["entra"] if o["trustType"] == "ServerAd")["displayName"]
    reader = lab.connection("reader")
    ev = {"graph": lab.connection(), "reader": {"client_id": reader["client_id"], "client_secret": reader["client_secret"]},
          "a": a_dev["serial_number"], "b": b_dev["serial_number"], "a_name": a["managed"]["deviceName"],
          "a_hybrid_name": hybrid_name, "a_ztdid": a["autopilot"]["id"]}

    rc, data, out = _play("guards.yml", tmp_path / "guards", ev)
    assert rc == 0, out  # every refusal is ignore_errors

    def failed(name):
        res = task_results(data, name)
        assert res.get("failed") is True, (name, res)
        assert res.get("changed", False) is False and res.get("removed", []) == []
        return res["msg"]

    assert "empty selector" in failed("Empty serial number")
    assert "wildcard" in failed("Wildcard device name")
    assert "wildcard" in failed("Wildcard Entra name")
    msg = failed("Intune record of another serial")
    assert a_dev["serial_number"] in msg and b_dev["serial_number"] in msg and a["managed"]["deviceName"] in msg
    msg = failed("Entra object of another serial")
    assert a_dev["serial_number"] in msg and b_dev["serial_number"] in msg and hybrid_name in msg
    assert "orphaned Autopilot record" in failed("Entra object still in Autopilot")
    msg = failed("Intune without the write permission")
    assert msg.startswith("Missing permission") and "DeviceManagementManagedDevices.ReadWrite.All" in msg
    res = task_results(data, "Entra without the write permission")
    assert res["msg"].startswith("Missing permission") and "Device.ReadWrite.All" in res["msg"]
    assert res["missing_permission"] == "Device.ReadWrite.All"
    # Nothing was deleted anywhere.
    assert {d["serial_number"]: lab.service.records(d["serial_number"]) for d in (a_dev, b_dev)} == before


def test_list_forms_clean_a_fleet_with_one_task_per_service(lab, tmp_path):
    fleet = devices(503, 5)
    seeded = [lab.service.seed_reused(d["serial_number"], d["hardware_hash"], "hybrid" if i % 2 else "entra",
                                      "erin@lab") for i, d in enumerate(fleet)]
    serials = [d["serial_number"] for d in fleet]
    ev = {"graph": lab.connection(), "serials": serials + ["NEVER-SEEN-01"]}

    rc, data, out = _play("bulk.yml", tmp_path / "bulk1", ev)
    assert rc == 0, out
    check, real = task_results(data, "Intune (check)"), task_results(data, "Intune")
    assert check["changed"] is True and check["removed"] == real["removed"]
    assert sorted(r["id"] for r in real["removed"]) == sorted(s["managed"]["id"] for s in seeded)
    assert len(real["results"]) == 6 and real["results"][-1]["removed"] == []  # the unknown serial: nothing to do
    assert len(check["diff"]["before"]["devices"]) == 5 and check["diff"]["after"] == {}
    ap_check, ap = task_results(data, "Autopilot (check)"), task_results(data, "Autopilot")
    assert [r["changed"] for r in ap_check["results"]] == [r["changed"] for r in ap["results"]] == [True] * 5 + [False]
    assert [r["removed"] for r in ap["results"]] == [True] * 5 + [None]
    entra = task_results(data, "Entra")
    hybrid = sorted(next(o["id"] for o in s["entra"] if o["trustType"] == "ServerAd") for s in seeded[1::2])
    assert sorted(r["id"] for r in entra["removed"]) == hybrid  # the Autopilot objects went with Autopilot
    for serial in serials:
        rec = lab.service.records(serial)
        assert (rec["autopilot"], rec["managed"], rec["entra"]) == ([], [], []), rec

    rc, data, out = _play("bulk.yml", tmp_path / "bulk2", ev)  # idempotent: nothing left to change
    assert rc == 0, out
    for name in ("Intune (check)", "Intune", "Autopilot (check)", "Autopilot", "Entra"):
        assert task_results(data, name).get("changed") is False, name
    assert fleet[0]["hardware_hash"][:60] not in out
