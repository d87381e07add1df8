# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Intune and Entra lookup/deletion (module_utils/_graph_devices.py) and the Graph lab's re-used device,
against one in-process Graph lab with tiny pages (so every lookup crosses @odata.nextLink)."""

from __future__ import annotations

import time

import pytest
import requests

from ansible_collections.winfleet.autopilot.plugins.module_utils import _graph_devices as gd
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import AUTOPILOT, device_info
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient, GraphError
from winfleet_lab.fixtures_graph import devices, start_lab

_SEQ = iter(range(100, 10000))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("graph-devices") / "lab", directory_page_size=2, intune_page_size=2)
    try:
        yield lab
    finally:
        lab.stop()


def _client(lab, app="registrar"):
    return GraphClient(dict(lab.connection(app), backoff_delay=0.01, backoff_max_delay=0.1))


@pytest.fixture(scope="module")
def client(lab):
    return _client(lab)


def _reused(lab, join="entra", **kw):
    dev = devices(next(_SEQ), 1)[0]
    seeded = lab.service.seed_reused(dev["serial_number"], dev["hardware_hash"], join, "alice@lab", **kw)
    return dev["serial_number"], seeded


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in %.0f s" % timeout)
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# the lab's re-used device
def test_reused_entra_device_has_linked_records(lab):
    serial, seeded = _reused(lab, "entra", group_tag="Order-9")
    rec = lab.service.records(serial)
    ap, md = rec["autopilot"][0], rec["managed"][0]
    assert [o["trustType"] for o in rec["entra"]] == ["AzureAd"]
    obj = rec["entra"][0]
    assert obj["ztdid"] == ap["id"] and ap["azureActiveDirectoryDeviceId"] == obj["deviceId"]
    assert ap["managedDeviceId"] == md["id"] and md["azureADDeviceId"] == obj["deviceId"]
    assert obj["displayName"] == md["deviceName"] == seeded["managed"]["deviceName"]
    assert "[OrderId]:Order-9" in seeded["entra"][0]["physicalIds"]
    assert not any(k.startswith("_") for k in seeded["entra"][0])


def test_reused_hybrid_device_has_a_second_entra_object(lab):
    serial, _seeded = _reused(lab, "hybrid")
    rec = lab.service.records(serial)
    by_trust = {o["trustType"]: o for o in rec["entra"]}
    assert sorted(by_trust) == ["AzureAd", "ServerAd"]
    assert by_trust["AzureAd"]["ztdid"] == rec["autopilot"][0]["id"]
    assert by_trust["ServerAd"]["ztdid"] is None
    assert by_trust["ServerAd"]["displayName"] == rec["managed"][0]["deviceName"]
    assert rec["managed"][0]["azureADDeviceId"] == by_trust["ServerAd"]["deviceId"]


def test_lab_controls_over_https(lab):
    dev = devices(next(_SEQ), 1)[0]
    base = lab.url + "/_lab/"
    r = requests.post(base + "reused", json={"serialNumber": dev["serial_number"], "join": "hybrid",
                                             "userPrincipalName": "bob@lab"}, verify=lab.ca_path, timeout=10)
    assert r.status_code == 201 and len(r.json()["entra"]) == 2
    again = requests.post(base + "reused", json={"serialNumber": dev["serial_number"]}, verify=lab.ca_path, timeout=10)
    assert again.status_code == 409
    got = requests.get(base + "records", params={"serialNumber": dev["serial_number"].lower()}, verify=lab.ca_path,
                       timeout=10).json()
    assert len(got["autopilot"]) == 1 and len(got["managed"]) == 1 and len(got["entra"]) == 2


def test_autopilot_delete_waits_for_intune_and_takes_its_entra_object_only(lab, client):
    serial, seeded = _reused(lab, "hybrid")
    ap_id = seeded["autopilot"]["id"]
    with pytest.raises(GraphError, match="enrolled in Intune"):
        client.delete("%s/%s" % (AUTOPILOT, ap_id))
    removed, _before = gd.intune_absent(client, {"serial_number": serial})
    assert [r["id"] for r in removed] == [seeded["managed"]["id"]]
    client.delete("%s/%s" % (AUTOPILOT, ap_id))

    def gone():  # the lab applies due deletions when a request comes in, like a real service would show them
        try:
            client.get("%s/%s" % (AUTOPILOT, ap_id))
        except GraphError as exc:
            return exc.status == 404
        return False

    _wait(gone)
    left = lab.service.records(serial)["entra"]
    assert [o["trustType"] for o in left] == ["ServerAd"]  # the hybrid object stays: AD owns it


# ---------------------------------------------------------------------------------------------
# selectors
@pytest.mark.parametrize("params,match", [
    ({}, "No selector given"),
    ({"serial_number": ""}, "empty selector"),
    ({"device_name": "   "}, "empty selector"),
    ({"device_name": "DESKTOP-*"}, "wildcard"),
    ({"serial_number": "*"}, "wildcard"),
    ({"id": "not-a-guid"}, "not a GUID"),
    ({"device_name": "PC\n01"}, "control characters"),
])
def test_bad_intune_selectors_are_refused_before_any_request(lab, params, match):
    before = lab.stats()["counters"].get("graph", 0)
    with pytest.raises(InputError, match=match):
        gd.intune_absent(None, params)
    assert lab.stats()["counters"].get("graph", 0) == before


@pytest.mark.parametrize("params", [{"name": "*"}, {"ztdid": "[ZTDID]:x"}, {"device_id": " "}])
def test_bad_entra_selectors_are_refused(params):
    with pytest.raises(InputError):
        gd.entra_absent(None, params)


# ---------------------------------------------------------------------------------------------
# Intune
def test_intune_lookups_are_exact_and_follow_pages(lab, client):
    serial, seeded = _reused(lab, "entra")
    md = seeded["managed"]
    _reused(lab, "entra")  # neighbours on other pages
    for params in ({"serial_number": " %s " % serial.lower()}, {"device_name": md["deviceName"].lower()},
                   {"id": md["id"]}, {"azure_ad_device_id": md["azureADDeviceId"]}):
        got = gd.intune_info(client, params)
        assert [d["id"] for d in got] == [md["id"]], params
        assert got[0]["serial_number"] == serial and got[0]["name"] == md["deviceName"]
    assert gd.intune_info(client, {"serial_number": serial[:-1]}) == []  # a prefix is not the serial
    assert gd.intune_info(client, {"id": "0f1e2d3c-4b5a-4678-9abc-def012345678"}) == []
    marked = gd.intune_info(client, {"device_name": md["deviceName"], "serial_number": "OTHER"})
    assert marked[0]["serial_match"] is False


def test_intune_guard_mismatch_deletes_nothing(lab, client):
    serial, seeded = _reused(lab, "entra")
    other, _seeded = _reused(lab, "entra")
    name = seeded["managed"]["deviceName"]
    with pytest.raises(gd.GuardError) as err:
        gd.intune_absent(client, {"device_name": name, "serial_number": other})
    assert serial in err.value.msg and other in err.value.msg and name in err.value.msg
    assert err.value.details["removed"] == []
    assert len(lab.service.records(serial)["managed"]) == 1


def test_intune_check_mode_predicts_the_real_run(lab, client):
    serial, seeded = _reused(lab, "entra")
    params = {"device_name": seeded["managed"]["deviceName"], "serial_number": serial.lower()}
    predicted, _before = gd.intune_absent(client, params, check_mode=True)
    assert len(lab.service.records(serial)["managed"]) == 1
    removed, _before = gd.intune_absent(client, params)
    assert removed == predicted and removed[0]["serial_number"] == serial
    assert lab.service.records(serial)["managed"] == []
    assert gd.intune_absent(client, params)[0] == []  # second run: nothing left


# ---------------------------------------------------------------------------------------------
# Entra
def test_entra_lookups_and_resolved_serials(lab, client):
    serial, seeded = _reused(lab, "hybrid", group_tag="Order-3")
    ap_obj = next(o for o in seeded["entra"] if o["trustType"] == "AzureAd")
    hy_obj = next(o for o in seeded["entra"] if o["trustType"] == "ServerAd")
    ztdid = seeded["autopilot"]["id"]
    by_serial = {d["id"]: d for d in gd.entra_info(client, {"serial_number": serial})}
    assert sorted(by_serial) == sorted([ap_obj["id"], hy_obj["id"]])
    a, h = by_serial[ap_obj["id"]], by_serial[hy_obj["id"]]
    assert (a["join_type"], a["ztdid"], a["order_id"], a["autopilot_id"]) == ("Entra joined", ztdid, "Order-3", ztdid)
    assert (a["serial_number"], a["serial_source"]) == (serial, "autopilot")
    assert (h["join_type"], h["serial_number"], h["serial_source"]) == ("Hybrid joined", serial, "intune")
    assert h["managed_device_ids"] == [seeded["managed"]["id"]] and h["autopilot_id"] is None
    assert [d["id"] for d in gd.entra_info(client, {"device_id": hy_obj["deviceId"].upper()})] == [hy_obj["id"]]
    assert [d["id"] for d in gd.entra_info(client, {"name": hy_obj["displayName"].lower()})] == [hy_obj["id"]]
    assert [d["id"] for d in gd.entra_info(client, {"id": ap_obj["id"]})] == [ap_obj["id"]]
    assert [d["id"] for d in gd.entra_info(client, {"ztdid": ztdid.upper()})] == [ap_obj["id"]]


def test_ztdid_tag_is_matched_case_insensitively(lab, client):
    serial, seeded = _reused(lab, "entra")
    obj = lab.service.store.data["entra"][seeded["entra"][0]["id"]]
    obj["physicalIds"] = [p.replace("[ZTDID]", "[ZTDId]") for p in obj["physicalIds"]]
    got = gd.entra_info(client, {"ztdid": seeded["autopilot"]["id"]})
    assert [d["id"] for d in got] == [obj["id"]] and got[0]["serial_number"] == serial


def test_hybrid_name_agreement_is_guard_evidence(lab, client):
    serial, seeded = _reused(lab, "hybrid")
    hy = next(o for o in seeded["entra"] if o["trustType"] == "ServerAd")
    # The Intune record points elsewhere (it re-joined): only the computer name ties the object to the serial.
    md = lab.service.store.data["managed"][seeded["managed"]["id"]]
    md["azureADDeviceId"] = "9e8d7c6b-5a49-4382-9100-aabbccddeeff"
    got = gd.entra_info(client, {"name": hy["displayName"], "serial_number": serial})
    assert (got[0]["serial_number"], got[0]["serial_source"], got[0]["serial_match"]) == (serial, "name", True)
    plain = gd.entra_info(client, {"name": hy["displayName"]})
    assert plain[0]["serial_number"] is None  # no guard serial: nothing claims it


def test_entra_guard_mismatch_and_missing_serial(lab, client):
    serial, seeded = _reused(lab, "hybrid")
    other, _seeded = _reused(lab, "hybrid")
    hy = next(o for o in seeded["entra"] if o["trustType"] == "ServerAd")
    with pytest.raises(gd.GuardError) as err:
        gd.entra_absent(client, {"name": hy["displayName"], "serial_number": other})
    assert serial in err.value.msg and other in err.value.msg and hy["id"] in err.value.msg
    # Once Intune forgets the device, nothing claims the hybrid object: refused unless require_serial_match=false.
    gd.intune_absent(client, {"serial_number": serial})
    with pytest.raises(gd.GuardError, match="no serial number"):
        gd.entra_absent(client, {"id": hy["id"], "serial_number": serial})
    assert hy["id"] in lab.service.store.data["entra"]
    warnings = []
    removed, _before = gd.entra_absent(client, {"id": hy["id"], "serial_number": serial, "require_serial_match": False},
                                       warn=warnings.append)
    assert [r["id"] for r in removed] == [hy["id"]] and removed[0]["join_type"] == "Hybrid joined"
    assert any("synced from Active Directory" in w for w in warnings)
    assert hy["id"] not in lab.service.store.data["entra"]


def test_autopilot_owned_object_needs_force_and_force_orphans(lab, client):
    serial, seeded = _reused(lab, "entra")
    obj = seeded["entra"][0]
    with pytest.raises(gd.GuardError, match="orphaned Autopilot record"):
        gd.entra_absent(client, {"ztdid": seeded["autopilot"]["id"], "serial_number": serial})
    assert lab.service.records(serial)["entra"]
    orphans = lab.stats()["counters"].get("autopilot_orphaned_by_entra_delete", 0)
    warnings = []
    removed, _before = gd.entra_absent(client, {"device_id": obj["deviceId"], "force": True}, warn=warnings.append)
    assert [r["id"] for r in removed] == [obj["id"]]
    assert any("orphaned" in w for w in warnings)
    rec = lab.service.records(serial)
    assert rec["entra"] == [] and rec["autopilot"][0]["orphaned"] is True
    assert lab.stats()["counters"]["autopilot_orphaned_by_entra_delete"] == orphans + 1


def test_entra_check_mode_predicts_the_real_run_and_is_idempotent(lab, client):
    serial, _seeded = _reused(lab, "hybrid")
    gd.intune_absent(client, {"serial_number": serial})
    params = {"serial_number": serial, "force": True}
    predicted, _before = gd.entra_absent(client, params, check_mode=True)
    assert len(predicted) == 1  # Intune is gone: only the Autopilot link finds the Autopilot object
    removed, _before = gd.entra_absent(client, params)
    assert removed == predicted
    assert gd.entra_absent(client, params)[0] == []


def test_permission_errors_name_the_permission(lab):
    serial, seeded = _reused(lab, "entra")
    reader = _client(lab, "reader")
    with pytest.raises(gd.GraphPermissionError) as err:
        gd.intune_absent(reader, {"serial_number": serial})
    exc = gd.explain_permission(err.value, "intune_device", [gd.MD_WRITE], writes=("managed",))
    assert "Missing permission" in exc.msg and gd.MD_WRITE in exc.msg
    lab.add_app("devices-only", ["Device.ReadWrite.All"])
    narrow = _client(lab, "devices-only")
    with pytest.raises(gd.GraphPermissionError) as err:
        gd.entra_info(narrow, {"id": seeded["entra"][0]["id"]})
    assert gd.permission_for(err.value) == gd.SVC_READ  # the ZTDID lookup needs the Autopilot read permission
    assert lab.service.records(serial)["managed"]


def test_fleet_lookups_in_bulk_find_what_one_lookup_per_device_finds(lab):
    """intune_info_many / entra_info_many: the same records, guards and order as one lookup per value, in a few
    $batch requests instead of several requests per device."""
    serials = [_reused(lab, join)[0] for join in ("entra", "hybrid", "entra", "hybrid")] + ["NO-SUCH-SERIAL"]
    names = [lab.service.records(serials[1])["entra"][0]["displayName"], "NO-SUCH-NAME"]
    one_by_one, bulk = _client(lab), _client(lab)
    expected_intune, seen = [], set()
    for s in serials:
        for rec in gd.intune_info(one_by_one, {"serial_number": s}):
            if rec["id"] not in seen:
                seen.add(rec["id"])
                expected_intune.append(rec)
    expected_entra, seen = [], set()
    for option, values in (("serial_number", serials), ("name", names)):
        for v in values:
            for rec in gd.entra_info(one_by_one, {option: v}):
                if rec["id"] not in seen:
                    seen.add(rec["id"])
                    expected_entra.append(rec)
    assert len(expected_intune) == 4 and len(expected_entra) >= 4
    assert gd.intune_info_many(bulk, serials + [serials[0].lower()]) == expected_intune
    assert gd.entra_info_many(bulk, serials, names) == expected_entra
    assert bulk.stats["requests"] * 2 < one_by_one.stats["requests"]
    with pytest.raises(InputError, match="wildcard"):
        gd.intune_info_many(bulk, ["PF*"])
    # device_records_info: the three look-ups with one client give what each service's own look-up gives
    together = _client(lab)
    records = gd.records_many(together, serials, names)
    assert records["intune"] == expected_intune and records["entra"] == expected_entra
    assert sorted(r["serial_number"] for r in records["autopilot"]) == sorted(
        r["serial_number"] for r in device_info(one_by_one, serials, include_import_state=False) if r["id"])
    assert len(records["autopilot"]) == 4 and together.stats["token_requests"] == 1
    # ... and reads each serial's Autopilot record and Intune devices once: the Entra look-up starts from them
    apart = _client(lab)
    gd.intune_info_many(apart, serials)
    device_info(apart, serials, include_import_state=False)
    gd.entra_info_many(apart, serials, names)
    assert together.stats["batched_calls"] == apart.stats["batched_calls"] - 2 * len(serials)
    assert gd.records_many(together, serials, services=["intune"]) == {"intune": expected_intune}
    assert gd.records_many(together, []) == {"intune": [], "autopilot": [], "entra": []}
