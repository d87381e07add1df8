# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build structurally valid Autopilot hardware hashes for the lab and the tests.

This writer lives in the test tree on purpose: the product only reads hashes.
The layout follows the reference (``OA`` magic, u16 record-area length,
``u16 type / u16 length`` records, SHA-256 ``CS`` trailer, zero padding to a
3000-byte buffer = 4000 base64 characters).  Every generated hash decodes as
valid with the collection's decoder, and its inner serial, make, model and UUID
match the device's WMI answers in the WS-Man lab.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import random
import struct
import uuid

EPOCH_2000 = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
BUFFER = 3000

# Realistic makes and models (manufacturer, model, family, sku prefix, serial style).
CATALOGUE = [
    ("Microsoft Corporation", "Surface Laptop 5", "Surface", "Surface_Laptop_5", "digits12"),
    ("Microsoft Corporation", "Surface Pro 9", "Surface", "Surface_Pro_9", "digits12"),
    ("LENOVO", "21CB0041US", "ThinkPad T14 Gen 3", "LENOVO_MT_21CB", "lenovo"),
    ("LENOVO", "20XW00A5US", "ThinkPad X1 Carbon Gen 9", "LENOVO_MT_20XW", "lenovo"),
    ("HP", "HP EliteBook 840 G9 Notebook PC", "103C_5336AN HP EliteBook", "6F6K7EA#ABD", "hp"),
    ("HP", "HP ProBook 450 G8 Notebook PC", "103C_5336AN HP ProBook", "2X7X3EA#ABD", "hp"),
    ("Dell Inc.", "Latitude 5430", "Latitude", "0B04", "dell"),
    ("Dell Inc.", "OptiPlex 7090", "OptiPlex", "0A65", "dell"),
    ("Panasonic Corporation", "CF-33", "TOUGHBOOK", "CF-33", "digits10"),
]
VM_MODEL = ("Microsoft Corporation", "Virtual Machine", "Virtual Machine", "None", "hyperv")
TPM_VENDORS = ["IFX ", "NTC ", "STM ", "INTC", "AMD "]


@dataclasses.dataclass
class Device:
    """The hardware facts a hash carries. ``uuid`` is the Win32_ComputerSystemProduct form."""

    serial: str
    manufacturer: str
    model: str
    family: str = ""
    sku: str = ""
    uuid: str = "4C4C4544-0000-1000-8000-000000000000"
    tpm_version: str | None = "2.0"
    tpm_vendor: str = "IFX "
    mac_addresses: list = dataclasses.field(default_factory=lambda: ["00:1B:21:00:00:01"])
    disk_serials: list = dataclasses.field(default_factory=lambda: ["S4EWNX0R000001"])
    product_key_id: str = ""
    os_build: str = "10.0.19045.3803"
    captured_at: datetime.datetime = datetime.datetime(2026, 11, 1, 9, 30, tzinfo=datetime.UTC)
    ek_pub: bytes = b"\x01" * 256
    firmware_vendor: str = "American Megatrends Inc."

    @property
    def ek_pub_hash(self):
        return hashlib.sha256(self.ek_pub).hexdigest() if self.tpm_version else None


def _rec(rtype, value):
    return struct.pack("<HH", rtype, len(value) + 4) + value


def _cstr(text):
    return text.encode("utf-8") + b"\x00"


def build_records(device, ek_pub_hash_override=None):
    """The record area (without the 4-byte header and trailer), in capture order."""
    major, minor, build, rev = (int(x) for x in device.os_build.split("."))
    seconds = int((device.captured_at - EPOCH_2000).total_seconds())
    out = [
        _rec(1, struct.pack("<8HIbBBB", 0, 10, 1, 22621, minor, major, rev, build, seconds, 4, 2, 9, 8)),
        _rec(2, struct.pack("<HHHHI", 9, 1, 4, 8, 1)),
        _rec(5, struct.pack("<QQHHB", 16, 32, 2, 1, 3)),
        _rec(3, _cstr("GenuineIntel")),
        _rec(4, b"Intel(R) Core(TM) i5-1245U".ljust(48, b"\x00")),
    ]
    for disk in device.disk_serials:
        out.append(_rec(6, struct.pack("<QHBB", 256, 17, 0, 0)))
        out.append(_rec(7, ("%s.|NVMe SAMSUNG MZVL2256|" % disk).encode() if disk else b"|Virtual Disk    |Msft    "))
    for i, mac in enumerate(device.mac_addresses):
        bus = "VMBUS" if device.model == "Virtual Machine" else ("PCI" if i == 0 else "BTH")
        name = bus.encode("utf-16-le") + b"\x00\x00"
        out.append(_rec(8, struct.pack("<I", 14 if i == 0 else 9) + bytes.fromhex(mac.replace(":", ""))
                        + struct.pack("<I", len(name)) + name))
    out.append(_rec(9, struct.pack("<HHHHI", 309, 174, 1920, 1080, 0x80000000)))
    out.append(_rec(10, bytes([10, 2, 0, 0, 0])))
    if device.tpm_version:
        tpm = "TPM-Version:%s -Level:0-Revision:1.38-VendorID:'%s'-Firmware:7.2.3.1" % (
            device.tpm_version, device.tpm_vendor)
        out.append(_rec(13, _cstr(tpm)))
        out.append(_rec(25, device.ek_pub))
        digest = bytes.fromhex(ek_pub_hash_override) if ek_pub_hash_override else hashlib.sha256(device.ek_pub).digest()
        out.append(_rec(11, struct.pack("<IHI", 0, 1, 32) + digest))
    out.append(_rec(12, uuid.UUID(device.uuid).bytes_le))
    if device.serial is not None:
        out.append(_rec(14, _cstr(device.serial)))
    out.append(_rec(15, _cstr(device.firmware_vendor)))
    out.append(_rec(16, _cstr(device.manufacturer)))
    out.append(_rec(17, _cstr(device.model)))
    out.append(_rec(18, _cstr(device.sku)))
    out.append(_rec(19, _cstr(device.family)))
    out.append(_rec(20, _cstr(device.manufacturer)))
    if device.product_key_id:
        out.append(_rec(24, _cstr(device.product_key_id)))
    for disk in device.disk_serials:
        if disk:
            out.append(_rec(28, ("%s.|NVMe SAMSUNG MZVL2256|" % disk).encode() + b"\x00"))
    return b"".join(out)


def build_raw(device, pad_to=BUFFER, ek_pub_hash_override=None):
    body = build_records(device, ek_pub_hash_override)
    total_len = 4 + len(body)
    head = b"OA" + struct.pack("<H", total_len) + body
    raw = head + struct.pack("<HH", 0x5343, 36) + hashlib.sha256(head).digest()
    if pad_to and len(raw) < pad_to:
        raw += b"\x00" * (pad_to - len(raw))
    return raw


def build_hash(device, pad_to=BUFFER, ek_pub_hash_override=None):
    """The base64 hardware hash for ``device`` (4000 characters with the default buffer)."""
    return base64.b64encode(build_raw(device, pad_to, ek_pub_hash_override)).decode("ascii")


def reseal(raw):
    """Recompute the SHA-256 trailer of a (tampered) raw hash so only later checks see the damage."""
    total_len = struct.unpack_from("<H", raw, 2)[0]
    return raw[:total_len + 4] + hashlib.sha256(raw[:total_len]).digest() + raw[total_len + 36:]


def _serial(rng, style):
    if style == "digits12":
        return "0%011d" % rng.randrange(10 ** 11)
    if style == "digits10":
        return "%010d" % rng.randrange(10 ** 10)
    if style == "lenovo":
        return "PF" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(6))
    if style == "hp":
        return "5CG" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(7))
    if style == "dell":
        return "".join(rng.choice("0123456789BCDFGHJKLMNPQRSTVWXYZ") for _ in range(7))
    if style == "hyperv":
        return "-".join("%04d" % rng.randrange(10000) for _ in range(6)) + "-%02d" % rng.randrange(100)
    raise ValueError(style)


def random_device(rng, vm=False):
    """A realistic device drawn from ``rng`` (a ``random.Random``)."""
    make, model, family, sku, style = VM_MODEL if vm else rng.choice(CATALOGUE)
    serial = _serial(rng, style)
    if vm:
        macs = ["00:15:5D:%02X:%02X:%02X" % (rng.randrange(256), rng.randrange(256), rng.randrange(256))]
        disks = [""]
        vendor = "MSFT"
    else:
        macs = ["%02X:%02X:%02X:%02X:%02X:%02X" % tuple([0x00, 0x1B, 0x21] + [rng.randrange(256) for _ in range(3)]),
                "%02X:%02X:%02X:%02X:%02X:%02X" % tuple([0xBC, 0x83, 0x85] + [rng.randrange(256) for _ in range(3)])]
        disks = ["S%dNX0R%06d" % (rng.randrange(10), rng.randrange(10 ** 6))]
        vendor = rng.choice(TPM_VENDORS)
    captured = datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC) + datetime.timedelta(
        seconds=rng.randrange(40 * 86400))
    return Device(
        serial=serial,
        manufacturer=make,
        model=model,
        family=family,
        sku=sku,
        uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
        tpm_version="2.0",
        tpm_vendor=vendor,
        mac_addresses=macs,
        disk_serials=disks,
        product_key_id="",
        os_build=rng.choice(["10.0.19045.3803", "10.0.22621.2715", "10.0.22631.4460", "10.0.26100.2314"]),
        captured_at=captured,
        ek_pub=rng.randbytes(256),
    )


def fleet(seed, count, vm_every=17):
    """``count`` distinct devices from ``seed``; every ``vm_every``-th one is a Hyper-V VM."""
    rng = random.Random(seed)
    seen = set()
    out = []
    while len(out) < count:
        dev = random_device(rng, vm=bool(vm_every) and len(out) % vm_every == vm_every - 1)
        if dev.serial in seen:
            continue
        seen.add(dev.serial)
        out.append(dev)
    return out
