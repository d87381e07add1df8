# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""configmgr_device and configmgr_device_info through ansible-playbook against the ConfigMgr lab (HTTPS + NTLM)."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from winfleet_lab.configmgr import fixtures as configmgr_fixtures
from winfleet_lab.graph.pki import LabPKI
from winfleet_lab.playbook import run_playbook, task_results

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parent / "configmgr"

configmgr_lab = configmgr_fixtures.configmgr_lab


def play(tmp_path, playbook, extra_vars, *args):
    varfile = tmp_path / ("vars-%s.json" % playbook.stem)
    varfile.write_text(json.dumps(extra_vars))
    os.chmod(varfile, 0o600)
    rc, data, out, err = run_playbook(playbook, "-i", "localhost,", "-c", "local", "-e", "@%s" % varfile, *args)
    assert data is not None, out + err
    return rc, data, out + err


def test_cleanup_by_every_selector_with_guards(configmgr_lab, tmp_path):
    lab = configmgr_lab
    dup = [lab.add_device("CM-DUP-PC", "DUPSER01"), lab.add_device("CM-DUP-PC", "DUPSER01", client=False)]
    ser = [lab.add_device("CM-SER-1", "SERSER01"), lab.add_device("CM-SER-RENAMED", "SERSER01")]
    by_id, id_twin = lab.add_device("CM-ID-1", "IDSER01"), lab.add_device("CM-ID-1", "IDSER02")
    guid = "4C4C4544-0031-3010-8000-B4C04F4D5931"
    by_guid = lab.add_device("CM-GUID-1", "GUIDSER01", smbios_guid=guid)
    guarded = lab.add_device("CM-GUARD-1", "GuardSer01")
    no_serial = lab.add_device("CM-NOSER-1", None)
    keep = lab.add_device("CM-KEEP", "KEEPSER01")
    partial = [lab.add_device("CM-PARTIAL", "PARTSER01"), lab.add_device("CM-PARTIAL", "PARTSER01")]
    lab.inject(500, method="DELETE", match="SMS_R_System(%d)" % partial[1])
    ev = {"cm": lab.connection(), "reader": {"username": lab.reader_username, "password": lab.reader_password},
          "dup_name": "CM-DUP-PC", "by_serial": {"serial": "SERSER01"}, "by_id": {"id": by_id},
          "by_guid": {"guid": guid}, "guarded": {"name": "CM-GUARD-1", "serial": "GuardSer01"},
          "no_serial": {"name": "CM-NOSER-1"}}
    rc, data, text = play(tmp_path, PLAYBOOKS / "cleanup.yml", ev, "--diff")
    assert rc == 0, text
    r = {t["task"]["name"]: t["hosts"]["localhost"] for p in data["plays"] for t in p["tasks"]}

    def ids(result, key="removed"):
        return [d["id"] for d in result[key]]

    # Info: the same lookup the delete uses, one selector each.
    assert ids(r["Info by name"], "devices") == dup and r["Info by name"]["changed"] is False
    assert {d["serial_number"] for d in r["Info by name"]["devices"]} == {"DUPSER01"}
    assert ids(r["Info by serial number"], "devices") == ser
    assert ids(r["Info by resource id"], "devices") == [by_id]
    assert ids(r["Info by SMBIOS GUID"], "devices") == [by_guid]
    assert r["Info without a selector"]["failed"] is True and "No selector" in r["Info without a selector"]["msg"]

    # Check mode predicts exactly what the real run removes; the second run changes nothing.
    check, real, again = r["Remove by name (check mode)"], r["Remove by name"], r["Remove by name again"]
    assert check["changed"] is True and ids(check) == dup
    assert check["removed"] == real["removed"] and real["changed"] is True
    assert real["diff"]["before"] == {"devices": real["removed"]} and real["diff"]["after"] == {}
    assert again["changed"] is False and again["removed"] == []

    assert ids(r["Remove by serial number"]) == ser
    assert ids(r["Remove by resource id"]) == [by_id]  # its namesake stays
    assert ids(r["Remove by SMBIOS GUID"]) == [by_guid]

    # Guards: nothing deleted, clear messages.
    mismatch = r["Remove with a serial number that does not match"]
    assert mismatch["failed"] is True and "nothing deleted" in mismatch["msg"]
    assert "CM-GUARD-1 (ResourceId %d) has serial number GuardSer01, not NOT-ITS-SERIAL" % guarded in mismatch["msg"]
    wildcard = r["Remove with a wildcard"]
    assert wildcard["failed"] is True and "wildcard '*'" in wildcard["msg"]
    blank = r["Remove with a blank name"]
    assert blank["failed"] is True and "name is empty" in blank["msg"]
    noser = r["Remove a record without serial number under the guard"]
    assert noser["failed"] is True and "has no serial number" in noser["msg"] and "require_serial_match" in noser["msg"]
    assert ids(r["Remove a record without serial number, guard relaxed"]) == [no_serial]
    reader = r["Remove as the read-only administrator"]
    assert reader["failed"] is True and reader["status"] == 403
    assert reader["msg"].startswith("Missing permission: configmgr_device needs Delete Resource")
    # The guarded record survived the refused attempts, then went with the matching guard (case, blanks ignored).
    assert ids(r["Remove with a matching serial number guard"]) == [guarded]

    # A failure half-way reports what was already removed.
    half = r["Remove two records when the second delete fails"]
    assert half["failed"] is True and half["changed"] is True and ids(half) == partial[:1]
    assert "HTTP 500 InternalServerError" in half["msg"]

    left = {d["resource_id"] for d in lab.devices()}
    assert {keep, id_twin, partial[1]} <= left
    assert not left & set(dup + ser + [by_id, by_guid, guarded, no_serial])
    assert sorted(lab.service.deleted) == sorted(dup + ser + [by_id, by_guid, no_serial, guarded, partial[0]])
    assert lab.password not in text


def test_configmgr_is_a_hash_source_for_the_registration_file(configmgr_lab, tmp_path):
    lab = configmgr_lab
    fleet = configmgr_fixtures.add_fleet(lab, seed=47, count=3, prefix="CM-HASH")
    lab.add_device("CM-HASH-NONE", "NOHASH01")
    other_ca = LabPKI(tmp_path / "other-pki", hosts=["127.0.40.1"]).ca_path
    dest = tmp_path / "out" / "registration.csv"
    dest.parent.mkdir()
    ev = {"cm": lab.connection(), "names": [d["name"] for d in fleet] + ["CM-HASH-NONE"], "dest": str(dest),
          "other_ca": str(other_ca)}
    rc, data, text = play(tmp_path, PLAYBOOKS / "hashes.yml", ev, "-vvv")
    assert rc == 0, text

    refused = task_results(data, "Read hashes without no_log")
    assert refused["failed"] is True and "set 'no_log: true'" in refused["msg"]
    hidden = task_results(data, "Read hashes")
    assert "records" not in hidden and "censored" in hidden  # displayed censored; the registered variable has them
    merged = task_results(data, "Merge into the upload file")
    assert merged["changed"] is True and merged["device_count"] == 3 and merged["rejected"] == []
    summary = task_results(data, "Summary")["msg"]
    assert summary["sources"] == ["configmgr:%s" % d["name"] for d in fleet]
    assert summary["serials"] == [d["serial_number"] for d in fleet]
    assert summary["hash_missing"] == ["CM-HASH-NONE"]
    written = dest.read_bytes().decode("ascii")
    assert written.startswith("Device Serial Number,Windows Product ID,Hardware Hash\r\n")
    for dev in fleet:
        assert "%s,,%s\r\n" % (dev["serial_number"], dev["hardware_hash"]) in written
        assert dev["hardware_hash"][:120] not in text  # -vvv shows no part of a hash

    bad_ca = task_results(data, "Read with a CA that did not issue the certificate")
    assert bad_ca["failed"] is True
    assert "is not trusted" in bad_ca["msg"] and "ca_path" in bad_ca["msg"] and "Traceback" not in bad_ca["msg"]
    assert lab.password not in text


def test_list_forms_remove_a_fleet_in_one_session(configmgr_lab, tmp_path):
    lab = configmgr_lab
    ids = [lab.add_device("CM-BULK-%02d" % i, "BULKSER%02d" % i) for i in range(5)]
    by_serial = [lab.add_device("CM-BULKS-%02d" % i, "BULKS%02d" % i) for i in range(3)]
    devices = [{"resource_id": rid, "serial_number": "BULKSER%02d" % i} for i, rid in enumerate(ids)]
    devices[2]["serial_number"] = "NOT-ITS-SERIAL"
    ev = {"cm": lab.connection(), "devices": devices, "serials": ["BULKS%02d" % i for i in range(3)] + ["NOSUCH01"]}
    rc, data, text = play(tmp_path, PLAYBOOKS / "bulk.yml", ev)
    assert rc == 0, text
    check, real = task_results(data, "Remove the fleet (check)"), task_results(data, "Remove the fleet")
    for res in (check, real):
        assert res["failed"] is True and "1 of 5 entries failed" in res["msg"] and "NOT-ITS-SERIAL" in res["msg"]
        assert [r["failed"] for r in res["results"]] == [False, False, True, False, False]
    assert [d["id"] for d in real["removed"]] == [d["id"] for d in check["removed"]] == ids[:2] + ids[3:]
    assert real["diff"]["before"]["devices"] == real["removed"]
    assert [d["id"] for d in task_results(data, "Remove by serial numbers")["removed"]] == by_serial
    again = task_results(data, "Remove by serial numbers again")
    assert again["changed"] is False and again["removed"] == [] and len(again["results"]) == 4
    left = {d["resource_id"] for d in lab.devices()}
    assert ids[2] in left and not left & set(ids[:2] + ids[3:] + by_serial)
    assert lab.password not in text
