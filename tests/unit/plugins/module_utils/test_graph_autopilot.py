# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure parts of the registration logic: CSV input, de-duplication, outcome and status mapping."""

from __future__ import annotations

import datetime
import pathlib

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _autopilot as ap
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_plan import read_upload_files
from winfleet_lab.fixtures_graph import devices, write_csv


def test_reads_the_merge_modules_csv(tmp_path):
    rows = devices(1, 2)
    rows[0]["group_tag"] = "Order-7"
    rows[1]["assigned_user"] = "alice@contoso.com"
    out, _sources = read_upload_files([write_csv(tmp_path / "r.csv", rows, group_tag=True, user=True)])
    assert [d["serial_number"] for d in out] == [r["serial_number"] for r in rows]
    assert out[0]["group_tag"] == "Order-7" and out[0]["assigned_user"] is None
    assert out[1]["assigned_user"] == "alice@contoso.com" and out[1]["line"] == 3


@pytest.mark.parametrize("header", ["Serial,Hash", "Device Serial Number,Windows Product ID,Hardware Hash,Extra",
                                    "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model"])
def test_a_file_in_another_format_is_refused_by_name(tmp_path, header):
    p = tmp_path / "bad.csv"
    p.write_bytes((header + "\r\nA,,B\r\n").encode())
    with pytest.raises(InputError, match=r"Upload file .*bad\.csv is not in the Autopilot registration format"):
        read_upload_files([str(p)])


def test_upload_files_from_folders_and_globs_in_any_encoding(tmp_path):
    rows = devices(6, 4)
    folder = tmp_path / "upload"
    folder.mkdir()
    write_csv(folder / "registration-001.csv", rows[:2], group_tag=True)
    second = write_csv(tmp_path / "b.csv", rows[2:])
    # Windows PowerShell's UTF-16 with BOM and LF line ends
    text = pathlib.Path(second).read_bytes().decode("ascii").replace("\r\n", "\n")
    (folder / "registration-002.csv").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    (folder / "notes.txt").write_text("not an upload file")
    out, sources = read_upload_files([str(folder)])
    assert [d["serial_number"] for d in out] == [r["serial_number"] for r in rows]
    assert [s["dialect"] for s in sources] == ["autopilot-4", "autopilot-3"]
    assert out[2]["file"].endswith("registration-002.csv") and out[2]["line"] == 2
    assert out[0]["group_tag"] is None and out[2]["group_tag"] is None
    again, _sources = read_upload_files([str(folder / "registration-*.csv")])
    assert again == out


@pytest.mark.parametrize("what,message", [
    ("missing.csv", "missing.csv: no such file or folder"),
    ("nothing-*.csv", r"nothing-\*.csv: no file matches this pattern"),
])
def test_an_upload_path_that_matches_nothing_fails(tmp_path, what, message):
    with pytest.raises(InputError, match=message):
        read_upload_files([str(tmp_path / what)])


def test_a_row_longer_than_the_header_names_its_line(tmp_path):
    p = tmp_path / "long.csv"
    p.write_bytes(b"Device Serial Number,Windows Product ID,Hardware Hash\r\nA,,B\r\nC,,D,extra\r\n")
    with pytest.raises(InputError, match=r"long\.csv line 3: more columns than the header's 3"):
        read_upload_files([str(p)])


def test_prepare_dedupes_pads_and_keeps_the_service_in_charge():
    rows = devices(2, 2)
    unpadded = rows[1]["hardware_hash"].rstrip("=")
    third = {"serial_number": rows[1]["serial_number"], "hardware_hash": unpadded}
    entries, warnings = ap.prepare([rows[0], dict(rows[0]), third], group_tag="G")
    assert len(entries) == 2 and "imported once" in warnings[0]
    assert entries[1]["hash"] == rows[1]["hardware_hash"]  # padded again
    assert entries[0]["group_tag"] == "G"
    junk, _unused = ap.prepare([{"serial_number": "X1", "hardware_hash": "not base64!"}])
    assert junk[0]["hash_errors"] and junk[0]["hash"] == "not base64!"  # sent anyway: the service decides


def test_import_id_depends_on_content_only():
    a, _unused = ap.prepare(devices(3, 3))
    b, _unused = ap.prepare(devices(3, 3))
    assert ap.import_id_for(a) == ap.import_id_for(b)
    assert ap.import_id_for(a) != ap.import_id_for(a[:2])
    assert ap.import_id_for(a).startswith(ap.IMPORT_PREFIX)


@pytest.mark.parametrize("state,outcome", [
    ({"deviceImportStatus": "unknown"}, ap.PENDING),
    ({"deviceImportStatus": "complete", "deviceErrorName": "None"}, ap.REGISTERED),
    ({"deviceImportStatus": "error", "deviceErrorCode": 806, "deviceErrorName": "ZtdDeviceAlreadyAssigned"}, ap.ALREADY),
    ({"deviceImportStatus": "error", "deviceErrorCode": 808, "deviceErrorName": ""}, ap.OTHER_ORG),
    ({"deviceImportStatus": "error", "deviceErrorName": "ZtdDeviceAssignedToAnotherTenant"}, ap.OTHER_ORG),
    ({"deviceImportStatus": "error", "deviceErrorName": "InvalidZtdHardwareHash"}, ap.BAD_HASH),
    ({"deviceImportStatus": "error", "deviceErrorName": "StorageError"}, ap.UNEXPECTED),
])
def test_outcomes_in_the_seeds_words(state, outcome):
    assert ap.outcome_of(state) == outcome


def test_serial_token_avoids_hyphens_and_spaces():
    assert ap.serial_tokens("VMware-56 4d 1a2b3c4d5e6f") == "1a2b3c4d5e6f"
    assert ap.serial_tokens("1234-5678-901234") == "901234"
    assert ap.serial_tokens("PF3ABCDE") == "PF3ABCDE"


def test_device_status():
    now = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)
    ready = {"enrollmentState": "notContacted", "managedDeviceId": "00000000-0000-0000-0000-000000000000",
             "deploymentProfileAssignmentStatus": "assignedInSync"}
    assert ap.device_status(ready, now=now) == ap.READY
    # registered, but no deployment profile: not ready (issue 16)
    assert ap.device_status(dict(ready, deploymentProfileAssignmentStatus="notAssigned"), now=now) == ap.NO_PROFILE
    active = {"enrollmentState": "enrolled", "lastContactedDateTime": "2026-11-18T10:00:00Z"}
    assert ap.device_status(active, now=now) == ap.ACTIVE
    stale = {"enrollmentState": "enrolled", "lastContactedDateTime": "2026-11-10T10:00:00Z"}
    assert ap.device_status(stale, now=now) == ap.INACTIVE
    assert ap.device_status(None, {"deviceImportStatus": "unknown"}) == ap.PENDING
    assert ap.device_status(None, {"deviceImportStatus": "error", "deviceErrorCode": 808}) == ap.FAILED
    assert ap.device_status(None, {"deviceImportStatus": "complete"}) == ap.NOT_FOUND
    assert ap.device_status(None) == ap.NOT_FOUND
