# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whole fleet campaigns (playbooks/refresh.yml) against the labs: what `make demo`, the campaign tests and the
reliability suite (fault matrix, crash and resume) share.

``Labs``      the WS-Man fleet lab and the Graph lab, started and stopped together; further labs (the Samba AD DC,
              the ConfigMgr AdminService lab) join with ``add``; ``write_connection`` writes their run-time values
              as the vars file the lab inventory expects.
``Campaign``  a ``Labs``, an inventory of its hosts on top of ``inventory/lab/group_vars``, a campaign folder, and
              the ansible-playbook command line; reads the journal back.
"""

from __future__ import annotations

import json
import os
import pathlib
import ssl
import subprocess
import urllib.request

from . import hashgen
from .graph import GraphLab
from .playbook import BIN, ROOT, ansible_env, run_playbook, write_extravars
from .wsman import Fleet, Lab

REFRESH = ROOT / "playbooks" / "refresh.yml"
# Graph lab timing: the documented durations one hundred times faster; import processing takes ~3 s so the
# progress of the wait shows.
GRAPH_FAST = {"time_scale": 0.01, "processing_delay": 300.0, "delete_delay": 30.0, "membership_delay": 100.0,
              "profile_assignment_delay": 100.0}
# The lab inventory's group tag: the lab tenant's default deployment profile targets it (a dynamic group on
# [OrderID]), as a real tenant set up for the fleet would.
LAB_GROUP_TAG = "WINFLEET-LAB"


class Labs:
    """The labs one fleet campaign runs against, started and stopped together.

    ``connection()`` is everything that exists only at run time (addresses, ports, CA paths, lab-only credentials);
    ``write_connection(path)`` writes it as the vars file the lab inventory expects (``-e @path``).
    """

    def __init__(self, workdir, count=50, base_address="127.0.51.1", faults=None, seed=2026, graph_host="127.0.0.1",
                 graph_settings=None, vm_every=17, profile_group_tag=LAB_GROUP_TAG):
        self.workdir = pathlib.Path(workdir)
        # The group tag the tenant's default deployment profile targets ("" = every Autopilot device, None = no
        # profile at all).
        self.profile_group_tag = profile_group_tag
        self.count = count
        self.base_address = base_address
        self.faults = dict(faults or {})
        self.seed = seed
        self.vm_every = vm_every
        self.graph_host = graph_host
        self.graph_settings = dict(GRAPH_FAST, **(graph_settings or {}))
        self.wsman = None
        self.graph = None
        self._extra = []  # (name, stop, vars) of further labs

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        fleet = Fleet.generate(seed=self.seed, count=self.count, base_address=self.base_address, faults=self.faults,
                               vm_every=self.vm_every)
        self.wsman = Lab(fleet, workdir=str(self.workdir / "wsman"))
        os.makedirs(self.wsman.workdir, exist_ok=True)
        self.wsman.start()
        try:
            self.graph = GraphLab(self.workdir / "graph", host=self.graph_host, port=0, **self.graph_settings).start()
            if self.profile_group_tag is not None and not self.graph.service.store.data["profiles"]:
                self.graph.service.default_profile(self.profile_group_tag or None)
        except BaseException:
            self.wsman.stop()
            raise
        return self

    def add(self, name, start, stop, lab_vars):
        """Join another lab: ``start()`` runs now, ``stop()`` with the others, ``lab_vars()`` (a dict) is merged
        into the connection file."""
        start()
        self._extra.append((name, stop, lab_vars))

    def add_configmgr(self, host):
        """The ConfigMgr AdminService lab on ``host`` (127.0.40.0/24) joins; returns it."""
        from .configmgr import ConfigMgrLab

        cm = ConfigMgrLab(self.workdir / "configmgr", host=host)
        self.add("configmgr", cm.start, cm.stop, lambda: {"lab_configmgr": cm.connection()})
        return cm

    def stop(self):
        for _name, stop, _vars in reversed(self._extra):
            stop()
        self._extra = []
        if self.graph is not None:
            self.graph.stop()
            self.graph = None
        if self.wsman is not None:
            self.wsman.stop()
            self.wsman = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------------------------------------ wiring
    def host(self, name):
        return self.wsman.fleet.by_name[name]

    def serial(self, name):
        return self.host(name).device.serial

    def connection(self):
        fleet = self.wsman.fleet
        out = {
            "lab_winrm_hosts": {h.name: h.address for h in fleet.hosts},
            "lab_winrm_port": fleet.hosts[0].https_port if fleet.hosts else 5986,
            "lab_winrm_ca_path": self.wsman.ca_path,
            "lab_winrm_user": fleet.username,
            "lab_winrm_password": fleet.password,
            "lab_graph": self.graph.connection(),
        }
        for _name, _stop, lab_vars in self._extra:
            out.update(lab_vars())
        return out

    def write_connection(self, path):
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# Run-time connection of the embedded labs (lab-only credentials), written by winfleet_lab.\n")
            fh.write(json.dumps(self.connection(), indent=2, sort_keys=True) + "\n")  # JSON is YAML
        os.replace(tmp, path)
        return path

    # ------------------------------------------------------------------------------------------------ scenario
    def control(self, what, payload):
        """POST to the Graph lab's loopback-only control endpoint ``/_lab/<what>``."""
        ctx = ssl.create_default_context(cafile=self.graph.ca_path)
        url = "%s/_lab/%s" % (self.graph.url, what)  # https, loopback
        req = urllib.request.Request(url, data=json.dumps(payload).encode(),  # noqa: S310
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:  # noqa: S310
            body = resp.read()
        return json.loads(body) if body else None

    def claim_by_other_tenant(self, *names):
        self.control("foreign", {"serials": [self.serial(n) for n in names], "tenant": "Contoso Refurb Ltd"})

    def seed_reused(self, name, user="", join="hybrid", dc=None, ou=None, configmgr=None):
        """A device registered, joined and enrolled long ago: stale Autopilot, Entra and Intune records, and (when
        given) its AD DS computer object with a BitLocker recovery child and its ConfigMgr device."""
        host = self.host(name)
        serial, computer = host.device.serial, host.computer_name
        self.control("reused", {"serialNumber": serial, "hardwareHash": hashgen.build_hash(host.device), "join": join,
                                "userPrincipalName": user, "groupTag": "OLD-FLEET", "deviceName": computer})
        if dc is not None:
            dc.add_computer(computer, ou, bitlocker_children=1)
        if configmgr is not None:
            configmgr.add_device(computer, serial)
        return computer

    def graph_stats(self):
        return self.graph.stats()


class Campaign:
    """A ``Labs``, an inventory of its ``count`` hosts (the lab inventory's group_vars), a campaign folder and the
    ansible-playbook command line of playbooks/refresh.yml. ``overrides`` are extra variables on top of the lab
    inventory (written to a 0600 file: they may hold secrets); with ``configmgr_host`` the ConfigMgr lab joins
    (``self.cm``)."""

    def __init__(self, workdir, base_address, count=12, faults=None, seed=606, vm_every=0, graph_settings=None,
                 overrides=None, forks=12, name="test", configmgr_host=None, profile_group_tag=LAB_GROUP_TAG):
        self.workdir = pathlib.Path(workdir)
        self.labs = Labs(self.workdir / "labs", count=count, base_address=base_address, faults=faults, seed=seed,
                         vm_every=vm_every, graph_settings=graph_settings, profile_group_tag=profile_group_tag)
        self.count = count
        self.forks = forks
        self.name = name
        self.overrides = dict(overrides or {})
        self.inventory = self.workdir / "inventory"
        self.dir = self.workdir / "campaigns" / "lab" / name
        self.journal = self.dir / "journal.jsonl"
        self.configmgr_host = configmgr_host  # the ConfigMgr lab joins when given (127.0.40.0/24)
        self.cm = None
        self.connection = None
        self._overrides_file = None

    def start(self):
        self.inventory.mkdir(parents=True, exist_ok=True)
        (self.inventory / "hosts.yml").write_text(
            "---\n# %d lab devices; the group_vars are the lab inventory's.\nfleet:\n  hosts:\n    pc[0000:%04d]:\n"
            % (self.count, self.count - 1))
        if not (self.inventory / "group_vars").exists():
            os.symlink(ROOT / "inventory" / "lab" / "group_vars", self.inventory / "group_vars")
        self.labs.start()
        if self.configmgr_host:
            self.cm = self.labs.add_configmgr(self.configmgr_host)
        self.connection = self.labs.write_connection(self.workdir / "connection.yml")
        self._overrides_file = write_extravars(self.workdir, self.overrides)
        return self

    def stop(self):
        self.labs.stop()

    def args(self, threshold=30, extra=None):
        out = ["-i", str(self.inventory), "-e", "@%s" % self.connection, "-e", self._overrides_file,
               "-e", "campaign_name=%s" % self.name, "-e", "campaign_root=%s" % (self.workdir / "campaigns"),
               "-e", "refresh_fail_threshold=%s" % threshold, "-f", str(self.forks)]
        if extra:
            out += ["-e", json.dumps(extra)]
        return out

    def command(self, threshold=30, extra=None):
        return [str(BIN / "ansible-playbook"), str(REFRESH), *self.args(threshold, extra)]

    def run(self, threshold=30, check=False, verbose=False, extra=None, env=None):
        """ansible-playbook with the JSON callback: ``(returncode, data, stdout, stderr)``."""
        return run_playbook(REFRESH, *self.args(threshold, extra), *(["-vvv"] if verbose else []), check=check,
                            env=env)

    def popen(self, log, threshold=30, extra=None):
        """The playbook in its own session, its output to the open file ``log`` (the crash tests kill it). Its
        temporary files go to the campaign's work folder: a module process killed mid-run leaves its AnsiballZ
        payload folder behind (stock Ansible), and it must not pile up in the machine's /tmp."""
        tmp = self.workdir / "tmp"
        tmp.mkdir(mode=0o700, exist_ok=True)
        return subprocess.Popen(self.command(threshold, extra), cwd=str(ROOT), env=ansible_env(TMPDIR=tmp),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def events(self):
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines()]

    def latest(self):
        """{serial or host: {stage: latest event}}."""
        out = {}
        for ev in self.events():
            out.setdefault(ev["serial"], {})[ev["stage"]] = ev
        return out

    def serial(self, name):
        return self.labs.serial(name)
