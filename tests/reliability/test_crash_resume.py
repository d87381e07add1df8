# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash and resume: playbooks/refresh.yml SIGKILLed at 20 points, from the first WinRM query to the last journal
line, each followed by a plain re-run.

The campaign (``crashlab``): 8 devices - one re-used (stale Autopilot, Intune and hybrid Entra records and a
ConfigMgr device: cleaned in order, then registered again), one offline, one claimed by another organization, five
to register - next to records of another fleet that must never be touched. An uninterrupted run gives the reference
state; after every kill and re-run the state must be exactly that: the same outcome for every device, every device
imported once, the same Autopilot identities, group tags and users, the same Intune, Entra and ConfigMgr records.
Right after each kill, before the re-run: no device imported twice, no record of the other fleet gone.
"""

from __future__ import annotations

import fcntl
import json
import time

import crashlab
import figures
import pytest
from crashlab import Point

pytestmark = pytest.mark.integration

ID = r"[0-9a-f-]{36}"
POINTS = [
    # collect
    Point("collect: the first device asked (Win32_OperatingSystem)", "wsman", "Win32_OperatingSystem"),
    Point("collect: the 4th device asked for its hash", "wsman", "MDM_DevDetail_Ext01", 4),
    Point("collect: outcomes journaled, clean-up not started", "journal", "collect"),
    # clean-up
    Point("clean: first Intune lookup", "graph", r"^GET /beta/deviceManagement/managedDevices$"),
    Point("clean: first ConfigMgr lookup", "configmgr", r"^GET /AdminService/wmi/SMS_R_System"),
    Point("clean: Intune record deleted, answer lost", "graph", r"^DELETE /beta/deviceManagement/managedDevices/",
          phase="reply"),
    Point("clean: Autopilot deletion sent", "graph", r"^DELETE /beta/deviceManagement/windowsAutopilotDeviceIdentities/"),
    Point("clean: waiting for the Autopilot deletion", "graph",
          r"^GET /beta/deviceManagement/windowsAutopilotDeviceIdentities/%s$" % ID, 2),
    Point("clean: hybrid Entra object deleted, answer lost", "graph", r"^DELETE /beta/devices/", phase="reply"),
    Point("clean: ConfigMgr device deleted, answer lost", "configmgr", r"^DELETE /AdminService/wmi/SMS_R_System\(",
          phase="reply"),
    # merge
    Point("merge: clean-up journaled", "journal", "cleanup"),
    Point("merge: upload file journaled, nothing submitted", "journal", "merge"),
    # register
    Point("register: import sent", "graph", r"^POST /beta/deviceManagement/importedWindowsAutopilotDeviceIdentities/import$"),
    Point("register: imported, answer lost", "graph",
          r"^POST /beta/deviceManagement/importedWindowsAutopilotDeviceIdentities/import$", phase="reply"),
    Point("register: first look at the import", "graph",
          r"^GET /beta/deviceManagement/importedWindowsAutopilotDeviceIdentities$", 2),
    Point("register: submission journaled (pending)", "journal", "register"),
    Point("register: outcomes journaled", "journal", "register", crashlab.COUNT),
    # deliver and report
    Point("deliver: group tag and user set, answer lost", "graph", r"/updateDeviceProperties$", phase="reply"),
    Point("deliver: licence check", "graph", r"^GET /beta/users/[^/?]+$"),
    Point("report: deliver journaled, report not written", "journal", "deliver"),
]
SECTION = "crash and resume (SIGKILL at %d points)" % len(POINTS)


@pytest.fixture(scope="session")
def reference(tmp_path_factory, worker_id):
    """The final state of an uninterrupted run, computed once for every xdist worker (the first one writes it)."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    path = shared / "crash-reference.json"
    with open(shared / "crash-reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            camp = crashlab.start(shared / "crash-reference", len(POINTS))
            try:
                started = time.monotonic()
                rc, _data, out, err = camp.run(threshold=crashlab.THRESHOLD)
                assert rc == 0, out[-4000:] + err[-2000:]
                ref = {"state": crashlab.fingerprint(camp), "seconds": time.monotonic() - started}
            finally:
                camp.stop()
            path.write_text(json.dumps(ref))
    return json.loads(path.read_text())


def _normal(state):
    return json.loads(json.dumps(state))  # tuples as lists, like the reference read back


def _reference_is_sound(state, camp):
    """The uninterrupted run did what the scenario says (so converging to it means something)."""
    final = state["final"]
    reused, foreign = camp.serial(crashlab.REUSED), camp.serial(crashlab.FOREIGN)
    assert final[crashlab.OFFLINE] == ["collect", "Host unreachable"]
    assert final[foreign] == ["register", "Device claimed by another organization"]
    assert final[reused] == ["deliver", "Ready for user"]
    assert sorted(final) == sorted([crashlab.OFFLINE] + [camp.serial("pc%04d" % i) for i in range(crashlab.COUNT)
                                                         if "pc%04d" % i != crashlab.OFFLINE])
    assert set(state["imports"].values()) == {1}
    assert state["configmgr"] == [crashlab.KEEP_CM[0]]          # the re-used device's record went, the other stayed
    assert state["managed"] == [crashlab.KEEP_GRAPH]            # idem in Intune
    assert "ServerAd" not in state["entra"][reused]             # the hybrid object went


IDS = ["%s-%02d" % (p.name.split(":")[0], i) for i, p in enumerate(POINTS)]


@pytest.mark.parametrize("index", range(len(POINTS)), ids=IDS)
def test_killed_then_resumed(index, reference, tmp_path):
    point = POINTS[index]
    camp = crashlab.start(tmp_path / "campaign", index)
    try:
        _reference_is_sound(reference["state"], camp)
        killer = crashlab.Killer(camp, point)
        with open(tmp_path / "killed-run.log", "wb") as log:
            proc = camp.popen(log, threshold=crashlab.THRESHOLD)
            killer.arm(proc)
            try:
                while not killer.fired.wait(0.2):  # the kill comes from the lab's own thread
                    if proc.poll() is not None:
                        break
                proc.wait(60)
            finally:
                killer.disarm()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(30)
        killed_log = (tmp_path / "killed-run.log").read_text(errors="replace")
        assert killer.error is None, killer.error
        assert killer.fired.is_set(), "the run ended without reaching %r:\n%s" % (point, killed_log[-3000:])
        assert "PLAY RECAP" not in killed_log
        # right after the kill: nothing imported twice, nothing of the other fleet touched
        stats = camp.labs.graph_stats()
        assert max(stats["created_by_serial"].values(), default=0) <= 1
        assert crashlab.keepers_intact(camp) == 3
        imported_at_kill = sum(stats["created_by_serial"].values())

        started = time.monotonic()
        rc, _data, out, err = camp.run(threshold=crashlab.THRESHOLD)
        seconds = time.monotonic() - started
        assert rc == 0, killer.where + "\n" + out[-4000:] + err[-2000:]
        state = _normal(crashlab.fingerprint(camp))
        assert state == reference["state"], "killed at %s (%s)" % (point.name, killer.where)
        assert camp.labs.graph.errors == []
        twice = sum(1 for n in camp.labs.graph_stats()["created_by_serial"].values() if n > 1)
        kept = crashlab.keepers_intact(camp)
    finally:
        camp.stop()

    add = figures.add
    add(SECTION, "#kill points", 1)
    add(SECTION, "#points in stage %s" % point.name.split(":")[0], 1)
    add(SECTION, "re-runs converged to the uninterrupted run's state", 1)
    add(SECTION, "devices imported before the kill (then not again)", imported_at_kill)
    add(SECTION, "devices imported twice", twice)
    add(SECTION, "records of the other fleet deleted", 3 - kept)
    add(SECTION, "re-run seconds (sum)", round(seconds, 1))
    if index == 0:
        add(SECTION, "uninterrupted run seconds", round(reference["seconds"], 1))
