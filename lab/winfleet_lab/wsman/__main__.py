# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m winfleet_lab.wsman serve``: run the Windows fleet lab in the foreground (``make lab``).

Prints where it listens, writes an Ansible inventory for the fleet, runs until Ctrl-C. ``READY`` on stdout marks the
moment every socket listens (scripts wait for that line).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from .fleet import FAULTS, EventLog, Fleet
from .server import Lab

DEMO_FAULTS = {"pc0005": "offline", "pc0006": "bad_password", "pc0007": "too_old"}


def _parse_faults(items):
    out = {}
    for item in items or ():
        name, _, spec = item.partition("=")
        fault, _, param = spec.partition(":")
        out.setdefault(name, {})[fault] = int(param) if param.isdigit() else True
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m winfleet_lab.wsman", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve a fleet in the foreground")
    s.add_argument("--fleet-file", help="YAML/JSON fleet file (seed, count, base_address, faults, ...)")
    s.add_argument("--count", type=int, help="number of devices (default 8)")
    s.add_argument("--seed", type=int, help="fleet seed (default 7)")
    s.add_argument("--base-address", help="first device address in 127.0.0.0/8 (default 127.0.9.1)")
    s.add_argument("--latency-ms", type=int, help="latency injected before every response")
    s.add_argument("--fault", action="append", metavar="NAME=FAULT[:PARAM]",
                   help="add a fault, e.g. pc0003=offline or 4=slow:300 (known: %s)" % ", ".join(FAULTS))
    s.add_argument("--healthy", action="store_true", help="no faults (the default fleet has three demo faults)")
    s.add_argument("--allow-unencrypted", action="store_true",
                   help="AllowUnencrypted=true on every device: accept plain (unsealed) SOAP and Basic over HTTP")
    s.add_argument("--basic", action="store_true", help="Auth/Basic=true on every device (Windows' default: off)")
    s.add_argument("--cbt-hardening-level", choices=["None", "Relaxed", "Strict"],
                   help="Auth/CbtHardeningLevel of every device (Windows' default: Relaxed)")
    s.add_argument("--domain", help="join every device to this AD DNS domain (default: workgroup devices)")
    s.add_argument("--keytab", help="Kerberos: the keys of the devices' HTTP/<fqdn> principals (winfleet_lab.kerberos; "
                                    "with --domain, the domain of the keys); KRB5_CONFIG should name the lab's krb5.conf")
    s.add_argument("--no-ntlm", action="store_true", help="every device refuses NTLM ('Restrict NTLM'): Kerberos only")
    s.add_argument("--http-port", type=int, default=5985)
    s.add_argument("--https-port", type=int, default=5986)
    s.add_argument("--no-https", action="store_true",
                   help="only the HTTP listener (what 'winrm quickconfig' sets up); halves the sockets of a large fleet")
    s.add_argument("--workdir", default=".build/wsman-lab", help="certificates, NTLM account files, inventory, event log")
    s.add_argument("--inventory", help="inventory path (default WORKDIR/inventory.ini)")
    s.add_argument("--scheme", choices=["http", "https"], default="http", help="scheme written to the inventory")
    s.add_argument("--transport", default="ntlm", help="ansible_winrm_transport written to the inventory")
    a = ap.parse_args(argv)

    os.makedirs(a.workdir, exist_ok=True)
    event_path = os.path.join(a.workdir, "events.jsonl")
    events = EventLog(event_path)
    spec = {}
    if a.fleet_file:
        fleet = Fleet.from_file(a.fleet_file, events=events, count=a.count, seed=a.seed, base_address=a.base_address,
                                latency_ms=a.latency_ms, allow_unencrypted=a.allow_unencrypted or None,
                                basic=a.basic or None, cbt_hardening_level=a.cbt_hardening_level, domain=a.domain,
                                ntlm=False if a.no_ntlm else None)
    else:
        faults = {} if a.healthy else dict(DEMO_FAULTS)
        faults.update(_parse_faults(a.fault))
        count = a.count or 8
        faults = {k: v for k, v in faults.items() if not k.startswith("pc") or int(k[2:]) < count}
        spec = {"count": count, "seed": 7 if a.seed is None else a.seed, "base_address": a.base_address or "127.0.9.1",
                "latency_ms": a.latency_ms or 0, "faults": faults, "allow_unencrypted": a.allow_unencrypted,
                "basic": a.basic, "cbt_hardening_level": a.cbt_hardening_level or "Relaxed", "domain": a.domain,
                "ntlm": not a.no_ntlm}
        fleet = Fleet.generate(events=events, **spec)
    lab = Lab(fleet, http_port=a.http_port, https_port=a.https_port, workdir=os.path.abspath(a.workdir), tls=not a.no_https,
              keytab=os.path.abspath(a.keytab) if a.keytab else None)
    lab.start()
    inventory = os.path.abspath(a.inventory or os.path.join(a.workdir, "inventory.ini"))
    fleet.write_inventory(inventory, ca_path=lab.ca_path, transport=a.transport, scheme=a.scheme)
    print("WinRM fleet lab: %d devices" % len(fleet.hosts))
    for h in fleet.hosts:
        faults = ", ".join(sorted(h.faults)) or "healthy"
        faults += "" if (h.basic, h.allow_unencrypted, h.cbt_hardening_level, h.domain) == (False, False, "Relaxed", None) \
            else " [%s]" % ", ".join(x for x in ("basic" * h.basic, "unencrypted" * h.allow_unencrypted,
                                                 "cbt=" + h.cbt_hardening_level, h.domain or "") if x)
        print("  %-8s %-15s http:%-5d https:%-5d %-22s %-30s %s" % (
            h.name, h.address, h.http_port, h.https_port, h.device.manufacturer[:22], h.device.model[:30], faults))
    print("inventory: %s" % inventory)
    print("CA:        %s" % lab.ca_path)
    print("events:    %s" % os.path.abspath(event_path))
    print("try:       ANSIBLE_COLLECTIONS_PATH=.build/collections ansible windows -i %s -m winfleet.autopilot.hardware_hash_info "
          "-a include_hash=false -v   (Ctrl-C stops the lab)" % inventory)
    print("READY " + json.dumps({"pid": os.getpid(), "devices": len(fleet.hosts), "inventory": inventory}), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
