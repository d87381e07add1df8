# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab answers as Microsoft's published schema says, per API version (issue 15).

Every answer in these tests goes through ``fixtures_graph.schema_guard``: each entity in it must carry only properties
of its version's entity type (schema/graph-schema.json, extracted from microsoftgraph/msgraph-metadata by
tools/graph-schema.py), enum values that are members, and every non-nullable property. Besides: v1.0 actions take only
v1.0 parameters, ``Retry-After`` is whole seconds, the Intune throttle groups are counted apart, ``/import`` answers in
an order of its own (the same for the same seed), ``@odata.context``, ``$skip`` and delete statuses as Graph writes
them, and the lab judges hardware hashes itself."""

from __future__ import annotations

import base64
import hashlib
import pathlib
import struct

import msal
import pytest
import requests

from winfleet_lab import fixtures_graph, hashgen
from winfleet_lab.fixtures_graph import devices, schema_guard
from winfleet_lab.graph import schema
from winfleet_lab.graph.hwjudge import judge

IMPORTED = "deviceManagement/importedWindowsAutopilotDeviceIdentities"
AP = "deviceManagement/windowsAutopilotDeviceIdentities"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_env_ca_bundle(monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def lab(tmp_path):
    lab = fixtures_graph.start_lab(tmp_path / "lab")
    lab.schema_errors = schema_guard(lab)
    try:
        yield lab
    finally:
        lab.stop()


def _session(lab, app="registrar"):
    a = lab.app(app)
    cca = msal.ConfidentialClientApplication(a["client_id"], client_credential=a["secrets"][0], authority=lab.authority,
                                             verify=lab.ca_path, instance_discovery=False)
    s = requests.Session()
    s.verify = lab.ca_path
    s.headers["Authorization"] = "Bearer " + cca.acquire_token_for_client([lab.url + "/.default"])["access_token"]
    return s


def _import(lab, s, version, devs, import_id="schema"):
    r = s.post("%s/%s/%s/import" % (lab.url, version, IMPORTED), timeout=10, json={
        "importedWindowsAutopilotDeviceIdentities": [
            {"serialNumber": d["serial_number"], "hardwareIdentifier": d["hardware_hash"], "importId": import_id,
             "groupTag": "Sales", "productKey": "",
             "state": {"deviceImportStatus": "pending", "deviceRegistrationId": "", "deviceErrorCode": 0,
                       "deviceErrorName": ""}} for d in devs]})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_every_answer_matches_the_published_schema_of_its_version(lab, version):
    s = _session(lab)
    base = "%s/%s" % (lab.url, version)
    devs = devices(151, 3)
    answer = _import(lab, s, version, devs)
    assert answer["@odata.context"].endswith("/%s/$metadata#Collection(microsoft.graph."
                                             "importedWindowsAutopilotDeviceIdentity)" % version)
    lab.service.process_now()
    lab.service.seed_reused("REUSED%s" % version.replace(".", ""), join="hybrid", upn="alice@" + lab.cfg.tenant_domain,
                            group_tag="Sales")
    lab.service.enroll(devs[0]["serial_number"], days_since_sync=2, upn="alice@" + lab.cfg.tenant_domain)
    listing = s.get("%s/%s" % (base, IMPORTED), timeout=10).json()
    assert listing["@odata.context"] == "%s/$metadata#%s" % (base, IMPORTED)
    one = s.get("%s/%s/%s" % (base, IMPORTED, listing["value"][0]["id"]), timeout=10).json()
    aps = s.get("%s/%s" % (base, AP), timeout=10).json()["value"]
    ap = s.get("%s/%s/%s" % (base, AP, aps[0]["id"]), timeout=10).json()
    assert ap["@odata.context"] == "%s/$metadata#%s/$entity" % (base, AP)
    managed = s.get(base + "/deviceManagement/managedDevices", timeout=10).json()["value"]
    s.get(base + "/deviceManagement/managedDevices/" + managed[0]["id"], timeout=10).raise_for_status()
    entra = s.get(base + "/devices", timeout=10).json()["value"]
    s.get(base + "/devices/" + entra[0]["id"], timeout=10).raise_for_status()
    user = s.get(base + "/users/alice@" + lab.cfg.tenant_domain, timeout=10).json()
    # licenseDetails takes no application permission (Graph answers 403 to an app); what an app reads instead:
    denied = s.get(base + "/users/alice@%s/licenseDetails" % lab.cfg.tenant_domain, timeout=10)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "Authorization_RequestDenied"
    lic = s.get(base + "/users/alice@%s" % lab.cfg.tenant_domain, timeout=10,
                params={"$select": "id,assignedLicenses,assignedPlans,provisionedPlans"}).json()
    assert lic["assignedLicenses"] and lic["assignedPlans"] and set(lic) - {"@odata.context"} == {
        "id", "assignedLicenses", "assignedPlans", "provisionedPlans"}
    skus = s.get(base + "/subscribedSkus", timeout=10).json()["value"]
    assert {sku["skuPartNumber"] for sku in skus} >= {"SPE_E3"}
    batch = s.post(base + "/$batch", timeout=10, json={"requests": [
        {"id": "1", "method": "GET", "url": "/" + AP}, {"id": "2", "method": "GET", "url": "/devices"},
        {"id": "3", "method": "GET", "url": "/deviceManagement/managedDevices"}]})
    assert sorted(r["status"] for r in batch.json()["responses"]) == [200, 200, 200]
    if version == "beta":
        s.get(base + "/deviceManagement/windowsAutopilotSettings", timeout=10).raise_for_status()
    assert lab.schema_errors == []
    # Each version's own properties, and only those.
    v1_only = set(schema.entity("v1.0", "windowsAutopilotDeviceIdentity")["properties"])
    if version == "v1.0":
        assert set(ap) - {"@odata.context", "@odata.type"} == v1_only
        assert "joinType" not in managed[0] and "autopilotEnrolled" not in managed[0]
    else:
        assert {"deploymentProfileAssignmentStatus", "azureAdDeviceId", "userlessEnrollmentStatus"} <= set(ap)
        assert {"joinType", "autopilotEnrolled", "chassisType"} <= set(managed[0])
    assert set(one) - {"@odata.type"} == set(schema.entity(version, IMPORTED_T)["properties"])
    assert set(user) - {"@odata.context"} == set(schema.load()["user_default_properties"])
    assert skus and all(set(x) == set(schema.entity(version, "subscribedSku")["properties"]) for x in skus)


IMPORTED_T = "importedWindowsAutopilotDeviceIdentity"


def test_the_validator_catches_what_graph_would_not_send():
    good = schema.render("v1.0", "windowsAutopilotDeviceIdentity", {"id": "x", "serialNumber": "S1"})
    assert schema.check("v1.0", "windowsAutopilotDeviceIdentity", good) == []
    beta_only = dict(good, deploymentProfileAssignmentStatus="assignedInSync")
    assert "not a property in v1.0" in schema.check("v1.0", "windowsAutopilotDeviceIdentity", beta_only)[0]
    assert "not a member" in schema.check("v1.0", "windowsAutopilotDeviceIdentity",
                                          dict(good, enrollmentState="blocked"))[0]  # beta adds "blocked"
    assert schema.check("beta", "windowsAutopilotDeviceIdentity",
                        schema.render("beta", "windowsAutopilotDeviceIdentity", {"enrollmentState": "blocked"})) == []
    missing = {k: v for k, v in good.items() if k != "enrollmentState"}
    assert "non-nullable properties missing: enrollmentState" in schema.check(
        "v1.0", "windowsAutopilotDeviceIdentity", missing)[0]


def test_v1_actions_take_only_v1_parameters(lab):
    s = _session(lab)
    _import(lab, s, "beta", devices(152, 1))
    lab.service.process_now()
    dev_id = next(iter(lab.service.store.data["autopilot"]))
    body = {"displayName": "PC-1", "deviceFriendlyName": "Front desk"}
    v1 = s.post("%s/v1.0/%s/%s/updateDeviceProperties" % (lab.url, AP, dev_id), json=body, timeout=10)
    assert v1.status_code == 400 and "deviceFriendlyName" in v1.json()["error"]["message"]
    beta = s.post("%s/beta/%s/%s/updateDeviceProperties" % (lab.url, AP, dev_id), json=body, timeout=10)
    assert beta.status_code == 204
    unknown = s.post("%s/v1.0/%s/import" % (lab.url, IMPORTED), timeout=10, json={
        "importedWindowsAutopilotDeviceIdentities": [{"serialNumber": "X", "orderIdentifier": "old-name"}]})
    assert unknown.status_code == 400 and "orderIdentifier" in unknown.json()["error"]["message"]


def test_import_order_is_its_own_and_the_same_per_seed(tmp_path):
    devs = devices(153, 12)
    orders = []
    for run in range(2):
        lab = fixtures_graph.start_lab(tmp_path / ("lab%d" % run))
        try:
            answer = _import(lab, _session(lab), "beta", devs)
            orders.append([r["serialNumber"] for r in answer["value"]])
        finally:
            lab.stop()
    assert sorted(orders[0]) == sorted(d["serial_number"] for d in devs)
    assert orders[0] != [d["serial_number"] for d in devs]  # Graph promises no order: the lab never keeps it
    assert orders[0] == orders[1]  # deterministic per seed


def test_retry_after_is_whole_seconds_and_intune_groups_are_counted_apart(tmp_path):
    lab = fixtures_graph.start_lab(tmp_path / "lab", time_scale=1.0, write_limit_app=2, md_write_limit_app=3)
    try:
        s = _session(lab)
        url = "%s/beta/%s/00000000-0000-0000-0000-00000000000%%d/updateDeviceProperties" % (lab.url, AP)
        statuses = [s.post(url % i, json={"groupTag": "x"}, timeout=10) for i in range(3)]
        assert [r.status_code for r in statuses] == [404, 404, 429]
        retry = statuses[2].headers["Retry-After"]
        assert retry.isdigit() and 1 <= int(retry) <= 20
        assert "enrollment" in statuses[2].headers["x-ms-throttle-scope"]
        # The enrollment group is exhausted; Intune devices still have their own room (3 writes).
        md = [s.delete("%s/beta/deviceManagement/managedDevices/%d" % (lab.url, i), timeout=10) for i in range(4)]
        assert [r.status_code for r in md] == [404, 404, 404, 429]
        assert "devices" in md[3].headers["x-ms-throttle-scope"]
    finally:
        lab.stop()


def test_paging_skip_context_and_delete_statuses(lab):
    s = _session(lab)
    for i in range(3):
        lab.service.seed_reused("SKIP%02d" % i, upn="")
    base = lab.url + "/v1.0/deviceManagement/managedDevices"
    every = [d["id"] for d in s.get(base, timeout=10).json()["value"]]
    assert [d["id"] for d in s.get(base, params={"$skip": "1"}, timeout=10).json()["value"]] == every[1:]
    page = s.get(base, params={"$top": "1", "$skip": "1"}, timeout=10).json()
    assert [d["id"] for d in page["value"]] == every[1:2] and "skiptoken=" in page["@odata.nextLink"]
    assert s.get(lab.url + "/v1.0/devices", params={"$skip": "1"}, timeout=10).status_code == 400  # directory objects
    assert s.delete(base + "/" + every[0], timeout=10).status_code == 204
    entra = s.get(lab.url + "/v1.0/devices", timeout=10).json()["value"][0]["id"]
    assert s.delete(lab.url + "/v1.0/devices/" + entra, timeout=10).status_code == 204
    assert lab.schema_errors == []


def _hash(records, trailer=True, fix=None):
    body = b"".join(struct.pack("<HH", t, len(v) + 4) + v for t, v in records)
    data = bytearray(b"OA" + struct.pack("<H", 4 + len(body)) + body)
    digest = hashlib.sha256(bytes(data)).digest()
    if trailer:
        data += struct.pack("<HH", 0x5343, 36) + digest
    if fix:
        fix(data)
    data += b"\x00" * (3000 - len(data))
    return base64.b64encode(bytes(data)).decode()


def test_the_lab_judges_hashes_itself():
    """Built here from the published layout (not with the collection's decoder nor the lab's hash writer)."""
    fields = [(14, b"PF1ABCDE\x00"), (16, b"LENOVO\x00"), (17, b"21CB0041US\x00")]
    assert judge(_hash(fields), "pf1abcde ").problem is None
    assert judge(_hash(fields), "OTHER").problem == "InvalidZtdHardwareHash"
    assert judge(_hash(fields, trailer=False), "PF1ABCDE").reason == "no checksum trailer"
    assert judge(_hash(fields, fix=lambda d: d.__setitem__(8, d[8] ^ 1)), "PF1ABCDE").reason == "checksum mismatch"
    assert judge(_hash(fields[1:]), "PF1ABCDE").reason == "no device serial number inside"
    placeholder = [(14, b"To be filled by O.E.M.\x00"), (16, b"To be filled by O.E.M.\x00"), (17, b"Desktop\x00")]
    assert judge(_hash(placeholder), "To be filled by O.E.M.").problem == "ZtdDeviceNotFound"
    assert judge("QUJD" * 1025, "X").reason.startswith("longer than a 4K hash")
    assert judge(base64.b64encode(b"XY" + bytes(40)).decode(), "X").reason == "no OA magic"
    dev = hashgen.fleet(154, 1, vm_every=0)[0]
    assert judge(hashgen.build_hash(dev), dev.serial).serial == dev.serial


def test_no_lab_file_imports_product_module_utils():
    lab_dir = ROOT / "lab" / "winfleet_lab" / "graph"
    offenders = [p.name for p in lab_dir.rglob("*.py") if "module_utils" in p.read_text(encoding="utf-8")]
    assert offenders == []
