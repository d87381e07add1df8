#!/usr/bin/env python3
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make demo`: a whole fleet campaign (playbooks/refresh.yml) against the embedded labs.

Starts the WS-Man fleet lab (50 emulated PCs, a few faulty) and the Graph lab (one device claimed by another
tenant, one re-used device whose old Autopilot registration and Intune enrolment are still there), writes their
run-time connection values to .build/lab/connection.yml, runs

    ansible-playbook playbooks/preflight.yml -i inventory/lab/ -e @.build/lab/connection.yml
    ansible-playbook playbooks/refresh.yml -i inventory/lab/ -e @.build/lab/connection.yml -e campaign_name=demo

(the pre-flight first: it flags the device whose group tag no profile targets, on purpose, and the campaign runs
anyway), prints where the report is and stops the labs.

`Labs` (lab/winfleet_lab/campaign.py) is also what the campaign tests and the reliability suite use. Another
lab (the Samba AD DC, the ConfigMgr AdminService) joins with `Labs.add(name, start, stop, vars)`: see
`_optional_labs` below.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
for _path in (ROOT / ".build" / "collections",):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from winfleet_lab import samplefleet  # noqa: E402
from winfleet_lab.campaign import Labs  # noqa: E402
from winfleet_lab.playbook import BIN, ansible_env  # noqa: E402

DEMO_FAULTS = {"pc0005": "offline", "pc0006": "bad_password", "pc0007": "access_denied"}
DEMO_FOREIGN = "pc0010"  # its serial is claimed by another organization
DEMO_REUSED = "pc0020"  # registered and enrolled long ago: stale records
# Its own group tag, which no deployment profile of the lab tenant targets (the tenant's profile targets the fleet's
# tag WINFLEET-LAB): the demo shows a device registered but not ready, "Registered, no profile", with the cause.
DEMO_NO_PROFILE = {"pc0030": "SALES"}
# The demo's ansible configuration: the campaign console (plugins/callback/campaign.py) - one line per stage, each
# failure once, a table at the end. `-v` in ANSIBLE_VERBOSITY brings back ansible's full output.
CONSOLE = {"ANSIBLE_STDOUT_CALLBACK": "winfleet.autopilot.campaign"}
# Groups and names (issue 16): every device joins a static Entra group of the lab tenant and gets a computer name.
DEMO_GROUP = "Autopilot lab devices"
DEMO_COMPUTER_NAME = "WFL-%RAND:6%"


def _optional_labs(labs, args):
    """AD DS (a real Samba AD DC, when it is installed) and Configuration Manager (the AdminService lab) join the
    Graph and WinRM labs: the re-used device has stale records in all five places."""
    del args
    from winfleet_lab import samba

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
    extra["cm"] = labs.add_configmgr("127.0.40.50")
    extra["cm"].add_device("KEEP-PC-001", "SN-KEEP-001")
    return extra


def seed_reused(labs, extra, name, user):
    """The re-used device: registered, hybrid joined and enrolled long ago (stale Autopilot, Entra and Intune
    records), with its AD DS computer object (and a BitLocker recovery child) and its ConfigMgr device."""
    return labs.seed_reused(name, user=user, join="hybrid", dc=extra.get("dc"), ou=extra.get("ou"),
                            configmgr=extra["cm"])


def run_preflight(connection_file, extra_vars=None, env=None, stdout=None):
    """playbooks/preflight.yml on the lab fleet (read-only); its exit code."""
    cmd = [str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "preflight.yml"), "-i", str(ROOT / "inventory" / "lab"),
           "-e", "@%s" % connection_file]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    run_env = ansible_env(**dict(CONSOLE, **(env or {})))
    run_env.pop("ANSIBLE_CALLBACK_PLUGINS", None)
    return subprocess.call(cmd, cwd=str(ROOT), env=run_env, stdout=stdout)


def run_refresh(connection_file, campaign_name, extra_vars=None, forks=25, env=None, stdout=None):
    cmd = [str(BIN / "ansible-playbook"), str(ROOT / "playbooks" / "refresh.yml"), "-i", str(ROOT / "inventory" / "lab"),
           "-e", "@%s" % connection_file, "-e", "campaign_name=%s" % campaign_name, "-f", str(forks)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    run_env = ansible_env(**dict(CONSOLE, **(env or {})))
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
    with Labs(workdir, count=args.count, faults=DEMO_FAULTS) as labs:
        extra = _optional_labs(labs, args)
        if not args.keep or not (campaign / "journal.jsonl").exists():
            labs.control("groups", {"displayName": DEMO_GROUP})
            labs.claim_by_other_tenant(DEMO_FOREIGN)
            seed_reused(labs, extra, DEMO_REUSED, user="carol@winfleetlab.onmicrosoft.com")
        connection = labs.write_connection(workdir / "connection.yml")
        print("demo: %d devices on %s.., faults %s; %s claimed by another organization; %s re-used (stale records)"
              % (args.count, labs.base_address.rsplit(".", 1)[0], ", ".join("%s=%s" % kv for kv in labs.faults.items()),
                 DEMO_FOREIGN, DEMO_REUSED), flush=True)
        print("demo: Graph lab %s; connection file %s" % (labs.graph.url, connection.relative_to(ROOT)), flush=True)
        fleet = {"fleet_group_tags": DEMO_NO_PROFILE, "fleet_group": DEMO_GROUP,
                 "fleet_computer_name": DEMO_COMPUTER_NAME}
        pre = run_preflight(connection, extra_vars=fleet)
        print("demo: pre-flight exit code %d%s" % (pre, " - it names the group tag %s of %s, which no deployment profile "
                                                  "targets on purpose; the campaign runs anyway"
                                                  % (next(iter(DEMO_NO_PROFILE.values())), next(iter(DEMO_NO_PROFILE)))
                                                  if pre else ""), flush=True)
        rc = run_refresh(connection, args.campaign, extra_vars=dict(
            fleet, fleet_oem_files=[str(sources / "oem-partner.csv")],
            fleet_configmgr_exports=[str(sources / "configmgr-export.csv")],
            fleet_csv_folders=[str(sources / "usb")]))
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
