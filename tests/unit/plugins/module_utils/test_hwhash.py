"""Decoder tests: every error class, every warning class, and Microsoft's own sample."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import pathlib
import struct

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _hwhash
from winfleet_lab import hashgen

# Microsoft's public sample, copied into the tests' own data (tests/unit/data/README.md).
SAMPLE = pathlib.Path(__file__).resolve().parents[2] / "data" / "mmd-sample-self.csv"
NOW = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)


def sample_hash():
    return SAMPLE.read_text().splitlines()[1].split(",")[3]


@pytest.fixture
def device():
    return hashgen.fleet(3, 1)[0]


def decode(text, **kw):
    kw.setdefault("now", NOW)
    return _hwhash.decode(text, **kw)


def test_microsoft_sample_is_reported_truncated():
    report = decode(sample_hash(), serial_number="016520771357")
    assert not report.valid
    assert report.errors == ["hardware hash is truncated: checksum trailer has 35 of 36 bytes"]
    # The fields are still decoded, so a user can see which device it is.
    assert report.serial_number == "016520771357"
    assert report.manufacturer == "Microsoft Corporation"
    assert report.model == "Surface Laptop"
    assert report.os_build == "10.0.17763.288"
    assert report.product_key_id == "3863475297787"
    assert report.tpm_version == "2.0"
    assert report.ek_pub_hash_ok is True


def test_microsoft_sample_repaired_is_valid():
    raw = base64.b64decode(sample_hash())
    total = struct.unpack_from("<H", raw, 2)[0]
    fixed = hashgen.reseal(raw[:total] + b"CS\x24\x00" + b"\0" * 32 + b"\0" * (3000 - total - 36))
    report = decode(base64.b64encode(fixed).decode())
    assert report.valid, report.errors
    assert report.uuid == "2A856E34-C6B7-50DD-00EB-023E169E132D"
    assert report.captured_at.isoformat() == "2019-02-15T23:57:03+00:00"


def test_generated_hash_round_trips(device):
    text = hashgen.build_hash(device)
    assert len(text) == 4000
    report = decode(text, serial_number=device.serial, manufacturer=device.manufacturer, model=device.model)
    assert report.valid and report.warnings == []
    assert report.serial_number == device.serial
    assert report.uuid == device.uuid
    assert report.ek_pub_hash == device.ek_pub_hash
    assert report.mac_addresses == device.mac_addresses
    assert report.disk_serials == device.disk_serials
    assert report.os_build == device.os_build
    assert report.captured_at == device.captured_at
    assert report.normalized == text


@pytest.mark.parametrize("mangle", [
    lambda h: "  %s \r\n" % h,
    lambda h: '"%s"' % h,
    lambda h: "\ufeff" + h,
    "\x00".join,
    lambda h: h[:1000] + "\r\n" + h[1000:],
    lambda h: h.rstrip("="),
])
def test_normalisation_tolerates_what_files_do(device, mangle):
    text = hashgen.build_hash(device, pad_to=1000)  # not a multiple of 3: has '=' padding
    report = decode(mangle(text))
    assert report.valid, report.errors
    assert report.normalized == text


def test_missing_padding_is_restored(device):
    text = hashgen.build_hash(device, pad_to=1001)
    assert text.endswith("=")
    report = decode(text.rstrip("="))
    assert report.valid and report.normalized == text


@pytest.mark.parametrize("text,expected", [
    (None, "hardware hash is empty"),
    ("", "hardware hash is empty"),
    ("   \r\n", "hardware hash is empty"),
    ("T0E,AAA", "not valid base64: character ','"),
    ("T0E-AAAA", "not valid base64: character '-'"),
    ("T0EAA", "truncated: 5 base64 characters"),
    ("T0=EAAAA", "'=' inside the text"),
    ("AAAAAAAA", "does not start with the 'OA' magic"),
    ("T0E=", "not even a header"),
])
def test_bad_text_errors(text, expected):
    report = decode(text)
    assert not report.valid
    assert expected in report.errors[0]


def test_truncated_in_records(device):
    report = decode(hashgen.build_hash(device)[:600])
    assert not report.valid
    assert "records end at byte" in report.errors[0]


def test_checksum_mismatch_when_serial_edited(device):
    raw = bytearray(hashgen.build_raw(device))
    at = raw.find(device.serial.encode())
    raw[at] = ord("X") if raw[at] != ord("X") else ord("Y")
    report = decode(base64.b64encode(bytes(raw)).decode())
    assert report.errors == ["hardware hash checksum mismatch: the content was altered or damaged"]


def test_record_overrun_is_corrupt(device):
    raw = bytearray(hashgen.build_raw(device))
    struct.pack_into("<H", raw, 6, 0xFFF0)  # first record's length
    report = decode(base64.b64encode(hashgen.reseal(bytes(raw))).decode())
    assert "record type 1 at byte 4 has length" in report.errors[0]


def test_record_too_short_is_corrupt(device):
    raw = bytearray(hashgen.build_raw(device))
    struct.pack_into("<H", raw, 6, 2)
    report = decode(base64.b64encode(bytes(raw)).decode())
    assert "has length 2" in report.errors[0]


def test_no_trailer(device):
    raw = bytearray(hashgen.build_raw(device))
    total = struct.unpack_from("<H", raw, 2)[0]
    raw[total:total + 2] = b"XX"
    report = decode(base64.b64encode(bytes(raw)).decode())
    assert report.errors == ["hardware hash is corrupt: no checksum trailer after the records"]


def test_no_serial_inside(device):
    report = decode(hashgen.build_hash(dataclasses.replace(device, serial=None)))
    [error] = report.errors
    assert error.startswith("hardware hash holds no device serial number: the firmware has no SMBIOS serial")


def test_ekpub_hash_mismatch(device):
    report = decode(hashgen.build_hash(device, ek_pub_hash_override="ab" * 32))
    assert report.errors == ["hardware hash is inconsistent: EkPubHash is not the SHA-256 of the TPM EkPub"]


def test_non_zero_padding_warns(device):
    raw = hashgen.build_raw(device)
    report = decode(base64.b64encode(raw[:-1] + b"\x01").decode())
    assert report.valid
    assert "non-zero bytes after the checksum trailer" in report.warnings[0]


@pytest.mark.parametrize("change,expected", [
    (dict(tpm_version=None), "no TPM in the hash"),
    (dict(tpm_version="1.2"), "TPM 1.2"),
    (dict(manufacturer="To be filled by O.E.M."), "placeholder SMBIOS manufacturer"),
    (dict(uuid="00000000-0000-0000-0000-000000000000"), "placeholder SMBIOS UUID"),
    (dict(captured_at=datetime.datetime(2023, 1, 1, tzinfo=datetime.UTC)), "stale capture: taken 2023-01-01"),
    (dict(model="Virtual Machine", mac_addresses=["00:15:5D:01:02:03"]), "virtual machine"),
])
def test_warnings(device, change, expected):
    report = decode(hashgen.build_hash(dataclasses.replace(device, **change)))
    assert report.valid, report.errors
    assert any(expected in w for w in report.warnings), report.warnings


def test_vm_from_the_lab_generator():
    vm = hashgen.random_device(__import__("random").Random(5), vm=True)
    report = decode(hashgen.build_hash(vm))
    assert report.valid and report.is_vm


def test_stale_check_can_be_turned_off(device):
    old = dataclasses.replace(device, captured_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
    assert decode(hashgen.build_hash(old), stale_days=0).warnings == []


@pytest.mark.parametrize("kw,expected", [
    (dict(serial_number="OTHER1"), "serial 'OTHER1' in the file differs"),
    (dict(manufacturer="Contoso"), "manufacturer 'Contoso' in the file differs"),
    (dict(model="Model X"), "model 'Model X' in the file differs"),
    (dict(product_key_id="1234567890123"), "Windows Product ID '1234567890123' in the file differs"),
])
def test_column_disagreements_warn(kw, expected):
    dev = dataclasses.replace(hashgen.fleet(3, 1)[0], product_key_id="3305016087943")
    report = decode(hashgen.build_hash(dev), **kw)
    assert report.valid
    assert any(expected in w for w in report.warnings), report.warnings


def test_serial_comparison_ignores_case_and_spaces(device):
    report = decode(hashgen.build_hash(device), serial_number=" %s " % device.serial.lower())
    assert report.warnings == []


def test_as_dict_keeps_the_hash_out(device):
    out = decode(hashgen.build_hash(device)).as_dict()
    assert "hardware_hash" not in out
    assert set(out) >= {"valid", "errors", "warnings", "serial_number", "manufacturer", "model", "uuid",
                        "tpm_version", "product_key_id", "os_build", "captured_at", "mac_addresses", "disk_serials"}
    assert out["captured_at"].endswith("Z")


def test_bytes_input(device):
    assert decode(hashgen.build_hash(device).encode()).valid


def test_not_text_input():
    assert decode(12345).errors == ["hardware hash is not text (got int)"]
