"""Every hard input class through registration_csv and ansible-playbook, and nothing of a hash in what they print.

One folder holds what real users bring: two Get-WindowsAutopilotInfo files joined with ``copy /b``, the Managed
Desktop template saved as an Excel workbook, an Excel CSV with its ``sep=;`` line, a hash broken across two lines,
a hash pasted into the serial and group tag columns, a file without its header row, a device whose firmware has no
serial, a partner list without hashes, notes and Excel's lock file. The play runs at -vvv with ansible's log on; its
standard output, standard error, the log and the registered result are scanned for any 32-character piece of every
hash planted.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import pathlib

import openpyxl
import pytest

from winfleet_lab import hashgen, samplefleet
from winfleet_lab.hashleak import HashPieces
from winfleet_lab.playbook import run_playbook, task_results

PLAYBOOK = pathlib.Path(__file__).parent / "merge" / "merge.yml"
A3 = ",".join(samplefleet.AUTOPILOT3)


def gwai(devs):
    text = A3 + "\r\n" + "".join("%s,,%s\r\n" % (d.serial, hashgen.build_hash(d)) for d in devs)
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


@pytest.fixture
def inputs(tmp_path):
    devs = hashgen.fleet(404, 12, vm_every=0)
    hashes = [hashgen.build_hash(d) for d in devs]
    folder = tmp_path / "in"
    folder.mkdir()
    expect = {"accepted": set(), "files": {}}
    # 1. Two Get-WindowsAutopilotInfo files joined with copy /b: the second BOM in the middle.
    (folder / "joined.csv").write_bytes(gwai(devs[0:2]) + gwai(devs[2:4]))
    expect["accepted"] |= {d.serial for d in devs[0:4]}
    # 2. The Managed Desktop template saved as .xlsx, with its instructions sheet.
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Devices"
    sheet.append(list(samplefleet.MMD))
    for d, h in zip(devs[4:6], hashes[4:6]):
        sheet.append([d.manufacturer, d.model, d.serial, h])
    book.create_sheet("Instructions").append(["One device per row; do not change the headings"])
    book.save(folder / "mmd-template.xlsx")
    expect["accepted"] |= {d.serial for d in devs[4:6]}
    # 3. Excel's CSV with its sep= line.
    (folder / "excel.csv").write_text("sep=;\r\nDevice Serial Number;Windows Product ID;Hardware Hash\r\n%s;;%s\r\n"
                                      % (devs[6].serial, hashes[6]))
    expect["accepted"].add(devs[6].serial)
    # 4. A hash broken across two lines (then a good row).
    (folder / "broken.csv").write_text(A3 + "\r\n%s,,%s\r\n%s\r\n%s,,%s\r\n" % (
        devs[7].serial, hashes[7][:500], hashes[7][500:], devs[8].serial, hashes[8]))
    expect["accepted"].add(devs[8].serial)
    expect["files"]["broken.csv"] = ["truncated", "broken across two lines"]
    # 5. A hash in the serial column, another in the group tag column.
    samplefleet.write_csv(folder / "columns.csv", samplefleet.AUTOPILOT3 + ("Group Tag",),
                          [(hashes[9], "", hashes[9], ""), (devs[10].serial, "", hashes[10], hashes[9])])
    expect["files"]["columns.csv"] = ["hash-like text", "hash-like text"]
    # 6. A file without its header row.
    (folder / "noheader.csv").write_text("%s,,%s\r\n" % (devs[11].serial, hashes[11]))
    expect["files"]["noheader.csv"] = ["no header row"]
    # 7. A device whose firmware has no serial.
    blank = dataclasses.replace(hashgen.fleet(405, 1)[0], serial="To be filled by O.E.M.")
    hashes.append(hashgen.build_hash(blank))
    samplefleet.write_csv(folder / "whitebox.csv", samplefleet.AUTOPILOT3, [(blank.serial, "", hashes[-1])])
    expect["files"]["whitebox.csv"] = ["placeholder"]
    # 8. A partner list without hashes.
    samplefleet.write_csv(folder / "partner-tuples.csv", samplefleet.PARTNER,
                          [(d.serial, "", "", d.manufacturer, d.model) for d in devs[:3]])
    expect["files"]["partner-tuples.csv"] = ["no hardware hashes"]
    # 9. What else lies in such a folder.
    (folder / "notes.txt").write_text("pallet 4, row 2\n")
    (folder / "~$mmd-template.xlsx").write_bytes(b"\x00owner")
    expect["skipped"] = {"notes.txt", "~$mmd-template.xlsx"}
    (tmp_path / "out").mkdir()
    return tmp_path, expect, HashPieces(hashes)


def test_every_input_class_through_the_module(inputs):
    tmp_path, expect, pieces = inputs
    log = tmp_path / "ansible.log"
    evars = {"merge_src": [str(tmp_path / "in")], "merge_dest": str(tmp_path / "out" / "registration.csv")}
    rc, data, out, err = run_playbook(PLAYBOOK, "-vvv", "-e", json.dumps(evars), env={"ANSIBLE_LOG_PATH": log})
    assert rc == 0, out[-3000:] + err[-3000:]
    result = task_results(data, "Merge")
    written = {line.split(",")[0] for p in result["paths"] for line in pathlib.Path(p).read_text().splitlines()[1:]}
    assert written == expect["accepted"]
    by_file = {}
    for rej in result["rejected"]:
        by_file.setdefault(pathlib.Path(rej["file"]).name, []).append(rej["reason"])
    assert set(by_file) == set(expect["files"]), result["rejected"]
    for name, wanted in expect["files"].items():
        got = by_file[name]
        assert len(got) == len(wanted), (name, got)
        for reason, words in zip(got, wanted):
            assert words in reason, (name, reason)
    assert {pathlib.Path(s["file"]).name for s in result["not_read"]} >= expect["skipped"]
    assert {"mmd-template.xlsx [Instructions]"} <= {pathlib.Path(s["file"]).name for s in result["not_read"]}
    assert any("may hold devices were not read" in w for w in result.get("warnings", []))
    # Everything the run printed, logged and returned: not one piece of any hash.
    for name, text in (("stdout", out), ("stderr", err), ("log", log.read_text()),
                       ("result", json.dumps({k: v for k, v in result.items() if k != "paths"}))):
        at = pieces.find(text)
        assert at is None, "hash text in %s: ...%s..." % (name, text[max(0, at - 200):at])


def test_refusal_message_shows_no_hash_text(inputs):
    tmp_path, _expect, pieces = inputs
    src = tmp_path / "in" / "columns.csv"
    evars = {"merge_src": [str(src)], "merge_dest": str(tmp_path / "out" / "registration.csv"),
             "merge_fail_on_reject": True}
    rc, data, out, err = run_playbook(PLAYBOOK, "-vvv", "-e", json.dumps(evars))
    result = task_results(data, "Merge")
    assert rc != 0 and result["failed"] is True and "hash-like text" in result["msg"]
    assert list((tmp_path / "out").iterdir()) == []
    assert pieces.find(out + err) is None
