# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/refresh.yml end to end on a 12-device lab fleet (2 unreadable, 1 claimed by another tenant): journal and
outcomes, a second run that changes nothing, check mode and the exit code around the failure threshold. (Crashes:
tests/reliability/test_crash_resume.py kills this playbook at 20 points.)"""

from __future__ import annotations

import json
import pathlib
import time
import xml.etree.ElementTree as ET

import pytest
import yaml

from winfleet_lab import hashgen
from winfleet_lab.campaign import Campaign
from winfleet_lab.playbook import task_results

pytestmark = pytest.mark.integration

HERE = pathlib.Path(__file__).parent / "campaign"
FAULTS = {"pc0003": "offline", "pc0004": "access_denied"}
FOREIGN = "pc0005"
HEALTHY = ["pc%04d" % i for i in range(12) if "pc%04d" % i not in FAULTS]


def _campaign(workdir, base_address, graph_settings=None):
    """The 12-device campaign: 2 unreadable devices, 1 claimed by another organization."""
    camp = Campaign(workdir, base_address, count=12, faults=FAULTS, seed=606, vm_every=0,
                    graph_settings=graph_settings, overrides=yaml.safe_load((HERE / "fleet.yml").read_text()))
    camp.start()
    camp.labs.claim_by_other_tenant(FOREIGN)
    return camp


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    camp = _campaign(tmp_path_factory.mktemp("campaign"), "127.0.52.1")
    try:
        started = time.monotonic()
        camp.first = camp.run(threshold=30, verbose=True)
        camp.first_seconds = time.monotonic() - started
        yield camp
    finally:
        camp.stop()


def _changed_tasks(data):
    return [(task["task"]["name"], host) for play in data["plays"] for task in play["tasks"]
            for host, res in task["hosts"].items() if res.get("changed")]


@pytest.mark.smoke
def test_refresh_end_to_end(campaign):
    rc, _data, out, err = campaign.first
    assert rc == 0, out[-4000:] + err[-2000:]
    # stock Ansible only: no strategy of ours, no deprecation warning about one
    assert "strategy plugins not included in ansible.builtin" not in out + err
    latest = campaign.latest()
    healthy = {campaign.serial(n) for n in HEALTHY}
    foreign = campaign.serial(FOREIGN)
    # collect: every healthy host by its serial, the unreadable ones by host name with their cause
    for name in HEALTHY:
        ev = latest[campaign.serial(name)]["collect"]
        assert (ev["outcome"], ev["status"], ev["detail"]["host"]) == ("changed", "Hash collected", name)
        assert "hardware_hash" not in json.dumps(ev) and len(json.dumps(ev)) < 2000  # never a hash
    assert latest["pc0003"]["collect"]["status"] == "Host unreachable"
    assert latest["pc0004"]["collect"]["status"] == "Access denied"
    assert {latest[n]["collect"]["outcome"] for n in FAULTS} == {"failed"}
    # cleanup (on in the lab inventory: these devices have no stale records), merge, register in the seed's words,
    # deliver
    for serial in healthy:
        assert (latest[serial]["cleanup"]["outcome"], latest[serial]["cleanup"]["status"]) == ("ok", "Nothing to clean")
        assert latest[serial]["merge"]["status"] == "In upload file"
    assert {s: latest[s]["register"]["status"] for s in healthy} == {
        s: ("Device claimed by another organization" if s == foreign else "Registered") for s in healthy}
    assert latest[foreign]["register"]["outcome"] == "failed"
    assert latest[foreign]["register"]["detail"]["error_code"] == 808
    assert "deliver" not in latest[foreign]
    delivered = {s: latest[s]["deliver"] for s in healthy - {foreign}}
    assert {ev["status"] for ev in delivered.values()} == {"Ready for user"}
    assert {ev["detail"]["group_tag"] for ev in delivered.values()} == {"WINFLEET-LAB"}
    alice = delivered[campaign.serial("pc0001")]["detail"]
    assert (alice["assigned_user"], alice["licence"]) == ("alice@winfleetlab.onmicrosoft.com", "ok")
    # the lab agrees: imported once each, the foreign device refused, nothing deleted
    stats = campaign.labs.graph_stats()
    assert stats["created_by_serial"] == {s.upper(): 1 for s in healthy}
    assert stats["counters"].get("registered") == len(healthy) - 1
    # the report: JUnit with one testcase per device and the three failures
    report = campaign.dir / "report"
    suite = ET.parse(report / "junit.xml").getroot()  # noqa: S314 - our own report
    cases = list(suite.iter("testcase"))
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(cases) == 12 and len(failures) == 3
    assert (report / "report.html").stat().st_size > 1000
    summary = json.loads((report / "report.json").read_text())["summary"]
    assert (summary["devices"], summary["failed"], summary["failed_percentage"]) == (12, 3, 25.0)
    # progress was visible while waiting
    assert "Registration, look 1:" in out
    # no part of any hash reached the output, even at -vvv (collected over WinRM, merged, sent to Graph)
    for name in HEALTHY:
        text = hashgen.build_hash(campaign.labs.host(name).device)
        assert text[16:56] not in out + err, name


def test_second_run_changes_nothing(campaign):
    before = campaign.journal.read_bytes()
    imports = campaign.labs.graph_stats()["counters"]["import_records_created"]
    rc, data, out, err = campaign.run(threshold=25)  # 3 of 12 failed = 25 %: exactly at the threshold passes
    assert rc == 0, out[-4000:] + err[-2000:]
    assert _changed_tasks(data) == []
    assert campaign.journal.read_bytes() == before
    assert campaign.labs.graph_stats()["counters"]["import_records_created"] == imports
    # nothing left to register: the register_pending lookup (the module's own rule) starts no import module
    assert task_results(data, "winfleet.autopilot.register : Register the merged devices in Windows Autopilot").get(
        "skipped") is True
    assert "Nothing left to register" in out


def test_check_mode_runs_clean(campaign):
    before = campaign.journal.read_bytes()
    report = (campaign.dir / "report" / "report.json").read_bytes()
    rc, data, out, err = campaign.run(check=True)
    assert rc == 0, out[-4000:] + err[-2000:]
    assert data["stats"]["localhost"]["failures"] == 0
    assert campaign.journal.read_bytes() == before
    assert (campaign.dir / "report" / "report.json").read_bytes() == report


def test_exit_code_over_threshold(campaign):
    rc, _data, out, _err = campaign.run(threshold=0)
    assert rc == 2, out[-3000:]
    assert "3 of 12 devices failed (25.0 %), more than the threshold of 0 %" in " ".join(out.split())


def test_a_mostly_unreadable_batch_stops_the_campaign(campaign):
    # batch 1 (pc0000-pc0005) has 2 unreadable hosts of 6: over a 10 % limit the campaign stops after collect
    imports = campaign.labs.graph_stats()["counters"].get("import_records_created", 0)
    rc, _data, out, _err = campaign.run(extra={"campaign_name": "stopped", "fleet_max_fail_percentage": 10})
    assert rc != 0
    assert "2 of 6 hosts of this batch could not be read (more than 10 %): the campaign stops here" in " ".join(
        out.split())
    journal = campaign.workdir / "campaigns" / "lab" / "stopped" / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    assert {ev["stage"] for ev in events} == {"collect"}
    assert len(events) == 6  # batch 2 (pc0006-pc0011) was never read
    assert campaign.labs.graph_stats()["counters"].get("import_records_created", 0) == imports
