"""What messages may echo of input values, and which serial numbers are firmware placeholders."""

from __future__ import annotations

import dataclasses
import random

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _echo, _hwhash
from winfleet_lab import hashgen


@pytest.fixture(scope="module")
def device():
    return hashgen.fleet(3, 1)[0]


def test_hash_text_is_described_never_shown(device):
    text = hashgen.build_hash(device)
    for piece in (text, text[1000:1030], text[:3700], "Serial " + text[200:260]):
        shown = _echo.echo(piece) + _echo.clip(piece)
        assert piece[:24] not in shown and piece[-24:] not in shown
        assert "characters of hash-like text" in shown


@pytest.mark.parametrize("value", ["PF3XK2L9", "016520771357", "8063-9430-4127-4020-9400-5548-46", "VMware-56 4d 1a",
                                   "user@contoso.com", "Sales-EMEA-2026", "AutopilotGroupTagForTheSalesTeam",
                                   "3305016087943", "Microsoft Corporation"])
def test_ordinary_values_are_shown(value):
    assert not _echo.hashlike(value)
    assert _echo.clip(value) == value
    assert _echo.echo(value) == repr(value)


def test_long_values_are_cut_and_controls_escaped():
    long = "x" * 500
    assert _echo.clip(long) == "x" * 40 + "... (500 characters)"
    assert len(_echo.echo(long)) < 80
    assert _echo.clip("a\x00b\u200b") == "a\\x00b\\u200b"
    assert _echo.clip(None) is None


@pytest.mark.parametrize("serial", [
    "", "   ", "To be filled by O.E.M.", "To Be Filled By O.E.M.", "Default string", "Default String",
    "System Serial Number", "SystemSerialNumber", "Chassis Serial Number", "Base Board Serial Number", "0",
    "00000000", "0000000000000000", "000-000-000", "FFFFFFFFFFFF", "xxxxxxxx", "........", "123456789",
    "0123456789", "1234567890", "Not Applicable", "N/A", "None", "INVALID", "Unknown", "O.E.M.",
    "Default string 1", "System Serial Number 02", "{serialNumber}", "<serial>", "%SERIAL%", "$serial",
    "Not Specified", "Type1ProductConfigId",
])
def test_placeholder_serials_are_errors_in_the_decoder(device, serial):
    assert _hwhash.serial_placeholder(serial)
    report = _hwhash.decode(hashgen.build_hash(dataclasses.replace(device, serial=serial)))
    assert not report.valid
    assert any("serial number" in e and "SMBIOS serial" in e for e in report.errors), report.errors


@pytest.mark.parametrize("serial", ["PF3XK2L9", "5CD1234ABC", "016520771357", "C02XL0GTJGH5", "SN1234567",
                                    "8063-9430-4127-4020-9400-5548-46", "VMware-56 4d 1a 2b", "1234-5679",
                                    "R90ABCDE", "MXL12345QZ", "12AB"])
def test_real_serials_are_not_placeholders(serial):
    assert _hwhash.serial_placeholder(serial) is None


def test_no_generated_fleet_serial_is_a_placeholder():
    """The lab's generator makes serials in every OEM style; none may be taken for a placeholder."""
    rng = random.Random(99)
    serials = [hashgen.random_device(rng, vm=i % 7 == 0).serial for i in range(5000)]
    flagged = [s for s in serials if _hwhash.serial_placeholder(s)]
    assert flagged == []
