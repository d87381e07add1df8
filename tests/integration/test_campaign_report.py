# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""campaign_journal, campaign_journal_info and campaign_report through ansible-playbook: check mode writes
nothing, a real run writes the journal and the report, a second run changes nothing; forks append at once."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import pathlib
import stat
import xml.etree.ElementTree as ET

import pytest

from winfleet_lab.playbook import run_playbook, task_results

pytestmark = pytest.mark.integration

HERE = pathlib.Path(__file__).parent / "report"
STAGES = ("collect", "merge", "cleanup", "register", "deliver")
FILES = ("report.csv", "report.json", "report.html", "junit.xml")
FAKE_HASH = "T0EAAAAA" + "QUJD" * 600  # shaped like a hardware hash: must never reach the journal or the output


def _load_fleet():
    spec = importlib.util.spec_from_file_location("report_fleet", HERE / "fleet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fleet = _load_fleet()


def play(tmp_path, playbook, *args, check=False, **extra_vars):
    varfile = tmp_path / ("vars-%d.json" % len(list(tmp_path.glob("vars-*.json"))))
    varfile.write_text(json.dumps(extra_vars))
    rc, data, out, err = run_playbook(HERE / playbook, "-e", "@%s" % varfile, *args, check=check)
    assert data is not None, out + err
    return rc, data, out + err


def test_check_then_real_then_nothing_changes(tmp_path):
    campaign = tmp_path / "campaigns" / "fleet-a" / "2026-11"
    batches = fleet.batches()
    want = fleet.expected()
    evars = dict(campaign_dir=str(campaign), journal_batches=batches)

    # Check mode: predicts every append and the report files, writes nothing at all.
    rc, data, text = play(tmp_path, "report.yml", "--diff", check=True, **evars)
    assert rc == 0, text
    journal = task_results(data, "Journal")["results"]
    assert [r["appended"] for r in journal] == [len(b["events"]) for b in batches]
    assert all(r["changed"] for r in journal)
    diff = journal[0]["diff"]
    assert diff["before"] == "" and len(diff["after"].splitlines()) == len(batches[0]["events"])
    assert '"serial":"CZC04100"' in diff["after"]
    report = task_results(data, "Report")
    assert report["changed"] is True and report["summary"]["devices"] == 0  # no journal yet in check mode
    assert [d["before"] for d in report["diff"]] == ["", "", "", ""]
    assert any("no journal at" in w for w in report.get("warnings", []))
    assert not (tmp_path / "campaigns").exists()

    # The real run.
    rc, data, text = play(tmp_path, "report.yml", **evars)
    assert rc == 0, text
    assert [r["appended"] for r in task_results(data, "Journal")["results"]] == [len(b["events"]) for b in batches]
    assert stat.S_IMODE(os.stat(campaign).st_mode) == 0o700
    lines = (campaign / "journal.jsonl").read_text().splitlines()
    assert len(lines) == sum(len(b["events"]) for b in batches)
    assert all(list(json.loads(line)) == ["detail", "outcome", "run", "serial", "stage", "status", "ts"]
               for line in lines)

    info = task_results(data, "Journal info")
    assert info["changed"] is False and info["runs"] == [b["run"] for b in batches[:2]]
    assert len(info["devices"]) == 30
    failed_at = {}
    for serial, _name, _state, stage, _cause in fleet.devices():
        if stage:
            failed_at.setdefault(stage, []).append(serial)
    assert info["failures"] == {s: sorted(failed_at.get(s, [])) for s in STAGES}
    assert len(info["done"]["collect"]) == 27 and len(info["done"]["register"]) == 27 - 1 - 2
    assert info["devices"]["CZC04170"]["collect"]["run"] == batches[1]["run"]  # collected in the second run

    report = task_results(data, "Report")
    assert report["changed"] is True
    assert report["summary"] == {k: want[k] for k in ("devices", "by_status", "failed", "failed_percentage")}
    dest = campaign / "report"
    assert report["files"] == {"csv": str(dest / "report.csv"), "json": str(dest / "report.json"),
                               "html": str(dest / "report.html"), "junit": str(dest / "junit.xml")}
    assert sorted(report["written"]) == sorted(str(dest / f) for f in FILES)
    assert sorted(os.listdir(dest)) == sorted(FILES)
    for name in FILES:
        assert stat.S_IMODE(os.stat(dest / name).st_mode) == 0o600

    table = list(csv.DictReader(io.StringIO((dest / "report.csv").read_text("utf-8-sig"), newline="")))
    assert len(table) == 30
    assert {r["Serial number"]: r["Cause"] for r in table if r["Cause"]} == want["cause"]
    names = {r["Name"] for r in table}
    assert "'" + fleet.FORMULA_NAME in names and fleet.XSS_NAME in names
    suite = ET.fromstring((dest / "junit.xml").read_bytes())  # noqa: S314 - our own output
    assert suite.find("testsuite").get("failures") == str(want["failed"])
    doc = json.loads((dest / "report.json").read_text())
    assert doc["summary"]["failed_percentage"] == want["failed_percentage"]
    before = {name: ((dest / name).read_bytes(), os.stat(dest / name).st_mtime_ns) for name in FILES}
    journal_before = (campaign / "journal.jsonl").read_bytes()

    # The second run again (a re-run after a crash sends what that run had sent): nothing appended or rewritten.
    # (Replaying the first run's collect batch would append: each event is compared with the latest one.)
    rc, data, text = play(tmp_path, "report.yml", "--diff", campaign_dir=str(campaign), journal_batches=batches[1:])
    assert rc == 0, text
    assert all(r["changed"] is False and r["appended"] == 0 for r in task_results(data, "Journal")["results"])
    again = task_results(data, "Report")
    assert again["changed"] is False and again["written"] == [] and again["summary"] == report["summary"]
    assert (campaign / "journal.jsonl").read_bytes() == journal_before
    assert {name: ((dest / name).read_bytes(), os.stat(dest / name).st_mtime_ns) for name in FILES} == before
    assert data["stats"]["localhost"]["changed"] == 0


def test_forks_append_at_once_and_bad_input_is_named(tmp_path):
    campaign = tmp_path / "campaign"
    hosts = ["pc-%02d" % i for i in range(8)]
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[fleet]\n" + "".join("%s ansible_connection=local\n" % h for h in hosts))
    rc, data, text = play(tmp_path, "forks.yml", "-i", str(inventory), "-f", "8", campaign_dir=str(campaign),
                          fake_hash=FAKE_HASH)
    assert rc == 0, text
    results = [task_results(data, "Journal from each host", host=h) for h in hosts]
    assert all(r["changed"] is True and r["appended"] == 1 for r in results)
    assert any("hardware hash was removed" in w for r in results for w in r.get("warnings", []))
    events = [json.loads(line) for line in (campaign / "journal.jsonl").read_text().splitlines()]
    assert sorted(e["serial"] for e in events) == sorted(h.upper() for h in hosts)
    assert all("hardware_hash" not in e["detail"] for e in events)
    assert FAKE_HASH[:64] not in (campaign / "journal.jsonl").read_text()

    no_outcome = task_results(data, "Event without an outcome")
    assert no_outcome["failed"] is True and "outcome" in no_outcome["msg"]
    bad_format = task_results(data, "Unknown report format")
    assert bad_format["failed"] is True and "pdf" in bad_format["msg"] and "formats" in bad_format["msg"]
    assert not (campaign / "report").exists()
