# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ConfigMgr lab on the wire: real requests + requests_ntlm (and pyspnego by hand) against the emulator."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
import requests
import spnego
import spnego.channel_bindings
from requests_ntlm import HttpNtlmAuth

from winfleet_lab.configmgr import ConfigMgrService, ODataError
from winfleet_lab.configmgr import fixtures as configmgr_fixtures
from winfleet_lab.configmgr.service import compile_filter
from winfleet_lab.playbook import ansible_env

configmgr_lab = configmgr_fixtures.configmgr_lab


def session(lab, reader=False, password=None):
    s = requests.Session()
    s.trust_env = False
    user = lab.reader_username if reader else lab.username
    s.auth = HttpNtlmAuth(user, password or (lab.reader_password if reader else lab.password))
    s.verify = lab.ca_path
    return s


@pytest.fixture(scope="module")
def seeded(configmgr_lab):
    lab = configmgr_lab
    ids = {
        "a": lab.add_device("LAB-A", "SER-A", hardware_hash="HASH-A", revisions=2),
        "a_old": lab.add_device("LAB-A", "SER-A-OLD"),
        "b": lab.add_device("LAB-B", "SER-B", smbios_guid="4c4c4544-0042-1111-8000-000000000001"),
        "quote": lab.add_device("O'BRIEN-PC", None),
    }
    return lab, ids


def test_401_without_credentials_offers_negotiate_and_ntlm(seeded):
    lab, _ids = seeded
    r = requests.get(lab.url + "/wmi/SMS_R_System", verify=lab.ca_path, timeout=30)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Negotiate, NTLM"
    assert "401 - Unauthorized" in r.text


def test_ntlm_list_and_odata_shape(seeded):
    lab, ids = seeded
    with session(lab) as s:
        r = s.get(lab.url + "/wmi/SMS_R_System")
        assert r.status_code == 200
        body = r.json()
        assert body["@odata.context"].endswith("/AdminService/wmi/$metadata#SMS_R_System")
        names = {row["ResourceId"]: row["Name"] for row in body["value"]}
        assert names[ids["a"]] == "LAB-A" and names[ids["quote"]] == "O'BRIEN-PC"
        # NTLM authenticated the connection: the next request needs no new handshake.
        before = lab.stats["auth_ok"]
        assert s.get(lab.url + "/wmi/SMS_R_System(%d)" % ids["b"]).status_code == 200
        assert lab.stats["auth_ok"] == before


@pytest.mark.parametrize("user,password", [("LAB\\cmadmin", "wrong-password"), ("OTHER\\cmadmin", None),
                                           ("LAB\\nobody", "x")])
def test_bad_credentials_are_401(seeded, user, password):
    lab, _ids = seeded
    s = requests.Session()
    s.auth = HttpNtlmAuth(user, password or lab.password)
    r = s.get(lab.url + "/wmi/SMS_R_System", verify=lab.ca_path)
    assert r.status_code == 401


def test_odata_filter_select_and_key_lookup(seeded):
    lab, ids = seeded
    with session(lab) as s:
        r = s.get(lab.url + "/wmi/sms_r_system", params={"$filter": "Name eq 'lab-a'", "$select": "ResourceId,Name"})
        assert r.status_code == 200
        assert sorted(v["ResourceId"] for v in r.json()["value"]) == sorted([ids["a"], ids["a_old"]])
        assert set(r.json()["value"][0]) == {"ResourceId", "Name"}
        r = s.get(lab.url + "/wmi/SMS_R_System", params={"$filter": "Name eq 'O''BRIEN-PC'"})
        assert [v["ResourceId"] for v in r.json()["value"]] == [ids["quote"]]
        r = s.get(lab.url + "/wmi/SMS_R_System",
                  params={"$filter": "startswith(Name,'LAB-') and (ResourceId eq %d or SMBIOSGUID eq "
                                     "'4C4C4544-0042-1111-8000-000000000001')" % ids["a"]})
        assert sorted(v["ResourceId"] for v in r.json()["value"]) == sorted([ids["a"], ids["b"]])
        r = s.get(lab.url + "/wmi/SMS_R_System(%d)" % ids["b"])
        assert [v["Name"] for v in r.json()["value"]] == ["LAB-B"]
        r = s.get(lab.url + "/wmi/SMS_R_System", params={"$filter": "Serial eq 'x'"})
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "Could not find a property named 'Serial' on type 'SMS_R_System'."


def test_inventory_classes_join_by_resource_id(seeded):
    lab, ids = seeded
    with session(lab) as s:
        bios = s.get(lab.url + "/wmi/SMS_G_System_PC_BIOS",
                     params={"$filter": "ResourceID eq %d" % ids["a"]}).json()["value"]
        assert [b["SerialNumber"] for b in bios] == ["SER-A"]
        mdm = s.get(lab.url + "/wmi/SMS_G_System_MDM_DEVDETAIL_EXT01",
                    params={"$filter": "ResourceID eq %d" % ids["a"]}).json()["value"]
        assert [(m["RevisionID"], m["DeviceHardwareData"]) for m in mdm] == [(1, "STALE-REVISION-1"), (2, "HASH-A")]
        assert mdm[-1]["InstanceID"] == "Ext" and mdm[-1]["ParentID"] == "./DevDetail"
        none = s.get(lab.url + "/wmi/SMS_G_System_PC_BIOS", params={"$filter": "ResourceID eq %d" % ids["quote"]})
        assert none.json()["value"] == []


def test_missing_resource_is_404_with_error_body(seeded):
    lab, _ids = seeded
    with session(lab) as s:
        r = s.get(lab.url + "/wmi/SMS_R_System(99999999)")
        assert r.status_code == 404
        assert r.json() == {"error": {"code": "NotFound", "message": "SMS_R_System.ResourceId=99999999 was not found."}}
        assert s.get(lab.url + "/wmi/SMS_No_Such_Class").status_code == 404


def test_delete_rights_403_then_204_then_404(configmgr_lab):
    lab = configmgr_lab
    rid = lab.add_device("DEL-ME", "SER-DEL", hardware_hash="H")
    with session(lab, reader=True) as s:
        assert s.get(lab.url + "/wmi/SMS_R_System(%d)" % rid).status_code == 200
        r = s.delete(lab.url + "/wmi/SMS_R_System(%d)" % rid)
        assert r.status_code == 403
        assert "Delete Resource" in r.json()["error"]["message"]
    assert any(d["resource_id"] == rid for d in lab.devices())
    with session(lab) as s:
        assert s.delete(lab.url + "/wmi/SMS_R_System(%d)" % rid).status_code == 204
        assert s.delete(lab.url + "/wmi/SMS_R_System(%d)" % rid).status_code == 404
        bios = s.get(lab.url + "/wmi/SMS_G_System_PC_BIOS", params={"$filter": "ResourceID eq %d" % rid})
        assert bios.json()["value"] == []  # the inventory went with the resource
        assert s.delete(lab.url + "/wmi/SMS_G_System_PC_BIOS").status_code == 405
    assert not any(d["resource_id"] == rid for d in lab.devices())


def test_injected_500_carries_the_adminservice_error_body(seeded):
    lab, _ids = seeded
    lab.inject(500, method="GET", match="SMS_R_System")
    with session(lab) as s:
        r = s.get(lab.url + "/wmi/SMS_R_System")
        assert r.status_code == 500
        err = r.json()["error"]
        assert err["code"] == "InternalServerError" and "WBEM_E_FAILED" in err["message"]
        assert s.get(lab.url + "/wmi/SMS_R_System").status_code == 200  # one-shot


def test_paging_with_absolute_next_link(seeded):
    lab, _ids = seeded
    lab.service.page_size = 2
    try:
        with session(lab) as s:
            url, seen, pages = lab.url + "/wmi/SMS_R_System?$select=ResourceId", [], 0
            while url:
                body = s.get(url).json()
                pages += 1
                seen += [v["ResourceId"] for v in body["value"]]
                url = body.get("@odata.nextLink")
                assert url is None or url.startswith(lab.url + "/wmi/SMS_R_System?")
        assert len(seen) == len(set(seen)) == len(lab.devices())
        assert pages == (len(seen) + 1) // 2
    finally:
        lab.service.page_size = 1000


def test_versioned_route_device(seeded):
    lab, ids = seeded
    with session(lab) as s:
        r = s.get(lab.url + "/v1.0/Device(%d)" % ids["b"])
        assert r.status_code == 200
        assert r.json()["Name"] == "LAB-B" and r.json()["SerialNumber"] == "SER-B"
        r = s.get(lab.url + "/v1.0/Device", params={"$filter": "SerialNumber eq 'SER-A'"})
        assert [v["MachineId"] for v in r.json()["value"]] == [ids["a"]]


def _negotiate_by_hand(lab, cbt_data):
    """The NTLM handshake driven with pyspnego directly under the Negotiate scheme, on one keep-alive connection."""
    ctx = spnego.client(lab.username, lab.password, hostname=lab.host, service="http", protocol="ntlm",
                        channel_bindings=spnego.channel_bindings.GssChannelBindings(application_data=cbt_data))
    s = requests.Session()
    s.trust_env = False
    url = lab.url + "/wmi/SMS_R_System"
    r1 = s.get(url, verify=lab.ca_path, headers={"Authorization": "Negotiate " + base64.b64encode(ctx.step()).decode()})
    assert r1.status_code == 401
    challenge = r1.headers["WWW-Authenticate"].split(" ", 1)[1]
    auth = base64.b64encode(ctx.step(base64.b64decode(challenge))).decode()
    return s.get(url, verify=lab.ca_path, headers={"Authorization": "Negotiate " + auth})


def test_pyspnego_negotiate_with_channel_binding(seeded):
    lab, _ids = seeded
    assert _negotiate_by_hand(lab, b"tls-server-end-point:" + lab.cert_hash).status_code == 200
    # A channel binding for another certificate (a TLS-intercepting proxy) is refused.
    assert _negotiate_by_hand(lab, b"tls-server-end-point:" + b"\x00" * 32).status_code == 401


def test_filter_parser_rejects_garbage():
    with pytest.raises(ODataError):
        compile_filter("Name eq", ["Name"], "SMS_R_System")
    with pytest.raises(ODataError):
        compile_filter("Name eq 'a' or", ["Name"], "SMS_R_System")
    pred = compile_filter("not (Client eq 1) and Name ne 'x'", ["Client", "Name"], "SMS_R_System")
    assert pred({"Client": 0, "Name": "y"}) and not pred({"Client": 1, "Name": "y"})


def test_service_without_network_is_usable():
    svc = ConfigMgrService()
    svc.add_user("LAB\\u", "p", ("read",))
    rid = svc.add_device("X1", "S1")
    status, body, _h = svc.handle("GET", "/AdminService/wmi/SMS_R_System(%d)" % rid, {}, "LAB\\u")
    assert status == 200 and body["value"][0]["Name"] == "X1"
    status, body, _h = svc.handle("GET", "/AdminService/wmi/SMS_R_System", {}, "LAB\\stranger")
    assert status == 403


def test_cli_prints_connection_values_as_json(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "winfleet_lab.configmgr", "serve", "--dir", str(tmp_path),
                             "--devices", "2", "--host", "127.0.40.9"], stdout=subprocess.PIPE, text=True,
                            env=ansible_env())
    try:
        info = json.loads(proc.stdout.readline())
        assert info["url"].startswith("https://127.0.40.9:") and info["url"].endswith("/AdminService")
        assert info["username"] == "LAB\\cmadmin" and len(info["devices"]) == 2
        s = requests.Session()
        s.trust_env = False
        s.auth = HttpNtlmAuth(info["username"], info["password"])
        r = s.get(info["url"] + "/wmi/SMS_G_System_MDM_DEVDETAIL_EXT01", verify=info["ca_path"])
        assert r.status_code == 200 and len(r.json()["value"]) == 2
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0
