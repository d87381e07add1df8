# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab's own judgement of a hardware hash, as the Autopilot service makes it when it processes an import.

Written from the published layout (shared reference ``hardware-hash-and-csv.md`` section 1: oofhours 2022, the
``New-AutopilotHash`` writer), not from the collection's decoder: a decoder bug in the product must be able to show up
as a refused registration here. What the service checks, in order:

1. the value is base64 (the synchronous ``Edm.Binary`` 400 is ``common._edm_binary_ok``, before anything is stored)
   and no longer than a 4K hash (4,096 characters; the buffer is 3,000 bytes = 4,000 characters);
2. the structure: magic ``OA``, a u16 record-area length, ``u16 type / u16 length`` records that end exactly there,
   then the 36-byte ``CS`` trailer whose value is SHA-256 over everything before it;
3. a device serial number inside (record 14), equal to the one the import names (trimmed, case-insensitive);
4. firmware placeholders instead of serial, manufacturer or model (record 14, 16, 17): no device can be matched.

1-3 fail as ``InvalidZtdHardwareHash``, 4 as ``ZtdDeviceNotFound``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
import struct

MAX_CHARS = 4096
MAGIC = b"OA"
TRAILER_TYPE = 0x5343  # the bytes "CS"
TRAILER_LEN = 36       # 4-byte record header + 32-byte SHA-256
SERIAL, MANUFACTURER, MODEL, SKU, FAMILY = 14, 16, 17, 18, 19
# SMBIOS defaults firmware leaves in place of real values (reference section 1.7, step 6).
_PLACEHOLDER = re.compile(r"^(to be filled by o\.?e\.?m\.?|default string( \d+)?|system serial number|system manufacturer|"
                          r"system product name|not applicable|n/?a|none|0+)$", re.I)

INVALID = "InvalidZtdHardwareHash"
NOT_FOUND = "ZtdDeviceNotFound"


@dataclasses.dataclass
class Verdict:
    """``problem`` is None for a hash the service accepts, else the error name; ``reason`` says why."""

    problem: str | None = None
    reason: str = ""
    serial: str = ""
    manufacturer: str = ""
    model: str = ""
    sku: str = ""
    family: str = ""


def _text(value):
    return value.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()


def parse(hw):
    """The inventory fields of a structurally sound hash, or (None, reason)."""
    if not hw:
        return None, "no hardware hash"
    if len(hw) > MAX_CHARS:
        return None, "longer than a 4K hash (%d characters)" % len(hw)
    try:
        data = base64.b64decode(hw, validate=True)
    except (binascii.Error, ValueError):
        return None, "not base64"
    if len(data) < 4 or data[:2] != MAGIC:
        return None, "no OA magic"
    (total,) = struct.unpack_from("<H", data, 2)
    if total < 8 or total + TRAILER_LEN > len(data):
        return None, "record area length %d does not fit %d bytes with the trailer" % (total, len(data))
    fields = {}
    pos = 4
    while pos < total:
        if pos + 4 > total:
            return None, "record header past the record area"
        rtype, rlen = struct.unpack_from("<HH", data, pos)
        if rlen < 4 or pos + rlen > total:
            return None, "record %d at %d runs past the record area" % (rtype, pos)
        fields.setdefault(rtype, data[pos + 4:pos + rlen])
        pos += rlen
    ttype, tlen = struct.unpack_from("<HH", data, total)
    if ttype != TRAILER_TYPE or tlen != TRAILER_LEN:
        return None, "no checksum trailer"
    if data[total + 4:total + TRAILER_LEN] != hashlib.sha256(data[:total]).digest():
        return None, "checksum mismatch"
    return {k: _text(fields.get(k, b"")) for k in (SERIAL, MANUFACTURER, MODEL, SKU, FAMILY)}, ""


def judge(hw, serial):
    """The service's verdict on one import record's ``hardwareIdentifier`` and ``serialNumber``."""
    fields, reason = parse(hw)
    if fields is None:
        return Verdict(INVALID, reason)
    verdict = Verdict(None, "", fields[SERIAL], fields[MANUFACTURER], fields[MODEL], fields[SKU], fields[FAMILY])
    if not verdict.serial:
        verdict.problem, verdict.reason = INVALID, "no device serial number inside"
    elif any(_PLACEHOLDER.match(v or "") for v in (verdict.serial, verdict.manufacturer, verdict.model)):
        verdict.problem, verdict.reason = NOT_FOUND, "firmware placeholder values"
    elif serial and serial.strip().upper() != verdict.serial.upper():
        verdict.problem, verdict.reason = INVALID, "serial number inside is not the one imported"
    return verdict
