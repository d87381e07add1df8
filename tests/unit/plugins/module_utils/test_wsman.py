"""The collection's WS-Man client and collector: fault parsing by namespace, typed errors, paging, CSV."""

from __future__ import annotations

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _wsman as W
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import (
    collect,
    csv_bytes,
    csv_filename,
    write_csv,
)
from winfleet_lab import hashgen
from winfleet_lab.fixtures_wsman import running_lab

FAULTS = {"pc0001": "offline", "pc0002": "silent", "pc0003": "bad_password", "pc0004": "access_denied",
          "pc0005": "too_old", "pc0006": "empty_hash", "pc0007": "mi_result_1", "pc0008": {"drop": 1}, "pc0009": "drop"}


@pytest.fixture(scope="module")
def lab():
    with running_lab(http_port=0, https_port=0, seed=9, count=11, base_address="127.0.21.1", faults=FAULTS) as lab:
        lab.fleet.by_name["pc0000"].basic = True  # the https/ssl (Basic) case: Basic is off on Windows by default
        yield lab


def client(lab, name, scheme="http", transport="ntlm", **kw):
    host = lab.fleet.by_name[name]
    port = host.https_port if scheme == "https" else host.http_port
    if name == "pc0001":
        port = 5985
    kw.setdefault("operation_timeout", 1)
    kw.setdefault("read_timeout", 2)
    return W.WSManClient(host.address, port, scheme, transport=transport, username="admin", password="Fleet-Pass-1",
                         ca_trust_path=lab.ca_path, label=name, **kw)


FAULT_XML = """<?xml version="1.0"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">
 <env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>wsman:AccessDenied</env:Value>
 </env:Subcode></env:Code><env:Reason><env:Text xml:lang="en-US">Access denied </env:Text></env:Reason><env:Detail>
 <e:MSFT_WmiError xmlns:e="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"><e:Message>Access denied </e:Message>
 <e:error_Code>2147749891</e:error_Code></e:MSFT_WmiError>
 <x:WSManFault xmlns:x="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="5" Machine="PC1"><x:Message>m</x:Message></x:WSManFault>
 </env:Detail></env:Fault></env:Body></env:Envelope>"""


def test_parse_fault_matches_by_namespace_not_prefix():
    f = W.parse_fault(FAULT_XML)
    assert (f.code, f.subcode, f.reason) == ("Sender", "AccessDenied", "Access denied")
    assert f.wmi_code == 0x80041003 and f.wsman_code == 5 and f.machine == "PC1" and f.effective_code == 0x80041003
    assert W.parse_fault("<a/>") is None and W.parse_fault("not xml") is None
    # a "Fault" in the wrong namespace is not a SOAP fault
    assert W.parse_fault(FAULT_XML.replace("http://www.w3.org/2003/05/soap-envelope", "urn:other")) is None


@pytest.mark.parametrize(("code", "subcode", "cls"), [
    (0x80041003, None, W.AccessDeniedError), (5, "AccessDenied", W.AccessDeniedError),
    (0x80041001, "InternalError", W.WMIProviderError), (0x80041010, None, W.FaultError), (2150858770, None, W.FaultError),
])
def test_fault_error_mapping(lab, code, subcode, cls):
    f = W.Fault()
    f.wmi_code, f.subcode, f.reason = code, subcode, "why"
    err = client(lab, "pc0000").fault_error(f, "x")
    assert err.__class__ is cls and err.details["error"] == cls.kind


def test_enumerate_optimized_and_paged_agree(lab):
    host = lab.fleet.by_name["pc0000"]
    c = client(lab, "pc0000")
    fast = c.enumerate("SELECT * FROM Win32_BIOS")
    paged = c.enumerate("SELECT * FROM Win32_BIOS", optimize=False)
    assert fast == paged and fast[0]["SerialNumber"] == host.device.serial
    assert fast[0]["BIOSVersion"] == host.classes[("root/cimv2", "Win32_BIOS")][0]["BIOSVersion"]  # arrays
    assert fast[0]["ReleaseDate"].startswith("2023-03-14T")  # cim:Datetime
    c.close()


def test_collect_healthy_device_over_https_basic(lab):
    host = lab.fleet.by_name["pc0000"]
    data = collect(client(lab, "pc0000", "https", "ssl"), group_tag="G")
    rec = data["record"]
    assert rec == {"serial_number": host.device.serial, "manufacturer": host.device.manufacturer, "model": host.device.model,
                   "hardware_hash": hashgen.build_hash(host.device), "product_id": "", "group_tag": "G", "assigned_user": ""}
    assert data["device"]["uuid"] == host.device.uuid and data["hash_summary"]["valid"] is True
    assert data["hash_summary"]["warnings"] == []


@pytest.mark.parametrize(("name", "cls", "words"), [
    ("pc0001", W.UnreachableError, "connection refused"),
    ("pc0002", W.TimedOutError, "timed out"),
    ("pc0003", W.CredentialsError, "HTTP 401"),
    ("pc0004", W.AccessDeniedError, "LocalAccountTokenFilterPolicy"),
    ("pc0005", W.UnsupportedWindowsError, "build 14393"),
    ("pc0006", W.EmptyHashError, "empty hardware hash"),
    ("pc0007", W.WMIProviderError, "KB5013942"),
    ("pc0009", W.ConnectionDroppedError, "dropped the connection"),
])
def test_each_fault_is_its_own_typed_error(lab, name, cls, words):
    with pytest.raises(cls) as info:
        collect(client(lab, name))
    assert words in info.value.msg and name in info.value.msg
    assert info.value.details["error"] == cls.kind


def test_a_single_drop_fails_once_then_reads(lab):
    with pytest.raises(W.ConnectionDroppedError):
        collect(client(lab, "pc0008"))
    assert collect(client(lab, "pc0008"))["record"]["serial_number"] == lab.fleet.by_name["pc0008"].device.serial


def test_certificate_error_without_the_ca(lab):
    host = lab.fleet.by_name["pc0000"]
    c = W.WSManClient(host.address, host.https_port, "https", transport="ssl", username="admin", password="Fleet-Pass-1",
                      label="pc0000", read_timeout=3, operation_timeout=2)
    with pytest.raises(W.CertificateError, match="ansible_winrm_ca_trust_path"):
        c.enumerate("SELECT * FROM Win32_BIOS")


def test_config_errors():
    with pytest.raises(W.ConfigError):
        W.WSManClient("", 5985)
    with pytest.raises(W.ConfigError):
        W.WSManClient("127.0.0.1", 5985, scheme="ftp")


def test_shutdown_drops_the_connection_and_powers_off(lab):
    c = client(lab, "pc0010", read_timeout=5, operation_timeout=3)
    rc, out, _err = c.run_command("hostname")
    assert rc == 0 and out.strip().decode() == lab.fleet.by_name["pc0010"].computer_name
    with pytest.raises(W.ConnectionDroppedError):
        c.run_command("shutdown", ["/s", "/t", "0"])
    assert lab.fleet.events.wait_for(lambda evs: any(e["kind"] == "powered_off" and e["host"] == "pc0010" for e in evs), 5)
    with pytest.raises(W.UnreachableError):
        client(lab, "pc0010").enumerate("SELECT * FROM Win32_BIOS")


def test_csv_bytes_and_write(tmp_path):
    rec = {"serial_number": "ABC 1", "product_id": "", "hardware_hash": "T0E=", "group_tag": "", "assigned_user": ""}
    assert csv_bytes(rec) == b"Device Serial Number,Windows Product ID,Hardware Hash\r\nABC 1,,T0E=\r\n"
    rec2 = dict(rec, assigned_user="u@x.org")
    assert csv_bytes(rec2).startswith(b"Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\r\n")
    assert csv_bytes(rec, "utf-16").startswith(b"\xff\xfeD\x00e\x00")
    with pytest.raises(InputError):
        csv_bytes(dict(rec, group_tag="a,b"))
    assert csv_filename(rec, "pc1") == "ABC_1.csv" and csv_filename(dict(rec, serial_number=""), "pc1") == "pc1.csv"
    assert write_csv(str(tmp_path / "d"), "x.csv", b"1", check_mode=True) == (True, str(tmp_path / "d" / "x.csv"))
    assert not (tmp_path / "d").exists()
    assert write_csv(str(tmp_path / "d"), "x.csv", b"1")[0] is True
    assert write_csv(str(tmp_path / "d"), "x.csv", b"1")[0] is False
    assert (tmp_path / "d" / "x.csv").read_bytes() == b"1"


def test_prewarm_stays_off_the_network_and_the_worker_still_reads(lab, monkeypatch):
    """prewarm() runs in ansible's main process at plugin import: it must open no connection (patched to fail
    loudly here) and leave nothing behind that changes a later read."""
    import socket

    opened = []

    def refuse(self, address):
        opened.append(address)
        raise AssertionError("prewarm opened a connection to %r" % (address,))

    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", refuse)
        W.prewarm()
        W.prewarm()  # twice: harmless
    assert opened == []
    host = lab.fleet.by_name["pc0000"]
    assert collect(client(lab, "pc0000"))["record"]["serial_number"] == host.device.serial
