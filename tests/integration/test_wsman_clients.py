# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The WS-Man lab with Windows' default WinRM settings, proven by clients the project did not write.

* masterzen/winrm (Go, with Azure/go-ntlmssp; Debian's golang-github-masterzen-winrm-dev, built by
  tools/install-winrm-go.sh): NTLM without message encryption and without channel binding, Basic, WinRS commands;
  it takes the user's domain from the CHALLENGE's TargetName;
* pywinrm (NTLM with MS-WSMV encryption over HTTP, NTLM with CBT over HTTPS, Basic), pypsrp (Negotiate/SPNEGO,
  WS-Enumeration, WinRS, PSRP) and ansible-core's own ``winrm`` connection (``raw``);
* a bare NTLM exchange (pyspnego as the client over http.client) to send a wrong or a missing channel-binding token
  on purpose and to read the CHALLENGE the device answers with.

What Windows accepts by default is accepted; what it refuses by default (Basic, plain SOAP over HTTP, Basic over
HTTP, a missing token under Strict CBT, a wrong token under any level) is refused. Sources: the table in
docs/wsman-lab.md and ``../shared/reference/wsman-emulation.md`` section 8.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import pathlib
import re
import ssl
import subprocess
import warnings
import xml.etree.ElementTree as ET

import pytest
import spnego
import xmltodict
from pypsrp.client import Client as PsrpClient
from pypsrp.exceptions import WSManFaultError as PsrpFault
from spnego._ntlm_raw.messages import AvId, Challenge, NegotiateFlags
from spnego.channel_bindings import GssChannelBindings
from winrm.exceptions import InvalidCredentialsError, WSManFaultError
from winrm.protocol import Protocol

from winfleet_lab.fixtures_wsman import run_adhoc, running_lab

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[2]
GO_CLIENT = ROOT / ".build" / "bin" / "winrm-go-client"
USER, PASSWORD = "admin", "Fleet-Pass-1"
DOMAIN = "corp.example.test"
CIMV2 = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
DMMAP = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/mdm/dmmap/"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
# pc0000: Windows as installed (workgroup, Basic off, AllowUnencrypted=false, CbtHardeningLevel=Relaxed);
# pc0001: joined to an AD domain, Basic on; pc0002: CbtHardeningLevel=Strict; pc0003: AllowUnencrypted=true, Basic on.
DEVICES = {"pc0001": {"domain": DOMAIN, "basic": True}, "pc0002": {"cbt_hardening_level": "Strict"},
           "pc0003": {"allow_unencrypted": True, "basic": True}}


@pytest.fixture(scope="module")
def lab():
    with running_lab(http_port=0, https_port=0, seed=23, count=4, base_address="127.0.23.1", devices=DEVICES) as lab:
        yield lab


def _events(lab, kind, name):
    return lab.fleet.events.events(kind, host=name)


# ------------------------------------------------------------------------------------------------ Go: masterzen/winrm
def go(lab, name, auth, scheme, commands, password=PASSWORD):
    if not GO_CLIENT.exists():
        message = ("GO WINRM CLIENT TESTS SKIPPED: %s is missing. Run tools/install-winrm-go.sh as root (apt-get "
                   "install golang-go golang-github-masterzen-winrm-dev, then a build into .build/bin)." % GO_CLIENT)
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)
    host = lab.fleet.by_name[name]
    req = {"host": host.address, "port": host.https_port if scheme == "https" else host.http_port,
           "https": scheme == "https", "ca": lab.ca_path, "auth": auth, "user": USER, "password": password,
           "timeout_s": 10, "commands": commands}
    proc = subprocess.run([str(GO_CLIENT)], input=json.dumps(req), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["results"]


COMMANDS = [["hostname"], ['"hostname"'], ["cmd", "/c", "echo", "hi"], ["exit 3"], ["cmd /c exit 0"]]


def _assert_commands_ran(results, host):
    name = (host.computer_name + "\r\n", "", 0, "")
    assert [(r["stdout"], r["stderr"], r["rc"], r["error"]) for r in results] == [
        name,                          # hostname
        name,                          # "hostname": a command quoted as a whole runs (cmd /c)
        ("hi\r\n", "", 0, ""),         # rsp:Command cmd + rsp:Arguments /c echo hi: a nested cmd.exe
        ("", "", 3, ""),               # no output: only the end markers, and the exit code
        ("", "", 0, ""),
    ]


@pytest.mark.parametrize("name", ["pc0000", "pc0001"])
def test_go_ntlm_over_https_without_cbt_is_accepted(lab, name):
    """Relaxed CBT: go-ntlmssp sends no channel binding token; it takes the domain from the CHALLENGE's TargetName."""
    host = lab.fleet.by_name[name]
    _assert_commands_ran(go(lab, name, "ntlm", "https", COMMANDS), host)
    domain = "CORP" if host.domain else host.computer_name
    assert _events(lab, "auth_ok", name)[-1]["user"] == "%s\\%s" % (domain, USER)


def test_go_basic_over_https_when_the_device_allows_basic(lab):
    _assert_commands_ran(go(lab, "pc0001", "basic", "https", COMMANDS), lab.fleet.by_name["pc0001"])


def test_go_ntlm_over_http_works_only_where_allow_unencrypted(lab):
    """go-ntlmssp authenticates but does not seal: Windows refuses the plain SOAP unless AllowUnencrypted=true."""
    refused = go(lab, "pc0000", "ntlm", "http", [["hostname"]])
    assert refused[0]["stdout"] == "" and "401" in refused[0]["error"]
    assert _events(lab, "auth_refused", "pc0000")[-1]["reason"] == "unencrypted message over HTTP"
    _assert_commands_ran(go(lab, "pc0003", "ntlm", "http", COMMANDS), lab.fleet.by_name["pc0003"])


@pytest.mark.parametrize(("name", "auth", "scheme", "reason"), [
    ("pc0000", "basic", "https", "Basic authentication is disabled"),   # Basic is off by default
    ("pc0001", "basic", "http", "Basic over unencrypted HTTP"),         # on, but not over plain HTTP
    ("pc0002", "ntlm", "https", "channel binding"),                     # Strict: no token, no entry
])
def test_go_refused_by_default(lab, name, auth, scheme, reason):
    result = go(lab, name, auth, scheme, [["hostname"]])[0]
    assert result["stdout"] == "" and "401" in result["error"], result
    assert reason in _events(lab, "auth_refused", name)[-1]["reason"]


# ------------------------------------------------------------------------------------------------ pywinrm
def protocol(lab, name, transport, scheme):
    host = lab.fleet.by_name[name]
    port = host.https_port if scheme == "https" else host.http_port
    return Protocol("%s://%s:%d/wsman" % (scheme, host.address, port), transport=transport, username=USER,
                    password=PASSWORD, server_cert_validation="validate", ca_trust_path=lab.ca_path,
                    read_timeout_sec=10, operation_timeout_sec=5)


def enumerate_wql(p, wql, uri=CIMV2 + "*"):
    env = p.build_wsman_header(action="http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", resource_uri=uri)
    env["env:Body"] = {"n:Enumerate": {"w:OptimizeEnumeration": None, "w:MaxElements": "32000",
                                       "w:Filter": {"@Dialect": "http://schemas.microsoft.com/wbem/wsman/1/WQL", "#text": wql}}}
    return ET.fromstring(p.send_message(xmltodict.unparse({"env:Envelope": env})))  # noqa: S314 - the lab's answer


@pytest.mark.parametrize(("name", "transport", "scheme"), [
    ("pc0000", "ntlm", "http"), ("pc0001", "ntlm", "http"),      # NTLM + MS-WSMV encryption, workgroup and joined
    ("pc0000", "ntlm", "https"), ("pc0002", "ntlm", "https"),    # requests-ntlm sends the right CBT: Strict accepts it
    ("pc0001", "ssl", "https"),                                  # Basic over TLS where Basic is on
])
def test_pywinrm_accepted(lab, name, transport, scheme):
    host = lab.fleet.by_name[name]
    p = protocol(lab, name, transport, scheme)
    shell = p.open_shell()
    cid = p.run_command(shell, '"hostname"')
    out, err, rc = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    p.close_shell(shell)
    assert (out, err, rc) == ((host.computer_name + "\r\n").encode(), b"", 0)
    if (transport, scheme) == ("ntlm", "http"):
        assert p.transport.encryption is not None


def test_pywinrm_basic_is_refused_by_default(lab):
    with pytest.raises(InvalidCredentialsError):
        protocol(lab, "pc0000", "ssl", "https").open_shell()


def test_an_empty_stream_is_only_an_end_marker(lab):
    p = protocol(lab, "pc0000", "ntlm", "http")
    shell = p.open_shell()
    cid = p.run_command(shell, "exit", ["0"])
    env = p.build_wsman_header(action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
                               resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd", shell_id=shell)
    env["env:Body"] = {"rsp:Receive": {"rsp:DesiredStream": {"@CommandId": cid, "#text": "stdout stderr"}}}
    root = ET.fromstring(p.send_message(xmltodict.unparse({"env:Envelope": env})))  # noqa: S314
    streams = root.findall(".//{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}Stream")
    assert [(s.get("Name"), s.get("End"), s.text) for s in streams] == [("stdout", "true", None), ("stderr", "true", None)]
    p.cleanup_command(shell, cid)
    p.close_shell(shell)


DOCUMENTED = {"Win32_BIOS": 31, "Win32_ComputerSystem": 64, "Win32_ComputerSystemProduct": 8,
              "Win32_OperatingSystem": 64, "MDM_DevDetail_Ext01": 4}


@pytest.mark.parametrize("cls", sorted(DOCUMENTED))
def test_select_star_renders_every_documented_property(lab, cls):
    uri = (DMMAP if cls.startswith("MDM") else CIMV2) + "*"
    root = enumerate_wql(protocol(lab, "pc0001", "ntlm", "http"), "SELECT * FROM %s" % cls, uri)  # noqa: S608
    item = root.find(".//{%s%s}%s" % (uri[:-1], cls, cls))
    names = {child.tag.rsplit("}", 1)[1] for child in item}
    assert len(names) == DOCUMENTED[cls]
    nil = {c.tag.rsplit("}", 1)[1] for c in item if c.get(XSI_NIL) == "true"}
    assert all(not len(c) and not c.text for c in item if c.get(XSI_NIL) == "true")  # nulls: xsi:nil, empty
    if cls == "Win32_BIOS":
        assert {"BuildNumber", "CodeSet", "InstallDate", "OtherTargetOS"} <= nil
    if cls == "Win32_ComputerSystem":  # the joined device says so
        values = {c.tag.rsplit("}", 1)[1]: c.text for c in item}
        assert (values["Domain"], values["PartOfDomain"], values["DomainRole"]) == (DOMAIN, "true", "1")
        assert "Workgroup" in nil


def test_projection_renders_only_the_projected_properties(lab):
    root = enumerate_wql(protocol(lab, "pc0000", "ntlm", "http"), "SELECT SerialNumber, BuildNumber FROM Win32_BIOS")
    item = root.find(".//{%sWin32_BIOS}Win32_BIOS" % CIMV2)
    assert [(c.tag.rsplit("}", 1)[1], c.get(XSI_NIL)) for c in item] == [("BuildNumber", "true"), ("SerialNumber", None)]


@pytest.mark.parametrize(("wql", "code"), [("SELECT * FROM Win32_NoSuchClass", 0x80041010),
                                           ("SELECT NoSuchProperty FROM Win32_BIOS", 0x80041017)])
def test_wmi_errors_inside_a_wsman_fault(lab, wql, code):
    with pytest.raises(WSManFaultError) as info:
        enumerate_wql(protocol(lab, "pc0000", "ntlm", "http"), wql)
    assert (info.value.code, info.value.wmierror_code, info.value.fault_subcode) == (500, code, "w:CannotProcessFilter")


# ------------------------------------------------------------------------------------------------ pypsrp
def psrp_client(lab, name, auth, scheme):
    host = lab.fleet.by_name[name]
    return PsrpClient(host.address, port=host.https_port if scheme == "https" else host.http_port, username=USER,
                      password=PASSWORD, ssl=scheme == "https", auth=auth, cert_validation=lab.ca_path,
                      connection_timeout=10, read_timeout=10)


@pytest.mark.parametrize(("name", "auth", "scheme"), [("pc0000", "negotiate", "http"), ("pc0002", "ntlm", "https"),
                                                      ("pc0001", "negotiate", "https")])
def test_pypsrp_winrs_accepted(lab, name, auth, scheme):
    out, err, rc = psrp_client(lab, name, auth, scheme).execute_cmd('"hostname"')
    assert (out, err, rc) == (lab.fleet.by_name[name].computer_name + "\r\n", "", 0)


def test_pypsrp_powershell_remoting_gets_a_soap_fault(lab):
    """PSRP is not emulated: the Create of a Microsoft.PowerShell shell is refused with a SOAP fault, not a drop."""
    with pytest.raises(PsrpFault) as info:
        psrp_client(lab, "pc0000", "negotiate", "http").execute_ps("$env:COMPUTERNAME")
    assert info.value.code == 2150858770 and "Microsoft.PowerShell" in info.value.reason


# ------------------------------------------------------------------------------------------------ bare NTLM
def ntlm_exchange(lab, name, bindings):
    """NTLM over HTTPS with the CBT ``bindings`` ("right", "wrong" or "none"): (CHALLENGE, final HTTP status)."""
    host = lab.fleet.by_name[name]
    ctx = ssl.create_default_context(cafile=lab.ca_path)
    conn = http.client.HTTPSConnection(host.address, host.https_port, context=ctx, timeout=10)
    conn.connect()
    cert_hash = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).digest()
    app_data = {"right": b"tls-server-end-point:" + cert_hash, "wrong": b"tls-server-end-point:" + bytes(32)}.get(bindings)
    client = spnego.client(USER, PASSWORD, hostname=host.address, service="http", protocol="ntlm",
                           channel_bindings=GssChannelBindings(application_data=app_data) if app_data else None)
    try:
        statuses, token, challenge = [], client.step(), None
        while token is not None:
            conn.request("POST", "/wsman", body=b"", headers={"Authorization": "Negotiate " + base64.b64encode(token).decode(),
                                                              "Content-Length": "0"})
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
            offered = resp.getheader("WWW-Authenticate") or ""
            if resp.status != 401 or not offered.startswith("Negotiate "):
                break
            challenge = Challenge.unpack(base64.b64decode(offered.split(" ", 1)[1]))
            token = client.step(base64.b64decode(offered.split(" ", 1)[1]))
        return challenge, statuses[-1]
    finally:
        conn.close()


@pytest.mark.parametrize(("name", "bindings", "status"), [
    ("pc0000", "right", 200), ("pc0000", "none", 200), ("pc0000", "wrong", 401),    # Relaxed (the default)
    ("pc0002", "right", 200), ("pc0002", "none", 401), ("pc0002", "wrong", 401),    # Strict
])
def test_channel_binding_levels(lab, name, bindings, status):
    assert ntlm_exchange(lab, name, bindings)[1] == status


@pytest.mark.parametrize("name", ["pc0000", "pc0001"])
def test_the_challenge_names_the_device_itself(lab, name):
    host = lab.fleet.by_name[name]
    challenge = ntlm_exchange(lab, name, "right")[0]
    info = challenge.target_info
    computer = host.computer_name
    if host.domain:
        assert challenge.target_name == "CORP" and challenge.flags & NegotiateFlags.target_type_domain
        expected = ("CORP", computer.upper(), DOMAIN, "%s.%s" % (computer, DOMAIN))
    else:
        assert challenge.target_name == computer.upper() and challenge.flags & NegotiateFlags.target_type_server
        expected = ("WORKGROUP", computer.upper(), computer, computer)
    assert (info[AvId.nb_domain_name], info[AvId.nb_computer_name], info[AvId.dns_domain_name],
            info[AvId.dns_computer_name]) == expected


def test_the_401_offers_basic_only_where_it_is_on(lab):
    offered = {}
    for name in ("pc0000", "pc0001"):
        host = lab.fleet.by_name[name]
        conn = http.client.HTTPConnection(host.address, host.http_port, timeout=10)
        conn.request("POST", "/wsman", body=b"", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        offered[name] = resp.headers.get_all("WWW-Authenticate")
        conn.close()
    assert offered == {"pc0000": ["Negotiate"], "pc0001": ["Negotiate", 'Basic realm="WSMAN"']}


# ------------------------------------------------------------------------------------------------ ansible's winrm
def test_ansible_winrm_raw_ntlm_http_and_https(lab, tmp_path):
    """ansible-core's winrm connection with its defaults (NTLM; encryption over HTTP, CBT over HTTPS), one run."""
    hosts = [lab.fleet.by_name["pc0000"], lab.fleet.by_name["pc0002"]]
    host_vars = {"pc0002": {"ansible_port": hosts[1].https_port, "ansible_winrm_scheme": "https",
                            "ansible_winrm_server_cert_validation": "validate", "ansible_winrm_ca_trust_path": lab.ca_path}}
    inventory = lab.fleet.write_inventory(str(tmp_path / "inv.ini"), ca_path=lab.ca_path, transport="ntlm", scheme="http",
                                          hosts=hosts, host_vars=host_vars)
    rc, out, err = run_adhoc(inventory, "windows", "raw", "hostname")
    assert rc == 0, out + err
    for host in hosts:
        assert re.search(r"%s \| CHANGED \| rc=0 >>\s+%s" % (host.name, host.computer_name), out), out


# ------------------------------------------------------------------------------------------------ the product
@pytest.mark.parametrize(("name", "scheme"), [("pc0000", "http"), ("pc0001", "http"), ("pc0002", "https")])
def test_the_collector_needs_no_special_case(lab, name, scheme):
    """The collection's own client, as inventories configure it (NTLM), on a default, a joined and a Strict device."""
    from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import WSManClient
    from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import collect

    host = lab.fleet.by_name[name]
    client = WSManClient(host.address, host.https_port if scheme == "https" else host.http_port, scheme, transport="ntlm",
                         username=USER, password=PASSWORD, ca_trust_path=lab.ca_path, label=name, read_timeout=10)
    try:
        data = collect(client)
    finally:
        client.close()
    assert data["record"]["serial_number"] == host.device.serial and data["hash_summary"]["valid"] is True
    assert data["device"]["computer_name"] == host.computer_name
