# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bulk clean-up and delivery against the Graph lab: Intune and Entra deletions and Autopilot removals / updates for
many devices in a few $batch requests, per-entry guards and failures, one wait loop, check mode, idempotence; and the
client's $batch (dependsOn, 424, responses in any order)."""

from __future__ import annotations

import time

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _autopilot_devices as apd
from ansible_collections.winfleet.autopilot.plugins.module_utils import _graph_devices as gd
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient
from winfleet_lab.fixtures_graph import devices, start_lab

AP = "/deviceManagement/windowsAutopilotDeviceIdentities"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("graph-bulk") / "lab")
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def client(lab):
    return GraphClient(dict(lab.connection(), backoff_delay=0.01, backoff_max_delay=0.1))


def _seed(lab, seed, count, join="hybrid"):
    out = []
    for dev in devices(seed, count):
        seeded = lab.service.seed_reused(dev["serial_number"], dev["hardware_hash"], join, "alice@lab")
        out.append((dev["serial_number"], seeded))
    return out


def test_client_batch_depends_on_and_424(lab, client):
    calls = [{"method": "GET", "url": AP + "/00000000-0000-0000-0000-00000000abcd"},
             {"method": "GET", "url": AP, "depends_on": [0]}] + [{"method": "GET", "url": AP} for _n in range(20)]
    calls.append({"method": "GET", "url": AP, "depends_on": [0]})  # in the second $batch request: answered here
    res = client.batch(calls)
    assert [r.status for r in res[:2]] == [404, 424] and all(r.status == 200 for r in res[2:-1])
    assert res[-1].status == 424 and res[-1].body["error"]["code"] == "FailedDependency"
    with pytest.raises(Exception, match="earlier calls"):
        client.batch([{"method": "GET", "url": AP, "depends_on": [1]}, {"method": "GET", "url": AP}])


def test_intune_and_entra_bulk_deletion_per_entry_guards_and_idempotence(lab, client):
    fleet = _seed(lab, 801, 23)  # more than one $batch request of 20
    serials = [s for s, _seeded in fleet]
    entries = [{"id": seeded["managed"]["id"], "serial_number": s} for s, seeded in fleet]
    entries[3]["serial_number"] = serials[4]  # the guard of one entry disagrees: only that entry fails
    before = client.stats["batch_requests"]
    check = gd.intune_absent_many(client, entries, check_mode=True)
    assert [len(r["removed"]) for r in check] == [1] * 3 + [0] + [1] * 19 and check[3]["failed"]
    assert "Serial number guard" in check[3]["msg"] and lab.service.records(serials[0])["managed"]
    real = gd.intune_absent_many(client, entries)
    assert [r["removed"] for r in real] == [r["removed"] for r in check]
    assert client.stats["batch_requests"] - before <= 8  # 2 lookups + 2 deletions per run, not one call per device
    assert lab.service.records(serials[3])["managed"] and not lab.service.records(serials[0])["managed"]
    again = gd.intune_absent_many(client, [e for i, e in enumerate(entries) if i != 3])
    assert all(r["removed"] == [] and not r["failed"] for r in again)
    # Entra: the hybrid objects, each with its own device's serial as guard; the Autopilot-owned one is refused.
    hybrid = [(s, next(o for o in seeded["entra"] if o["trustType"] == "ServerAd")) for s, seeded in fleet[:5]]
    owned = next(o for o in fleet[5][1]["entra"] if o["trustType"] == "AzureAd")
    ent = [{"id": o["id"], "serial_number": s} for s, o in hybrid] + [{"id": owned["id"], "serial_number": fleet[5][0]}]
    res = gd.entra_absent_many(client, ent, require_serial_match=False)
    assert [len(r["removed"]) for r in res] == [1, 1, 1, 1, 1, 0] and "orphaned Autopilot record" in res[5]["msg"]
    assert gd.entra_absent_many(client, ent[:5], require_serial_match=False)[0]["removed"] == []


def test_autopilot_bulk_removal_one_wait_and_updates(lab, client):
    fleet = _seed(lab, 802, 4, join="entra")
    serials = [s for s, _seeded in fleet]
    gd.intune_absent_many(client, [{"serial_number": s} for s in serials[:3]])
    entries = apd.check_entries([{"serial_number": s} for s in serials] + [{"serial_number": "NOT-REGISTERED"}])
    check = apd.absent_many(client, entries, check_mode=True)
    assert [r["changed"] for r in check] == [True, True, True, True, False]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(seconds)

    res = apd.absent_many(client, entries, timeout=30, interval=0.05, sleep=sleep)
    assert [r["removed"] for r in res[:3]] == [True, True, True] and res[4]["removed"] is None
    assert res[3]["failed"] and "enrolled in Intune" in res[3]["msg"]  # its Intune record is still there
    assert all(lab.service.records(s)["autopilot"] == [] for s in serials[:3])
    assert all(s == 0.05 for s in sleeps)  # one wait loop for all of them
    again = apd.absent_many(client, entries[:3], timeout=5, interval=0.05)
    assert [r["changed"] for r in again] == [False, False, False]
    # Updates: the remaining device gets a tag and a user; the unregistered one is "Device not found".
    upd = apd.check_entries([{"serial_number": serials[3], "group_tag": "FLEET-B", "assigned_user": "bob@lab"},
                             {"serial_number": "NOT-REGISTERED", "group_tag": "FLEET-B"}])
    check = apd.update_many(client, upd, check_mode=True)
    assert check[0]["updated"] == ["group_tag", "assigned_user"] and check[1]["status"] == "Device not found"
    done = apd.update_many(client, upd)
    assert done[0]["device"]["group_tag"] == "FLEET-B" and done[0]["device"]["assigned_user"] == "bob@lab"
    assert apd.update_many(client, upd[:1])[0]["changed"] is False
