# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Register 10,000 devices against the Graph lab: the collection's register stage (what autopilot_import with
``journal`` does: read the upload files, read the campaign journal, batched /import, wait, journal every outcome)
versus one POST per device with polling (what Get-WindowsAutoPilotInfo -Online does), side by side in the same run.
Both sides start from the same upload files (20 files of 500 devices, the merge's output) and read them.

Both run against a fresh lab with the documented limits (100 writes / 20 s per app, 1000 requests /
20 s per app, 1000-item pages) and a 60 s processing delay, on a clock 20 times faster than real
time (``--time-scale 0.05``): every documented duration, Retry-After and poll interval is scaled the
same way for both sides.  The clock is compressed only as far as the service's own durations stay
longer than the work the clock cannot compress (CPU on both sides, loopback round trips): at 1:20
the 60 s processing delay is 3 s against ~3 s of CPU, and the write limit (100 per second) binds
the one-POST-per-device side as it does the real service.  Compressed further (``--time-scale
0.01``), the service's durations shrink below that fixed CPU and the comparison drifts from the
real one (see docs/graph.md).  Requests are counted by the lab.  Exit status 0 when both sides registered
every device exactly once; the ratios are printed against the goals (>= 50x fewer requests, >= 20x
less wall time) and enforced with ``--enforce-goals``. The last line is ``BENCH_REGISTER {json}`` with every figure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import pathlib
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
for p in (REPO / ".build" / "collections",):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal  # noqa: E402
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import Registrar  # noqa: E402
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient  # noqa: E402
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_stage import register  # noqa: E402
from winfleet_lab import hashgen  # noqa: E402
from winfleet_lab.graph import GraphLab  # noqa: E402

IMPORTED = "/deviceManagement/importedWindowsAutopilotDeviceIdentities"
AUTOPILOT = "/deviceManagement/windowsAutopilotDeviceIdentities"


class LabProcess:
    """``--lab-process``: the Graph lab in a process of its own (``python -m winfleet_lab.graph serve``), as the
    real service is, so the client's and the service's CPU do not share one interpreter lock. Measured on 2 cores
    at the default 1:20 clock: 21.6x less wall time (24.5x with the lab in this process); see docs/graph.md."""

    def __init__(self, workdir, time_scale, processing_delay):
        workdir.mkdir(parents=True, exist_ok=True)
        vars_file = workdir / "vars.yml"
        cmd = [sys.executable, "-m", "winfleet_lab.graph", "serve", "--port", "0", "--state-dir", str(workdir),
               "--vars-file", str(vars_file), "--time-scale", str(time_scale),
               "--processing-delay", str(processing_delay)]
        env = dict(os.environ, PYTHONPATH=str(REPO / ".build" / "collections"))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in self.proc.stdout:  # the lab prints its banner once it listens
            if line.startswith("Press Ctrl-C"):
                break
        else:
            raise RuntimeError("the Graph lab did not start (exit %s)" % self.proc.wait())
        line = next(ln for ln in vars_file.read_text().splitlines() if ln.startswith("graph_lab: "))
        self.conn = json.loads(line[len("graph_lab: "):])
        self.ctx = ssl.create_default_context(cafile=self.conn["ca_path"])

    def connection(self):
        return dict(self.conn)

    def _get(self, what):
        url = "%s/_lab/%s" % (self.conn["graph_url"], what)  # https, loopback
        with urllib.request.urlopen(url, context=self.ctx, timeout=60) as resp:  # noqa: S310
            return json.loads(resp.read())

    def stats(self):
        return self._get("stats")

    def autopilot_serials(self):
        return self._get("state")["autopilot"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.proc.stdout.close()


class InProcessLab:
    def __init__(self, workdir, time_scale, processing_delay):
        self.lab = GraphLab(workdir, time_scale=time_scale, processing_delay=processing_delay).start()
        self.connection, self.stats = self.lab.connection, self.lab.stats

    def autopilot_serials(self):
        return sorted(d["serialNumber"] for d in self.lab.service.store.data["autopilot"].values())

    def stop(self):
        self.lab.stop()


def make_fleet(count):
    return [{"serial_number": d.serial, "hardware_hash": hashgen.build_hash(d), "product_id": ""}
            for d in hashgen.fleet(2026, count, vm_every=0)]


def write_upload(folder, fleet, size=500):
    """The merge's output: registration-NNN.csv, 500 devices each (ASCII, CRLF, no quotes)."""
    folder.mkdir(parents=True)
    for n, start in enumerate(range(0, len(fleet), size), 1):
        lines = ["Device Serial Number,Windows Product ID,Hardware Hash"]
        lines += ["%s,%s,%s" % (d["serial_number"], d["product_id"], d["hardware_hash"]) for d in fleet[start:start + size]]
        (folder / ("registration-%03d.csv" % n)).write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))
    return folder


def client_for(lab, scale):
    params = dict(lab.connection(), backoff_delay=2.0 * scale, backoff_max_delay=60.0 * scale, backoff_retries=50,
                  timeout=120)
    return GraphClient(params)


def run_collection(lab, upload, campaign, scale):
    """autopilot_import's work with journal (the register role's one task), timed from reading the upload files
    (the module decodes every hash locally too) to the last journal line."""
    start = time.monotonic()
    client = client_for(lab, scale)
    stage = register(client, paths=[str(upload)], journal=str(campaign), run="bench", batch_size=500,
                     poll_interval=15.0 * scale, wait_timeout=3600, delete_import_records=False)
    wall = time.monotonic() - start
    ok = sum(1 for r in stage.results if r["outcome"] == "Registered")
    journaled = sum(1 for ev in _journal.read(str(campaign)).events if ev["status"] == "Registered")
    return wall, ok, client, journaled, len(stage.looks)


def run_cleanup(lab, fleet, scale):
    """Optional part of the collection's run: delete its own import records (one write per device)."""
    client = client_for(lab, scale)
    reg = Registrar(client)
    start = time.monotonic()
    own = reg._own_records({d["serial_number"].upper() for d in fleet})
    ids = [r["id"] for recs in own.values() for r in recs]
    reg._delete_records(ids)
    return time.monotonic() - start, len(ids)


def run_baseline(lab, upload, scale, poll=30.0):
    """Read the upload files, one POST per device, then poll each import record every 30 s while any is 'unknown',
    then look up each registered device (Get-WindowsAutoPilotInfo.ps1 3.x -Online, Import-AutopilotCSV)."""
    start = time.monotonic()
    fleet = []
    for path in sorted(upload.glob("*.csv")):
        with open(path, newline="", encoding="ascii") as fh:
            fleet += [{"serial_number": row["Device Serial Number"], "hardware_hash": row["Hardware Hash"]}
                      for row in csv.DictReader(fh)]
    client = client_for(lab, scale)
    ids = {}
    for d in fleet:
        body = {"@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity", "serialNumber": d["serial_number"],
                "hardwareIdentifier": d["hardware_hash"], "productKey": "", "groupTag": "",
                "state": {"deviceImportStatus": "pending", "deviceRegistrationId": "", "deviceErrorCode": 0,
                          "deviceErrorName": ""}}
        rec = client.post(IMPORTED, body, retry_unsafe=True).body
        ids[rec["id"]] = d["serial_number"]
    states = {}
    while True:
        processing = 0
        for rec_id in ids:
            rec = client.get("%s/%s" % (IMPORTED, rec_id))
            states[rec_id] = rec["state"]
            if rec["state"]["deviceImportStatus"] == "unknown":
                processing += 1
        if not processing:
            break
        time.sleep(poll * scale)
    visible = 0
    for st in states.values():
        if st["deviceImportStatus"] == "complete":
            client.get("%s/%s" % (AUTOPILOT, st["deviceRegistrationId"]))
            visible += 1
    return time.monotonic() - start, visible, client


def graph_requests(lab):
    c = lab.stats()["counters"]
    return c.get("graph", 0), c.get("throttled", 0)


def check_lab(lab, fleet):
    stats = lab.stats()
    serials = lab.autopilot_serials()
    lost = len({f["serial_number"] for f in fleet} - set(serials))
    dup_devices = len(serials) - len(set(serials))
    return lost, dup_devices, stats["created_by_serial_max"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--time-scale", type=float, default=0.05,
                    help="wall seconds per service second (default 0.05: a clock 20x faster than real time)")
    ap.add_argument("--processing-delay", type=float, default=60.0)
    ap.add_argument("--cleanup", action="store_true", help="also time the deletion of the import records")
    ap.add_argument("--enforce-goals", action="store_true", help="exit 1 when a ratio misses its goal")
    ap.add_argument("--lab-process", action="store_true",
                    help="run the Graph lab in a process of its own (default: inside the benchmark's process)")
    args = ap.parse_args(argv)
    scale = args.time_scale
    t0 = time.monotonic()
    fleet = make_fleet(args.devices)
    print("bench_register: %d devices (hashes built in %.1f s); lab clock x%g; write limit 100/20 s per app; "
          "processing delay %g s (service time); lab %s" % (len(fleet), time.monotonic() - t0, 1 / scale, args.processing_delay,
                                     "in its own process" if args.lab_process else "in this process"))
    failures = []
    with tempfile.TemporaryDirectory(prefix="bench-register-") as tmp:
        campaign = pathlib.Path(tmp) / "campaign"
        upload = write_upload(campaign / "upload", fleet)
        labs = {}
        rows = {}
        journaled = looks = 0
        for name in ("collection", "baseline"):
            kind = LabProcess if args.lab_process else InProcessLab
            labs[name] = kind(pathlib.Path(tmp) / name, scale, args.processing_delay)
        try:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                wall, ok, client, journaled, looks = pool.submit(run_collection, labs["collection"], upload, campaign,
                                                                 scale).result()
            req, thr = graph_requests(labs["collection"])
            rows["collection"] = (req, wall, ok, thr, client.stats)
            wall_b, ok_b, client_b = run_baseline(labs["baseline"], upload, scale)
            req_b, thr_b = graph_requests(labs["baseline"])
            rows["baseline"] = (req_b, wall_b, ok_b, thr_b, client_b.stats)
            for name, lab in labs.items():
                lost, dups, max_created = check_lab(lab, fleet)
                print("  %-10s registered %5d  lost %d  duplicated %d  import records per device (max) %d"
                      % (name, len(fleet) - lost, lost, dups, max_created))
                if lost or dups or max_created != 1:
                    failures.append("%s lost %d / duplicated %d / max import records per device %d"
                                    % (name, lost, dups, max_created))
            print("  collection journaled %d devices Registered, %d looks at the import records"
                  % (journaled, looks))
            if journaled != len(fleet):
                failures.append("the collection journaled %d of %d devices" % (journaled, len(fleet)))
            if args.cleanup:
                cwall, n = run_cleanup(labs["collection"], fleet, scale)
                req_c, _ = graph_requests(labs["collection"])
                print("  cleanup (delete_import_records=true): %d records, %d requests, %.1f s wall"
                      % (n, req_c - rows["collection"][0], cwall))
        finally:
            for lab in labs.values():
                lab.stop()
    print("  %-34s %10s %10s %10s %8s" % ("", "requests", "wall s", "throttled", "ok"))
    print("  %-34s %10d %10.1f %10d %8d" % ("collection (/import, batches 500)", rows["collection"][0],
                                            rows["collection"][1], rows["collection"][3], rows["collection"][2]))
    print("  %-34s %10d %10.1f %10d %8d" % ("one POST per device + polling", rows["baseline"][0], rows["baseline"][1],
                                            rows["baseline"][3], rows["baseline"][2]))
    req_ratio = rows["baseline"][0] / max(1, rows["collection"][0])
    wall_ratio = rows["baseline"][1] / max(1e-9, rows["collection"][1])
    print("  ratios: %.0fx fewer Graph requests, %.1fx less wall time (goals: >= 50x, >= 20x)" % (req_ratio, wall_ratio))
    if rows["collection"][2] != len(fleet) or rows["baseline"][2] != len(fleet):
        failures.append("not every device registered")
    goals = {"requests >= 50x": req_ratio >= 50, "wall time >= 20x": wall_ratio >= 20}
    print("  goals: " + ", ".join("%s %s" % (k, "met" if v else "NOT met") for k, v in goals.items()))
    if args.enforce_goals:
        failures += [k for k, v in goals.items() if not v]
    for f in failures:
        print("  FAIL: %s" % f)

    def side(name):
        req, wall_s, ok, thr, _stats = rows[name]
        return {"requests": req, "wall_s": round(wall_s, 2), "throttled": thr, "registered": ok}

    print("BENCH_REGISTER " + json.dumps({
        "devices": len(fleet), "time_scale": scale, "processing_delay": args.processing_delay,
        "lab": "process" if args.lab_process else "in-process", "collection": side("collection"),
        "baseline": side("baseline"), "requests_ratio": round(req_ratio, 1), "wall_ratio": round(wall_ratio, 2),
        "goals": {"requests_50x": goals["requests >= 50x"], "wall_20x": goals["wall time >= 20x"]},
        "journaled": journaled, "looks": looks, "failures": failures}, sort_keys=True), flush=True)
    # Exit 1 only for correctness (lost or duplicated devices) unless --enforce-goals.
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
