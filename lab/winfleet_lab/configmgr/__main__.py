# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m winfleet_lab.configmgr serve --dir D --devices N``: run the ConfigMgr lab in the foreground.

Prints one JSON line with the connection values (``url``, ``ca_path``, ``username``, ``password``, reader account,
the devices) once the socket listens, then serves until Ctrl-C or SIGTERM. The credentials are lab-only.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .fixtures import LAB_HOST, add_fleet
from .server import ConfigMgrLab


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m winfleet_lab.configmgr", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve the AdminService emulator in the foreground")
    s.add_argument("--dir", required=True, help="directory for the CA, the server certificate and the NTLM accounts")
    s.add_argument("--devices", type=int, default=5, help="devices to create, each with BIOS serial and hash")
    s.add_argument("--seed", type=int, default=40, help="seed of the generated devices")
    s.add_argument("--host", default=LAB_HOST, help="loopback address (127.0.40.x)")
    s.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    s.add_argument("--page-size", type=int, default=1000, help="OData page size")
    s.add_argument("--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)

    lab = ConfigMgrLab(args.dir, host=args.host, port=args.port, page_size=args.page_size, verbose=args.verbose)
    lab.start()
    fleet = add_fleet(lab, args.seed, args.devices)
    info = dict(lab.connection(), reader_username=lab.reader_username, reader_password=lab.reader_password,
                devices=[{"resource_id": d["resource_id"], "name": d["name"], "serial_number": d["serial_number"]}
                         for d in fleet])
    print(json.dumps(info), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
