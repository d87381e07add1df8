# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collector's NTLM transport (module_utils/_wsman_http.py): the sealed body Windows expects, the handshake, the
channel binding over HTTPS (a device set to Strict refuses a client without it), the same typed errors as pywinrm's
transport, and which devices take it."""

from __future__ import annotations

import pytest
import spnego

from ansible_collections.winfleet.autopilot.plugins.module_utils import _wsman as W
from ansible_collections.winfleet.autopilot.plugins.module_utils import _wsman_http as H
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import collect
from winfleet_lab.fixtures_wsman import running_lab


@pytest.fixture(scope="module")
def lab():
    with running_lab(http_port=0, https_port=0, seed=31, count=4, base_address="127.0.23.1",
                     faults={"pc0003": "bad_password"}) as lab:
        lab.fleet.by_name["pc0001"].cbt_hardening_level = "Strict"
        yield lab


def test_seal_and_unseal_are_the_wire_format_windows_reads(tmp_path, monkeypatch):
    client = spnego.client("admin", "Pass-1", hostname="pc", protocol="ntlm")
    # a context pair through pyspnego's own acceptor, with a credential file of one user
    store = tmp_path / "ntlm-users.txt"
    store.write_text(":admin:Pass-1\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(store))
    server = spnego.server(protocol="ntlm")
    server.step(client.step(server.step(client.step())))
    message = b"<s:Envelope>" + b"x" * 3000 + b"</s:Envelope>"
    body = H.seal(client, message)
    assert body.startswith(b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n")
    assert b"OriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n" % len(message) in body
    assert body.endswith(b"--Encrypted Boundary--\r\n") and b"xxxx" not in body
    assert H.unseal(server, body) == message
    answer = H.seal(server, b"<answer/>")
    assert H.unseal(client, answer) == b"<answer/>"
    with pytest.raises(ValueError, match="length"):
        H.unseal(client, H.seal(server, b"<a/>").replace(b"Length=4", b"Length=5"))


def test_token_of_a_challenge_among_several_schemes():
    assert H._token("Negotiate TlRMTVNTUAAC, Kerberos") == b"NTLMSSP\x00\x02"
    assert H._token("Basic realm=x") is None and H._token(None) is None


def _client(lab, name, scheme="http", **kw):
    host = lab.fleet.by_name[name]
    port = host.https_port if scheme == "https" else host.http_port
    return W.WSManClient(host.address, port, scheme, transport="ntlm", username="admin", password="Fleet-Pass-1",
                         ca_trust_path=lab.ca_path, label=name, operation_timeout=2, read_timeout=5, **kw)


@pytest.mark.parametrize(("name", "scheme"), [("pc0000", "http"), ("pc0000", "https"), ("pc0001", "https")])
def test_ntlm_devices_take_the_light_transport_and_are_read(lab, name, scheme):
    client = _client(lab, name, scheme)
    assert isinstance(client._protocol.transport, H.NtlmTransport)
    try:
        data = collect(client)
    finally:
        client.close()
    assert data["record"]["serial_number"] == lab.fleet.by_name[name].device.serial


def test_strict_channel_binding_refuses_a_client_that_sends_none(lab):
    client = _client(lab, "pc0001", "https", transport_options={"send_cbt": False})
    assert isinstance(client._protocol.transport, H.NtlmTransport)
    with pytest.raises(W.CredentialsError):
        collect(client)
    relaxed = _client(lab, "pc0000", "https", transport_options={"send_cbt": False})
    assert collect(relaxed)["record"]["serial_number"]  # Relaxed (Windows' default) accepts a client without a token


def test_errors_keep_their_names(lab):
    with pytest.raises(W.CredentialsError):
        collect(_client(lab, "pc0003"))
    refused = W.WSManClient("127.0.23.1", 1, "http", transport="ntlm", username="admin", password="x", label="off",
                            read_timeout=2)
    with pytest.raises(W.UnreachableError):
        collect(refused)


def test_a_proxy_or_another_transport_stays_on_pywinrm(lab):
    assert not isinstance(_client(lab, "pc0000", proxy="http://127.0.0.1:9")._protocol.transport, H.NtlmTransport)
    host = lab.fleet.by_name["pc0000"]
    basic = W.WSManClient(host.address, host.https_port, "https", transport="ssl", username="admin", password="x",
                          ca_trust_path=lab.ca_path)
    assert not isinstance(basic._protocol.transport, H.NtlmTransport)
