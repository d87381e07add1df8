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
import fnmatch
import glob
import io
import os
import re

from ansible_collections.winfleet.autopilot.plugins.module_utils import _echo

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
    """What was learned about one input file.

    ``where`` names the place rows come from: the file, or ``file [sheet]`` for a workbook with several sheets of
    devices. ``identifiers_only`` is set for a file that lists devices without hashes (manufacturer, model and
    serial: a partner tuple or corporate identifier list). ``skipped`` lists what was seen and not read (sheets),
    each ``(where, reason)``.
    """

    __slots__ = ("columns", "delimiter", "dialect", "encoding", "identifiers_only", "ignored_columns", "path",
                 "problems", "rows", "skipped", "where")

    def __init__(self, path):
        self.path = path
        self.where = path
        self.encoding = None
        self.dialect = None
        self.columns = []
        self.rows = 0
        self.problems = []
        self.ignored_columns = []
        self.delimiter = ","
        self.identifiers_only = False
        self.skipped = []

    def as_dict(self):
        return {
            "path": self.path,
            "encoding": self.encoding,
            "dialect": self.dialect,
            "columns": [_echo.clip(c) for c in self.columns],
            "rows": self.rows,
            "ignored_columns": [_echo.clip(c) for c in self.ignored_columns],
            "identifiers_only": self.identifiers_only,
        }


def heading_key(heading):
    return _ALIAS_TO_KEY.get(_NON_ALNUM.sub("", heading.strip().lower()))


DEFAULT_PATTERNS = ("*.csv", "*.xlsx")
# Files people's tools leave in a folder of hash files, named for what they are.
_SYSTEM_FILES = {"thumbs.db": "Windows' thumbnail cache", "desktop.ini": "Windows' folder settings",
                 ".ds_store": "macOS folder settings"}
# Extensions of files that may hold devices: when such a file is left unread, the module warns (a README or a log
# file in the folder is only listed).
DATA_EXTENSIONS = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods", ".json", ".xml")


def _why_not_read(name, patterns):
    lower = name.lower()
    if lower.startswith("~$"):
        return "Excel's owner file (the workbook is open in Excel): not a workbook"
    if lower.startswith(".~lock."):
        return "LibreOffice's lock file (the file is open): not data"
    if lower in _SYSTEM_FILES:
        return "%s, not data" % _SYSTEM_FILES[lower]
    if lower.endswith((".tmp", ".partial", ".crdownload")):
        return "an unfinished copy or download (temporary file)"
    return "the name does not match %s (add a pattern to read it)" % ", ".join(patterns)


def expand_sources(patterns, pattern=DEFAULT_PATTERNS, recurse=False, exclude=()):
    """Expand files, folders and globs into a sorted, de-duplicated file list.

    Returns ``(files, problems, skipped)``. A path that matches nothing is a problem, not an exception, so one typo
    does not hide the rest of the report. Every file in a source folder that is not read is in ``skipped`` as
    ``(path, reason)``: nothing in a folder is left out without a word.
    """
    if isinstance(pattern, str):
        pattern = (pattern,)
    pattern = tuple(pattern) or DEFAULT_PATTERNS
    files = []
    problems = []
    skipped = []
    seen = set()
    excluded = {os.path.realpath(p) for p in exclude}

    def add(path):
        real = os.path.realpath(path)
        if real in excluded:
            skipped.append((path, "an output of this merge, not an input"))
            return
        if real in seen:
            return
        seen.add(real)
        files.append(path)

    def matches(name):
        return any(fnmatch.fnmatch(name.lower(), p.lower()) for p in pattern)

    def walk(folder):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(SourceProblem(folder, 0, "cannot list the folder: %s" % (exc.strerror or exc)))
            return
        for entry in entries:
            path = os.path.join(folder, entry.name)
            if entry.is_dir():
                if recurse:
                    walk(path)
                else:
                    skipped.append((path, "a sub-folder (set recurse to read sub-folders)"))
            elif not entry.is_file():
                skipped.append((path, "not a regular file"))
            elif entry.name.startswith("~$") or entry.name.lower().startswith(".~lock.") or not matches(entry.name):
                skipped.append((path, _why_not_read(entry.name, pattern)))
            else:
                add(path)

    for entry in patterns:
        entry = os.path.expanduser(str(entry))
        if os.path.isdir(entry):
            walk(entry)
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
    return files, problems, skipped


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


_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SEP_LINE = re.compile(r'^\s*"?sep=(.)"?[,;\t|]*\s*$', re.IGNORECASE)


def read_source(path):
    """Yield ``(line, values_by_key, extra_values)`` for each data row of ``path``.

    The generator's first item is the ``SourceFile`` describing the file; rows
    follow.  Problems (unreadable, binary, no usable header, malformed quoting)
    are recorded on the ``SourceFile`` and end the iteration early.  Excel
    workbooks (``.xlsx``, ``.xlsm``) are read sheet by sheet.
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
    if data.startswith(_ZIP):
        yield from _workbook(info, data)
        return
    if data.startswith(_OLE2):
        info.problems.append(SourceProblem(path, 0, "an Excel 97-2003 workbook (.xls) or another Office binary file: "
                                                    "save it as an Excel workbook (.xlsx) or as CSV"))
        return
    text, encoding = decode_bytes(data)
    del data
    if text is None:
        info.problems.append(SourceProblem(path, 0, encoding))
        return
    info.encoding = encoding
    yield from _rows(info, text)


def read_text(name, text):
    """Like ``read_source`` for text already in memory (tests, records)."""
    info = SourceFile(name)
    info.encoding = "text"
    yield info
    yield from _rows(info, text)


def _rows(info, text):
    path = info.path
    # Byte-order marks anywhere: files joined with `copy /b a.csv+b.csv` or `cat` carry the second file's BOM in the
    # middle. U+FEFF means nothing in a CSV file, wherever it is.
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    if _looks_binary(text):
        info.problems.append(SourceProblem(path, 0, "binary data, not a text file"))
        return
    # Find the header: the first line with any content, after Excel's "sep=;" line if there is one.
    first_nl = 0
    header_line = ""
    line_no = 0
    delimiter = None
    for raw_line in io.StringIO(text, newline=""):
        line_no += 1
        if raw_line.strip(" \t\r\n,;"):
            sep = _SEP_LINE.match(raw_line) if delimiter is None else None
            if sep is None:
                header_line = raw_line
                break
            delimiter = sep.group(1)
        first_nl += len(raw_line)
    else:
        info.problems.append(SourceProblem(path, 0, "file is empty: no header row"))
        return
    if delimiter is None:
        delimiter = _sniff_delimiter(header_line)
    info.delimiter = delimiter
    records = _records(info, text[first_nl:], line_no - 1, delimiter)
    try:
        first = next(records, (line_no, []))
    except csv.Error as exc:
        info.problems.append(SourceProblem(path, line_no, "header row is not valid CSV: %s" % exc))
        return
    yield from _table(info, first, records)


def _header_keys(headings):
    """``(keys, seen)`` for a header row: the canonical key of each column (None when it means nothing)."""
    keys = []
    seen = {}
    for pos, heading in enumerate(headings):
        key = heading_key(heading)
        if key is not None and key not in seen:
            seen[key] = pos
        keys.append(key)
    return keys, seen


def _is_header(values):
    """A row that is a header: every non-empty value is a known heading, and the hash column is among them."""
    named = [v for v in values if v.strip()]
    return len(named) >= 2 and all(heading_key(v) for v in named) and any(heading_key(v) == HASH for v in named)


def _no_hash_reason(info, headings, seen):
    """One message for a file that has no hardware hashes at all."""
    shown = ",".join(_echo.clip(h, 40) for h in info.columns)
    if headings and headings[0].strip().startswith("T0"):
        return "no header row: the first line already holds a hardware hash"
    if any(_echo.hashlike(h) for h in headings):
        return "no header row: the first line holds hash-like text where the headings belong"
    if SERIAL in seen and MANUFACTURER in seen and MODEL in seen:
        info.identifiers_only = True
        return ("no hardware hashes: the file lists devices by manufacturer, model and serial number only (a partner "
                "or corporate identifier list, header %r); an upload by hash needs the Hardware Hash column: collect "
                "the hashes, or register these devices by their corporate identifiers" % shown)
    if not seen and len(headings) == 3 and all(h.strip() for h in headings):
        info.identifiers_only = True
        return ("no header row and no hardware hashes: the first line looks like a corporate identifier list "
                "(manufacturer,model,serial number); an upload by hash needs the Hardware Hash column: collect the "
                "hashes, or register these devices by their corporate identifiers")
    if SERIAL in seen:
        return "no hardware hashes: no 'Hardware Hash' column in the header %r" % shown
    return "no 'Hardware Hash' or 'Device Serial Number' column in the header %r" % shown


def _table(info, first, records):
    """Map a table's header row onto canonical keys and yield its data rows (shared by CSV text and workbooks)."""
    path = info.path
    line_no, headings = first
    headings = list(headings)
    while headings and not headings[-1].strip():
        headings.pop()
    keys, seen = _header_keys(headings)
    for pos, key in enumerate(keys):
        heading = headings[pos]
        if key is None:
            info.ignored_columns.append(heading.strip())
        elif seen[key] != pos:
            info.problems.append(SourceProblem(path, line_no, "columns %s and %s both mean %s" % (
                _echo.echo(headings[seen[key]].strip()), _echo.echo(heading.strip()), key)))
            return
    info.columns = [h.strip() for h in headings]
    info.dialect = classify(headings)
    if HASH not in seen:
        info.problems.append(SourceProblem(path, line_no, _no_hash_reason(info, headings, seen)))
        return
    ncols = len(keys)
    header_norm = [h.strip().lower() for h in headings]
    for line, values in records:
        if not any(v.strip() for v in values):
            continue
        if _is_header(values):
            headings = list(values)
            while headings and not headings[-1].strip():
                headings.pop()
            if [h.strip().lower() for h in headings] == header_norm:
                continue  # a header repeated by concatenation or -Append
            # Another file's header: files joined end to end (copy /b, cat) with different columns, for example a
            # 3-column file followed by one with Group Tag. The rows below follow the new header.
            keys, _seen = _header_keys(headings)
            ncols = len(keys)
            header_norm = [h.strip().lower() for h in headings]
            continue
        info.rows += 1
        row = dict.fromkeys(KEYS, "")
        extra = values[ncols:] if len(values) > ncols else ()
        for key, value in zip(keys, values):
            if key is not None and not row[key]:
                row[key] = value
        yield line, row, extra


def _cell_text(value):
    """A workbook cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _workbook(info, data):
    """Rows of an Excel workbook (the Managed Desktop template, an Excel save of any CSV), sheet by sheet.

    Each sheet with a header row of its own is read like a CSV file; empty sheets and sheets without device columns
    (instructions, lists) are listed in ``info.skipped``. A workbook with several sheets of devices names each row's
    place as ``file [sheet]``.
    """
    path = info.path
    try:
        import zipfile

        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except Exception:
        info.problems.append(SourceProblem(path, 0, "a damaged ZIP archive (a workbook cut short?): not readable"))
        return
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        info.problems.append(SourceProblem(path, 0, "a ZIP archive, not a CSV file or an Excel workbook: unpack it "
                                                    "and give the files inside"))
        return
    if "xl/workbook.bin" in names:
        info.problems.append(SourceProblem(path, 0, "an Excel binary workbook (.xlsb): save it as .xlsx or CSV"))
        return
    try:
        import openpyxl
    except ImportError:
        info.problems.append(SourceProblem(path, 0, "an Excel workbook: reading it needs the Python library "
                                                    "openpyxl on the controller (pip install openpyxl)"))
        return
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        info.problems.append(SourceProblem(path, 0, "a damaged Excel workbook: %s" % type(exc).__name__))
        return
    info.encoding = "xlsx"
    try:
        sheets = []
        for sheet in book.worksheets:
            rows = [(n, [_cell_text(v) for v in values])
                    for n, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
            rows = [(n, values) for n, values in rows if any(v.strip() for v in values)]
            if rows:
                sheets.append((sheet.title, rows))
            else:
                info.skipped.append(("%s [%s]" % (path, sheet.title), "an empty sheet"))
    except Exception as exc:
        info.problems.append(SourceProblem(path, 0, "a damaged Excel workbook: %s" % type(exc).__name__))
        return
    finally:
        book.close()
    with_hashes = [(t, r) for t, r in sheets if any(heading_key(v) == HASH for v in r[0][1])]
    if not with_hashes:
        # No sheet has a Hardware Hash heading: the first sheet with content explains why, like a CSV file would.
        if sheets:
            title, rows = sheets[0]
            for other, _rows in sheets[1:]:
                info.skipped.append(("%s [%s]" % (path, other), "no Hardware Hash column in this sheet"))
            yield from _table(info, rows[0], iter(rows[1:]))
        else:
            info.problems.append(SourceProblem(path, 0, "the workbook is empty: no header row"))
        return
    for title, rows in sheets:
        if (title, rows) not in with_hashes:
            info.skipped.append(("%s [%s]" % (path, title), "no Hardware Hash column in this sheet"))
    for title, rows in with_hashes:
        info.where = path if len(with_hashes) == 1 else "%s [%s]" % (path, title)
        yield from _table(info, rows[0], iter(rows[1:]))


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
