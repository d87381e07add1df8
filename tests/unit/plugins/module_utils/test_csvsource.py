"""The CSV reader: each dialect, each encoding, and every way a file can be unusable."""

from __future__ import annotations

import codecs

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _csvsource as src
from winfleet_lab import hashgen, samplefleet


@pytest.fixture(scope="module")
def dev():
    return hashgen.fleet(11, 1)[0]


def read(path):
    rows = src.read_source(str(path))
    info = next(rows)
    return info, list(rows)


@pytest.mark.parametrize("header,dialect", [
    (samplefleet.AUTOPILOT3, "autopilot-3"),
    (samplefleet.AUTOPILOT3 + ("Group Tag",), "autopilot-4"),
    (samplefleet.AUTOPILOT3 + ("Group Tag", "Assigned User"), "autopilot-5"),
    (samplefleet.PARTNER, "partner"),
    (tuple(h.lower() if i else h for i, h in enumerate(samplefleet.PARTNER)), "partner"),
    (samplefleet.MMD, "mmd"),
    (samplefleet.CONFIGMGR, "configmgr"),
    (("SerialNumber", "DeviceHardwareData", "OrderID", "UPN"), "custom"),
])
def test_dialects_map_to_canonical_keys(tmp_path, dev, header, dialect):
    h = hashgen.build_hash(dev)
    values = {"serial": dev.serial, "hash": h, "product_id": "", "group_tag": "TAG", "assigned_user": "a@b.test",
              "manufacturer": dev.manufacturer, "model": dev.model}
    row = [values[src.heading_key(col)] for col in header]
    info, rows = read(samplefleet.write_csv(tmp_path / "f.csv", header, [row]))
    assert info.dialect == dialect
    assert not info.problems
    [(line, got, extra)] = rows
    assert line == 2 and extra == ()
    assert got["serial"] == dev.serial and got["hash"] == h


@pytest.mark.parametrize("encoding,label", [
    ("utf-16", "utf-16-le"),
    ("utf-8-sig", "utf-8-sig"),
    ("ascii", "ascii"),
    ("utf-16-be-bom", "utf-16-be"),
    ("utf-16-le-nobom", "utf-16-le (no BOM)"),
    ("cp1252", "windows-1252"),
])
def test_encodings_are_detected(tmp_path, dev, encoding, label):
    text = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\n%s,,%s,Bäckerei\r\n" % (
        dev.serial, hashgen.build_hash(dev))
    if encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    elif encoding == "utf-16-le-nobom":
        data = text.encode("utf-16-le")
    elif encoding == "utf-16":
        data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    elif encoding == "ascii":
        data = text.replace("ä", "a").encode("ascii")
    else:
        data = text.encode(encoding)
    (tmp_path / "f.csv").write_bytes(data)
    info, rows = read(tmp_path / "f.csv")
    assert info.encoding == label
    assert rows[0][1]["serial"] == dev.serial


def test_tolerates_crlf_blank_lines_trailing_columns_and_repeated_headers(tmp_path, dev):
    h = hashgen.build_hash(dev)
    text = ("\r\n\r\nDevice Serial Number,Windows Product ID,Hardware Hash,,\r\n"
            "%s,,%s,,\r\n\r\n"
            "Device Serial Number,Windows Product ID,Hardware Hash\r\n"
            "OTHER,,%s\r\n  \r\n,,\r\n") % (dev.serial, h, h)
    (tmp_path / "f.csv").write_text(text, newline="")
    info, rows = read(tmp_path / "f.csv")
    assert [r[0] for r in rows] == [4, 7]
    assert rows[1][1]["serial"] == "OTHER"
    assert info.rows == 2


def test_semicolon_files_from_european_excel(tmp_path, dev):
    (tmp_path / "f.csv").write_text("Device Serial Number;Windows Product ID;Hardware Hash\n%s;;%s\n"
                                    % (dev.serial, hashgen.build_hash(dev)))
    info, rows = read(tmp_path / "f.csv")
    assert info.delimiter == ";" and rows[0][1]["serial"] == dev.serial


def test_extra_values_are_returned(tmp_path):
    (tmp_path / "f.csv").write_text("Device Serial Number,Windows Product ID,Hardware Hash\nA,,T0E,x\n")
    _info, rows = read(tmp_path / "f.csv")
    assert rows[0][2] == ["x"]


@pytest.mark.parametrize("data,reason", [
    (b"", "file is empty"),
    (b"\r\n\r\n", "file is empty"),
    (b"\x00\x01\x02\x03binary\x00\x00\xff" * 50, "binary data"),
    (b"Name,Description\r\nPC1,desk\r\n", "no 'Hardware Hash' or 'Device Serial Number' column"),
    (b"Device Serial Number,Windows Product ID\r\nPC1,\r\n", "no 'Hardware Hash' column"),
    (b"T0EeBAEAHAAAAAoAAQBj,,\r\n", "no header row: the first line already holds a hardware hash"),
    (b"Serial Number,Device Serial Number,Hardware Hash\r\n", "both mean serial"),
    (codecs.BOM_UTF16_LE + b"\x00\xd8a\x00", "not valid UTF-16-LE"),
])
def test_unusable_files_are_problems_not_exceptions(tmp_path, data, reason):
    (tmp_path / "f.csv").write_bytes(data)
    info, rows = read(tmp_path / "f.csv")
    assert rows == []
    assert len(info.problems) == 1
    assert reason in info.problems[0].reason
    assert info.problems[0].path.endswith("f.csv")


def test_malformed_quoting_names_the_line_and_reading_goes_on(tmp_path, dev):
    h = hashgen.build_hash(dev)
    (tmp_path / "f.csv").write_text('Device Serial Number,Windows Product ID,Hardware Hash\n"A"B,,%s\n%s,,%s\n'
                                    % (h, dev.serial, h))
    info, rows = read(tmp_path / "f.csv")
    assert info.problems[0].line == 2 and "malformed CSV" in info.problems[0].reason
    assert [r[1]["serial"] for r in rows] == [dev.serial]


def test_unreadable_file(tmp_path):
    info, rows = read(tmp_path / "missing.csv")
    assert rows == [] and "cannot read" in info.problems[0].reason


def test_expand_sources(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / "Book.XLSX").write_text("x")
    (tmp_path / "~$Book.xlsx").write_text("x")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.csv").write_text("x")
    files, problems, skipped = src.expand_sources([str(tmp_path), str(tmp_path / "a.csv"),
                                                   str(tmp_path / "*.nothing"), str(tmp_path / "nope.csv")])
    assert files == [str(tmp_path / "Book.XLSX"), str(tmp_path / "a.csv")]
    assert [p.reason for p in problems] == ["no file matches this pattern", "no such file or folder"]
    # Every file of the folder that is not read is listed, with why.
    assert dict(skipped) == {
        str(tmp_path / "b.txt"): "the name does not match *.csv, *.xlsx (add a pattern to read it)",
        str(tmp_path / "sub"): "a sub-folder (set recurse to read sub-folders)",
        str(tmp_path / "~$Book.xlsx"): "Excel's owner file (the workbook is open in Excel): not a workbook",
    }
    files, _problems, skipped = src.expand_sources([str(tmp_path)], pattern=["*.csv"], recurse=True,
                                                   exclude=[str(tmp_path / "a.csv")])
    assert files == [str(sub / "c.csv")]
    assert dict(skipped)[str(tmp_path / "a.csv")] == "an output of this merge, not an input"
