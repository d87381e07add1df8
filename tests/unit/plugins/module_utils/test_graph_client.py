# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph client with a scripted transport (msal runs unchanged on top of it) and against the lab."""

from __future__ import annotations

import json

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _graph
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphAuthError,
    GraphClient,
    GraphError,
    GraphPermissionError,
    redact,
    unwrap_error,
)
from winfleet_lab import fixtures_graph

graph_lab = fixtures_graph.graph_lab
TENANT = "contoso.onmicrosoft.com"


class FakeResponse:
    def __init__(self, status, body=None, headers=None):
        self.status_code = status
        self._body = body
        self.headers = {"request-id": "rid-%d" % status, **(headers or {})}
        self.text = json.dumps(body) if body is not None else ""
        self.content = self.text.encode()
        self.reason = "R%d" % status

    def json(self):
        if self._body is None:
            raise ValueError("no body")
        return self._body

    def raise_for_status(self):
        pass


class FakeSession:
    """Identity endpoints answer like Entra; Graph calls pop scripted responses."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []
        self.tokens = 0
        self.headers = {}

    def get(self, url, params=None, headers=None, **kw):
        assert url.endswith("/v2.0/.well-known/openid-configuration"), url
        base = url.split("/v2.0/")[0]
        return FakeResponse(200, {"authorization_endpoint": base + "/oauth2/v2.0/authorize",
                                  "token_endpoint": base + "/oauth2/v2.0/token", "issuer": base + "/v2.0"})

    def post(self, url, params=None, data=None, headers=None, **kw):
        self.tokens += 1
        if data and data.get("client_secret") == "bad":
            return FakeResponse(401, {"error": "invalid_client", "error_codes": [7000215],
                                      "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x",
                                      "correlation_id": "corr-1"})
        return FakeResponse(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "tok%d" % self.tokens})

    def request(self, method, url, **kw):
        self.calls.append((method, url, kw))
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def make(script, sleeps=None, **params):
    p = {"tenant_id": TENANT, "client_id": "cid", "client_secret": "s3cret", "graph_url": "https://graph.example.test",
         "authority_url": "https://login.example.test", "backoff_retries": 4, "backoff_delay": 1.0,
         "backoff_max_delay": 8.0}
    p.update(params)
    sess = FakeSession(script)
    rec = [] if sleeps is None else sleeps
    return GraphClient(p, sleep=rec.append, session=sess), sess, rec


def test_retry_after_is_honoured_and_jitter_only_adds():
    client, sess, sleeps = make([FakeResponse(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "2.5"}),
                                 FakeResponse(503, None, {"Retry-After": "7"}),
                                 FakeResponse(200, {"value": [1]})])
    assert client.get("/x") == {"value": [1]}
    assert 2.5 <= sleeps[0] <= 2.75 and 7 <= sleeps[1] <= 7.7
    assert client.stats["throttled"] == 1 and client.stats["retries"] == 2
    assert sess.calls[0][2]["verify"] is True


def test_exponential_backoff_without_retry_after_is_capped():
    script = [FakeResponse(504)] * 4 + [FakeResponse(200, {})]
    client, _sess, sleeps = make(script)
    client.get("/x")
    caps = [1, 2, 4, 8]
    assert all(cap / 2 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


def test_retries_give_up_with_request_id():
    client, _sess, _unused = make([FakeResponse(503, {"error": {"code": "ServiceUnavailable", "message": "busy"}})] * 5)
    with pytest.raises(GraphError) as exc:
        client.get("/deviceManagement/x")
    assert exc.value.status == 503 and exc.value.request_id == "rid-503"
    assert "(request-id: rid-503)" in exc.value.msg


def test_throttling_and_outages_have_their_own_retry_counts():
    # backoff_retries=4: a burst of 4 503s and 9 429s in between still ends in a success (found by the fault matrix:
    # one shared count gave up inside a 503 burst on a throttled tenant)
    burst = [FakeResponse(503, None, {"Retry-After": "1"}), FakeResponse(429, None, {"Retry-After": "1"}),
             FakeResponse(429, None, {"Retry-After": "1"})] * 4
    client, sess, _sleeps = make(burst + [FakeResponse(429, None, {"Retry-After": "1"}), FakeResponse(200, {"v": 1})])
    assert client.get("/x") == {"v": 1} and len(sess.calls) == 14
    # each count still ends: 5 x 4 = 20 throttled retries, then the 429 is the answer
    client, sess, _sleeps = make([FakeResponse(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "1"})] * 21)
    with pytest.raises(GraphError) as exc:
        client.get("/x")
    assert exc.value.status == 429 and len(sess.calls) == 21


def test_unsafe_post_is_not_replayed_after_a_5xx():
    client, sess, _unused = make([FakeResponse(503)])
    with pytest.raises(GraphError) as exc:
        client.post("/import", {"a": 1})
    assert exc.value.ambiguous is True and len(sess.calls) == 1


def test_post_is_retried_after_429():
    client, sess, _unused = make([FakeResponse(429, None, {"Retry-After": "1"}), FakeResponse(200, {"ok": 1})])
    assert client.post("/import", {"a": 1}).body == {"ok": 1}
    assert len(sess.calls) == 2


def test_expired_token_is_refreshed_once():
    client, sess, _unused = make([FakeResponse(401, {"error": {"code": "InvalidAuthenticationToken"}}),
                                  FakeResponse(200, {"v": 1})])
    assert client.get("/x") == {"v": 1}
    first = sess.calls[0][2]["headers"]["Authorization"]
    second = sess.calls[1][2]["headers"]["Authorization"]
    assert first != second and client.stats["token_refreshes"] == 1 and sess.tokens == 2


def test_paging_follows_next_link_but_never_off_host():
    client, _sess, _unused = make([
        FakeResponse(200, {"value": [1, 2], "@odata.nextLink": "https://graph.example.test/beta/x?$skiptoken=2"}),
        FakeResponse(200, {"value": [3], "@odata.nextLink": "https://evil.example.test/beta/x?$skiptoken=3"}),
    ])
    with pytest.raises(GraphError, match="off the Graph host"):
        list(client.paged("/x"))


def test_403_is_a_permission_error_with_unwrapped_intune_message():
    wrapped = json.dumps({"_version": 3, "Message": "Application is not authorized. Application must have one of the "
                          "following scopes: DeviceManagementServiceConfig.ReadWrite.All - Operation ID (for customer "
                          "support): 0 - Activity ID: 1 - Url: https://fef/x"})
    client, _sess, _unused = make([FakeResponse(403, {"error": {"code": "Forbidden", "message": wrapped}})])
    with pytest.raises(GraphPermissionError) as exc:
        client.get("/x")
    assert "DeviceManagementServiceConfig.ReadWrite.All" in exc.value.msg
    assert "Operation ID" not in exc.value.msg


def test_bad_secret_reports_aadsts():
    client, _sess, _unused = make([], client_secret="bad")
    with pytest.raises(GraphAuthError) as exc:
        client.get("/x")
    assert "invalid_client" in exc.value.msg and "AADSTS7000215" in (exc.value.code or "")


def test_batch_resends_only_throttled_calls():
    client, sess, sleeps = make([
        FakeResponse(200, {"responses": [
            {"id": "0", "status": 200, "body": {"v": 0}},
            {"id": "1", "status": 429, "headers": {"Retry-After": "3"}},
            {"id": "2", "status": 404, "body": {"error": {"code": "NotFound"}}}]}),
        FakeResponse(200, {"responses": [{"id": "1", "status": 200, "body": {"v": 1}}]}),
    ])
    out = client.batch([{"method": "GET", "url": "/a"}, {"method": "GET", "url": "/b"}, {"method": "DELETE", "url": "/c"}])
    assert [r.status for r in out] == [200, 200, 404]
    assert len(json.loads(sess.calls[1][2]["data"])["requests"]) == 1
    assert sleeps and sleeps[0] >= 3


@pytest.mark.parametrize("missing", ["tenant_id", "client_secret"])
def test_required_credentials(missing):
    with pytest.raises(GraphAuthError):
        make([], **{missing: None})


def test_http_urls_are_refused():
    with pytest.raises(GraphError, match="https"):
        make([], graph_url="http://graph.example.test")


def test_redaction_and_unwrap():
    h = "T0EeBAEAHAAA" * 40
    assert h not in redact("Cannot convert the literal '%s' to the expected type 'Edm.Binary'." % h)
    path = "/beta/deviceManagement/importedWindowsAutopilotDeviceIdentities/import"
    assert redact(path) == path
    assert unwrap_error({"error": "invalid_client", "error_description": "AADSTS1: x"}) == ("invalid_client", "AADSTS1: x")


def test_against_the_lab_with_a_hostile_env_ca_bundle(graph_lab, monkeypatch):
    # REQUESTS_CA_BUNDLE points at the system store here; ca_path must still win.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    client = GraphClient(graph_lab.connection())
    assert client.get("/deviceManagement/windowsAutopilotDeviceIdentities")["value"] == []
    cert = graph_lab.add_certificate_app()
    params = dict(graph_lab.connection(), client_secret=None, client_id=cert["client_id"],
                  client_certificate_path=cert["pem_path"])
    assert GraphClient(params).get("/deviceManagement/windowsAutopilotDeviceIdentities")["value"] == []
    assert graph_lab.stats()["counters"]["token_assertion_PS256"] == 1


def test_validate_certs_false_warns(graph_lab):
    warnings = []
    GraphClient(dict(graph_lab.connection(), validate_certs=False), warn=warnings.append)
    assert warnings and "NOT checked" in warnings[0]


def test_libraries_are_guarded():
    assert _graph.HAS_MSAL and _graph.HAS_REQUESTS
