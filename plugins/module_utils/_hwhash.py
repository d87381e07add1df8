# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Decode and validate a Windows Autopilot hardware hash (``DeviceHardwareData``).

The hash is a base64 encoded binary inventory ("OAv3 hash"):

* ``OA`` magic, then a little-endian u16 ``total_len`` (where the records end);
* records ``u16 type, u16 length (header included), value``, up to ``total_len``;
* a checksum trailer record ``CS`` (type 0x5343, length 36) holding SHA-256 of
  bytes ``[0, total_len)``;
* zero padding up to the capture buffer (3000 bytes, 4000 base64 characters).

``decode()`` never raises on bad input: it returns a ``HashReport`` whose
``errors`` say why the hash is unusable and whose ``warnings`` say what deserves
a look.  Nothing here logs or returns the hash text itself except
``HashReport.normalized`` (the padded base64 to upload), which callers must keep
out of logs.
"""

from __future__ import annotations

import binascii
import datetime
import hashlib
import re
import struct
import uuid

from ansible_collections.winfleet.autopilot.plugins.module_utils import _echo

MAGIC = b"OA"
TRAILER_TYPE = 0x5343  # bytes "CS"
TRAILER_LEN = 36
EPOCH_2000 = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
DEFAULT_STALE_DAYS = 365

# Record types (see docs/architecture.md and the hash layout reference).
T_BUILD = 1
T_DISK_SERIAL = 7
T_NIC = 8
T_OFFLINE_DEVICE_ID = 11
T_SMBIOS_UUID = 12
T_TPM_VERSION = 13
T_SERIAL = 14
T_FIRMWARE_VENDOR = 15
T_MANUFACTURER = 16
T_MODEL = 17
T_SKU = 18
T_FAMILY = 19
T_PKID = 24
T_EKPUB = 25

_STRING_TYPES = {
    T_TPM_VERSION: "tpm_version_string",
    T_SERIAL: "serial_number",
    T_FIRMWARE_VENDOR: "firmware_vendor",
    T_MANUFACTURER: "manufacturer",
    T_MODEL: "model",
    T_SKU: "sku",
    T_FAMILY: "family",
    T_PKID: "product_key_id",
}

_WANTED = frozenset(_STRING_TYPES) | {T_BUILD, T_NIC, T_DISK_SERIAL, T_SMBIOS_UUID, T_OFFLINE_DEVICE_ID, T_EKPUB}
_HEADER = struct.Struct("<HH")
_U32 = struct.Struct("<I")

OS_TYPES = {1: "WinPE", 2: "FullOS"}
CPU_ARCH = {0: "x86", 5: "ARM", 9: "x64", 12: "ARM64"}

# Values firmware leaves in SMBIOS when an OEM did not fill them in.
PLACEHOLDERS = frozenset(
    v.lower()
    for v in (
        "To be filled by O.E.M.",
        "To Be Filled By O.E.M.",
        "Default string",
        "System Serial Number",
        "System Product Name",
        "System manufacturer",
        "System Manufacturer",
        "Not Applicable",
        "None",
        "N/A",
        "0",
        "00000000",
        "0123456789",
        "123456789",
        "INVALID",
        "O.E.M.",
        "OEM",
        "Type1ProductConfigId",
        "Chassis Serial Number",
        "Base Board Serial Number",
    )
)
# What firmware and Windows report as the system serial number when SMBIOS holds none, compared after dropping
# everything but letters and digits and lower-casing. Autopilot identifies a device by its serial (with the
# hash's other fields): a placeholder is shared by every such board, so a device carrying one cannot be told apart.
SERIAL_PLACEHOLDERS = frozenset((
    "tobefilledbyoem", "tobefilledbyo", "tobefilled", "fillbyoem", "oem", "defaultstring", "default",
    "systemserialnumber", "systemserial", "chassisserialnumber", "baseboardserialnumber", "serialnumber",
    "serial", "serialno", "notapplicable", "notspecified", "notavailable", "none", "null", "nil", "na", "invalid",
    "unknown", "empty", "type1productconfigid", "type1family", "sn", "nosn", "noserial", "noserialnumber",
    "tbd", "todo", "xxxx", "dummy", "test", "sample", "example", "placeholder", "asset", "assettag",
    "noassettag", "sysserialnumber", "productserial", "unspecified", "insydeh2o", "ami",
))
# Index placeholders: a placeholder phrase numbered by a tool or a factory line ("Default string 1",
# "System Serial Number 02"); only phrases of eight letters or more, so real serials that start with "SN" stay.
_INDEXED = re.compile(r"^([a-z]{8,})\d{1,4}$")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_TEMPLATE_SERIAL = re.compile(r"^(?:<[^>]*>|\{[^}]*\}|\[[^\]]*\]|%[A-Za-z_]+%|\$[A-Za-z_]\w*|\$\{[^}]*\})$")
_SEQUENCES = ("01234567890123456789", "12345678901234567890", "98765432109876543210", "abcdefghijklmnopqrstuvwxyz")


def serial_placeholder(value):
    """Why ``value`` is not a usable serial number but a placeholder, or None when it may be a real serial."""
    text = (value or "").strip()
    if not text:
        return "is empty"
    if _TEMPLATE_SERIAL.match(text):
        return "is a template placeholder"
    norm = _NOT_ALNUM.sub("", text.lower())
    if not norm:
        return "has no letters or digits"
    if len(set(norm)) == 1:
        return "is one character repeated"
    if norm in SERIAL_PLACEHOLDERS:
        return "is the placeholder firmware writes when the OEM set no serial"
    m = _INDEXED.match(norm)
    if m and m.group(1) in SERIAL_PLACEHOLDERS:
        return "is a numbered placeholder, not a serial"
    if len(norm) >= 5 and any(norm in seq for seq in _SEQUENCES):
        return "is a counting sequence, not a serial"
    return None


VM_SERIAL = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{4}-\d{4}-\d{4}-\d{2}$")
VM_MODELS = ("virtual machine", "vmware", "virtualbox", "kvm", "qemu", "hvm domu", "standard pc")
VM_VENDORS = ("vmware", "innotek", "qemu", "xen", "parallels", "red hat")
HYPERV_OUI = "00:15:5D"
_VM_MAKE_MODEL = re.compile("|".join(re.escape(v) for v in VM_MODELS + VM_VENDORS), re.IGNORECASE)

_WS = re.compile(r"[\s\x00\ufeff]+")
_BAD_B64 = re.compile(r"[^A-Za-z0-9+/=]")


def iso_utc(moment):
    """ISO 8601 with a ``Z`` for a UTC datetime; None stays None."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


class HashReport:
    """What ``decode`` learned about one hash. A plain attribute bag (fast to build)."""

    __slots__ = (
        "captured_at",
        "cpu_architecture",
        "disk_serials",
        "ek_pub_hash",
        "ek_pub_hash_ok",
        "errors",
        "family",
        "firmware_vendor",
        "is_vm",
        "mac_addresses",
        "manufacturer",
        "model",
        "normalized",
        "os_build",
        "os_type",
        "product_key_id",
        "serial_number",
        "sku",
        "total_len",
        "tpm_version",
        "tpm_version_string",
        "uuid",
        "warnings",
    )

    def __init__(self):
        self.errors = []
        self.warnings = []
        self.normalized = None
        self.total_len = None
        self.serial_number = None
        self.manufacturer = None
        self.model = None
        self.family = None
        self.sku = None
        self.firmware_vendor = None
        self.uuid = None
        self.tpm_version = None
        self.tpm_version_string = None
        self.ek_pub_hash = None
        self.ek_pub_hash_ok = None
        self.product_key_id = None
        self.os_build = None
        self.os_type = None
        self.cpu_architecture = None
        self.captured_at = None
        self.mac_addresses = []
        self.disk_serials = []
        self.is_vm = False

    @property
    def valid(self):
        return not self.errors

    def as_dict(self, include_hash=False):
        """The public shape of the decode result (what the filter plugin returns)."""
        out = {
            "valid": self.valid,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "serial_number": self.serial_number,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "family": self.family,
            "sku": self.sku,
            "firmware_vendor": self.firmware_vendor,
            "uuid": self.uuid,
            "tpm_version": self.tpm_version,
            "tpm_version_string": self.tpm_version_string,
            "ek_pub_hash": self.ek_pub_hash,
            "product_key_id": self.product_key_id,
            "os_build": self.os_build,
            "os_type": self.os_type,
            "cpu_architecture": self.cpu_architecture,
            "captured_at": iso_utc(self.captured_at),
            "mac_addresses": list(self.mac_addresses),
            "disk_serials": list(self.disk_serials),
            "is_virtual_machine": self.is_vm,
        }
        if include_hash:
            out["hardware_hash"] = self.normalized
        return out


def normalize(text, report):
    """Return the raw bytes of a hash given as text, or None (with ``report.errors`` set).

    Tolerates what CSV files and copy/paste do to a hash: surrounding whitespace,
    CR/LF and line wrapping, quotes around the value, byte-order marks, UTF-16 NULs
    and missing ``=`` padding.  Sets ``report.normalized`` to the padded base64.

    The zero padding after the checksum trailer (two thirds of a 4000-character
    hash) is checked as text (all ``A``) rather than decoded: same verdict, a third
    of the work.
    """
    if text is None:
        report.errors.append("hardware hash is empty")
        return None
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("latin-1")
    elif not isinstance(text, str):
        report.errors.append("hardware hash is not text (got %s)" % type(text).__name__)
        return None
    s = text.strip()
    if len(s) % 4 == 0 and len(s) >= 8:
        raw = _fast_decode(s)
        if raw is not None:
            report.normalized = s
            return raw
    return _slow_decode(s, report)


def _fast_decode(s):
    """Decode a clean, padded hash; None when anything looks off (the slow path then explains)."""
    try:
        head = binascii.a2b_base64(s[:8], strict_mode=True)
        if head[:2] != MAGIC:
            return None
        need = struct.unpack_from("<H", head, 2)[0] + TRAILER_LEN
        cut = -(-need // 3) * 4
        raw = binascii.a2b_base64(s[:cut], strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    if cut < len(s):
        tail = s[cut:]
        body = tail.rstrip("=")
        if len(tail) - len(body) > 2 or body.count("A") != len(body):
            return None
    return raw


def _slow_decode(s, report):
    s = _WS.sub("", s).strip("\"'")
    if not s:
        report.errors.append("hardware hash is empty")
        return None
    bad = _BAD_B64.search(s)
    if bad:
        report.errors.append(
            "hardware hash is not valid base64: character %r at position %d" % (bad.group(0), bad.start() + 1)
        )
        return None
    core = s.rstrip("=")
    if "=" in core:
        report.errors.append("hardware hash is not valid base64: '=' inside the text")
        return None
    if len(core) % 4 == 1:
        report.errors.append(
            "hardware hash is truncated: %d base64 characters is not a whole number of bytes" % len(core)
        )
        return None
    s = core + "=" * (-len(core) % 4)
    try:
        raw = binascii.a2b_base64(s, strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the checks above catch what strict mode refuses
        report.errors.append("hardware hash is not valid base64: %s" % exc)
        return None
    report.normalized = s
    return raw


def _cstr(value):
    end = value.find(b"\x00")
    if end >= 0:
        value = value[:end]
    return value.decode("utf-8", "replace").strip()


def _decode_build(value, report):
    if len(value) < 20:
        return
    (_tminor, _tmajor, _trev, _tbuild, minor, major, rev, build, seconds) = struct.unpack_from("<8HI", value)
    report.os_build = "%d.%d.%d.%d" % (major, minor, build, rev)
    report.captured_at = EPOCH_2000 + datetime.timedelta(seconds=seconds)
    if len(value) >= 23:
        report.os_type = OS_TYPES.get(value[21], str(value[21]))
        report.cpu_architecture = CPU_ARCH.get(value[22], str(value[22]))


def _decode_nic(value, report):
    if len(value) < 10:
        return
    mac = value[4:10]
    if mac != b"\x00" * 6:
        report.mac_addresses.append(mac.hex(":").upper())


def _decode_disk(value, report):
    text = _cstr(value)
    serial = text.split("|", 1)[0].rstrip(".").strip()
    if serial and serial not in report.disk_serials:
        report.disk_serials.append(serial)
    elif not serial and "" not in report.disk_serials:
        report.disk_serials.append("")


def parse(raw, report):
    """Walk the binary container. Appends errors; fills fields. Returns the EkPub bytes or None."""
    if len(raw) < 4:
        report.errors.append("hardware hash is truncated: %d bytes decoded, not even a header" % len(raw))
        return None
    if raw[:2] != MAGIC:
        report.errors.append("hardware hash does not start with the 'OA' magic (base64 'T0'): not a hardware hash")
        return None
    total_len = struct.unpack_from("<H", raw, 2)[0]
    report.total_len = total_len
    if total_len < 8:
        report.errors.append("hardware hash header is corrupt: record area length %d" % total_len)
        return None
    if total_len > len(raw):
        report.errors.append(
            "hardware hash is truncated: records end at byte %d but only %d bytes are present" % (total_len, len(raw))
        )
        return None
    ek_pub = None
    offset = 4
    header = _HEADER.unpack_from
    strings = _STRING_TYPES
    while offset < total_len:
        if offset + 4 > total_len:
            report.errors.append("hardware hash is corrupt: record header at byte %d runs past the record area" % offset)
            return None
        rtype, rlen = header(raw, offset)
        end = offset + rlen
        if rlen < 4 or end > total_len:
            report.errors.append(
                "hardware hash is corrupt: record type %d at byte %d has length %d (record area ends at %d)"
                % (rtype, offset, rlen, total_len)
            )
            return None
        if rtype in _WANTED:
            value = raw[offset + 4:end]
            field = strings.get(rtype)
            if field is not None:
                if getattr(report, field) is None:
                    setattr(report, field, _cstr(value))
            elif rtype == T_BUILD:
                _decode_build(value, report)
            elif rtype == T_NIC:
                _decode_nic(value, report)
            elif rtype == T_DISK_SERIAL:
                _decode_disk(value, report)
            elif rtype == T_SMBIOS_UUID:
                if len(value) >= 16:
                    report.uuid = str(uuid.UUID(bytes_le=value[:16])).upper()
            elif rtype == T_OFFLINE_DEVICE_ID:
                if len(value) >= 42 and _U32.unpack_from(value, 6)[0] == 32:
                    report.ek_pub_hash = value[10:42].hex()
            elif rtype == T_EKPUB:
                ek_pub = value
        offset = end
    # Checksum trailer.
    trailer = raw[total_len:total_len + TRAILER_LEN]
    if len(trailer) < TRAILER_LEN:
        report.errors.append(
            "hardware hash is truncated: checksum trailer has %d of %d bytes" % (len(trailer), TRAILER_LEN)
        )
        return ek_pub
    ttype, tlen = _HEADER.unpack_from(trailer, 0)
    if ttype != TRAILER_TYPE or tlen != TRAILER_LEN:
        report.errors.append("hardware hash is corrupt: no checksum trailer after the records")
        return ek_pub
    if hashlib.sha256(raw[:total_len]).digest() != trailer[4:]:
        report.errors.append("hardware hash checksum mismatch: the content was altered or damaged")
        return ek_pub
    pad = raw[total_len + TRAILER_LEN:]
    if pad.count(0) != len(pad):
        report.warnings.append("hardware hash has non-zero bytes after the checksum trailer")
    return ek_pub


def _semantics(report, ek_pub, now, stale_days):
    w = report.warnings
    if not report.serial_number:
        report.errors.append("hardware hash holds no device serial number: the firmware has no SMBIOS serial, so "
                             "Autopilot cannot tell this device apart (the OEM must write one into the firmware)")
    else:
        why = serial_placeholder(report.serial_number)
        if why:
            report.errors.append(
                "serial number inside the hash %s %s: the firmware has no usable SMBIOS serial, so Autopilot cannot "
                "tell this device apart (the OEM must write one into the firmware)"
                % (_echo.echo(report.serial_number), why))
    # TPM.
    tpm = report.tpm_version_string
    if tpm:
        m = re.search(r"TPM-Version:\s*([0-9.]+)", tpm)
        report.tpm_version = m.group(1) if m else tpm
        if report.tpm_version.startswith("1."):
            w.append("TPM %s: self-deploying and pre-provisioning need TPM 2.0" % report.tpm_version)
    else:
        w.append("no TPM in the hash: self-deploying and pre-provisioning need TPM 2.0")
    if ek_pub is not None:
        digest = hashlib.sha256(ek_pub).hexdigest()
        if report.ek_pub_hash is None:
            report.ek_pub_hash = digest
            report.ek_pub_hash_ok = True
        else:
            report.ek_pub_hash_ok = digest == report.ek_pub_hash
            if not report.ek_pub_hash_ok:
                report.errors.append("hardware hash is inconsistent: EkPubHash is not the SHA-256 of the TPM EkPub")
    # Placeholders.
    for name in ("manufacturer", "model"):
        value = getattr(report, name)
        if value and value.lower() in PLACEHOLDERS:
            w.append("placeholder SMBIOS %s %s: the OEM did not set it" % (name, _echo.echo(value)))
    if report.uuid is not None:
        if report.uuid in ("00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"):
            w.append("placeholder SMBIOS UUID %s: the OEM did not set it" % report.uuid)
    # Virtual machines.
    vm_reasons = []
    if _VM_MAKE_MODEL.search("%s\n%s" % (report.model or "", report.manufacturer or "")):
        vm_reasons.append("make/model %s %s" % (report.manufacturer, report.model))
    if any(mac.startswith(HYPERV_OUI) for mac in report.mac_addresses):
        vm_reasons.append("Hyper-V MAC address")
    if tpm and "VendorID:'MSFT" in tpm:
        vm_reasons.append("virtual TPM")
    if report.serial_number and VM_SERIAL.match(report.serial_number):
        vm_reasons.append("Hyper-V serial number format")
    if vm_reasons:
        report.is_vm = True
        w.append("virtual machine (%s)" % ", ".join(vm_reasons))
    # Capture time.
    if report.captured_at is not None and stale_days:
        age = (now - report.captured_at).days
        if age > stale_days:
            w.append("stale capture: taken %s, %d days ago" % (report.captured_at.date().isoformat(), age))
        elif age < -1:
            w.append("capture time %s is in the future" % report.captured_at.date().isoformat())
    if report.os_type is not None and report.os_type != "FullOS":
        w.append("captured in %s, not in the full OS: wireless adapters may be missing" % report.os_type)


def _norm(value):
    return (value or "").strip()


def decode(text, serial_number=None, manufacturer=None, model=None, product_key_id=None,
           now=None, stale_days=DEFAULT_STALE_DAYS):
    """Decode and validate one hardware hash; never raises on bad input.

    The optional ``serial_number``, ``manufacturer``, ``model`` and
    ``product_key_id`` are what a CSV row claims; they are compared with the
    values inside the hash.
    """
    report = HashReport()
    try:
        raw = normalize(text, report)
        if raw is None:
            return report
        ek_pub = parse(raw, report)
        if report.total_len is None or (report.errors and report.serial_number is None):
            return report
        if now is None:
            now = datetime.datetime.now(datetime.timezone.utc)
        _semantics(report, ek_pub, now, stale_days)
        compare(report, serial_number, manufacturer, model, product_key_id)
    except Exception as exc:  # pragma: no cover - defensive: decoding must never raise
        report.errors.append("hardware hash could not be decoded: %s: %s" % (type(exc).__name__, exc))
    return report


def compare(report, serial_number=None, manufacturer=None, model=None, product_key_id=None):
    """Warn where a CSV row's columns disagree with the values inside the hash."""
    w = report.warnings
    serial = _norm(serial_number)
    if serial and report.serial_number and serial.upper() != report.serial_number.strip().upper():
        w.append("serial %s in the file differs from %s inside the hash" % (_echo.echo(serial), _echo.echo(report.serial_number)))
    make = _norm(manufacturer)
    if make and report.manufacturer and make != report.manufacturer:
        w.append("manufacturer %s in the file differs from %s inside the hash" % (_echo.echo(make), _echo.echo(report.manufacturer)))
    mdl = _norm(model)
    if mdl and report.model and mdl != report.model:
        w.append("model %s in the file differs from %s inside the hash" % (_echo.echo(mdl), _echo.echo(report.model)))
    pkid = _norm(product_key_id)
    if pkid and report.product_key_id and pkid != report.product_key_id:
        w.append("Windows Product ID %s in the file differs from PKID %s inside the hash" % (_echo.echo(pkid), _echo.echo(report.product_key_id)))
