"""The lab's fidelity, proven with the real clients: pywinrm and pypsrp over basic/ntlm x http/https."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

import pytest
import xmltodict
from pypsrp.shell import Process, WinRS
from pypsrp.wsman import NAMESPACES, WSMan
from winrm.exceptions import InvalidCredentialsError, WSManFaultError
from winrm.protocol import Protocol

from winfleet_lab import hashgen

USER, PASSWORD = "admin", "Fleet-Pass-1"
WQL_MDM = "SELECT * FROM MDM_DevDetail_Ext01 WHERE InstanceID='Ext' AND ParentID='./DevDetail'"
DMMAP_ALL = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/mdm/dmmap/*"
CIMV2 = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
MDM_NS = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/mdm/dmmap/MDM_DevDetail_Ext01"


def protocol(lab, name, transport, scheme, password=PASSWORD):
    host = lab.fleet.by_name[name]
    port = host.https_port if scheme == "https" else host.http_port
    return Protocol("%s://%s:%d/wsman" % (scheme, host.address, port), transport=transport, username=USER,
                    password=password, server_cert_validation="validate", ca_trust_path=lab.ca_path,
                    read_timeout_sec=5, operation_timeout_sec=3)


def pywinrm_enumerate(p, wql=WQL_MDM, uri=DMMAP_ALL):
    env = p.build_wsman_header(action="http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", resource_uri=uri)
    env["env:Body"] = {"n:Enumerate": {"w:OptimizeEnumeration": None, "w:MaxElements": "32000",
                                       "w:Filter": {"@Dialect": "http://schemas.microsoft.com/wbem/wsman/1/WQL", "#text": wql}}}
    answer = p.send_message(xmltodict.unparse({"env:Envelope": env}))
    return ET.fromstring(answer)  # noqa: S314 - the lab's own answer


MATRIX = [("ntlm", "http", "pc0000"), ("plaintext", "http", "pc0001"), ("ssl", "https", "pc0000"), ("ntlm", "https", "pc0000")]


@pytest.mark.parametrize(("transport", "scheme", "name"), MATRIX)
def test_pywinrm_shell_and_enumerate(wsman_lab, transport, scheme, name):
    host = wsman_lab.fleet.by_name[name]
    p = protocol(wsman_lab, name, transport, scheme)
    shell = p.open_shell()
    cid = p.run_command(shell, "hostname")
    out, err, rc = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)  # pywinrm asserts RelatesTo == MessageID here and in close_shell
    p.close_shell(shell)
    assert (out, err, rc) == ((host.computer_name + "\r\n").encode(), b"", 0)
    if transport == "ntlm" and scheme == "http":
        assert p.transport.encryption is not None, "NTLM over HTTP must use message encryption"
    root = pywinrm_enumerate(protocol(wsman_lab, name, transport, scheme))
    item = root.find(".//{%s}MDM_DevDetail_Ext01" % MDM_NS)
    assert item.findtext("{%s}DeviceHardwareData" % MDM_NS) == hashgen.build_hash(host.device)
    assert item.findtext("{%s}InstanceID" % MDM_NS) == "Ext"
    assert root.find(".//{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}EndOfSequence") is not None


def test_ntlm_authenticates_the_connection_once(wsman_lab):
    p = protocol(wsman_lab, "pc0000", "ntlm", "http")
    before = len(wsman_lab.fleet.events.events("auth_ok", host="pc0000"))
    for cls in ("Win32_BIOS", "Win32_ComputerSystem", "Win32_OperatingSystem"):
        pywinrm_enumerate(p, "SELECT * FROM " + cls, CIMV2 + "*")  # noqa: S608 - WQL to the lab
    assert len(wsman_lab.fleet.events.events("auth_ok", host="pc0000")) == before + 1


def test_basic_over_plain_http_is_refused_unless_allowed(wsman_lab):
    with pytest.raises(InvalidCredentialsError):
        pywinrm_enumerate(protocol(wsman_lab, "pc0000", "plaintext", "http"))
    assert wsman_lab.fleet.events.events("auth_refused", host="pc0000")


@pytest.mark.parametrize(("transport", "scheme"), [("ntlm", "http"), ("ssl", "https"), ("ntlm", "https")])
def test_wrong_password_is_401(wsman_lab, transport, scheme):
    with pytest.raises(InvalidCredentialsError):
        pywinrm_enumerate(protocol(wsman_lab, "pc0002", transport, scheme))


def test_https_without_the_lab_ca_fails_validation(wsman_lab):
    host = wsman_lab.fleet.by_name["pc0000"]
    p = Protocol("https://%s:%d/wsman" % (host.address, host.https_port), transport="ssl", username=USER,
                 password=PASSWORD, server_cert_validation="validate", ca_trust_path=None)
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        pywinrm_enumerate(p)


@pytest.mark.parametrize(("name", "wmi_code", "subcode"), [
    ("pc0003", 0x80041003, "w:AccessDenied"),
    ("pc0004", 0x80041010, "w:CannotProcessFilter"),
    ("pc0005", 0x80041001, "w:InternalError"),
])
def test_wmi_faults_are_http_500_with_wmi_error_detail(wsman_lab, name, wmi_code, subcode):
    with pytest.raises(WSManFaultError) as info:
        pywinrm_enumerate(protocol(wsman_lab, name, "ntlm", "http"))
    assert info.value.code == 500 and info.value.wmierror_code == wmi_code and info.value.fault_subcode == subcode


def test_too_old_device_reports_its_build(wsman_lab):
    root = pywinrm_enumerate(protocol(wsman_lab, "pc0004", "ntlm", "http"), "SELECT BuildNumber FROM Win32_OperatingSystem", CIMV2 + "*")
    assert root.findtext(".//{%sWin32_OperatingSystem}BuildNumber" % CIMV2) == "14393"


def test_empty_hash_is_nil(wsman_lab):
    root = pywinrm_enumerate(protocol(wsman_lab, "pc0008", "ntlm", "http"))
    el = root.find(".//{%s}DeviceHardwareData" % MDM_NS)
    assert el is not None and el.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"


def test_unknown_action_and_bad_wql_are_faults(wsman_lab):
    with pytest.raises(WSManFaultError) as info:
        pywinrm_enumerate(protocol(wsman_lab, "pc0000", "ntlm", "http"), "DELETE FROM Win32_BIOS", CIMV2 + "*")
    assert info.value.wsman_fault_code == 2150859002


def wsman(lab, name, auth, scheme, **kw):
    host = lab.fleet.by_name[name]
    port = host.https_port if scheme == "https" else host.http_port
    return WSMan(host.address, port=port, username=USER, password=PASSWORD, ssl=scheme == "https", auth=auth,
                 cert_validation=lab.ca_path, connection_timeout=5, read_timeout=5, **kw)


def wql_enumerate_element(wql, optimize=True, max_elements=None):
    en = ET.Element("{%s}Enumerate" % NAMESPACES["wsen"])
    if optimize:
        ET.SubElement(en, "{%s}OptimizeEnumeration" % NAMESPACES["wsman"])
    if max_elements:
        ET.SubElement(en, "{%s}MaxElements" % NAMESPACES["wsman"]).text = str(max_elements)
    f = ET.SubElement(en, "{%s}Filter" % NAMESPACES["wsman"], Dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL")
    f.text = wql
    return en


@pytest.mark.parametrize(("auth", "scheme"), [("ntlm", "http"), ("negotiate", "http"), ("basic", "https"), ("ntlm", "https")])
def test_pypsrp_enumerate_optimized(wsman_lab, auth, scheme):
    host = wsman_lab.fleet.by_name["pc0000"]
    with wsman(wsman_lab, "pc0000", auth, scheme) as w:
        w.update_max_payload_size()  # a Transfer Get of the winrm config
        body = w.enumerate(DMMAP_ALL, wql_enumerate_element(WQL_MDM, max_elements=32000))
    items = body.find("wsen:EnumerateResponse/wsman:Items", NAMESPACES)
    assert items[0].findtext("{%s}DeviceHardwareData" % MDM_NS) == host.hash_text
    assert body.find("wsen:EnumerateResponse/wsman:EndOfSequence", NAMESPACES) is not None


def test_pypsrp_enumerate_then_pull_pages(wsman_lab):
    host = wsman_lab.fleet.by_name["pc0000"]
    with wsman(wsman_lab, "pc0000", "ntlm", "http") as w:
        body = w.enumerate(CIMV2 + "*", wql_enumerate_element("SELECT SerialNumber, Manufacturer FROM Win32_BIOS", optimize=False))
        ctx = body.findtext("wsen:EnumerateResponse/wsen:EnumerationContext", namespaces=NAMESPACES)
        assert ctx and body.find("wsen:EnumerateResponse/wsman:Items", NAMESPACES) is None
        pull = ET.Element("{%s}Pull" % NAMESPACES["wsen"])
        ET.SubElement(pull, "{%s}EnumerationContext" % NAMESPACES["wsen"]).text = ctx
        body = w.pull(CIMV2 + "*", pull)
    items = body.find("wsen:PullResponse/wsen:Items", NAMESPACES)
    item = items[0]
    assert [child.tag.rsplit("}", 1)[1] for child in item] == ["Manufacturer", "SerialNumber"]
    assert item.findtext("{%sWin32_BIOS}SerialNumber" % CIMV2) == host.device.serial
    assert body.find("wsen:PullResponse/wsen:EndOfSequence", NAMESPACES) is not None


def test_pypsrp_winrs_process(wsman_lab):
    host = wsman_lab.fleet.by_name["pc0000"]
    with wsman(wsman_lab, "pc0000", "negotiate", "http") as w, WinRS(w) as shell:
        proc = Process(shell, "cmd.exe", ["/c", "echo", "hi"])
        proc.invoke()
        proc2 = Process(shell, "hostname")
        proc2.invoke()
    assert proc2.stdout == (host.computer_name + "\r\n").encode() and proc2.rc == 0
    assert (proc.stdout, proc.rc) == (b"hi\r\n", 0)  # WinRS runs cmd /c <line>: the nested cmd.exe /c echo hi runs


def test_silent_device_accepts_and_never_answers(wsman_lab):
    host = wsman_lab.fleet.by_name["pc0006"]
    with socket.create_connection((host.address, host.http_port), timeout=5) as s:
        s.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(1)


def test_drop_cuts_the_hash_response(wsman_lab):
    with pytest.raises(Exception, match=r"(?i)connection|incomplete|chunk|aborted"):
        pywinrm_enumerate(protocol(wsman_lab, "pc0007", "ntlm", "http"))
    assert wsman_lab.fleet.events.events("dropped_mid_response", host="pc0007")
