"""Bad input at scale: >= 10,000 generated CSV files and 10,000 hashes through the merge module and the decoder.

The module is driven in-process through its real entry point (``registration_csv.main`` with its arguments, as
Ansible would), 64 files per call. For every call:

* no exception escapes (only the module's own exit/fail), and no message carries a traceback;
* every rejection names a file of the call, a line inside that file (0 = the whole file) and a reason;
* files the generator marks as fatal are refused as a whole; the others keep their good rows (their serials are in
  the output), and rows marked bad never reach the output;
* the upload files are valid - re-read byte for byte: exact heading, ASCII, CRLF, no quotes, every hash decodes
  valid and carries the serial of its row, no serial twice, at most ``batch_size`` rows - or, with
  ``fail_on_reject=true`` and anything rejected, nothing is written at all.

The seeds are fixed (``badinput.SEED``), so a failure names a file that ``badinput.case(i)`` rebuilds exactly.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from unittest import mock

import badinput
import figures
import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.winfleet.autopilot.plugins.module_utils import _hwhash
from ansible_collections.winfleet.autopilot.plugins.module_utils import _registration as reg
from ansible_collections.winfleet.autopilot.plugins.modules import registration_csv
from winfleet_lab.hashleak import HashPieces

FILES_PER_CALL = 64
CHUNKS = 8
FILE_LEVEL = re.compile(r"binary data|not valid UTF|file is empty|no header row|no 'Hardware Hash'|both mean|"
                        r"header row is not valid CSV|larger than the|cannot read|no hardware hashes|ZIP archive|Excel workbook|"
                        r"Excel 97-2003|Excel binary")
REASONS = (
    ("file: binary", r"binary data"),
    ("file: encoding", r"not valid UTF"),
    ("file: empty", r"file is empty"),
    ("file: no header / no hash column / no hashes", r"no header row|no 'Hardware Hash'|no hardware hashes"),
    ("file: duplicate columns", r"both mean"),
    ("csv: malformed", r"malformed CSV|not valid CSV|too many malformed"),
    ("row: extra values (delimiter in a value)", r"more value"),
    ("row: template/sample", r"template|sample device"),
    ("row: Excel damage", r"scientific notation|leading zeros"),
    ("row: product id", r"Product ID"),
    ("row: forbidden characters", r"contains (a comma|a quotation|characters outside printable ASCII)"),
    ("row: hash text out of place", r"hash-like text"),
    ("row: placeholder serial", r"placeholder"),
    ("hash: empty", r"hardware hash is empty"),
    ("hash: truncated", r"truncated"),
    ("hash: not base64", r"not valid base64"),
    ("hash: checksum", r"checksum"),
    ("hash: corrupt structure", r"corrupt|does not start|inconsistent|no device serial"),
)
_REASONS = [(name, re.compile(rx)) for name, rx in REASONS]


def reason_kind(reason):
    for name, rx in _REASONS:
        if rx.search(reason):
            return name
    return "other: " + reason[:60]


class _Exit(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind = kind
        self.result = result


def _exit_json(self, **kwargs):
    raise _Exit("exit", kwargs)


def _fail_json(self, **kwargs):
    raise _Exit("fail", kwargs)


def run_module(args):
    """``registration_csv.main()`` in process; returns ("exit"|"fail", result). Any other exception propagates."""
    with patch_module_args(args), mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json):
        try:
            registration_csv.main()
        except _Exit as done:
            return done.kind, done.result
    raise AssertionError("registration_csv.main() returned without exit_json/fail_json")


@pytest.fixture(scope="module")
def pool():
    pool = badinput.Pool()
    pool.pieces = HashPieces(pool.hashes)
    return pool


def _line_count(data):
    text, _enc = __import__("ansible_collections.winfleet.autopilot.plugins.module_utils._csvsource",
                            fromlist=["decode_bytes"]).decode_bytes(data)
    if text is None:
        return 0
    return text.count("\n") + text.replace("\r\n", "\n").count("\r") + 1


def check_upload(paths, fmt, batch_size, result):
    """Re-read every upload file the module reports and check it is exactly what the portal takes."""
    serials = []
    for path in paths:
        with open(path, "rb") as fh:
            data = fh.read()
        assert data.isascii(), path
        assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b""), path
        assert b'"' not in data and not data.startswith(b"\xef\xbb\xbf"), path
        lines = data.decode("ascii").split("\r\n")[:-1]
        header = lines[0].split(",")
        assert tuple(header) == reg.FORMATS[fmt][:len(header)], (path, header)
        assert 1 <= len(lines) - 1 <= batch_size or (len(paths) == 1 and len(lines) == 1), path
        col_serial = header.index("Serial Number" if fmt == "mmd" else "Device Serial Number")
        col_hash = header.index("Hardware Hash")
        for number, line in enumerate(lines[1:], start=2):
            values = line.split(",")
            assert len(values) == len(header), (path, number)
            report = _hwhash.decode(values[col_hash])
            assert report.valid, (path, number, report.errors)
            assert report.serial_number == values[col_serial], (path, number)
            assert report.normalized == values[col_hash], (path, number)
            serials.append(values[col_serial])
    assert len(serials) == len(set(s.upper() for s in serials)), "a serial is written twice"
    assert len(serials) == result["device_count"]
    if "devices" in result:
        assert sorted(serials) == sorted(d["serial_number"] for d in result["devices"])
    return set(serials)


def _walk_messages(result):
    yield result.get("msg") or ""
    for key in ("rejected", "conflicts", "duplicates"):
        for item in result.get(key, ()):
            yield item.get("reason") or ""
    for item in result.get("findings", ()):
        yield item.get("message") or ""
    yield from result.get("warnings", ()) or ()


def run_call(tmp_path, pool, call, cases):
    """Write ``cases``, run the module over them, check everything; returns nothing (figures are recorded)."""
    src = tmp_path / ("in%04d" % call)
    out = tmp_path / ("out%04d" % call)
    src.mkdir()
    out.mkdir()
    by_path = {}
    total_bytes = 0
    for c in cases:
        path = src / c.name
        path.write_bytes(c.data)
        by_path[str(path)] = c
        total_bytes += len(c.data)
    fmt = ("autopilot", "partner", "mmd")[call % 3]
    batch_size = (500, 37, 7)[call % 3]
    args = {"src": [str(src)], "dest": str(out / "upload.csv"), "format": fmt, "batch_size": batch_size,
            "workers": 2 if call % 16 == 5 else 1, "stale_days": 0}
    started = time.perf_counter()
    if call % 4 == 0:
        kind, strict = run_module(dict(args, fail_on_reject=True))
        figures.add("bad input: CSV files through registration_csv", "module calls", 1)
        if strict["rejected"] or strict["conflicts"]:
            assert kind == "fail", "fail_on_reject=true must fail when rows are rejected"
            assert os.listdir(out) == [], "fail_on_reject=true wrote files although rows were rejected"
            figures.add("bad input: CSV files through registration_csv", "strict calls refused, nothing written")
    kind, result = run_module(dict(args, fail_on_reject=False))
    elapsed = time.perf_counter() - started
    fig = "bad input: CSV files through registration_csv"
    figures.add(fig, "#files", len(cases))
    figures.add(fig, "#bytes", total_bytes)
    figures.add(fig, "module calls", 1)
    figures.add(fig, "#seconds in the module", elapsed)
    assert kind == "exit", result.get("msg")
    for message in _walk_messages(result):
        assert "Traceback" not in message and 'File "' not in message, message[:300]
    assert "exception" not in result
    # Whatever the damage, nothing of a hash in anything the module returns (the upload paths aside, it is all
    # echoed input: serials, reasons, headings, warnings).
    shown = json.dumps({k: v for k, v in result.items() if k not in ("paths", "written", "removed")})
    at = pool.pieces.find(shown)
    assert at is None, "hash text in the result: ...%s..." % shown[max(0, at - 120):at]
    figures.add(fig, "results scanned for hash text", 1)
    figures.add(fig, "#rows read", result["rows_read"])
    figures.add(fig, "#devices written", result["device_count"])
    figures.add(fig, "#rejections", len(result["rejected"]))

    # Every rejection names a file of this call, a line inside it and a reason.
    rejects = {}
    for rej in result["rejected"]:
        assert rej["file"] in by_path, rej["file"]
        assert isinstance(rej["line"], int) and rej["line"] >= 0, rej
        assert isinstance(rej["reason"], str) and rej["reason"].strip(), rej
        assert rej["line"] <= _line_count(by_path[rej["file"]].data), (rej["file"], rej["line"])
        rejects.setdefault(rej["file"], []).append(rej)
        figures.add("rejections by reason", reason_kind(rej["reason"]))
    assert not result["conflicts"], result["conflicts"][:2]

    written = check_upload(result["paths"] if result["device_count"] else result["written"], fmt, batch_size, result)
    if result["device_count"]:
        figures.add(fig, "upload files re-read and valid", len(result["paths"]))
    accepted = {s.upper() for s in written}

    for path, c in by_path.items():
        mine = rejects.get(path, [])
        refused = any(r["line"] == 0 or FILE_LEVEL.search(r["reason"]) for r in mine)
        where = "%s (case %s)" % (c.name, c.kind)
        if c.fatal is True:
            assert refused, "%s: expected the whole file to be refused, got %s" % (where, mine[:3])
        elif c.fatal is False:
            assert not refused, "%s: refused as a whole: %s" % (where, mine[:3])
        if not refused:
            lost = [s for s in c.good if s.upper() not in accepted]
            assert not lost, "%s: good rows lost %s; rejections %s" % (where, lost, [r["reason"][:120] for r in mine])
            swallowed = [s for s in c.at_risk if s.upper() not in accepted]
            figures.add(fig, "good rows swallowed by an unbalanced quote", len(swallowed))
            figures.add(fig, "good rows kept", len(c.good) + len(c.at_risk) - len(swallowed))
            for serial in c.maybe:  # a row cut short, or a 10 MB field: either accepted or reported
                figures.add(fig, "rows that may go either way: %s" % (
                    "kept" if serial.upper() in accepted else "refused"))
        else:
            figures.add(fig, "good rows in files refused as a whole (binary/encoding)", len(c.good))
            figures.add("files refused as a whole, by case", c.kind + " / " + c.encoding.split("-b")[0])
        for serial in c.bad:
            assert serial.upper() not in accepted, "%s: damaged row %s was accepted" % (where, serial)
        if c.bad and not refused:
            assert any(r["line"] > 0 for r in mine), "%s: a damaged row was not reported" % where
        if c.kind == "header_only":
            assert not mine, "%s: a header-only file is not an error: %s" % (where, mine)
        figures.add("files by encoding", c.encoding)
        figures.add("files by case", c.kind)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_bad_csv_files_through_the_module(tmp_path, pool, chunk):
    calls = -(-badinput.FILE_CASES // FILES_PER_CALL)
    for call in range(chunk, calls, CHUNKS):
        first = call * FILES_PER_CALL
        cases = []
        base = 0
        for index in range(first, min(first + FILES_PER_CALL, badinput.FILE_CASES)):
            c = badinput.case(index, pool, base)
            base += badinput.devices_used(c) + 2
            assert base < badinput.POOL
            cases.append(c)
        run_call(tmp_path, pool, call, cases)


@pytest.mark.parametrize("part", range(2))
def test_decoder_on_damaged_hashes(pool, part):
    fig = "bad input: hashes through the decoder"
    started = time.perf_counter()
    for index in range(part, badinput.HASH_CASES, 2):
        kind, value = badinput.hash_case(index, pool)
        report = _hwhash.decode(value)  # must not raise
        assert isinstance(report.errors, list) and isinstance(report.warnings, list)
        assert report.valid == (not report.errors)
        public = report.as_dict()
        assert "hardware_hash" not in public
        if kind in badinput.HASH_VALID:
            assert report.valid, (index, kind, report.errors)
            assert base64.b64decode(report.normalized)[:2] == b"OA"
        elif kind in badinput.HASH_INVALID:
            assert not report.valid, (index, kind)
            assert all(isinstance(e, str) and e for e in report.errors)
        for message in report.errors + report.warnings:
            assert len(message) < 400, (kind, message[:100])
            assert "Traceback" not in message and "could not be decoded" not in message, (kind, message)
        figures.add(fig, "#hashes", 1)
        figures.add(fig, "valid" if report.valid else "invalid: " + reason_kind(report.errors[0]).split(": ", 1)[-1])
    figures.add(fig, "#seconds", time.perf_counter() - started)


def test_utf16_file_cut_mid_character_keeps_its_complete_rows(tmp_path, pool):
    dev, hsh = pool.devices[0], pool.hashes[0]
    text = "Device Serial Number,Windows Product ID,Hardware Hash\r\n%s,,%s\r\nPARTIAL,," % (dev.serial, hsh)
    (tmp_path / "cut.csv").write_bytes(b"\xff\xfe" + text.encode("utf-16-le")[:-1])
    kind, result = run_module({"src": [str(tmp_path / "cut.csv")], "dest": str(tmp_path / "out.csv"),
                               "fail_on_reject": False, "workers": 1})
    assert kind == "exit"
    assert result["device_count"] == 1, result["rejected"]


def test_huge_quoted_field_keeps_its_row(tmp_path, pool):
    dev, hsh = pool.devices[1], pool.hashes[1]
    text = '"Device Serial Number","Windows Product ID","Hardware Hash","Notes"\r\n"%s","","%s","%s"\r\n' % (
        dev.serial, hsh, "n" * badinput.BIG)
    (tmp_path / "huge.csv").write_text(text, encoding="ascii")
    kind, result = run_module({"src": [str(tmp_path / "huge.csv")], "dest": str(tmp_path / "out.csv"),
                               "fail_on_reject": False, "workers": 1})
    assert kind == "exit"
    assert result["device_count"] == 1, result["rejected"]
