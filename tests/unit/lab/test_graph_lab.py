# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab itself: token service with the real msal, Graph contract details, persistence."""

from __future__ import annotations

import base64
import json

import jwt
import msal
import pytest
import requests

from winfleet_lab import fixtures_graph
from winfleet_lab.fixtures_graph import devices

graph_lab = fixtures_graph.graph_lab
IMPORTED = "deviceManagement/importedWindowsAutopilotDeviceIdentities"


@pytest.fixture(autouse=True)
def _no_env_ca_bundle(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE override a session's verify; these raw clients rely on verify=.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _cca(lab, credential, client_id):
    return msal.ConfidentialClientApplication(client_id, client_credential=credential, authority=lab.authority,
                                              verify=lab.ca_path, instance_discovery=False)


def _scope(lab):
    return [lab.url + "/.default"]


def test_msal_secret_token_and_cache(graph_lab):
    lab = graph_lab
    app = lab.app()
    cca = _cca(lab, app["secrets"][0], app["client_id"])
    first = cca.acquire_token_for_client(_scope(lab))
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3599
    assert first["token_source"] == "identity_provider"
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["tid"] == lab.tenant_id and "DeviceManagementServiceConfig.ReadWrite.All" in claims["roles"]
    assert cca.acquire_token_for_client(_scope(lab))["token_source"] == "cache"
    assert lab.stats()["counters"]["tokens_issued"] == 1


@pytest.mark.parametrize("style", ["rs256_x5t", "ps256_x5t_s256"])
def test_msal_certificate_assertions(graph_lab, style):
    lab = graph_lab
    cert = lab.add_certificate_app("cert-" + style)
    if style == "rs256_x5t":
        cred = {"private_key": cert["key_pem"], "thumbprint": cert["sha1"]}
    else:
        cred = {"private_key": cert["key_pem"], "public_certificate": cert["cert_pem"]}
    result = _cca(lab, cred, cert["client_id"]).acquire_token_for_client(_scope(lab))
    assert "access_token" in result, result
    alg = "RS256" if style == "rs256_x5t" else "PS256"
    assert lab.stats()["counters"]["token_assertion_%s" % alg] == 1


def test_assertion_signed_by_another_key_is_refused(graph_lab):
    lab = graph_lab
    cert = lab.add_certificate_app("cert-a")
    other = lab.add_certificate_app("cert-b")
    cred = {"private_key": other["key_pem"], "thumbprint": cert["sha1"]}  # right thumbprint, wrong key
    result = _cca(lab, cred, cert["client_id"]).acquire_token_for_client(_scope(lab))
    assert result["error"] == "invalid_client"
    assert "AADSTS700027" in result["error_description"]


@pytest.mark.parametrize("case,error,code", [
    ("bad_secret", "invalid_client", 7000215),
    ("unknown_app", "unauthorized_client", 700016),
    ("bad_scope", "invalid_scope", 1002012),
])
def test_aadsts_errors(graph_lab, case, error, code):
    lab = graph_lab
    app = lab.app()
    client_id, secret, scope = app["client_id"], app["secrets"][0], _scope(lab)
    if case == "bad_secret":
        secret = "nope"
    elif case == "unknown_app":
        client_id = "11111111-1111-1111-1111-111111111111"
    else:
        scope = ["User.Read"]
    result = _cca(lab, secret, client_id).acquire_token_for_client(scope)
    assert result["error"] == error
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith("AADSTS%d:" % code)


def _session(lab, app="registrar"):
    a = lab.app(app)
    tok = _cca(lab, a["secrets"][0], a["client_id"]).acquire_token_for_client(_scope(lab))["access_token"]
    s = requests.Session()
    s.verify = lab.ca_path
    s.headers["Authorization"] = "Bearer " + tok
    return s


def test_graph_requires_bearer_and_roles(graph_lab):
    lab = graph_lab
    r = requests.get(lab.url + "/beta/" + IMPORTED, verify=lab.ca_path, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert r.headers["request-id"] == r.json()["error"]["innerError"]["request-id"]
    reader = _session(lab, "reader")
    assert reader.get(lab.url + "/beta/" + IMPORTED, timeout=10).status_code == 200
    denied = reader.post(lab.url + "/beta/" + IMPORTED + "/import", json={"importedWindowsAutopilotDeviceIdentities": []},
                         timeout=10)
    assert denied.status_code == 403
    inner = json.loads(denied.json()["error"]["message"])  # Intune wraps its message in a JSON string
    assert inner["_version"] == 3 and "DeviceManagementServiceConfig.ReadWrite.All" in inner["Message"]
    nobody = _session(lab, "norights")
    assert nobody.get(lab.url + "/v1.0/devices", timeout=10).json()["error"]["code"] == "Authorization_RequestDenied"


def test_import_is_asynchronous_and_unpadded_base64_is_refused(graph_lab):
    lab = graph_lab
    s = _session(lab)
    dev = devices(7, 2)
    items = [{"serialNumber": d["serial_number"], "hardwareIdentifier": d["hardware_hash"], "importId": "t1"} for d in dev]
    items.append(dict(items[0]))  # the same hash twice in one batch
    r = s.post(lab.url + "/beta/" + IMPORTED + "/import", json={"importedWindowsAutopilotDeviceIdentities": items},
               timeout=10)
    assert r.status_code == 200
    recs = r.json()["value"]
    assert [x["state"]["deviceImportStatus"] for x in recs] == ["unknown"] * 3
    assert all(x["hardwareIdentifier"] is None for x in recs)
    lab.service.handle("POST", "/_lab/process", {}, {}, b"")
    states = {x["id"]: s.get(lab.url + "/beta/%s/%s" % (IMPORTED, x["id"]), timeout=10).json()["state"] for x in recs}
    # Graph promises no order for the records /import returns: pair them with the request by serial number.
    by_serial = {}
    for x in recs:
        by_serial.setdefault(x["serialNumber"], []).append(states[x["id"]])
    twice, once = by_serial[dev[0]["serial_number"]], by_serial[dev[1]["serial_number"]]
    assert sorted((st["deviceImportStatus"], st["deviceErrorName"]) for st in twice) == [
        ("complete", "None"), ("error", "ZtdDeviceDuplicated")]
    assert all(st["deviceRegistrationId"] for st in twice if st["deviceImportStatus"] == "complete")
    assert [st["deviceImportStatus"] for st in once] == ["complete"]
    unpadded = dev[0]["hardware_hash"].rstrip("=")[:-1]
    bad = s.post(lab.url + "/beta/" + IMPORTED + "/import", timeout=10, json={
        "importedWindowsAutopilotDeviceIdentities": [{"serialNumber": "X", "hardwareIdentifier": unpadded}]})
    assert bad.status_code == 400 and "Edm.Binary" in bad.json()["error"]["message"]


def test_autopilot_filters_paging_and_delete_quirks(tmp_path):
    lab = fixtures_graph.start_lab(tmp_path / "lab", intune_page_size=3)
    try:
        s = _session(lab)
        dev = devices(8, 7)
        s.post(lab.url + "/beta/" + IMPORTED + "/import", timeout=10, json={"importedWindowsAutopilotDeviceIdentities": [
            {"serialNumber": d["serial_number"], "hardwareIdentifier": d["hardware_hash"]} for d in dev]})
        lab.service.handle("POST", "/_lab/process", {}, {}, b"")
        url = lab.url + "/beta/deviceManagement/windowsAutopilotDeviceIdentities"
        seen, pages = [], 0
        while url:
            page = s.get(url, timeout=10).json()
            seen += [d["serialNumber"] for d in page["value"]]
            url = page.get("@odata.nextLink")
            pages += 1
        assert pages == 3 and sorted(seen) == sorted(d["serial_number"] for d in dev)
        base = lab.url + "/beta/deviceManagement/windowsAutopilotDeviceIdentities"
        assert s.get(base, params={"$filter": "serialNumber eq '%s'" % dev[0]["serial_number"]}, timeout=10).status_code == 400
        hit = s.get(base, params={"$filter": "contains(serialNumber,'%s')" % dev[0]["serial_number"]}, timeout=10).json()
        assert [d["serialNumber"] for d in hit["value"]] == [dev[0]["serial_number"]]
        assert s.get(base, params={"$filter": "contains(serialNumber,'a-b')"}, timeout=10).status_code == 400
        target = hit["value"][0]["id"]
        assert s.delete(base + "/" + target, timeout=10).status_code == 200  # documented 204, really 200
        gone = s.delete(base + "/00000000-0000-0000-0000-000000000001", timeout=10)
        assert gone.status_code == 400 and "Cannot find device with ztd Id" in gone.json()["error"]["message"]
        entra = s.get(lab.url + "/v1.0/devices", timeout=10,
                      params={"$filter": "physicalIds/any(p:startswith(p,'[ZTDID]'))"}).json()["value"]
        assert len(entra) == 7
    finally:
        lab.stop()


def test_throttling_batch_and_sync(tmp_path):
    lab = fixtures_graph.start_lab(tmp_path / "lab", write_limit_app=2, time_scale=1.0)  # 2 writes per real 20 s
    try:
        s = _session(lab)
        base = lab.url + "/beta/deviceManagement/windowsAutopilotSettings/sync"
        assert s.post(base, timeout=10).status_code == 204
        assert s.post(base, timeout=10).status_code == 409  # still syncing (30 s)
        third = s.post(base, timeout=10)
        assert third.status_code == 429 and 0 < float(third.headers["Retry-After"]) <= 20
        batch = s.post(lab.url + "/beta/$batch", timeout=10, json={"requests": [
            {"id": str(i), "method": "GET", "url": "/deviceManagement/windowsAutopilotDeviceIdentities"} for i in range(3)]})
        assert batch.status_code == 200 and sorted(r["status"] for r in batch.json()["responses"]) == [200, 200, 200]
        too_many = s.post(lab.url + "/beta/$batch", timeout=10, json={"requests": [
            {"id": str(i), "method": "GET", "url": "/devices"} for i in range(21)]})
        assert too_many.status_code == 400
    finally:
        lab.stop()


def test_state_survives_a_crash(tmp_path):
    lab = fixtures_graph.start_lab(tmp_path / "lab")
    try:
        s = _session(lab)
        dev = devices(9, 3)
        s.post(lab.url + "/beta/" + IMPORTED + "/import", timeout=10, json={"importedWindowsAutopilotDeviceIdentities": [
            {"serialNumber": d["serial_number"], "hardwareIdentifier": d["hardware_hash"]} for d in dev]})
        app = lab.app()
        lab.restart(crash=True)
        assert lab.app()["secrets"] == app["secrets"]
        lab.service.handle("POST", "/_lab/process", {}, {}, b"")
        assert sorted(d["serialNumber"] for d in lab.service.store.data["autopilot"].values()) == sorted(
            d["serial_number"] for d in dev)
        # The old token is still valid after the restart (same signing key).
        assert s.get(lab.url + "/beta/" + IMPORTED, timeout=10).status_code == 200
    finally:
        lab.stop()


def test_hash_checks_agree_with_the_collection_decoder(graph_lab):
    lab = graph_lab
    s = _session(lab)
    d = devices(10, 2)
    raw = bytearray(base64.b64decode(d[0]["hardware_hash"]))
    raw[50] ^= 1  # checksum mismatch
    wrong_serial = {"serialNumber": "NOTTHESERIAL", "hardwareIdentifier": d[1]["hardware_hash"]}
    r = s.post(lab.url + "/beta/" + IMPORTED + "/import", timeout=10, json={"importedWindowsAutopilotDeviceIdentities": [
        {"serialNumber": d[0]["serial_number"], "hardwareIdentifier": base64.b64encode(bytes(raw)).decode()},
        wrong_serial]})
    lab.service.handle("POST", "/_lab/process", {}, {}, b"")
    names = [s.get(lab.url + "/beta/%s/%s" % (IMPORTED, x["id"]), timeout=10).json()["state"]["deviceErrorName"]
             for x in r.json()["value"]]
    assert names == ["InvalidZtdHardwareHash", "InvalidZtdHardwareHash"]
