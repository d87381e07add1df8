# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Validate, merge and write Autopilot registration CSV files.

Data flow: ``_csvsource`` yields rows (file, line, canonical keys) ->
``check_row`` validates each with the hash decoder and the portal's rules ->
``merge`` de-duplicates by device identity (serial + SMBIOS UUID + EkPubHash)
and sets aside conflicts -> ``render`` produces the exact bytes of
each batch file -> ``_files.write_atomic`` replaces only files whose bytes change.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
import re
from collections.abc import Mapping

from ansible_collections.winfleet.autopilot.plugins.module_utils import _corpid, _echo, _hwhash
from ansible_collections.winfleet.autopilot.plugins.module_utils import _csvsource as src
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError

FORMATS = {
    "autopilot": ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Group Tag", "Assigned User"),
    "partner": ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Manufacturer name", "Device model"),
    "mmd": ("Manufacturer", "Model", "Serial Number", "Hardware Hash"),
    # The portal's Windows corporate identifier file: no header, "Manufacturer,Model,Serial" per line (_corpid).
    "corporate_identifiers": (),
}
CORP = "corporate_identifiers"
PORTAL_BATCH_LIMIT = 500
# Most lines per file, by format: 500 devices per hash upload, 5,000 identifiers per corporate identifier file.
BATCH_LIMITS = {CORP: _corpid.FILE_LINES}


def batch_limit(fmt):
    return BATCH_LIMITS.get(fmt, PORTAL_BATCH_LIMIT)


# The one character-set rule, said the same way everywhere: Microsoft's import takes "ANSI-format text files" and
# no Unicode; ANSI is whatever code page the uploading PC uses, and printable ASCII is the part every code page
# shares, so upload files hold printable ASCII only.
ASCII_RULE = ("upload files hold printable ASCII only: the portal takes ANSI text, not Unicode, and ASCII is the part "
              "of ANSI every code page shares")

# Rows Microsoft publishes as samples or templates; registering them always fails.
TEMPLATE_SERIALS = frozenset(s.lower() for s in (
    "000000000000", "<serialNumber>", "{serialNumber}", "serialNumber", "ABC123", "<serial number>",
    "<Device Serial Number>", "SERIAL", "XXXXXXXX",
))
TEMPLATE_HASH_PREFIXES = (
    "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U",  # base64 "thisdeviceisanmmddevice" (Managed Desktop template)
    "<hardwareHash>", "{hardwareHash}",
)
# Microsoft's own published Managed Desktop sample (a real Surface Laptop): serial and EkPubHash.
SAMPLE_DEVICES = {
    ("016520771357", "737b22bdc54527513ce72f868b17eaf3b8144e683b52501f09eb11c88b8e2ed8"),
}
TEMPLATE_MAKES = frozenset(("spiralorbit", "contosoabc"))

_SCI = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_PRODUCT_KEY = re.compile(r"^[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}$", re.IGNORECASE)
_OS_PRODUCT_ID = re.compile(r"^[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}$", re.IGNORECASE)
_PKID = re.compile(r"^\d{13}$")
_UPN = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DIGITS = re.compile(r"^\d+$")


class Device:
    """One accepted row. The hash text is kept (it is written out) but never reported."""

    __slots__ = (
        "assigned_user",
        "captured_at",
        "ek_pub_hash",
        "group_tag",
        "hash",
        "line",
        "manufacturer",
        "model",
        "product_id",
        "serial",
        "source",
        "summary",
        "uuid",
        "warnings",
    )

    def __reduce__(self):
        # Worker processes send devices back by the hundred thousand: a flat tuple pickles in C,
        # several times faster than the generic slots protocol.
        return (_device_from_state, (tuple(getattr(self, name) for name in Device.__slots__),))

    def where(self):
        return "%s:%s" % (self.source, self.line)

    def as_dict(self):
        out = {
            "serial_number": _echo.clip(self.serial),
            "manufacturer": _echo.clip(self.manufacturer),
            "model": _echo.clip(self.model),
            "product_id": self.product_id,
            "group_tag": self.group_tag,
            "assigned_user": self.assigned_user,
            "source": self.where(),
            "warnings": list(self.warnings),
        }
        out.update(self.summary)
        return out


def _device_from_state(state):
    dev = Device.__new__(Device)
    for name, value in zip(Device.__slots__, state):
        setattr(dev, name, value)
    return dev


class MergeResult:
    def __init__(self):
        self.sources = []
        self.rows_read = 0
        self.rejected = []
        self.findings = []
        self.duplicates = []
        self.conflicts = []
        self.devices = []
        self.skipped = []
        self.cleaned = {}  # corporate identifiers: (field, value) -> {field, value, written}

    def absorb(self, other):
        self.sources.extend(other.sources)
        self.skipped.extend(other.skipped)
        self.rows_read += other.rows_read
        self.rejected.extend(other.rejected)
        self.findings.extend(other.findings)
        self.devices.extend(other.devices)
        for key, item in other.cleaned.items():
            self.cleaned.setdefault(key, item)

    def reject(self, path, line, serial, reason):
        self.rejected.append({"file": path, "line": line, "serial_number": _echo.clip(serial) or None,
                              "reason": reason})

    def skip(self, path, reason):
        self.skipped.append({"file": path, "reason": reason})

    def warn(self, device, message):
        self.findings.append({"file": device.source, "line": device.line, "serial_number": _echo.clip(device.serial),
                              "message": message})


def _bad_chars(value):
    if "," in value:
        return "contains a comma"
    if '"' in value:
        return "contains a quotation mark"
    if not value.isascii() or not value.isprintable():
        return "contains characters outside printable ASCII (%s)" % ASCII_RULE
    return None


def _pid_problem(pid):
    """Why a Windows Product ID column value is unusable, or None (empty is fine: only OEMs know the PKID)."""
    if not pid or _PKID.match(pid):
        return None
    if _SCI.match(pid):
        return "Windows Product ID %s is in scientific notation: the file was damaged by Excel" % _echo.echo(pid)
    if _PRODUCT_KEY.match(pid):
        return "Windows Product ID holds a 25-character product key; the column takes the 13-digit PKID or nothing"
    if _OS_PRODUCT_ID.match(pid):
        return ("Windows Product ID %s is the OS product ID (Win32_OperatingSystem.SerialNumber); the column takes "
                "the 13-digit PKID or nothing" % _echo.echo(pid))
    return "Windows Product ID %s is not a 13-digit PKID" % _echo.echo(pid)


def _column_problem(values, extra):
    """Why a row's columns make it unusable before its hash is even decoded, or None."""
    spill = sum(1 for v in extra if v.strip())
    if spill:
        return "%d more value(s) than the header has columns: a value probably contains a comma" % spill
    for key in (src.SERIAL, src.PRODUCT_ID, src.GROUP_TAG, src.ASSIGNED_USER, src.MANUFACTURER, src.MODEL):
        value = values[key]
        if value and _echo.hashlike(value):
            if not values[src.HASH] or not any(v.strip() for k, v in values.items() if k not in (key, src.HASH)):
                return ("line holds only hash-like text (%d characters) in the %s column: the hardware hash of the "
                        "line before was probably broken across two lines" % (len(value), key.replace("_", " ")))
            return ("the %s column holds hash-like text (%d characters): a column out of place or a hash broken "
                    "across lines" % (key.replace("_", " "), len(value)))
        problem = value and _bad_chars(value)
        if problem:
            return "%s %s %s" % (key.replace("_", " "), _echo.echo(value), problem)
    serial = values[src.SERIAL]
    if (serial.lower() in TEMPLATE_SERIALS or values[src.MANUFACTURER].lower() in TEMPLATE_MAKES
            or values[src.MODEL].lower() in TEMPLATE_MAKES or values[src.HASH].startswith(TEMPLATE_HASH_PREFIXES)):
        return ("template/sample row left in the file (e.g. SpiralOrbit,ContosoABC,000000000000): replace it with a "
                "real device or delete it")
    if _SCI.match(serial):
        return "serial number %s is in scientific notation: the file was damaged by Excel" % _echo.echo(serial)
    problem = _pid_problem(values[src.PRODUCT_ID])
    if problem:
        return problem
    if not values[src.HASH]:
        return "hardware hash is empty"
    return None


def _hash_problem(report, serial_in, fmt):
    """Why a decodable hash still cannot be registered from this row, or None."""
    if report.errors:
        return "; ".join(report.errors)
    inner = report.serial_number
    if (inner, report.ek_pub_hash) in SAMPLE_DEVICES:
        return "Microsoft's published sample device (Surface Laptop 016520771357) left in the file"
    if (serial_in and _DIGITS.match(serial_in) and inner != serial_in
            and inner.lstrip("0") == serial_in.lstrip("0")):
        return "serial number %s lost its leading zeros (the hash says %s): the file was damaged by Excel" % (
            _echo.echo(serial_in), _echo.echo(inner))
    problem = _bad_chars(inner)
    if problem:
        return "serial number inside the hash %s" % problem
    if fmt in ("partner", "mmd"):  # these formats carry make and model, taken from the hash
        for name in ("manufacturer", "model"):
            problem = _bad_chars(getattr(report, name) or "")
            if problem:
                return "%s inside the hash %s" % (name, problem)
    return None


def check_row(path, line, row, extra, opts, result, now):
    """Validate one row; return a ``Device`` or record a reject and return None."""
    values = {k: v.strip() for k, v in row.items()}
    serial_in = values[src.SERIAL]
    if opts["format"] == CORP and not values[src.HASH]:
        return _identifier_row(path, line, values, extra, result)
    report = None
    reason = _column_problem(values, extra)
    if reason is None:
        report = _hwhash.decode(values[src.HASH], serial_number=serial_in, manufacturer=values[src.MANUFACTURER],
                                model=values[src.MODEL], product_key_id=values[src.PRODUCT_ID], now=now,
                                stale_days=opts["stale_days"])
        reason = _hash_problem(report, serial_in, opts["format"])
        if reason is None and serial_in and _hwhash.serial_placeholder(serial_in):
            report.warnings.append("serial number column holds %s, a placeholder: the serial inside the hash, %s, is "
                                   "used" % (_echo.echo(serial_in), _echo.echo(report.serial_number)))
        elif reason is not None and report.serial_number is not None and _hwhash.serial_placeholder(
                report.serial_number):
            reason += " (device: %s)" % _device_words(report)
    group_tag = opts["group_tag"] if opts["group_tag"] is not None else values[src.GROUP_TAG]
    user = opts["assigned_user"] if opts["assigned_user"] is not None else values[src.ASSIGNED_USER]
    if reason is None and user and not _UPN.match(user):
        reason = "assigned user %s is not a user principal name (user@domain)" % _echo.echo(user)
    if reason is not None:
        result.reject(path, line, serial_in or (report and report.serial_number), reason)
        return None
    dev = Device()
    dev.serial = report.serial_number
    dev.product_id = values[src.PRODUCT_ID]
    dev.hash = report.normalized
    dev.group_tag = group_tag
    dev.assigned_user = user
    dev.manufacturer = report.manufacturer or values[src.MANUFACTURER]
    dev.model = report.model or values[src.MODEL]
    dev.uuid = report.uuid
    dev.ek_pub_hash = report.ek_pub_hash
    dev.captured_at = report.captured_at.timestamp() if report.captured_at else 0.0
    dev.source = path
    dev.line = line
    dev.warnings = list(report.warnings)
    if not serial_in:
        dev.warnings.append("serial number taken from the hash")
    dev.summary = {
        "uuid": report.uuid,
        "tpm_version": report.tpm_version,
        "os_build": report.os_build,
        "captured_at": _hwhash.iso_utc(report.captured_at),
        "is_virtual_machine": report.is_vm,
    }
    if opts["format"] == CORP and not _identifier_ok(dev, result):
        return None
    for message in dev.warnings:
        result.warn(dev, message)
    return dev


def _identifier_ok(dev, result):
    """For the corporate identifier file: the device's make, model and serial as the portal takes them (make and
    model from the hash, i.e. the firmware's SMBIOS values); a device they cannot name is rejected."""
    ident, why = _corpid.check_device(dev.where(), dev.manufacturer, dev.model, dev.serial, ascii_only=True)
    if ident is None:
        result.reject(dev.source, dev.line, dev.serial, "no corporate identifier: %s" % why)
        return False
    dev.warnings.extend(ident.warnings)
    for item in ident.cleaned:
        result.cleaned.setdefault((item["field"], item["value"]), item)
    return True


def _identifier_row(path, line, values, extra, result):
    """A row without a hash, for the corporate identifier file: manufacturer, model and serial from its columns (a
    partner tuple, a corporate identifier list, an inventory export of Win32_ComputerSystem / Win32_BIOS)."""
    spill = sum(1 for v in extra if v.strip())
    if spill:
        result.reject(path, line, values[src.SERIAL], "%d more value(s) than the header has columns: a value "
                      "probably contains a comma" % spill)
        return None
    dev = Device()
    dev.serial = values[src.SERIAL]
    dev.manufacturer = values[src.MANUFACTURER]
    dev.model = values[src.MODEL]
    dev.product_id = values[src.PRODUCT_ID]
    dev.hash = ""
    dev.group_tag = values[src.GROUP_TAG]
    dev.assigned_user = values[src.ASSIGNED_USER]
    dev.uuid = None
    dev.ek_pub_hash = None
    dev.captured_at = 0.0
    dev.source = path
    dev.line = line
    dev.warnings = ["no hardware hash: manufacturer and model as the file gives them (they must be the firmware's "
                    "SMBIOS values, case included)"]
    dev.summary = {"uuid": None, "tpm_version": None, "os_build": None, "captured_at": None,
                   "is_virtual_machine": None}
    if not _identifier_ok(dev, result):
        return None
    for message in dev.warnings:
        result.warn(dev, message)
    return dev


def _device_words(report):
    """Names a device that has no usable serial: make, model, SMBIOS UUID and MAC address from its hash."""
    words = [_echo.clip(" ".join(v for v in (report.manufacturer, report.model) if v)) or "unknown make and model"]
    if report.uuid:
        words.append("SMBIOS UUID %s" % report.uuid)
    if report.mac_addresses:
        words.append("MAC %s" % report.mac_addresses[0])
    return ", ".join(words)


def default_options(**overrides):
    opts = {
        "format": "autopilot",
        "batch_size": PORTAL_BATCH_LIMIT,
        "group_tag": None,
        "assigned_user": None,
        "stale_days": _hwhash.DEFAULT_STALE_DAYS,
        "pattern": src.DEFAULT_PATTERNS,
        "recurse": False,
    }
    opts.update(overrides)
    return opts


PARALLEL_MIN_BYTES = 8 * 1024 * 1024


def auto_workers(files):
    """Worker processes for reading ``files``: one per core (at most 4) once there is enough to share."""
    try:
        total = sum(os.path.getsize(p) for p in files)
    except OSError:
        total = 0
    if len(files) < 2 or total < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, 4, len(files)))


def collect(sources, records, opts, exclude=(), now=None, workers=0):
    """Read every source and record; return a ``MergeResult`` with accepted ``devices`` (not yet merged).

    Files are read by ``workers`` processes (0 = decide from the input size), each taking contiguous
    runs of files, and the parts are joined in file order, so the result is the same for any
    number of workers.
    """
    with _no_gc():
        return _collect(sources, records, opts, exclude, now, workers)


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic garbage collector: the merge allocates hundreds of thousands of acyclic objects, and
    the collector's repeated full scans of them cost a fifth of the run time. Nothing here makes cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _collect(sources, records, opts, exclude, now, workers):
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    result = MergeResult()
    files, problems, skipped = src.expand_sources(sources, pattern=opts["pattern"], recurse=opts["recurse"],
                                                  exclude=exclude)
    for problem in problems:
        result.reject(problem.path, problem.line, None, problem.reason)
    for path, reason in skipped:
        result.skip(path, reason)
    workers = workers or auto_workers(files)
    if workers > 1 and len(files) > 1:
        import concurrent.futures
        import multiprocessing

        size = -(-len(files) // (workers * 4))
        chunks = [files[i:i + size] for i in range(0, len(files), size)]
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            for part in pool.map(_collect_files, chunks, [opts] * len(chunks), [now] * len(chunks)):
                result.absorb(part)
    else:
        result.absorb(_collect_files(files, opts, now))
    for index, record in enumerate(records or ()):
        _consume_record(index, record, opts, result, now)
    return result


def _collect_files(paths, opts, now):
    part = MergeResult()
    for path in paths:
        _consume(src.read_source(path), opts, part, now)
    return part


_EMPTY_HASH = "hardware hash is empty"


def _consume(rows, opts, result, now):
    info = next(rows)
    accepted = result.devices
    first_reject = len(result.rejected)
    empty = 0
    for line, row, extra in rows:
        result.rows_read += 1
        dev = check_row(info.where, line, row, extra, opts, result, now)
        if dev is not None:
            accepted.append(dev)
        elif result.rejected[-1]["reason"] == _EMPTY_HASH:
            empty += 1
    if empty > 1 and empty == info.rows:
        # Not one row has a hash: one message for the file, not one per row (a file of one row keeps its row's).
        info.identifiers_only = True
        del result.rejected[first_reject:]
        result.reject(info.path, 0, None, "no hardware hashes: the Hardware Hash column is empty on all %d rows (a "
                      "partner tuple or corporate identifier list, or Get-WindowsAutopilotInfo -Partner -Force); "
                      "collect the hashes, or register these devices by their corporate identifiers" % info.rows)
    for problem in info.problems:
        result.reject(problem.path, problem.line, None, problem.reason)
    for path, reason in info.skipped:
        result.skip(path, reason)
    result.sources.append(info.as_dict())


def _consume_record(index, record, opts, result, now):
    name = record.get("source") or "records[%d]" % index
    row = dict.fromkeys(src.KEYS, "")
    for key, field in ((src.SERIAL, "serial_number"), (src.HASH, "hardware_hash"), (src.PRODUCT_ID, "product_id"),
                       (src.GROUP_TAG, "group_tag"), (src.ASSIGNED_USER, "assigned_user"),
                       (src.MANUFACTURER, "manufacturer"), (src.MODEL, "model")):
        value = record.get(field)
        row[key] = "" if value is None else str(value)
    result.rows_read += 1
    dev = check_row(name, index + 1, row, (), opts, result, now)
    if dev is not None:
        result.devices.append(dev)


def merge(result):
    """De-duplicate ``result.devices`` by identity; set aside serials claimed by different devices.

    Two captures of the same device (same serial, SMBIOS UUID and EkPubHash)
    keep the newest capture. The same serial with different UUIDs or TPMs is a
    conflict: none of its rows is kept, every one is reported.
    """
    with _no_gc():
        return _merge(result)


def _merge(result):
    devices = result.devices
    if not devices:
        return []
    groups = {}  # serial (upper case) -> positions in ``devices``, in reading order
    for pos, dev in enumerate(devices):
        groups.setdefault(dev.serial.upper(), []).append(pos)
    conflicted = {serial for serial, places in groups.items()
                  if len({devices[p].uuid or "" for p in places}) > 1
                  or len({devices[p].ek_pub_hash or "" for p in places}) > 1}
    merged = []
    for serial in sorted(set(groups) - conflicted):
        # Newest capture wins; on a tie, the row read last (later files override earlier ones).
        places = sorted(groups[serial], key=lambda p: (devices[p].captured_at, p))
        kept = devices[places[-1]]
        merged.append(kept)
        for pos in places[:-1]:
            dup = devices[pos]
            result.duplicates.append({"file": dup.source, "line": dup.line, "serial_number": _echo.clip(dup.serial),
                                      "kept": kept.where(), "reason": "same device captured again: kept the newest"})
    for serial in sorted(conflicted):
        places = [devices[p] for p in groups[serial]]
        where = ", ".join(d.where() for d in places)
        kinds = len({(d.uuid or "", d.ek_pub_hash or "") for d in places})
        for dev in places:
            result.conflicts.append({
                "file": dev.source, "line": dev.line, "serial_number": _echo.clip(dev.serial),
                "reason": "serial %s belongs to %d different devices (SMBIOS UUID or TPM differ): %s; none was "
                          "kept, decide which is right" % (_echo.clip(dev.serial), kinds, where),
            })
    return merged


def columns_for(fmt, devices):
    header = FORMATS[fmt]
    if fmt != "autopilot":
        return header
    if any(d.assigned_user for d in devices):
        return header
    if any(d.group_tag for d in devices):
        return header[:4]
    return header[:3]


def _identifier(dev):
    return _corpid.check_device(dev.where(), dev.manufacturer, dev.model, dev.serial, ascii_only=True)[0].text


def _row(fmt, dev, width):
    if fmt == CORP:
        return _identifier(dev)
    if fmt == "autopilot":
        values = (dev.serial, dev.product_id, dev.hash, dev.group_tag, dev.assigned_user)[:width]
    elif fmt == "partner":
        values = (dev.serial, dev.product_id, dev.hash, dev.manufacturer, dev.model)
    else:
        values = (dev.manufacturer, dev.model, dev.serial, dev.hash)
    return ",".join(values)


def batch_paths(dest, count):
    """``dest`` itself for one batch; ``<stem>-001<ext>``, ``-002`` ... for more."""
    if count <= 1:
        return [dest]
    stem, ext = os.path.splitext(dest)
    return ["%s-%03d%s" % (stem, i + 1, ext or ".csv") for i in range(count)]


def existing_outputs(dest):
    """Files a previous run may have written for ``dest`` (itself and its numbered batches)."""
    stem, ext = os.path.splitext(dest)
    found = []
    if os.path.exists(dest):
        found.append(dest)
    folder = os.path.dirname(dest) or "."
    base = os.path.basename(stem) + "-"
    ext = ext or ".csv"
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    for name in sorted(names):
        if name.startswith(base) and name.endswith(ext):
            middle = name[len(base):len(name) - len(ext)]
            if len(middle) == 3 and middle.isdigit():
                found.append(os.path.join(folder, name))
    return found


class Rendered(Mapping):
    """``{path: bytes}`` of every batch file, built on access so only one batch is in memory at a time."""

    def __init__(self, paths, batches, fmt, header):
        self._batches = dict(zip(paths, batches))
        self._fmt = fmt
        self._header = header

    def __getitem__(self, path):
        batch = self._batches[path]
        width = len(self._header)
        lines = [",".join(self._header)] if self._header else []  # the identifier file has no header
        lines.extend(_row(self._fmt, dev, width) for dev in batch)
        return "".join(line + "\r\n" for line in lines).encode("ascii")

    def __iter__(self):
        return iter(self._batches)

    def __len__(self):
        return len(self._batches)


def render(devices, dest, fmt, batch_size):
    """Return ``{path: bytes}`` for every batch file (ASCII, CRLF, no quotes, no BOM)."""
    header = columns_for(fmt, devices)
    batches = [devices[i:i + batch_size] for i in range(0, len(devices), batch_size)] or [[]]
    return Rendered(batch_paths(dest, len(batches)), batches, fmt, header)


def _serials(path, data, fmt=None):
    """Serial numbers listed in the bytes of a previously written output file (for the diff)."""
    if fmt == CORP:
        return _corpid.file_serials(data)
    text, _enc = src.decode_bytes(data)
    if text is None:
        return []
    rows = src.read_text(path, text)
    next(rows)
    return [row[src.SERIAL].strip() for _line, row, _extra in rows if row[src.SERIAL].strip()]


def plan(rendered, previous, fmt=None):
    """Compare with what an earlier run left (``previous``, from ``existing_outputs``).

    Returns ``(to_write, to_remove, before_serials)``. Each earlier file is read once, for both the
    comparison and the diff; a batch whose file does not exist yet is not rendered here at all.
    """
    to_write = [path for path in rendered if path not in previous]
    to_remove = []
    before = []
    for path in previous:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            data = None
        if data is not None:
            before.extend(_serials(path, data, fmt))
        if path not in rendered:
            to_remove.append(path)
        elif data != rendered[path]:
            to_write.append(path)
    order = {path: i for i, path in enumerate(rendered)}
    to_write.sort(key=order.__getitem__)
    return to_write, to_remove, before


def validate_options(opts):
    if opts["format"] not in FORMATS:
        raise InputError("format must be one of %s" % ", ".join(sorted(FORMATS)))
    if opts["batch_size"] < 1:
        raise InputError("batch_size must be at least 1")
    if opts["format"] == CORP and opts["batch_size"] > _corpid.FILE_LINES:
        raise InputError("batch_size %d is above the %d lines the portal accepts per corporate identifier file"
                         % (opts["batch_size"], _corpid.FILE_LINES))
    for name in ("group_tag", "assigned_user"):
        value = opts.get(name)
        if value:
            problem = _bad_chars(value)
            if problem:
                raise InputError("%s %s %s" % (name, _echo.echo(value), problem))
    user = opts.get("assigned_user")
    if user and not _UPN.match(user):
        raise InputError("assigned_user %s is not a user principal name (user@domain)" % _echo.echo(user))
