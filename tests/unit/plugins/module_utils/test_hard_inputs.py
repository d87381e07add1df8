"""Real files as people make them: joined files, Excel's habits, workbooks, hashless lists, broken hashes.

Every case checks what the merge makes of the file, and that nothing of a hash reaches the result.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime
import io
import json
import zipfile

import openpyxl
import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _registration as reg
from winfleet_lab import hashgen, samplefleet
from winfleet_lab.hashleak import HashPieces

NOW = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)
A3 = ",".join(samplefleet.AUTOPILOT3)


@pytest.fixture(scope="module")
def devs():
    return hashgen.fleet(31, 8, vm_every=0)


@pytest.fixture(scope="module")
def hashes(devs):
    return [hashgen.build_hash(d) for d in devs]


def run(tmp_path, *sources, **opts):
    result = reg.collect([str(s) for s in sources], [], reg.default_options(**opts), now=NOW)
    merged = reg.merge(result)
    return result, merged


def no_hash_text(result, hashes):
    """The whole result as the module would return it: no piece of any hash in it."""
    keys = ("sources", "rejected", "findings", "duplicates", "conflicts", "skipped")
    text = json.dumps({k: getattr(result, k) for k in keys})
    text += json.dumps([d.as_dict() for d in result.devices])
    at = HashPieces(hashes).find(text)
    assert at is None, "hash text in the result at %d: %s" % (at, text[max(0, at - 80):at])


def gwai(devs, hashes, idx):
    """Get-WindowsAutopilotInfo's file for devices ``idx``: UTF-16LE with BOM, CRLF (Windows PowerShell 5.1)."""
    text = A3 + "\r\n" + "".join("%s,,%s\r\n" % (devs[i].serial, hashes[i]) for i in idx)
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def test_files_joined_with_copy_b_keep_every_device(tmp_path, devs, hashes):
    path = tmp_path / "joined.csv"
    path.write_bytes(gwai(devs, hashes, [0, 1]) + gwai(devs, hashes, [2, 3]))
    result, merged = run(tmp_path, path)
    assert result.rejected == []
    assert sorted(d.serial for d in merged) == sorted(devs[i].serial for i in range(4))


def test_utf8_files_joined_with_bom_in_the_middle(tmp_path, devs, hashes):
    one = codecs.BOM_UTF8 + (A3 + "\r\n%s,,%s\r\n" % (devs[0].serial, hashes[0])).encode()
    two = codecs.BOM_UTF8 + (A3 + ",Group Tag\r\n%s,,%s,SALES\r\n" % (devs[1].serial, hashes[1])).encode()
    path = tmp_path / "joined.csv"
    path.write_bytes(one + two)
    result, merged = run(tmp_path, path)
    assert result.rejected == []
    tags = {d.serial: d.group_tag for d in merged}
    # The second file's own header applies to its rows: its Group Tag column is read.
    assert tags == {devs[0].serial: "", devs[1].serial: "SALES"}


def test_excel_sep_line_sets_the_delimiter(tmp_path, devs, hashes):
    path = tmp_path / "excel.csv"
    path.write_text('sep=;\r\nDevice Serial Number;Windows Product ID;Hardware Hash;Group Tag\r\n%s;;%s;A,B\r\n'
                    % (devs[0].serial, hashes[0]))
    result, merged = run(tmp_path, path)
    # The value "A,B" is read as one value (delimiter ;) and then refused for its comma, as the portal would.
    assert merged == []
    [rej] = result.rejected
    assert rej["line"] == 3 and "group tag 'A,B' contains a comma" in rej["reason"]


def test_a_hash_broken_across_two_lines_shows_no_hash_text(tmp_path, devs, hashes):
    h = hashes[0]
    path = tmp_path / "broken.csv"
    rows = (devs[0].serial, h[:300], h[300:], devs[1].serial, hashes[1])
    path.write_text(A3 + "\r\n%s,,%s\r\n%s\r\n%s,,%s\r\n" % rows)
    result, merged = run(tmp_path, path)
    assert [d.serial for d in merged] == [devs[1].serial]
    first, second = result.rejected
    assert first["line"] == 2 and first["serial_number"] == devs[0].serial and "truncated" in first["reason"]
    assert second["line"] == 3 and second["serial_number"] == "<3700 characters of hash-like text>"
    assert "broken across two lines" in second["reason"]
    no_hash_text(result, hashes)


@pytest.mark.parametrize("column", ["Windows Product ID", "Group Tag", "Assigned User"])
def test_hash_pasted_into_another_column_is_described_not_shown(tmp_path, devs, hashes, column):
    header = samplefleet.AUTOPILOT5
    row = [devs[0].serial, "", hashes[0], "", ""]
    row[header.index(column)] = hashes[1]
    path = samplefleet.write_csv(tmp_path / "f.csv", header, [row])
    result, merged = run(tmp_path, path)
    assert merged == []
    [rej] = result.rejected
    assert "hash-like text (4000 characters)" in rej["reason"]
    no_hash_text(result, hashes)


def test_a_file_without_its_header_row_shows_no_hash_text(tmp_path, devs, hashes):
    path = tmp_path / "noheader.csv"
    path.write_text("%s,,%s\r\n" % (devs[0].serial, hashes[0]))
    result, _merged = run(tmp_path, path)
    [rej] = result.rejected
    assert rej["line"] == 1 and "first line holds hash-like text where the headings belong" in rej["reason"]
    no_hash_text(result, hashes)


def test_placeholder_serial_is_refused_naming_the_device(tmp_path, devs):
    dev = dataclasses.replace(devs[0], serial="To be filled by O.E.M.")
    path = samplefleet.write_csv(tmp_path / "f.csv", samplefleet.AUTOPILOT3,
                                 [("To be filled by O.E.M.", "", hashgen.build_hash(dev))])
    result, merged = run(tmp_path, path)
    assert merged == []
    [rej] = result.rejected
    assert "'To be filled by O.E.M.'" in rej["reason"] and "placeholder" in rej["reason"]
    assert dev.manufacturer in rej["reason"] and dev.uuid.upper() in rej["reason"].upper()


def test_placeholder_in_the_column_with_a_real_serial_inside_is_a_warning(tmp_path, devs, hashes):
    path = samplefleet.write_csv(tmp_path / "f.csv", samplefleet.AUTOPILOT3, [("Default string", "", hashes[0])])
    result, merged = run(tmp_path, path)
    assert [d.serial for d in merged] == [devs[0].serial]
    assert any("placeholder" in f["message"] for f in result.findings)


def test_a_list_without_hashes_is_one_message(tmp_path, devs):
    path = samplefleet.write_csv(tmp_path / "tuples.csv", samplefleet.PARTNER,
                                 [(d.serial, "", "", d.manufacturer, d.model) for d in devs])
    result, merged = run(tmp_path, path)
    assert merged == []
    [rej] = result.rejected
    assert rej["line"] == 0 and "no hardware hashes" in rej["reason"] and "all 8 rows" in rej["reason"]
    assert result.sources[0]["identifiers_only"] is True


def test_a_corporate_identifier_list_is_one_message(tmp_path, devs):
    path = tmp_path / "corporate.csv"
    path.write_text("".join("%s,%s,%s\r\n" % (d.manufacturer, d.model, d.serial) for d in devs))
    result, merged = run(tmp_path, path)
    assert merged == []
    [rej] = result.rejected
    assert "corporate identifier" in rej["reason"]
    assert result.sources[0]["identifiers_only"] is True


def test_non_ascii_is_refused_with_the_one_rule(tmp_path, devs, hashes):
    path = samplefleet.write_csv(tmp_path / "f.csv", samplefleet.AUTOPILOT3 + ("Group Tag",),
                                 [(devs[0].serial, "", hashes[0], "Bäckerei")], encoding="utf-8")
    result, _merged = run(tmp_path, path)
    [rej] = result.rejected
    assert rej["reason"].endswith("(%s)" % reg.ASCII_RULE)


def mmd_workbook(path, rows, extra_sheets=(), numbers=False):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Devices"
    sheet.append(list(samplefleet.MMD))
    for make, model, serial, hw in rows:
        sheet.append([make, model, int(serial) if numbers and serial.isdigit() else serial, hw])
    for title, content in extra_sheets:
        other = book.create_sheet(title)
        for line in content:
            other.append(line)
    book.save(path)
    return path


def test_the_managed_desktop_template_as_xlsx(tmp_path, devs, hashes):
    path = mmd_workbook(tmp_path / "template.xlsx",
                        [(d.manufacturer, d.model, d.serial, h) for d, h in zip(devs[:3], hashes[:3])],
                        extra_sheets=[("Instructions", [["Fill in one device per row"]]), ("Empty", [])])
    result, merged = run(tmp_path, path)
    assert result.rejected == []
    assert sorted(d.serial for d in merged) == sorted(d.serial for d in devs[:3])
    assert result.sources[0]["encoding"] == "xlsx" and result.sources[0]["dialect"] == "mmd"
    assert {s["reason"] for s in result.skipped} == {"no Hardware Hash column in this sheet", "an empty sheet"}


def test_an_excel_save_keeps_the_row_numbers_and_spots_lost_zeros(tmp_path):
    dev = hashgen.fleet(5, 1)[0]
    dev = dataclasses.replace(dev, serial="0042123456")
    path = mmd_workbook(tmp_path / "saved.xlsx", [(dev.manufacturer, dev.model, dev.serial,
                                                   hashgen.build_hash(dev))], numbers=True)
    result, merged = run(tmp_path, path)
    assert merged == []
    [rej] = result.rejected
    assert rej["file"] == str(path) and rej["line"] == 2 and "lost its leading zeros" in rej["reason"]


def test_workbooks_in_a_folder_are_read_and_the_rest_listed(tmp_path, devs, hashes):
    folder = tmp_path / "usb"
    folder.mkdir()
    mmd_workbook(folder / "batch.xlsx", [(devs[0].manufacturer, devs[0].model, devs[0].serial, hashes[0])])
    (folder / "~$batch.xlsx").write_bytes(b"owner")
    (folder / "PC0001.txt").write_text("%s,,%s\r\n" % (devs[1].serial, hashes[1]))
    (folder / "legacy.csv").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    result, merged = run(tmp_path, folder)
    assert [d.serial for d in merged] == [devs[0].serial]
    skipped = {s["file"].rsplit("/", 1)[1]: s["reason"] for s in result.skipped}
    assert set(skipped) == {"~$batch.xlsx", "PC0001.txt"}
    [rej] = result.rejected
    assert rej["file"].endswith("legacy.csv") and "Excel 97-2003" in rej["reason"]


def test_zip_and_damaged_workbooks_are_named(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.csv", "x")
    (tmp_path / "hashes.csv").write_bytes(buf.getvalue())
    (tmp_path / "cut.xlsx").write_bytes(buf.getvalue()[:30])
    result, _merged = run(tmp_path, str(tmp_path))
    reasons = {r["file"].rsplit("/", 1)[1]: r["reason"] for r in result.rejected}
    assert "a ZIP archive, not a CSV file or an Excel workbook" in reasons["hashes.csv"]
    assert "damaged" in reasons["cut.xlsx"]
