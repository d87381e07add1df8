# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ConfigMgr client (module_utils/_configmgr.py) against the ConfigMgr lab over HTTPS + NTLM."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _configmgr as cm
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from winfleet_lab import hashgen
from winfleet_lab.configmgr import fixtures as configmgr_fixtures

configmgr_lab = configmgr_fixtures.configmgr_lab


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def client(lab, reader=False, sleep=None, **params):
    conn = lab.connection(reader=reader)
    conn.update(params)
    warnings = []
    c = cm.ConfigMgrClient(conn, warn=warnings.append, sleep=Sleeps() if sleep is None else sleep, backoff=0.01)
    c.warnings = warnings
    return c


@pytest.fixture(scope="module")
def fleet(configmgr_lab):
    lab = configmgr_lab
    devs = hashgen.fleet(31, 3, vm_every=0)
    hashes = [hashgen.build_hash(d) for d in devs]
    ids = {
        "one": lab.add_device("CM-ONE", devs[0].serial, hardware_hash=hashes[0], smbios_guid=devs[0].uuid,
                              revisions=3),
        "dup_new": lab.add_device("CM-DUP", devs[1].serial, hardware_hash=hashes[1], smbios_guid=devs[1].uuid),
        "dup_old": lab.add_device("cm-dup", "%s  " % devs[1].serial.lower(), client=False, active=False),
        "nobios": lab.add_device("CM-NOBIOS", None),
        "quote": lab.add_device("CM-O'NEIL", devs[2].serial),
    }
    return lab, ids, devs, hashes


# ---------------------------------------------------------------------------------------------------- pure
@pytest.mark.parametrize("given,want", [
    ("https://cm01.contoso.com", "https://cm01.contoso.com/AdminService"),
    ("https://cm01.contoso.com/AdminService/", "https://cm01.contoso.com/AdminService"),
    ("https://cm01.contoso.com/AdminService/wmi/", "https://cm01.contoso.com/AdminService"),
    ("https://cmg.contoso.com/CCM_Proxy_ServerAuth/72057594037927941/AdminService",
     "https://cmg.contoso.com/CCM_Proxy_ServerAuth/72057594037927941/AdminService"),
])
def test_normalize_url(given, want):
    assert cm.normalize_url(given) == want


@pytest.mark.parametrize("bad", ["", "http://cm01/AdminService", "cm01.contoso.com", None])
def test_normalize_url_refuses(bad):
    with pytest.raises(InputError):
        cm.normalize_url(bad)


@pytest.mark.parametrize("value", ["", "   ", "PC-*", "PC%", "PC?1", "a\tb"])
def test_selector_refused(value):
    with pytest.raises(InputError) as info:
        cm.check_selector("name", value)
    assert "name" in info.value.msg


def test_selector_trimmed_and_ids_checked():
    assert cm.check_selector("name", "  PC_01 ") == "PC_01"
    assert cm.check_resource_id("resource_id", "16777220") == 16777220
    for bad in (0, -5, "abc"):
        with pytest.raises(InputError):
            cm.check_resource_id("resource_id", bad)


def test_odata_literal_doubles_quotes():
    assert cm.odata_literal("O'Neil") == "'O''Neil'"


def test_username_needs_a_domain_and_password(configmgr_lab):
    with pytest.raises(InputError, match="has no domain"):
        cm.ConfigMgrClient({"url": configmgr_lab.url, "username": "cmadmin", "password": "x"})
    with pytest.raises(InputError, match="username and password are required"):
        cm.ConfigMgrClient({"url": configmgr_lab.url, "username": "LAB\\cmadmin"})


def test_serial_mismatches():
    devs = [{"id": 1, "name": "A", "serial_number": "S1"}, {"id": 2, "name": "B", "serial_number": None}]
    assert cm.serial_mismatches(devs[:1], " s1 ") == []
    problems = cm.serial_mismatches(devs, "S2")
    assert problems[0] == "A (ResourceId 1) has serial number S1, not S2"
    assert "B (ResourceId 2) has no serial number" in problems[1]
    assert len(cm.serial_mismatches(devs, "S2", require_serial_match=False)) == 1


def test_redact_cuts_hashes():
    text = "failed on " + hashgen.build_hash(hashgen.fleet(1, 1)[0])
    assert cm.redact(text) == "failed on <hardware hash>"


# ---------------------------------------------------------------------------------------------------- lookup
def test_find_by_each_selector(fleet):
    lab, ids, devs, _hashes = fleet
    c = client(lab)
    by_name = cm.find_devices(c, names=["cm-dup"])
    assert [d["id"] for d in by_name] == [ids["dup_new"], ids["dup_old"]]
    assert by_name[1]["serial_number"] == devs[1].serial.lower() and by_name[1]["client"] is False
    assert [d["id"] for d in cm.find_devices(c, serial_numbers=[devs[1].serial])] == [ids["dup_new"], ids["dup_old"]]
    assert [d["name"] for d in cm.find_devices(c, resource_ids=[ids["one"]])] == ["CM-ONE"]
    assert [d["id"] for d in cm.find_devices(c, smbios_guids=[devs[0].uuid.lower()])] == [ids["one"]]
    assert [d["id"] for d in cm.find_devices(c, names=["CM-O'NEIL"])] == [ids["quote"]]
    nobios = cm.find_devices(c, names=["CM-NOBIOS"])
    assert nobios[0]["serial_number"] is None and nobios[0]["id"] == ids["nobios"]
    assert cm.find_devices(c, names=["NO-SUCH-PC"]) == []


def test_selectors_intersect(fleet):
    lab, ids, devs, _hashes = fleet
    c = client(lab)
    assert [d["id"] for d in cm.find_devices(c, names=["CM-DUP"], resource_ids=[ids["dup_old"]])] == [ids["dup_old"]]
    assert cm.find_devices(c, names=["CM-DUP"], smbios_guids=[devs[0].uuid]) == []
    both = cm.find_devices(c, names=["CM-ONE", "CM-DUP"])
    assert {d["id"] for d in both} == {ids["one"], ids["dup_new"], ids["dup_old"]}


def test_selectors_add_up_with_match_any(fleet):
    """match="any": a fleet's devices by serial number or by name in one look-up (the clean-up's), each once."""
    lab, ids, devs, _hashes = fleet
    c = client(lab)
    assert cm.find_devices(c, names=["CM-ONE"], serial_numbers=[devs[1].serial]) == []  # all: nobody is both
    found = cm.find_devices(c, names=["CM-ONE", "NO-SUCH-PC"], serial_numbers=[devs[1].serial], match="any")
    assert [d["id"] for d in found] == sorted([ids["one"], ids["dup_new"], ids["dup_old"]])
    again = cm.find_devices(c, names=["CM-ONE", "CM-DUP"], serial_numbers=[devs[1].serial], match="any")
    assert [d["id"] for d in again] == [d["id"] for d in found]  # found by both selectors: listed once


def test_no_selector_is_refused(fleet):
    lab = fleet[0]
    with pytest.raises(InputError, match="No selector"):
        cm.find_devices(client(lab))


def test_hash_records_take_the_newest_revision(fleet):
    lab, _ids, devs, hashes = fleet
    c = client(lab)
    devices = cm.find_devices(c, names=["CM-ONE", "CM-DUP", "CM-NOBIOS"])
    records, missing = cm.hash_records(c, devices)
    assert records == [
        {"serial_number": devs[0].serial, "product_id": "", "hardware_hash": hashes[0], "source": "configmgr:CM-ONE"},
        {"serial_number": devs[1].serial, "product_id": "", "hardware_hash": hashes[1], "source": "configmgr:CM-DUP"},
    ]
    assert missing == ["cm-dup", "CM-NOBIOS"]


def test_lookups_page_through_results(fleet):
    lab = fleet[0]
    lab.service.page_size = 1
    try:
        c = client(lab)
        assert len(cm.find_devices(c, names=["CM-DUP"])) == 2
        assert len(list(c.paged(cm.SYSTEM))) == len(lab.devices())
    finally:
        lab.service.page_size = 1000


def test_next_link_off_host_is_refused(fleet):
    c = client(fleet[0])
    with pytest.raises(cm.ConfigMgrError, match="off the AdminService host"):
        c.get("https://evil.example.com/AdminService/wmi/SMS_R_System")


# ---------------------------------------------------------------------------------------------------- errors
def test_retries_503_then_succeeds_honouring_retry_after(fleet):
    lab = fleet[0]
    sleeps = Sleeps()
    c = client(lab, sleep=sleeps)
    lab.inject(503, method="GET", match="SMS_R_System", count=2, retry_after=3)
    assert cm.find_devices(c, names=["CM-ONE"])
    assert c.stats["retries"] == 2 and sleeps == [3.0, 3.0]


def test_delete_retried_after_503_and_404_means_gone(configmgr_lab):
    lab = configmgr_lab
    rid = lab.add_device("CM-DEL-RETRY", "SER-RETRY")
    c = client(lab)
    lab.inject(503, method="DELETE", match="SMS_R_System(%d)" % rid)
    assert cm.delete_device(c, rid) is True
    assert c.stats["retries"] == 1
    assert cm.delete_device(c, rid) is False


def test_500_is_not_retried_and_keeps_the_service_message(fleet):
    lab = fleet[0]
    hash_text = hashgen.build_hash(hashgen.fleet(2, 1)[0])
    lab.inject(500, method="GET", match="SMS_R_System", message="WMI failure near " + hash_text)
    c = client(lab)
    with pytest.raises(cm.ConfigMgrError) as info:
        cm.find_devices(c, names=["CM-ONE"])
    assert info.value.status == 500 and info.value.code == "InternalServerError"
    assert "WMI failure near <hardware hash>" in info.value.msg and hash_text[:80] not in info.value.msg
    assert c.stats["retries"] == 0


def test_wrong_password_is_an_auth_error(fleet):
    lab = fleet[0]
    with pytest.raises(cm.ConfigMgrAuthError) as info:
        cm.find_devices(client(lab, password="nope"), names=["CM-ONE"])
    assert info.value.status == 401 and "LAB\\cmadmin" in info.value.msg and "nope" not in info.value.msg


def test_reader_cannot_delete(fleet):
    lab, ids = fleet[0], fleet[1]
    with pytest.raises(cm.ConfigMgrPermissionError) as info:
        cm.delete_device(client(lab, reader=True), ids["quote"])
    assert info.value.status == 403
    assert any(d["resource_id"] == ids["quote"] for d in lab.devices())


def test_untrusted_certificate_fails_clearly(fleet):
    lab = fleet[0]
    c = client(lab, ca_path=None)
    with pytest.raises(cm.ConfigMgrTLSError, match=r"not trusted.*ca_path"):
        cm.find_devices(c, names=["CM-ONE"])


def test_validate_certs_false_warns_and_works(fleet):
    lab = fleet[0]
    c = client(lab, ca_path=None, validate_certs=False)
    assert "NOT checked" in c.warnings[0]
    assert cm.find_devices(c, names=["CM-ONE"])


def test_unreachable_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.40.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        sleeps = Sleeps()
        c = cm.ConfigMgrClient({"url": "https://127.0.40.1:%d" % port, "username": "LAB\\x", "password": "y"},
                               sleep=sleeps, retries=2, backoff=0.01)
        with pytest.raises(cm.ConfigMgrError, match="cannot reach https://127.0.40.1:%d" % port):
            c.get(cm.SYSTEM)
    assert len(sleeps) == 2
