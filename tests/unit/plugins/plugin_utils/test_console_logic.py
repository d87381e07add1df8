"""The campaign console's logic (plugin_utils/_console.py) without ansible: stages, live counts, rate and time left,
redraws on a terminal and periodic lines in a log, each failure once, the table at the end, and what is never shown."""

from __future__ import annotations

import datetime
import json
import random

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal, _progress
from ansible_collections.winfleet.autopilot.plugins.plugin_utils import _console
from winfleet_lab import hashgen

START = 1_795_000_000.0  # 2026-11-18T...Z


class Clock:
    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


class Screen:
    """What ``out`` received: the lines printed for good, and every write (for the terminal's redraws)."""

    def __init__(self):
        self.writes = []

    def __call__(self, text, newline=True, screen_only=False):
        self.writes.append((text, newline, screen_only))

    @property
    def lines(self):
        return [text for text, newline, _screen in self.writes if newline]

    @property
    def text(self):
        return "".join(text + ("\n" if newline else "") for text, newline, _s in self.writes)


def _console_for(tmp_path, tty=False, interval=10, failure_lines=50):
    screen, clock = Screen(), Clock()
    wall = Clock(START)
    con = _console.Console(screen, tty, interval=interval, width=120, failure_lines=failure_lines,
                           progress_path=str(tmp_path / "progress.json"), clock=clock, wall=wall)
    return con, screen, clock, wall


def _journal_events(tmp_path, stage, events, ts=START):
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    _journal.append(str(tmp_path), stage, events, run="run-1", now=moment)


def _result(tmp_path):
    return {"changed": True, "invocation": {"module_args": {"journal": str(tmp_path)}}}


def test_stages_counts_failures_once_and_the_table(tmp_path):
    con, screen, clock, _wall = _console_for(tmp_path)
    con.playbook_start("/x/refresh.yml")
    con.task_start("prepare", "Create the campaign folder")
    con.task_result("localhost", "ok", {}, "ansible.builtin.file")
    clock.now = 1
    con.task_start("collect", "Read the hardware hashes of the batch over WinRM")
    _journal_events(tmp_path, "collect", [
        {"serial": "SN-1", "outcome": "changed", "status": "Hash collected", "detail": {"host": "pc0001"}},
        {"serial": "pc0002", "outcome": "failed", "status": "Host unreachable",
         "detail": {"host": "pc0002", "message": "no answer within 3s"}}])
    con.task_result("pc0001", "ok", _result(tmp_path), "winfleet.autopilot.fleet_hardware_hash_info")
    con.task_result("pc0001", "ok", _result(tmp_path), "winfleet.autopilot.fleet_hardware_hash_info")  # same again
    clock.now = 4
    con.task_start("register", "Register the merged devices in Windows Autopilot")
    _journal_events(tmp_path, "register", [
        {"serial": "SN-1", "outcome": "failed", "status": "Device claimed by another organization",
         "detail": {"error_code": 808}}])
    con.task_result("localhost", "ok", _result(tmp_path), "winfleet.autopilot.autopilot_import")
    con.task_start("report", "Write the campaign report")
    con.task_result("localhost", "ok", {"files": {"html": "/c/report/report.html"},
                                        "invocation": {"module_args": {"path": str(tmp_path)}}},
                    "winfleet.autopilot.campaign_report")
    con.task_start("report", "Fail the campaign when more devices failed than the threshold allows")
    con.task_result("localhost", "failed", {"msg": "2 of 2 devices failed (100.0 %), more than the threshold"},
                    "ansible.builtin.assert")
    clock.now = 6
    con.finish(["localhost"])
    lines = screen.lines
    assert lines[0].startswith("Campaign refresh.yml - one line per stage")
    assert "prepare   done (1 s)" in lines
    assert "collect   2 devices: 1 done, 1 failed (3 s)" in lines
    assert lines.count("  FAILED collect  pc0002: Host unreachable - no answer within 3s") == 1
    assert lines.count("  FAILED register pc0001 (SN-1): Device claimed by another organization - error 808") == 1
    assert lines.count("  ERROR Fail the campaign when more devices failed than the thres... [localhost]: "
                       "2 of 2 devices failed (100.0 %), more than the threshold") == 1
    table = lines[lines.index(next(x for x in lines if x.startswith("Devices by state"))):]
    assert table[0] == "Devices by state and cause (2 devices, 2 failed = 100.0 %):"
    assert any("Device claimed by another organization" in x and "register:" in x for x in table)
    assert any("Not collected" in x and "collect: Host unreachable" in x for x in table)
    assert "Failed in earlier runs of this campaign:" not in lines  # both were named during the run
    assert lines[-2:] == ["Report: /c/report/report.html", "Stopped after 6 s: a task failed on localhost"]


def test_events_of_earlier_runs_are_not_live_but_listed_at_the_end(tmp_path):
    _journal_events(tmp_path, "collect", [{"serial": "pc0009", "outcome": "failed", "status": "Access denied",
                                           "detail": {"host": "pc0009"}}], ts=START - 3600)
    con, screen, _clock, _wall = _console_for(tmp_path)
    con.task_start("cleanup", "Read the campaign journal")
    con.task_result("localhost", "ok", {"invocation": {"module_args": {"path": str(tmp_path)}}},
                    "winfleet.autopilot.campaign_journal_info")
    con.finish()
    assert not any(x.startswith("  FAILED") for x in screen.lines)
    assert "Failed in earlier runs of this campaign:" in screen.lines
    assert "  pc0009: collect: Access denied" in screen.lines


def test_live_progress_rate_and_time_left_on_a_log(tmp_path):
    con, screen, clock, wall = _console_for(tmp_path, interval=10)
    con.task_start("collect", "Read the hardware hashes of the batch over WinRM")
    rep = _progress.Reporter("collect", "Reading hardware hashes over WinRM", total=100, journal=str(tmp_path),
                             path=str(tmp_path / "progress.json"), interval=0, clock=wall)
    wall.now += 5
    rep.update(done=20, failed=5)
    clock.now = 5
    con.tick()
    assert screen.lines == []  # not 10 s yet
    clock.now = 10
    con.tick()
    assert screen.lines == ["collect   20/100 done, 5 failed, 75 left - Reading hardware hashes over WinRM - 5.0/s - "
                            "about 15 s left (10 s)"]
    clock.now = 21
    con.tick()
    assert len(screen.lines) == 1  # nothing changed: no second line (until the heartbeat, 6 intervals)
    clock.now = 70
    con.tick()
    assert len(screen.lines) == 2 and screen.lines[-1].endswith("(70 s)")
    wall.now += 5
    rep.update(done=45, failed=5)
    clock.now = 80
    con.tick()
    assert screen.lines[-1].startswith("collect   45/100 done, 5 failed, 50 left")
    assert "about 10 s left" in screen.lines[-1]


def test_a_terminal_redraws_in_place_and_keeps_lines_whole(tmp_path):
    con, screen, clock, wall = _console_for(tmp_path, tty=True)
    con.task_start("register", "Register the merged devices in Windows Autopilot")
    rep = _progress.Reporter("register", "Waiting for the import verdicts", path=str(tmp_path / "progress.json"),
                             interval=0, clock=wall)
    rep.submitted([{}] * 8)
    con.tick()
    wall.now += 2
    rep.look({"ready": 4, "pending": 4, "failed": 0})
    clock.now = 2
    con.tick()
    redraws = [text for text, newline, screen_only in screen.writes if not newline]
    assert all(text.startswith(_console.TTY_CLEAR) for text in redraws)
    assert all(screen_only for _t, newline, screen_only in screen.writes if not newline)  # never in the log file
    assert redraws[-1] == _console.TTY_CLEAR + ("register  4/8 done, 0 failed, 4 left - Waiting for the import "
                                                "verdicts - 2.0/s - about 2 s left (2 s)")
    assert screen.lines == []
    con.note("No hosts left")  # a line for good first clears the status line
    assert screen.writes[-2] == (_console.TTY_CLEAR, False, True)


def test_bulk_deletion_steps_show_their_own_unit(tmp_path):
    con, _screen, _clock, wall = _console_for(tmp_path, tty=True)
    con.task_start("cleanup", "Delete the Intune managed devices")
    rep = _progress.Reporter("cleanup", "Deleting managedDevices", total=40, unit="records",
                             path=str(tmp_path / "progress.json"), clock=wall)
    rep.update(done=20, force=True)
    con.tick()
    assert con.status().startswith("cleanup   Deleting managedDevices: 20/40 records, 0 failed")


def test_failures_beyond_the_limit_are_counted(tmp_path):
    con, screen, _clock, _wall = _console_for(tmp_path, failure_lines=3)
    con.task_start("collect", "Read")
    _journal_events(tmp_path, "collect", [{"serial": "pc%04d" % i, "outcome": "failed", "status": "Host unreachable",
                                           "detail": {"host": "pc%04d" % i}} for i in range(10)])
    con.task_result("localhost", "ok", _result(tmp_path), "winfleet.autopilot.fleet_hardware_hash_info")
    con.finish()
    assert len([x for x in screen.lines if x.startswith("  FAILED")]) == 3
    assert "  ... and 7 more failures: see the table and the report" in screen.lines
    assert any(x.strip().startswith("10  Not collected") for x in screen.lines)


def test_nothing_secret_or_hash_like_is_shown(tmp_path):
    text = hashgen.build_hash(hashgen.random_device(random.Random(7)))
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
    shown = _console.safe("refused %s with Bearer abcdefghijklmnopqrstuvwxyz012345 and %s" % (text, token), 400)
    assert text[:32] not in shown and token not in shown and "abcdefghijklmnopqrstuvwxyz012345" not in shown
    assert "hash-like text" in shown and "<token removed>" in shown
    # a WMI namespace is a path, not a hash
    wmi = "root/cimv2/mdm/dmmap:MDM_DevDetail_Ext01"
    assert wmi in _console.safe("access denied to " + wmi)
    assert _console.safe("a\nb\x1b[2J c" + " x" * 250, 50).endswith("...") and "\x1b" not in _console.safe("\x1b[2J")
    # a failure's message from the journal and a task's message go through safe()
    con, screen, _clock, _wall = _console_for(tmp_path)
    con.task_start("collect", "Read")
    _journal_events(tmp_path, "collect", [{"serial": "pc0001", "outcome": "failed", "status": "WMI provider error",
                                           "detail": {"host": "pc0001", "message": "bad value %s" % text[:300]}}])
    con.task_result("localhost", "failed", dict(_result(tmp_path), msg="token %s" % token),
                    "winfleet.autopilot.fleet_hardware_hash_info")
    con.finish()
    assert text[40:72] not in screen.text and token not in screen.text
    assert "journal" not in json.dumps([x for x in screen.lines if "FAILED" in x])


def test_stage_of_a_task():
    assert _console.stage_of("winfleet.autopilot.collect", "winfleet.autopilot.fleet_hardware_hash_info", "Read",
                             "prepare", "Collect") == "collect"
    assert _console.stage_of("deliver", "winfleet.autopilot.campaign_report", "Write", "deliver", "x") == "report"
    assert _console.stage_of("winfleet.autopilot.deliver", "ansible.builtin.assert", "Fail", "report", "x") == "report"
    assert _console.stage_of("", "ansible.builtin.file", "Create", None, "Prepare the campaign") == "prepare"
    assert _console.stage_of("", "ansible.builtin.set_fact", "Name", "collect", "Prepare the campaign") == "collect"
    assert _console.stage_of("", "ansible.builtin.debug", "Hi", None, "My own play") == "my own play"


def test_warnings_in_every_shape_once_each(tmp_path):
    con, screen, _clock, _wall = _console_for(tmp_path)
    con.task_start("cleanup", "Delete")
    for shape in ("synced from AD", {"msg": "synced from AD"}, {"details": [{"msg": "other"}]}):
        con.task_result("localhost", "ok", {"warnings": [shape]}, "winfleet.autopilot.entra_device")
    assert [x for x in screen.lines if "warning" in x] == ["  warning: synced from AD", "  warning: other"]
    assert _console.duration(59.6) == "60 s" and _console.duration(125) == "2m05s" and _console.duration(7300) == \
        "2h01m"


def test_a_step_is_counted_once_when_its_file_changes_after_the_task_ended(tmp_path):
    con, _screen, _clock, wall = _console_for(tmp_path)
    con.task_start("collect", "Read the batch")
    rep = _progress.Reporter("collect", "Reading", total=2, journal=str(tmp_path),
                             path=str(tmp_path / "progress.json"), interval=0, clock=wall)
    rep.update(done=1)
    con.tick()
    _journal_events(tmp_path, "collect", [{"serial": "SN-%d" % i, "outcome": "changed", "status": "Hash collected",
                                           "detail": {"host": "pc%d" % i}} for i in range(2)])
    con.task_result("localhost", "ok", _result(tmp_path), "winfleet.autopilot.fleet_hardware_hash_info")
    wall.now += 1
    rep.finish()  # written after the last look of the console: the journal has these devices now
    con.tick()
    assert con.counts(con.stage) == (2, 0, None, 0)
    con.task_start("collect", "Read the next batch")
    con.tick()  # the old file is not the new task's
    assert con.counts(con.stage) == (2, 0, None, 0)
