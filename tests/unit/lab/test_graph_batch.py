# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab's JSON batching, as learn.microsoft.com/graph/json-batching documents it: at most 20 requests with
unique ids, responses (id, status, headers, body) in no particular order, the outer status 200 whatever the inner
ones, dependsOn ordering with 424 Failed Dependency, each request throttled on its own (429 + Retry-After)."""

from __future__ import annotations

import pytest
import requests

from winfleet_lab import fixtures_graph

AP = "/deviceManagement/windowsAutopilotDeviceIdentities"


@pytest.fixture(autouse=True)
def _no_env_ca_bundle(monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = fixtures_graph.start_lab(tmp_path_factory.mktemp("batch") / "lab", write_limit_app=3, time_scale=1.0)
    try:
        yield lab
    finally:
        lab.stop()


def _session(lab):
    import msal

    a = lab.app("registrar")
    cca = msal.ConfidentialClientApplication(a["client_id"], client_credential=a["secrets"][0], authority=lab.authority,
                                             verify=lab.ca_path, instance_discovery=False)
    s = requests.Session()
    s.verify = lab.ca_path
    s.headers["Authorization"] = "Bearer " + cca.acquire_token_for_client([lab.url + "/.default"])["access_token"]
    return s


def _batch(lab, reqs):
    resp = _session(lab).post(lab.url + "/beta/$batch", json={"requests": reqs}, timeout=20)
    return resp.status_code, resp.json()


def test_responses_are_correlated_by_id_not_by_position(lab):
    reqs = [{"id": "r%d" % i, "method": "GET", "url": "/devices?$filter=displayName eq 'PC-%d'" % i} for i in range(20)]
    orders = set()
    for _round in range(3):
        status, body = _batch(lab, reqs)
        assert status == 200
        orders.add(tuple(r["id"] for r in body["responses"]))
        assert sorted(r["id"] for r in body["responses"]) == sorted(r["id"] for r in reqs)
        assert all(set(r) == {"id", "status", "headers", "body"} and r["status"] == 200 for r in body["responses"])
    assert orders != {tuple(r["id"] for r in reqs)}  # not (always) the request order


def test_depends_on_orders_requests_and_fails_dependents_with_424(lab):
    status, body = _batch(lab, [
        {"id": "3", "method": "GET", "url": AP, "dependsOn": ["2"]},
        {"id": "1", "method": "GET", "url": AP + "/00000000-0000-0000-0000-00000000abcd"},  # 404
        {"id": "2", "method": "GET", "url": AP, "dependsOn": ["1"]},
        {"id": "4", "method": "GET", "url": AP},
    ])
    by_id = {r["id"]: r for r in body["responses"]}
    assert status == 200 and by_id["1"]["status"] == 404
    assert by_id["2"]["status"] == 424 and by_id["3"]["status"] == 424  # 3 waits for 2, which was not run
    assert by_id["2"]["body"]["error"]["code"] == "FailedDependency" and by_id["4"]["status"] == 200


@pytest.mark.parametrize("reqs", [
    [{"id": "1", "method": "GET", "url": AP, "dependsOn": ["9"]}],                       # unknown id
    [{"id": "1", "method": "GET", "url": AP, "dependsOn": ["2"]},
     {"id": "2", "method": "GET", "url": AP, "dependsOn": ["1"]}],                        # a cycle
    [{"id": "1", "method": "GET", "url": AP}, {"id": "1", "method": "GET", "url": AP}],  # ids not unique
    [{"id": str(i), "method": "GET", "url": AP} for i in range(21)],                      # more than 20
])
def test_malformed_batches_are_400(lab, reqs):
    assert _batch(lab, reqs)[0] == 400


def test_inner_requests_are_throttled_one_by_one_with_retry_after(lab):
    reqs = [{"id": str(i), "method": "POST", "url": AP + "/nope-%d/updateDeviceProperties" % i,
             "body": {"groupTag": "x"}, "headers": {"Content-Type": "application/json"}} for i in range(5)]
    status, body = _batch(lab, reqs)
    statuses = sorted(r["status"] for r in body["responses"])
    assert status == 200 and statuses.count(429) == 2 and statuses.count(404) == 3  # 3 writes allowed per 20 s
    throttled = [r for r in body["responses"] if r["status"] == 429]
    assert all(0 < float(r["headers"]["Retry-After"]) <= 20 for r in throttled)
    missing_type = _batch(lab, [{"id": "1", "method": "POST", "url": AP + "/x/updateDeviceProperties", "body": {}}])
    assert missing_type[1]["responses"][0]["status"] == 400  # a body needs its Content-Type header
