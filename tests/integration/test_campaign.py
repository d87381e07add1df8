# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/refresh.yml end to end on a 12-device lab fleet (2 unreadable, 1 claimed by another tenant): journal and
outcomes, a second run that changes nothing, check mode, the exit code around the failure threshold, and the crash
test (SIGKILL mid-registration, run again: every device imported exactly once, nothing deleted)."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from winfleet_lab import hashgen
from winfleet_lab.fixtures_graph import kill_tree
from winfleet_lab.playbook import BIN, ROOT, ansible_env, run_playbook

pytestmark = pytest.mark.integration

HERE = pathlib.Path(__file__).parent / "campaign"
REFRESH = ROOT / "playbooks" / "refresh.yml"
FAULTS = {"pc0003": "offline", "pc0004": "access_denied"}
FOREIGN = "pc0005"
HEALTHY = ["pc%04d" % i for i in range(12) if "pc%04d" % i not in FAULTS]


def _demo():
    spec = importlib.util.spec_from_file_location("winfleet_demo", ROOT / "tools" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Campaign:
    """A lab pair, an inventory (the lab inventory's group_vars, 12 hosts) and a campaign folder."""

    def __init__(self, workdir, base_address, graph_settings=None):
        self.workdir = pathlib.Path(workdir)
        self.labs = _demo().Labs(self.workdir / "labs", count=12, base_address=base_address, faults=FAULTS,
                                 seed=606, vm_every=0, graph_settings=graph_settings)
        self.inventory = self.workdir / "inventory"
        self.inventory.mkdir(parents=True)
        (self.inventory / "hosts.yml").write_text((HERE / "hosts.yml").read_text())
        os.symlink(ROOT / "inventory" / "lab" / "group_vars", self.inventory / "group_vars")
        self.dir = self.workdir / "campaigns" / "lab" / "test"
        self.journal = self.dir / "journal.jsonl"

    def start(self):
        self.labs.start()
        self.labs.claim_by_other_tenant(FOREIGN)
        self.connection = self.labs.write_connection(self.workdir / "connection.yml")
        return self

    def args(self, threshold):
        return ["-i", str(self.inventory), "-e", "@%s" % self.connection, "-e", "@%s" % (HERE / "fleet.yml"),
                "-e", "campaign_name=test", "-e", "campaign_root=%s" % (self.workdir / "campaigns"),
                "-e", "refresh_fail_threshold=%s" % threshold, "-f", "12"]

    def run(self, threshold=30, check=False, verbose=False):
        return run_playbook(REFRESH, *self.args(threshold), *(["-vvv"] if verbose else []), check=check)

    def events(self):
        return [json.loads(line) for line in self.journal.read_text().splitlines()]

    def latest(self):
        out = {}
        for ev in self.events():
            out.setdefault(ev["serial"], {})[ev["stage"]] = ev
        return out

    def serial(self, name):
        return self.labs.serial(name)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    camp = Campaign(tmp_path_factory.mktemp("campaign"), "127.0.52.1").start()
    try:
        started = time.monotonic()
        camp.first = camp.run(threshold=30, verbose=True)
        camp.first_seconds = time.monotonic() - started
        yield camp
    finally:
        camp.labs.stop()


def _changed_tasks(data):
    return [(task["task"]["name"], host) for play in data["plays"] for task in play["tasks"]
            for host, res in task["hosts"].items() if res.get("changed")]


def test_refresh_end_to_end(campaign):
    rc, _data, out, err = campaign.first
    assert rc == 0, out[-4000:] + err[-2000:]
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
        s: ("Device claimed by another organization" if s == foreign else "Ready for user") for s in healthy}
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


def test_crash_mid_registration_then_resume(tmp_path):
    # Import processing takes ~5 s in this lab, so the kill lands while the playbook waits for the verdicts.
    camp = Campaign(tmp_path, "127.0.53.1", graph_settings={"processing_delay": 500.0}).start()
    try:
        cmd = [str(BIN / "ansible-playbook"), str(REFRESH), *camp.args(30)]
        log = open(tmp_path / "killed-run.log", "wb")  # closed below
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=ansible_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            # Kill as soon as the journal shows the register stage started (the devices submitted, pending).
            while not (camp.journal.exists() and '"stage":"register"' in camp.journal.read_text()):
                assert proc.poll() is None, "the playbook ended before the register stage"
                assert time.monotonic() < deadline, "no register stage within 180 s"
                time.sleep(0.05)  # polling interval of an observed condition, not a synchronisation sleep
            kill_tree(proc.pid)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        finally:
            proc.wait(30)
            log.close()
        # (kill_tree reaps the process itself, so its return code is not ours to read: the log shows it never ended)
        killed_log = (tmp_path / "killed-run.log").read_text()
        assert "PLAY RECAP" not in killed_log, killed_log[-3000:]
        killed_at = camp.latest()
        assert camp.labs.graph_stats()["counters"].get("import_records_created", 0) > 0
        assert {ev["register"]["status"] for ev in killed_at.values() if "register" in ev} == {"Registration pending"}

        rc, _data, out, err = camp.run(threshold=30)
        assert rc == 0, out[-4000:] + err[-2000:]
        latest = camp.latest()
        healthy = {camp.serial(n) for n in HEALTHY}
        foreign = camp.serial(FOREIGN)
        assert {s: latest[s]["register"]["status"] for s in healthy - {foreign}} == {
            s: "Ready for user" for s in healthy - {foreign}}
        assert latest[foreign]["register"]["status"] == "Device claimed by another organization"
        stats = camp.labs.graph_stats()
        assert stats["created_by_serial"] == {s.upper(): 1 for s in healthy}, "a device was imported twice"
        assert stats["counters"].get("autopilot_deleted", 0) == 0
        assert stats["counters"].get("imported_deleted", 0) == 0
        assert len(latest) == 12
    finally:
        camp.labs.stop()
