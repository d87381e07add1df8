# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Read hardware-hash CSV files in every dialect people actually produce.

Intune/Autopilot (3, 4 or 5 columns), Partner Center, Managed Desktop,
Configuration Manager report exports, Get-WindowsAutopilotInfo output (UTF-16LE
with BOM from Windows PowerShell 5.1) and OEM files.  Column headings are mapped
through aliases onto canonical keys; encodings are detected from the BOM or the
NUL pattern; CRLF, trailing blanks, repeated header rows and Excel's trailing
empty columns are tolerated.  Whatever the bytes, reading never raises: a file
that cannot be used becomes a ``SourceProblem`` naming the file, line and reason.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import os
import re

# Canonical keys of a device row.
SERIAL = "serial"
PRODUCT_ID = "product_id"
HASH = "hash"
GROUP_TAG = "group_tag"
ASSIGNED_USER = "assigned_user"
MANUFACTURER = "manufacturer"
MODEL = "model"
KEYS = (SERIAL, PRODUCT_ID, HASH, GROUP_TAG, ASSIGNED_USER, MANUFACTURER, MODEL)

# Heading aliases, compared after lower-casing and dropping everything but letters and digits.
ALIASES = {
    SERIAL: ("deviceserialnumber", "serialnumber", "serial", "serialno", "sn", "serialnumber0",
             "biosserialnumber", "systemserialnumber", "smbiossystemserialnumber", "devicesn"),
    PRODUCT_ID: ("windowsproductid", "productid", "productkeyid", "pkid", "windowsproductkeyid", "productkey",
                 "oa3productkeyid"),
    HASH: ("hardwarehash", "hwhash", "hash", "devicehardwaredata", "devicehardwaredata0", "4khash",
           "hardwareidentifier", "autopilothash", "hardwarehash0"),
    GROUP_TAG: ("grouptag", "orderid", "ordertag", "ztdgrouptag", "purchaseorderid"),
    ASSIGNED_USER: ("assigneduser", "assigneduserprincipalname", "userprincipalname", "upn", "assignedto"),
    MANUFACTURER: ("manufacturer", "manufacturername", "make", "manufacturer0", "oemname", "devicemanufacturer",
                   "smbiossystemmanufacturer"),
    MODEL: ("model", "devicemodel", "model0", "modelname", "productname", "smbiossystemproductname"),
}
_ALIAS_TO_KEY = {alias: key for key, aliases in ALIASES.items() for alias in aliases}
_NON_ALNUM = re.compile(r"[^a-z0-9]")

AUTOPILOT_HEADER = ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Group Tag", "Assigned User")
PARTNER_HEADER = ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Manufacturer name", "Device model")
MMD_HEADER = ("Manufacturer", "Model", "Serial Number", "Hardware Hash")

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_PROBLEMS = 1000


class SourceProblem:
    """A whole-file (or whole-record) problem: the file, the line and why."""

    __slots__ = ("line", "path", "reason")

    def __init__(self, path, line, reason):
        self.path = path
        self.line = line
        self.reason = reason


class SourceFile:
    """What was learned about one input file."""

    __slots__ = ("columns", "delimiter", "dialect", "encoding", "ignored_columns", "path", "problems", "rows")

    def __init__(self, path):
        self.path = path
        self.encoding = None
        self.dialect = None
        self.columns = []
        self.rows = 0
        self.problems = []
        self.ignored_columns = []
        self.delimiter = ","

    def as_dict(self):
        return {
            "path": self.path,
            "encoding": self.encoding,
            "dialect": self.dialect,
            "columns": list(self.columns),
            "rows": self.rows,
            "ignored_columns": list(self.ignored_columns),
        }


def heading_key(heading):
    return _ALIAS_TO_KEY.get(_NON_ALNUM.sub("", heading.strip().lower()))


def expand_sources(patterns, pattern="*.csv", recurse=False, exclude=()):
    """Expand files, folders and globs into a sorted, de-duplicated file list.

    Returns ``(files, problems)``; a path that matches nothing is a problem, not
    an exception, so one typo does not hide the rest of the report.
    """
    files = []
    problems = []
    seen = set()
    excluded = {os.path.realpath(p) for p in exclude}

    def add(path):
        real = os.path.realpath(path)
        if real in seen or real in excluded:
            return
        seen.add(real)
        files.append(path)

    for entry in patterns:
        entry = os.path.expanduser(str(entry))
        if os.path.isdir(entry):
            found = glob.glob(os.path.join(glob.escape(entry), "**", pattern) if recurse
                              else os.path.join(glob.escape(entry), pattern), recursive=recurse)
            for path in sorted(found):
                if os.path.isfile(path):
                    add(path)
        elif os.path.isfile(entry):
            add(entry)
        elif glob.has_magic(entry):
            found = sorted(p for p in glob.glob(entry, recursive=recurse) if os.path.isfile(p))
            if not found:
                problems.append(SourceProblem(entry, 0, "no file matches this pattern"))
            for path in found:
                add(path)
        else:
            problems.append(SourceProblem(entry, 0, "no such file or folder"))
    return files, problems


def decode_bytes(data):
    """Return ``(text, encoding)`` or ``(None, reason)`` for a file's bytes.

    BOMs win; without one, a NUL pattern betrays UTF-16 (Windows PowerShell
    without BOM); otherwise UTF-8, falling back to Windows-1252 (ANSI) and
    finally Latin-1 so no byte sequence makes reading fail.
    """
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data[3:], "utf-8", "utf-8-sig")
    if data.startswith(codecs.BOM_UTF32_LE) and len(data) % 4 == 0 and data[4:8].count(0) >= 2:
        return _decode(data[4:], "utf-32-le", "utf-32")
    if data.startswith(codecs.BOM_UTF16_LE):
        return _decode(data[2:], "utf-16-le", "utf-16-le")
    if data.startswith(codecs.BOM_UTF16_BE):
        return _decode(data[2:], "utf-16-be", "utf-16-be")
    head = data[:4096]
    nuls = head.count(0)
    if nuls and len(head) >= 2:
        even = head[0::2].count(0)
        odd = head[1::2].count(0)
        if odd > len(head) // 4 and even * 8 < odd:
            return _decode(data, "utf-16-le", "utf-16-le (no BOM)")
        if even > len(head) // 4 and odd * 8 < even:
            return _decode(data, "utf-16-be", "utf-16-be (no BOM)")
        return None, "binary data, not a text file (NUL bytes)"
    try:
        return data.decode("utf-8"), ("ascii" if data.isascii() else "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _decode(data, codec, label):
    try:
        return data.decode(codec), label
    except UnicodeDecodeError as exc:
        if exc.end >= len(data) and exc.reason in ("truncated data", "unexpected end of data"):
            # A file cut in the middle of its last character (a copy that stopped short): keep every complete
            # character; the cut last row is then reported by the row checks like any other truncated row.
            return data[:exc.start].decode(codec), label + ", last character cut"
        return None, "not valid %s text at byte %d" % (codec.upper(), exc.start)


def _looks_binary(text):
    sample = text[:8192]
    if not sample:
        return False
    ctrl = sum(1 for ch in sample if ch < " " and ch not in "\r\n\t")
    return ctrl * 20 > len(sample) or "\x00" in sample


def _sniff_delimiter(header_line):
    if "," in header_line:
        return ","
    for delim in (";", "\t", "|"):
        if delim in header_line:
            return delim
    return ","


def classify(headings):
    """Name the dialect of a header row (for the report)."""
    stripped = tuple(h.strip() for h in headings if h.strip())
    if stripped and stripped == AUTOPILOT_HEADER[:len(stripped)] and 3 <= len(stripped) <= 5:
        return "autopilot-%d" % len(stripped)
    if stripped == PARTNER_HEADER:
        return "partner"
    if [h.lower() for h in stripped] == [h.lower() for h in PARTNER_HEADER]:
        return "partner"
    if stripped == MMD_HEADER or stripped == MMD_HEADER[:3]:
        return "mmd"
    if "Serial_Number" in stripped or "HardwareHash" in stripped:
        return "configmgr"
    return "custom"


def read_source(path):
    """Yield ``(line, values_by_key, extra_values)`` for each data row of ``path``.

    The generator's first item is the ``SourceFile`` describing the file; rows
    follow.  Problems (unreadable, binary, no usable header, malformed quoting)
    are recorded on the ``SourceFile`` and end the iteration early.
    """
    info = SourceFile(path)
    yield info
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            info.problems.append(SourceProblem(path, 0, "file is %d bytes, larger than the %d-byte limit" % (size, MAX_FILE_BYTES)))
            return
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        info.problems.append(SourceProblem(path, 0, "cannot read: %s" % (exc.strerror or exc)))
        return
    text, encoding = decode_bytes(data)
    del data
    if text is None:
        info.problems.append(SourceProblem(path, 0, encoding))
        return
    info.encoding = encoding
    if text.startswith("\ufeff"):
        text = text[1:]
    yield from _rows(info, text)


def read_text(name, text):
    """Like ``read_source`` for text already in memory (tests, records)."""
    info = SourceFile(name)
    info.encoding = "text"
    yield info
    yield from _rows(info, text)


def _rows(info, text):
    path = info.path
    if _looks_binary(text):
        info.problems.append(SourceProblem(path, 0, "binary data, not a text file"))
        return
    # Find the header: the first line with any content.
    first_nl = 0
    header_line = ""
    line_no = 0
    for raw_line in io.StringIO(text, newline=""):
        line_no += 1
        if raw_line.strip(" \t\r\n,;"):
            header_line = raw_line
            break
        first_nl += len(raw_line)
    else:
        info.problems.append(SourceProblem(path, 0, "file is empty: no header row"))
        return
    delimiter = _sniff_delimiter(header_line)
    info.delimiter = delimiter
    records = _records(info, text[first_nl:], line_no - 1, delimiter)
    try:
        _first_line, headings = next(records, (line_no, []))
    except csv.Error as exc:
        info.problems.append(SourceProblem(path, line_no, "header row is not valid CSV: %s" % exc))
        return
    while headings and not headings[-1].strip():
        headings.pop()
    keys = []
    seen = {}
    for pos, heading in enumerate(headings):
        key = heading_key(heading)
        if key is None:
            info.ignored_columns.append(heading.strip())
        elif key in seen:
            info.problems.append(SourceProblem(
                path, line_no, "columns %r and %r both mean %s" % (headings[seen[key]].strip(), heading.strip(), key)))
            return
        else:
            seen[key] = pos
        keys.append(key)
    info.columns = [h.strip() for h in headings]
    info.dialect = classify(headings)
    if HASH not in seen and SERIAL not in seen:
        if headings and headings[0].strip().startswith("T0"):
            reason = "no header row: the first line already holds a hardware hash"
        else:
            reason = "no 'Hardware Hash' or 'Device Serial Number' column in the header %r" % ",".join(info.columns)
        info.problems.append(SourceProblem(path, line_no, reason))
        return
    if HASH not in seen:
        info.problems.append(SourceProblem(path, line_no, "no 'Hardware Hash' column in the header %r" % ",".join(info.columns)))
        return
    ncols = len(keys)
    header_norm = [h.strip().lower() for h in headings]
    for line, values in records:
        if not any(v.strip() for v in values):
            continue
        if [v.strip().lower() for v in values[:ncols]] == header_norm:
            continue  # a header repeated by concatenation or -Append
        info.rows += 1
        row = dict.fromkeys(KEYS, "")
        extra = values[ncols:] if len(values) > ncols else ()
        for key, value in zip(keys, values):
            if key is not None:
                row[key] = value
        yield line, row, extra


def _records(info, text, offset, delimiter):
    """Yield ``(line, values)`` for every record of ``text`` (which starts at line ``offset + 1``).

    Without a quotation mark, a CR-only line end or a NUL in the text, CSV is exactly "split lines, split on the
    delimiter", which C-level ``str.split`` does several times faster than the ``csv`` state machine walking
    4,000-character hashes one character at a time. Anything else goes through the ``csv`` module, whose errors
    are recorded per line and reading goes on. The header row is the first record either way.
    """
    if '"' not in text and "\x00" not in text and text.count("\r") <= text.count("\n"):
        for number, line in enumerate(text.split("\n"), start=offset + 1):
            if line.endswith("\r"):
                line = line[:-1]
            if line:
                yield number, line.split(delimiter)
        return
    # A field may be as large as the file (the csv module's default limit of 128 KiB would turn a row with a long
    # notes column into "malformed CSV"; the row checks report oversized values themselves).
    if csv.field_size_limit() < MAX_FILE_BYTES:
        csv.field_size_limit(MAX_FILE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num <= 1:
                raise
            info.problems.append(SourceProblem(info.path, offset + reader.line_num, "malformed CSV: %s" % exc))
            if len(info.problems) >= MAX_PROBLEMS:
                info.problems.append(SourceProblem(info.path, offset + reader.line_num,
                                                   "too many malformed lines: stopped reading"))
                return
            continue
        if values:
            yield offset + reader.line_num, values
