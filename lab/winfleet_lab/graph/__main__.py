# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m winfleet_lab.graph serve``: run the Graph lab in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import pathlib
import signal
import sys
import threading

from .server import GraphLab


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m winfleet_lab.graph", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the lab until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.1 or 127.0.5.x)")
    serve.add_argument("--port", type=int, default=8443, help="TCP port (0 = any free port)")
    serve.add_argument("--state-dir", default=".build/graph-lab", help="where state, CA and journal live")
    serve.add_argument("--vars-file", default=None, help="vars file to write (default: <state-dir>/graph_lab_vars.yml)")
    serve.add_argument("--time-scale", type=float, default=1.0, help="wall seconds per service second (0.01 = 100x)")
    serve.add_argument("--processing-delay", type=float, default=60.0, help="import processing delay, service seconds")
    serve.add_argument("--write-limit", type=int, default=100, help="writes per 20 s per app (documented: 100)")
    serve.add_argument("--page-size", type=int, default=1000, help="Intune page size (documented: 1000)")
    serve.add_argument("--foreign", action="append", default=[], help="serial owned by another tenant (808)")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    lab = GraphLab(args.state_dir, verbose=args.verbose, host=args.host, port=args.port, time_scale=args.time_scale,
                   processing_delay=args.processing_delay, write_limit_app=args.write_limit,
                   intune_page_size=args.page_size)
    lab.start()
    if args.foreign:
        for serial in args.foreign:
            lab.service.store.put("foreign", serial.upper(), "Contoso Refurb Ltd")
        lab.service.store.commit()
    vars_file = pathlib.Path(args.vars_file or pathlib.Path(args.state_dir) / "graph_lab_vars.yml")
    lab.write_vars(vars_file)
    conn = lab.connection()
    reader = lab.app("reader")
    print("Graph lab running (lab-only credentials, never use them elsewhere)")
    print("  graph_url      %s   (Graph: %s/beta, %s/v1.0)" % (lab.url, lab.url, lab.url))
    print("  authority_url  %s   (token endpoint %s/oauth2/v2.0/token)" % (lab.url, lab.authority))
    print("  tenant_id      %s" % conn["tenant_id"])
    print("  client_id      %s   (all permissions)" % conn["client_id"])
    print("  client_secret  %s" % conn["client_secret"])
    print("  reader app     %s / %s   (read-only permissions)" % (reader["client_id"], reader["secrets"][0]))
    print("  ca_path        %s" % lab.ca_path)
    print("  vars file      %s" % vars_file)
    print("  lab control    %s/_lab/stats  (also /_lab/faults, /_lab/foreign, /_lab/enroll)" % lab.url)
    print("Press Ctrl-C to stop.")
    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    lab.stop()
    print("Graph lab stopped; state kept in %s" % args.state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
