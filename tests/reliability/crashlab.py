# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The crash-and-resume scenario of ``test_crash_resume.py``: one small campaign with something to clean, something
that fails and something to register, the exact points where the playbook is killed, and the campaign's final
state as a comparable fingerprint.

A kill point is (lab, what, nth, phase): the playbook (with every worker and module process) is SIGKILLed from
inside the lab's own request handling, so the point is exact and the same in every run:

* ``graph`` / ``configmgr``: the nth request whose ``METHOD path`` matches ``what``; phase ``request`` = the lab
  received it (and will still carry it out: the client died after sending), ``reply`` = the lab carried it out and
  the client never saw the answer;
* ``wsman``: the nth WMI query of class ``what`` (the device was asked, never answered);
* ``journal``: the journal holds its nth line of stage ``what`` (watched from a thread; the kill lands within
  milliseconds, while the playbook goes on).
"""

from __future__ import annotations

import collections
import dataclasses
import re
import threading
import time

from winfleet_lab.campaign import Campaign
from winfleet_lab.fixtures_graph import kill_tree

COUNT = 8
SEED = 4711
REUSED = "pc0000"    # stale Autopilot / Intune / Entra (hybrid) records and a ConfigMgr device: cleaned first
OFFLINE = "pc0003"   # fails in collect
FOREIGN = "pc0004"   # claimed by another organization: fails in register
KEEP_CM = ("KEEP-PC-001", "SN-KEEP-001")     # ConfigMgr device of another fleet: must stay
KEEP_GRAPH = "SN-KEEP-002"                  # old Autopilot/Intune records of a device of another fleet: must stay
# Looks every quarter second at a lab whose imports take 0.6 s and whose profiles are assigned 0.6 s after: every
# wait still has several looks (the kill points on the nth look are reached), and 40 runs wait less.
OVERRIDES = {"fleet_batch_size": COUNT, "fleet_max_fail_percentage": 50, "fleet_poll_interval": 0.25,
             "fleet_wait_timeout": 120, "fleet_cleanup_max_deletions": 10, "fleet_profile_poll_interval": 0.25}
THRESHOLD = 30  # 2 of 8 devices fail by design (25 %)
GRAPH = {"processing_delay": 60.0, "membership_delay": 30.0, "profile_assignment_delay": 30.0}  # 0.6 s, 0.3 s, 0.3 s


@dataclasses.dataclass(frozen=True)
class Point:
    name: str
    lab: str
    what: str
    nth: int = 1
    phase: str = "request"


def start(workdir, index):
    """A started campaign on its own addresses (127.0.(90+index).x, ConfigMgr 127.0.40.(100+index)), seeded."""
    camp = Campaign(workdir, "127.0.%d.1" % (90 + index), count=COUNT, faults={OFFLINE: "offline"}, seed=SEED,
                    overrides=OVERRIDES, forks=COUNT, name="crash", graph_settings=GRAPH,
                    configmgr_host="127.0.40.%d" % (100 + index)).start()
    labs = camp.labs
    labs.claim_by_other_tenant(FOREIGN)
    labs.seed_reused(REUSED, user="carol@winfleetlab.onmicrosoft.com", join="hybrid", configmgr=camp.cm)
    camp.cm.add_device(*KEEP_CM)
    labs.control("reused", {"serialNumber": KEEP_GRAPH, "join": "entra", "groupTag": "OTHER-FLEET"})
    return camp


def keepers_intact(camp):
    """How many of the other fleet's three records (ConfigMgr device, Autopilot identity, Intune device) exist."""
    keep = camp.labs.graph.service.records(KEEP_GRAPH)
    return (sum(1 for d in camp.cm.devices() if d["name"] == KEEP_CM[0]) + len(keep["autopilot"])
            + len(keep["managed"]))


def fingerprint(camp):
    """What must be the same after any crash and resume as after an uninterrupted run."""
    serials = {camp.serial("pc%04d" % i) for i in range(COUNT)} | {KEEP_GRAPH, KEEP_CM[1]}
    service = camp.labs.graph.service
    with service.lock:
        data = service.store.data
        autopilot = sorted((d["serialNumber"], d.get("groupTag") or "", d.get("userPrincipalName") or "")
                           for d in data["autopilot"].values())
        managed = sorted(m.get("serialNumber") or "" for m in data["managed"].values())
    entra = {s: sorted(o["trustType"] or "" for o in service.records(s)["entra"]) for s in sorted(serials)}
    final, outcomes = {}, {}
    for ev in camp.events():
        final[ev["serial"]] = (ev["stage"], ev["status"])
        outcomes[(ev["serial"], ev["stage"])] = ev["outcome"] == "failed"
    imports = camp.labs.graph_stats()["created_by_serial"]
    return {
        "final": final,
        "failed_stages": sorted("%s/%s" % key for key, failed in outcomes.items() if failed),
        "autopilot": autopilot,
        "imports": dict(sorted(imports.items())),
        "managed": managed,
        "entra": entra,
        "configmgr": sorted(d["name"] for d in camp.cm.devices()),
    }


class Killer:
    """Kills the playbook at one ``Point``; hooks itself into the campaign's labs."""

    def __init__(self, camp, point):
        self.camp = camp
        self.point = point
        self.proc = None
        self.seen = 0
        self.fired = threading.Event()
        self.where = None
        self._lock = threading.Lock()
        self._pattern = re.compile(point.what) if point.lab in ("graph", "configmgr") else None
        self._stop = threading.Event()
        self._watcher = None
        self.error = None

    def arm(self, proc):
        self.proc = proc
        labs, point = self.camp.labs, self.point
        if point.lab == "graph":
            labs.graph.service.observers.append(self._http)
        elif point.lab == "configmgr":
            self.camp.cm.service.observers.append(self._http)
        elif point.lab == "wsman":
            labs.wsman.fleet.events.listeners.append(self._wsman)
        elif point.lab == "journal":
            self._watcher = threading.Thread(target=self._watch_journal, daemon=True)
            self._watcher.start()
        else:
            raise ValueError(point.lab)

    def disarm(self):
        self._stop.set()
        labs = self.camp.labs
        for hooks, hook in ((labs.graph.service.observers, self._http), (self.camp.cm.service.observers, self._http),
                            (labs.wsman.fleet.events.listeners, self._wsman)):
            while hook in hooks:
                hooks.remove(hook)
        if self._watcher is not None:
            self._watcher.join(10)

    def _hit(self, where, counted=False):
        """One occurrence of the point's event (``counted``: the caller already knows it is the nth)."""
        with self._lock:
            if self.fired.is_set():
                return
            self.seen = self.point.nth if counted else self.seen + 1
            if self.seen < self.point.nth:
                return
            self.where = where
            self.fired.set()  # before the kill: whoever sees the playbook die knows it was this
            kill_tree(self.proc.pid)

    def _http(self, phase, method, path, status):
        if phase == self.point.phase and self._pattern.search("%s %s" % (method, path)):
            self._hit("%s %s %s (%s)" % (phase, method, path, status))

    def _wsman(self, ev):
        if ev["kind"] == "wmi_query" and ev.get("cls", "").lower() == self.point.what.lower():
            self._hit("%s asked for %s" % (ev["host"], ev["cls"]))

    def _watch_journal(self):
        journal = self.camp.journal
        marker = b'"stage":"%s"' % self.point.what.encode()
        try:
            while not self._stop.is_set() and not self.fired.is_set():
                ended = self.proc is not None and self.proc.poll() is not None
                try:
                    lines = journal.read_bytes().count(marker)
                except FileNotFoundError:
                    lines = 0
                if lines >= self.point.nth:
                    self._hit("journal line %d of stage %s" % (lines, self.point.what), counted=True)
                    return
                if ended:  # looked once more after the end: the point was never reached
                    return
                time.sleep(0.005)  # watching a file another process writes: the kill lands within milliseconds
        except BaseException as exc:  # reported by the test instead of dying silently in this thread
            self.error = exc
            raise


def timeline(camp, proc):
    """Record every request the labs see during one run (to choose kill points): [(lab, phase, 'METHOD path')]."""
    seen = []
    lock = threading.Lock()

    def http(lab):
        def observe(phase, method, path, status):
            with lock:
                seen.append((lab, phase, "%s %s" % (method, path.split("?")[0]), status))
        return observe

    def wsman(ev):
        if ev["kind"] == "wmi_query":
            with lock:
                seen.append(("wsman", "request", ev.get("cls"), ev["host"]))

    camp.labs.graph.service.observers.append(http("graph"))
    camp.cm.service.observers.append(http("configmgr"))
    camp.labs.wsman.fleet.events.listeners.append(wsman)
    proc.wait()
    return seen


def counts(seen):
    return collections.Counter((lab, what) for lab, phase, what, _s in seen if phase == "request")
