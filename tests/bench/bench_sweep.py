"""Bench (sweep): a fleet of 10,000 emulated devices, 30 % switched off (the connection is accepted and never
answered: the lab's ``silent`` fault), 5 % slow (1 s more per request), the rest healthy; NTLM with message encryption
over HTTP, 20 ms latency per request, a 10 s read timeout.

* The fleet collector (``fleet_hardware_hash_info``, one task) reads all of it: wall time, every healthy and slow
  device collected (journal and CSV files), every silent one ``timed_out``, the controller's peak RSS
  (``ansible-playbook`` and its workers, sampled).
* Today's model on the same mix, 2,000 devices of the same lab: stock ``linear``, forks=24, one
  ``hardware_hash_info`` task per host. Its wall time scaled to 10,000 devices, divided by the collector's, is the
  ratio.

The lab runs in its own process (measured apart). Prints the figures and one line ``BENCH_SWEEP {json}``; ``--strict``
exits 1 when a goal (<= 120 s, <= 4 GB, >= 10x, every device accounted for) is missed.

    python tests/bench/bench_sweep.py [--devices 10000] [--linear-devices 2000] [--skip-linear]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]

from bench_collect import children_cpu, fleet_playbook, printed_summary  # noqa: E402

from winfleet_lab.fixtures_wsman import BIN, LabProcess, ansible_env  # noqa: E402

LINEAR_PLAYBOOK = """\
- name: Sweep the fleet, one task per host (bench)
  hosts: windows
  gather_facts: false
  tasks:
    - name: Read the device
      winfleet.autopilot.hardware_hash_info:
        include_hash: false
        csv_dir: "{{ csv_dir }}"
      ignore_errors: true
"""


def fault(i):
    """The same mix at any size: 3 of every 10 devices silent, 1 of every 20 slow."""
    if i % 10 in (2, 5, 8):
        return "silent"
    if i % 20 == 1:
        return {"slow": 1000}
    return None


class PeakRss:
    """Peak resident memory of a process and its children (sampled every 0.2 s)."""

    def __init__(self, pid):
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            self._stop.wait(0.2)

    def stop(self):
        self._stop.set()
        self.thread.join()
        return self.peak


def playbook_run(inventory, playbook, extra, forks=None, limit=None):
    env = ansible_env()
    if forks:
        env["ANSIBLE_FORKS"] = str(forks)
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", json.dumps(extra)]
    if limit:
        cmd += ["--limit", limit]
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    rss = PeakRss(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    peak = rss.stop()
    cpu = children_cpu() - cpu0
    if proc.returncode != 0:
        sys.stderr.write(out[-3000:] + err[-3000:])
    return {"wall": wall, "cpu": cpu, "rc": proc.returncode, "peak_rss": peak, "out": out}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--linear-devices", type=int, default=2000)
    ap.add_argument("--forks", type=int, default=24)
    ap.add_argument("--timeout", type=int, default=10, help="read timeout of every device (s)")
    ap.add_argument("--base-address", default="127.1.0.1")
    ap.add_argument("--skip-linear", action="store_true", help="only the fleet collector")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    a = ap.parse_args(argv)

    faults = {str(i): fault(i) for i in range(a.devices) if fault(i)}
    silent = {"pc%04d" % int(i) for i, f in faults.items() if f == "silent"}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        work = pathlib.Path(tmp)
        fleet_file = work / "fleet.json"
        fleet_file.write_text(json.dumps({"seed": 2027, "count": a.devices, "base_address": a.base_address,
                                          "latency_ms": 20, "faults": faults}))
        t0 = time.perf_counter()
        with LabProcess(work / "lab", "--fleet-file", fleet_file, "--no-https") as lab:
            lab_start = time.perf_counter() - t0
            inventory = work / "inventory.ini"
            inventory.write_text(pathlib.Path(lab.inventory).read_text()
                                 + "ansible_winrm_operation_timeout_sec=%d\nansible_winrm_read_timeout_sec=%d\n"
                                 % (a.timeout - 2, a.timeout))
            (work / "fleet.yml").write_text(fleet_playbook(csv_dir='"{{ csv_dir }}"', journal='"{{ journal }}"', run="bench"))
            (work / "linear.yml").write_text(LINEAR_PLAYBOOK)
            lab_cpu0 = lab.cpu_seconds()
            fleet = playbook_run(inventory, work / "fleet.yml", {"csv_dir": str(work / "csv"), "journal": str(work / "campaign")})
            lab_cpu_fleet = lab.cpu_seconds() - lab_cpu0
            linear = None
            if not a.skip_linear:
                linear = playbook_run(inventory, work / "linear.yml", {"csv_dir": str(work / "csv-linear")}, forks=a.forks,
                                      limit="windows[0:%d]" % (a.linear_devices - 1))
        events = [json.loads(line) for line in (work / "campaign" / "journal.jsonl").read_text().splitlines()]
        csv_files = len(list((work / "csv").glob("*.csv")))
    collected = {e["detail"]["host"] for e in events if e["outcome"] == "changed"}
    timed_out = {e["detail"]["host"] for e in events if e["outcome"] == "failed" and e["detail"]["error"] == "timed_out"}
    other = [e for e in events if e["outcome"] == "failed" and e["detail"]["error"] != "timed_out"]
    healthy = {"pc%04d" % i for i in range(a.devices)} - silent
    figures = {
        "devices": a.devices, "silent": len(silent), "slow": sum(1 for f in faults.values() if f != "silent"),
        "collected": len(collected), "timed_out": len(timed_out), "other_failures": len(other), "csv_files": csv_files,
        "wall_s": round(fleet["wall"], 1), "controller_peak_rss_mb": round(fleet["peak_rss"] / 2**20),
        "task_elapsed_s": printed_summary(fleet["out"])["elapsed_s"], "processes": printed_summary(fleet["out"])["processes"],
        "task_settings_s": printed_summary(fleet["out"])["settings_s"],
        "controller_cpu_s": round(fleet["cpu"], 1), "lab_cpu_s": round(lab_cpu_fleet, 1), "lab_start_s": round(lab_start, 1), "timeout_s": a.timeout,
    }
    if linear is not None:
        scaled = linear["wall"] * a.devices / a.linear_devices
        figures.update({"linear_devices": a.linear_devices, "linear_forks": a.forks,
                        "linear_wall_s_%d" % a.linear_devices: round(linear["wall"], 1),
                        "linear_wall_s_scaled": round(scaled, 1), "ratio": round(scaled / fleet["wall"], 1),
                        "linear_peak_rss_mb": round(linear["peak_rss"] / 2**20)})
    goals = {"complete": collected == healthy and timed_out == silent and not other,
             "wall": fleet["wall"] <= 120, "rss": fleet["peak_rss"] <= 4 * 2**30,
             "ratio": linear is None or figures["ratio"] >= 10}
    print("bench_sweep: %d devices (%d silent, %d slow), ntlm + encryption over http, 20 ms/request, %d s timeout"
          % (a.devices, len(silent), figures["slow"], a.timeout))
    print("  fleet_hardware_hash_info: %.1f s wall, %d collected, %d timed out, %d other failures; controller peak RSS "
          "%d MB; lab CPU %.0f s (apart)" % (fleet["wall"], len(collected), len(timed_out), len(other),
                                             figures["controller_peak_rss_mb"], lab_cpu_fleet))
    if linear is not None:
        print("  linear, forks=%d, hardware_hash_info per host: %d devices in %.1f s -> %.0f s for %d; ratio %.1fx"
              % (a.forks, a.linear_devices, linear["wall"], figures["linear_wall_s_scaled"], a.devices, figures["ratio"]))
    print("  goals: every device accounted for -> %s, <= 120 s -> %s, <= 4 GB -> %s, >= 10x -> %s"
          % tuple("met" if goals[k] else "MISSED" for k in ("complete", "wall", "rss", "ratio")))
    print("BENCH_SWEEP " + json.dumps(figures))
    if a.strict and not all(goals.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
