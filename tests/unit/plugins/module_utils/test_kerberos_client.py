# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kerberos without a KDC (module_utils/_kerberos.py, the transport's Kerberos paths): the failures in the user's
words, a device that refuses NTLM (the lab's "Restrict NTLM"), the settings Kerberos takes and refuses, and the
lab's KRB-ERROR token. The tests against the real KDC (Samba) are
tests/integration/test_kerberos.py."""

from __future__ import annotations

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _fleet_collect as fc
from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos as K
from ansible_collections.winfleet.autopilot.plugins.module_utils import _wsman as W
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import collect
from winfleet_lab.fixtures_wsman import running_lab


@pytest.mark.parametrize(("text", "kind"), [
    ("Major (851968): Unspecified GSS failure, Minor (2529638949): Clock skew too great", "clock_skew"),
    ("Minor (2529638919): Server not found in Kerberos database", "unknown_service_principal"),
    ("Cannot contact any KDC for realm 'CORP.EXAMPLE.COM' -1765328228", "kdc_unreachable"),
    ('Cannot find KDC for realm "WRONG.EXAMPLE" -1765328230', "wrong_realm"),
    ("Password has expired -1765328361", "password_expired"),
    ("Preauthentication failed -1765328360", "bad_credentials"),
    ("Client not found in Kerberos database", "bad_credentials"),
    ("Minor (100001): No Kerberos credentials available (default cache: MEMORY:x)", "no_credentials"),
    ("something else", "kerberos"),
])
def test_failures_in_words(text, kind):
    exc = RuntimeError(text)
    got, words, message = K.describe(exc, user="u@CORP.EXAMPLE.COM", spn="HTTP/pc.corp.example.com")
    assert got == kind
    assert words == K.KINDS[kind][0]
    assert "Kerberos:" in message


def test_every_kind_has_report_words():
    kinds = set(K.KINDS) - {"bad_credentials", "no_credentials"}
    assert kinds <= set(fc.ERROR_WORDS)
    assert set(W.KERBEROS_ERRORS) == set(K.KINDS)
    assert fc.ERROR_WORDS["ntlm_refused"] == "NTLM refused"


def test_negotiate_is_a_transport_of_its_own():
    assert fc.connection_settings({"ansible_winrm_transport": "negotiate", "ansible_port": 5985})["transport"] == "negotiate"
    s = fc.connection_settings({"ansible_winrm_transport": "kerberos", "ansible_winrm_kerberos_hostname_override": "pc.corp",
                                "ansible_winrm_kerberos_delegation": "true", "ansible_port": 5985})
    assert s["transport_options"] == {"kerberos_hostname_override": "pc.corp", "kerberos_delegation": True}


@pytest.fixture(scope="module")
def lab():
    with running_lab(http_port=0, https_port=0, seed=37, count=2, base_address="127.0.24.1",
                     domain="corp.example.test", devices={"pc0001": {"ntlm": False}}) as lab:
        yield lab


def _client(lab, name, **kw):
    host = lab.fleet.by_name[name]
    return W.WSManClient(host.address, host.http_port, "http", transport=kw.pop("transport", "ntlm"), username="admin",
                         password="Fleet-Pass-1", label=name, operation_timeout=2, read_timeout=5, **kw)


def test_a_device_that_refuses_ntlm_says_to_use_kerberos(lab):
    assert collect(_client(lab, "pc0000"))["record"]["serial_number"]  # NTLM allowed: read as usual
    with pytest.raises(W.NtlmRefused) as err:
        collect(_client(lab, "pc0001"))
    assert err.value.kind == "ntlm_refused"
    assert "refuses NTLM" in err.value.msg and "ansible_winrm_transport: kerberos" in err.value.msg
    refused = lab.fleet.events.events("auth_refused", host="pc0001")
    assert refused and "Restrict NTLM" in refused[-1]["reason"]


def test_kerberos_settings_it_cannot_use_are_refused(lab):
    if not K.available():
        with pytest.raises(W.ConfigError, match="install-kerberos"):
            _client(lab, "pc0000", transport="kerberos")
        return
    with pytest.raises(W.ConfigError, match="credssp_minimum_version"):
        _client(lab, "pc0000", transport="kerberos", transport_options={"credssp_minimum_version": 3})
    with pytest.raises(W.ConfigError, match="proxy"):
        _client(lab, "pc0000", transport="negotiate", proxy="http://127.0.0.1:9")


def test_the_lab_krb_error_is_a_gss_framed_krb_error():
    from winfleet_lab import kerberos

    token = kerberos.krb_error_token(kerberos.KRB_AP_ERR_SKEW, "CORP.EXAMPLE.TEST", "HTTP", "pc.corp.example.test")
    assert token[0] == 0x60 and token[1] == len(token) - 2  # [APPLICATION 0], short length
    inner = token[2:]
    assert inner.startswith(bytes.fromhex("06092a864886f712010202") + b"\x03\x00\x7e")  # krb5 OID, KRB_ERROR, [APP 30]
    assert b"\xa6\x03\x02\x01\x25" in token  # error-code [6] INTEGER 37 (KRB_AP_ERR_SKEW)
