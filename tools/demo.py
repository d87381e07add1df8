#!/usr/bin/env python3
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make demo`: a whole fleet campaign (playbooks/refresh.yml) against the embedded labs.

Starts the WS-Man fleet lab (50 emulated PCs, a few faulty) and the Graph lab (one device claimed by another
tenant, one re-used device whose old Autopilot registration and Intune enrolment are still there), writes their
run-time connection values to .build/lab/connection.yml, runs

    ansible-playbook playbooks/refresh.yml -i inventory/lab/ -e @.build/lab/connection.yml -e campaign_name=demo

prints where the report is and stops the labs.

`Labs` is also what the campaign tests use. Another lab (the Samba AD DC, the ConfigMgr AdminService) joins with
`Labs.add(name, start, stop, vars)`: see `_optional_labs` below.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
for _path in (ROOT / "tests" / "lab", ROOT / ".build" / "collections"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from winfleet_lab import hashgen, samplefleet  # noqa: E402
from winfleet_lab.graph import GraphLab  # noqa: E402
from winfleet_lab.playbook import BIN, ansible_env  # noqa: E402
from winfleet_lab.wsman import Fleet, Lab  # noqa: E402

DEMO_FAULTS = {"pc0005": "offline", "pc0006": "bad_password", "pc0007": "access_denied"}
DEMO_FOREIGN = "pc0010"  # its serial is claimed by another organization
DEMO_REUSED = "pc0020"  # registered and enrolled long ago: stale records
# Graph lab timing: the documented durations one hundred times faster; import processing takes ~3 s so the
# progress of the wait shows.
GRAPH_FAST = {"time_scale": 0.01, "processing_delay": 300.0, "delete_delay": 30.0}


class Labs:
    """The labs one fleet campaign runs against, started and stopped together.

    ``connection()`` is everything that exists only at run time (addresses, ports, CA paths, lab-only credentials);
    ``write_connection(path)`` writes it as the vars file the lab inventory expects (``-e @path``).
    """

    def __init__(self, workdir, count=50, base_address="127.0.51.1", faults=None, seed=2026, graph_host="127.0.0.1",
                 graph_settings=None, vm_every=17):
        self.workdir = pathlib.Path(workdir)
        self.count = count
        self.base_address = base_address
        self.faults = dict(DEMO_FAULTS if faults is None else faults)
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
        except BaseException:
            self.wsman.stop()
            raise
        return self

    def add(self, name, start, stop, lab_vars):
        """Join another lab: ``start()`` runs now, ``stop()`` with the others, ``lab_vars()`` (a dict) is merged
        into the connection file."""
        start()
        self._extra.append((name, stop, lab_vars))

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
            fh.write("# Run-time connection of the embedded labs (lab-only credentials), written by tools/demo.py.\n")
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

    def reused(self, name, user="", days_since_sync=45):
        """A device registered and enrolled long ago (stale Autopilot, Entra and Intune records)."""
        from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient

        host = self.host(name)
        client = GraphClient(self.graph.connection())
        client.post("/deviceManagement/importedWindowsAutopilotDeviceIdentities/import", {
            "importedWindowsAutopilotDeviceIdentities": [{
                "serialNumber": host.device.serial, "hardwareIdentifier": hashgen.build_hash(host.device),
                "groupTag": "OLD-FLEET"}]})
        self.control("process", {})
        self.control("enroll", {"serialNumber": host.device.serial, "days_since_sync": days_since_sync,
                                "userPrincipalName": user})

    def graph_stats(self):
        return self.graph.stats()


def _optional_labs(labs, args):
    """AD DS (a real Samba AD DC, when it is installed) and Configuration Manager (the AdminService lab) join the
    Graph and WinRM labs: the re-used device has stale records in all five places."""
    del args
    from winfleet_lab import samba
    from winfleet_lab.configmgr import ConfigMgrLab

    extra = {}
    if samba.samba_missing():
        print("demo: !!! Samba AD DC is not installed (run `make sysdeps` as root): the demo cleans no AD records",
              flush=True)
    else:
        dc = samba.SambaDC(labs.workdir / "samba")
        labs.add("ad", dc.start, dc.stop, lambda: {"lab_ldap": dc.connection(search_base=extra["ou"])})
        extra["dc"] = dc
        extra["ou"] = dc.add_ou("Workstations")
        dc.add_computer("KEEP-PC-001", extra["ou"], serial_number="SN-KEEP-001", bitlocker_children=1)
    cm = ConfigMgrLab(labs.workdir / "configmgr", host="127.0.40.50")
    labs.add("configmgr", cm.start, cm.stop, lambda: {"lab_configmgr": cm.connection()})
    cm.add_device("KEEP-PC-001", "SN-KEEP-001")
    extra["cm"] = cm
    return extra


def seed_reused(labs, extra, name, user):
    """The re-used device: registered, hybrid joined and enrolled long ago (stale Autopilot, Entra and Intune
    records), with its AD DS computer object (and a BitLocker recovery child) and its ConfigMgr device."""
    host = labs.host(name)
    serial, computer = host.device.serial, host.computer_name
    labs.control("reused", {"serialNumber": serial, "hardwareHash": hashgen.build_hash(host.device), "join": "hybrid",
                            "userPrincipalName": user, "groupTag": "OLD-FLEET", "deviceName": computer})
    if "dc" in extra:
        extra["dc"].add_computer(computer, extra["ou"], bitlocker_children=1)
    extra["cm"].add_device(computer, serial)
    return computer


def run_refresh(connection_file, campaign_name, extra_vars=None, forks=25, env=None, stdout=None):
    cmd = [str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "refresh.yml"), "-i", str(ROOT / "inventory" / "lab"),
           "-e", "@%s" % connection_file, "-e", "campaign_name=%s" % campaign_name, "-f", str(forks)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    run_env = ansible_env(**(env or {}))
    run_env.pop("ANSIBLE_CALLBACK_PLUGINS", None)
    return subprocess.call(cmd, cwd=str(ROOT), env=run_env, stdout=stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50, help="devices in the WS-Man lab (default 50)")
    parser.add_argument("--campaign", default="demo", help="campaign name (campaigns/lab/<name>)")
    parser.add_argument("--keep", action="store_true", help="keep the campaign of an earlier demo (resume it)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    workdir = ROOT / ".build" / "lab"
    campaign = ROOT / "campaigns" / "lab" / args.campaign
    # The AD DC and the ConfigMgr lab start afresh every time (a kept campaign's journal says what is done).
    for lab in ("samba", "configmgr"):
        shutil.rmtree(workdir / lab, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(campaign, ignore_errors=True)
        shutil.rmtree(workdir / "graph", ignore_errors=True)
    sources = workdir / "sources"
    shutil.rmtree(sources, ignore_errors=True)
    samplefleet.write_fleet(str(sources), seed=4242, count=8, damage=False)
    with Labs(workdir, count=args.count) as labs:
        extra = _optional_labs(labs, args)
        if not args.keep or not (campaign / "journal.jsonl").exists():
            labs.claim_by_other_tenant(DEMO_FOREIGN)
            seed_reused(labs, extra, DEMO_REUSED, user="carol@winfleetlab.onmicrosoft.com")
        connection = labs.write_connection(workdir / "connection.yml")
        print("demo: %d devices on %s.., faults %s; %s claimed by another organization; %s re-used (stale records)"
              % (args.count, labs.base_address.rsplit(".", 1)[0], ", ".join("%s=%s" % kv for kv in labs.faults.items()),
                 DEMO_FOREIGN, DEMO_REUSED), flush=True)
        print("demo: Graph lab %s; connection file %s" % (labs.graph.url, connection.relative_to(ROOT)), flush=True)
        rc = run_refresh(connection, args.campaign, extra_vars={
            "fleet_oem_files": [str(sources / "oem-partner.csv")],
            "fleet_configmgr_exports": [str(sources / "configmgr-export.csv")],
            "fleet_csv_folders": [str(sources / "usb")],
        })
        stats = labs.graph_stats()
    report = campaign / "report"
    summary = _summary(report / "report.json")
    print("demo: %s in %.0f s (ansible-playbook exit code %d)" % ("finished" if rc == 0 else "FAILED",
                                                                    time.monotonic() - started, rc))
    if summary:
        print("demo: %s" % summary)
    print("demo: Graph lab: %d import records created, largest number of imports of one serial: %d"
          % (stats["counters"].get("import_records_created", 0), stats["created_by_serial_max"]))
    print("demo: journal %s" % (campaign / "journal.jsonl").relative_to(ROOT))
    print("demo: report  %s  (also report.csv, report.json, junit.xml)" % (report / "report.html").relative_to(ROOT))
    print("demo: run it again with `%s tools/demo.py --keep` - it continues the same campaign and changes nothing"
          % pathlib.Path(sys.executable).name)
    return rc


def _summary(path):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, dict):
        return None
    return "%s devices, %s failed (%s %%): %s" % (summary.get("devices"), summary.get("failed"),
                                                 summary.get("failed_percentage"), summary.get("by_status"))


if __name__ == "__main__":
    sys.exit(main())
