# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab's corporate identifiers (lab/winfleet_lab/graph/identities.py) as Microsoft documents them: beta only,
the actions' parameters, the entity's properties and enum, status false for what the service will not take, results
in an order of their own, DELETE 204 / 404, read-only apps may search but not import."""

from __future__ import annotations

import msal
import pytest
import requests

from winfleet_lab import fixtures_graph
from winfleet_lab.graph.schema import check

graph_lab = fixtures_graph.graph_lab
IDS = "/beta/deviceManagement/importedDeviceIdentities"


@pytest.fixture(autouse=True)
def _no_env_ca_bundle(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _session(lab, app="registrar"):
    a = lab.app(app)
    cca = msal.ConfidentialClientApplication(a["client_id"], client_credential=a["secrets"][0],
                                             authority=lab.authority, instance_discovery=False,
                                             validate_authority=False, verify=lab.ca_path)
    tok = cca.acquire_token_for_client([lab.url + "/.default"])["access_token"]
    s = requests.Session()
    s.verify = lab.ca_path
    s.headers["Authorization"] = "Bearer " + tok
    return s


def _items(*idents, kind="manufacturerModelSerial"):
    return [{"importedDeviceIdentityType": kind, "importedDeviceIdentifier": i} for i in idents]


def test_import_search_list_delete(graph_lab):
    lab, s = graph_lab, _session(graph_lab)
    good = ["LENOVO,21CB0041US,PF%04d" % i for i in range(6)]
    r = s.post(lab.url + IDS + "/importDeviceIdentityList", timeout=10,
               json={"importedDeviceIdentities": _items(*good, "Dell Inc.,Latitude 5430,5CG1", "only,two"),
                     "overwriteImportedDeviceIdentities": False})
    assert r.status_code == 200
    value = r.json()["value"]
    assert all(check("beta", "importedDeviceIdentityResult", v) == [] for v in value)
    status = {v["importedDeviceIdentifier"]: v["status"] for v in value}
    assert status == {**dict.fromkeys(good, True), "Dell Inc.,Latitude 5430,5CG1": False, "only,two": False}
    assert [v["importedDeviceIdentifier"] for v in value] != good + ["Dell Inc.,Latitude 5430,5CG1", "only,two"]
    again = s.post(lab.url + IDS + "/importDeviceIdentityList", timeout=10,
                   json={"importedDeviceIdentities": _items(good[0])}).json()["value"]
    assert [v["status"] for v in again] == [False]  # already there, overwrite not asked
    found = s.post(lab.url + IDS + "/searchExistingIdentities", timeout=10,
                   json={"importedDeviceIdentities": _items(good[1], "LENOVO,21CB0041US,NOPE")}).json()["value"]
    assert [f["importedDeviceIdentifier"] for f in found] == [good[1]]
    assert found[0]["platform"] == "windows" and found[0]["enrollmentState"] == "notContacted"
    assert check("beta", "importedDeviceIdentity", found[0]) == []
    listed = s.get(lab.url + IDS, timeout=10).json()["value"]
    assert {x["importedDeviceIdentifier"] for x in listed} >= set(good)
    assert s.delete(lab.url + IDS + "/" + found[0]["id"], timeout=10).status_code == 204
    assert s.delete(lab.url + IDS + "/" + found[0]["id"], timeout=10).status_code == 404
    assert s.get(lab.url + IDS + "/" + found[0]["id"], timeout=10).status_code == 404


def test_what_odata_refuses(graph_lab):
    lab, s = graph_lab, _session(graph_lab)
    bad_param = s.post(lab.url + IDS + "/searchExistingIdentities", timeout=10,
                       json={"importedDeviceIdentities": [], "overwriteImportedDeviceIdentities": True})
    assert bad_param.status_code == 400 and "overwriteImportedDeviceIdentities" in bad_param.json()["error"]["message"]
    bad_enum = s.post(lab.url + IDS + "/importDeviceIdentityList", timeout=10,
                      json={"importedDeviceIdentities": _items("a,b,c", kind="manufacturerModelSerialNumber")})
    assert bad_enum.status_code == 400
    bad_prop = s.post(lab.url + IDS + "/importDeviceIdentityList", timeout=10,
                      json={"importedDeviceIdentities": [{"importedDeviceIdentifier": "a,b,c", "serialNumber": "c"}]})
    assert bad_prop.status_code == 400 and "does not exist on type" in bad_prop.json()["error"]["message"]
    assert s.get(lab.url + "/v1.0/deviceManagement/importedDeviceIdentities", timeout=10).status_code == 400


def test_read_only_app_searches_but_does_not_import(graph_lab):
    lab, reader = graph_lab, _session(graph_lab, "reader")
    assert reader.post(lab.url + IDS + "/searchExistingIdentities", timeout=10,
                       json={"importedDeviceIdentities": _items("a,b,c")}).status_code == 200
    assert reader.post(lab.url + IDS + "/importDeviceIdentityList", timeout=10,
                       json={"importedDeviceIdentities": _items("a,b,c")}).status_code == 403
