"""Bench (collect part): 1,000 emulated devices, NTLM with message encryption over HTTP, 20 ms injected latency per
request, collected by ``ansible-playbook`` with ``winfleet.autopilot.hardware_hash_info``.

Prints devices/s of the parallel run (forks=N) and of the sequential run (forks=1, the way the PowerShell scripts
work), both with the same strategy (``--strategy``, default ``winfleet.autopilot.batched``: several hosts per
worker process), their ratio, and controller / lab CPU per device. Exit 0 with the figures; ``--strict``
exits 1 when the goals (>= 20 devices/s and >= 10x) are missed.

    python tests/bench/bench_collect.py [--devices 1000] [--forks 24] [--strategy linear]
                                        [--sequential-sample 100 | --sequential-full]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

from winfleet_lab.fixtures_wsman import BIN, LabProcess, ansible_env  # noqa: E402

PLAYBOOK = """\
- name: Collect hardware hashes (bench)
  hosts: windows
  gather_facts: false
  tasks:
    - name: Read the device record
      winfleet.autopilot.hardware_hash_info:
      register: hw
"""
RECAP = re.compile(r"^(pc\d+)\s+:\s+ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def reference_cpu_seconds():
    """CPU seconds of a fixed pure-Python loop: the collect ratio is CPU-bound on one side and latency-bound on the
    other, so a slower (or busier) machine lowers it. Printed with the figures to tell that from a regression."""
    t0 = time.process_time()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.process_time() - t0


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(inventory, playbook, forks, limit=None, strategy="linear", poll=None):
    env = ansible_env(ANSIBLE_FORKS=forks, ANSIBLE_STRATEGY=strategy)
    if poll:
        env["ANSIBLE_INTERNAL_POLL_INTERVAL"] = str(poll)
    cmd = [str(BIN / "ansible-playbook"), "-i", inventory, playbook]
    if limit:
        cmd += ["--limit", limit]
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    recap = RECAP.findall(proc.stdout)
    ok = sum(1 for _n, o, u, f in recap if o == "1" and u == "0" and f == "0")
    if proc.returncode != 0 or ok != len(recap):
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    return {"wall": wall, "cpu": cpu, "hosts": len(recap), "ok": ok, "rc": proc.returncode}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--forks", type=int, default=int(os.environ.get("BENCH_COLLECT_FORKS", "24")))
    ap.add_argument("--strategy", default="winfleet.autopilot.batched",
                    help="strategy of both runs (default: the collection's batched strategy; 'linear' for the stock one)")
    ap.add_argument("--internal-poll-interval", type=float, default=None,
                    help="ANSIBLE_INTERNAL_POLL_INTERVAL for both runs (default: ansible's own, 0.001)")
    ap.add_argument("--sequential-sample", type=int, default=100,
                    help="devices collected with forks=1 (throughput per device is constant; default 100)")
    ap.add_argument("--sequential-full", action="store_true", help="collect all devices with forks=1 too (slow)")
    ap.add_argument("--base-address", default="127.0.32.1")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    a = ap.parse_args(argv)

    reference = reference_cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        playbook = os.path.join(tmp, "collect.yml")
        pathlib.Path(playbook).write_text(PLAYBOOK)
        t0 = time.perf_counter()
        with LabProcess(os.path.join(tmp, "lab"), "--count", a.devices, "--healthy", "--base-address", a.base_address,
                        "--latency-ms", a.latency_ms, "--seed", 2026) as lab:
            startup = time.perf_counter() - t0
            lab_cpu0 = lab.cpu_seconds()
            par = run(lab.inventory, playbook, a.forks, strategy=a.strategy, poll=a.internal_poll_interval)
            lab_cpu_par = lab.cpu_seconds() - lab_cpu0
            n_seq = a.devices if a.sequential_full else min(a.sequential_sample, a.devices)
            seq = run(lab.inventory, playbook, 1, limit="windows[0:%d]" % (n_seq - 1), strategy=a.strategy,
                      poll=a.internal_poll_interval)
            events = lab.events()
    asked = sum(1 for e in events if e["kind"] == "wmi_query" and e["cls"] == "MDM_DevDetail_Ext01")
    par_rate = par["ok"] / par["wall"] if par["wall"] else 0.0
    seq_rate = seq["ok"] / seq["wall"] if seq["wall"] else 0.0
    ratio = par_rate / seq_rate if seq_rate else 0.0
    figures = {
        "devices": a.devices, "latency_ms": a.latency_ms, "auth": "ntlm + message encryption over http",
        "forks": a.forks, "strategy": a.strategy, "internal_poll_interval": a.internal_poll_interval,
        "lab_startup_s": round(startup, 2),
        "parallel": {"ok": par["ok"], "wall_s": round(par["wall"], 2), "devices_per_s": round(par_rate, 1),
                     "controller_cpu_ms_per_device": round(1000 * par["cpu"] / max(par["ok"], 1), 1),
                     "lab_cpu_ms_per_device": round(1000 * lab_cpu_par / max(par["ok"], 1), 1)},
        "sequential_forks1": {"ok": seq["ok"], "devices": n_seq, "wall_s": round(seq["wall"], 2),
                              "devices_per_s": round(seq_rate, 2),
                              "controller_cpu_ms_per_device": round(1000 * seq["cpu"] / max(seq["ok"], 1), 1)},
        "speedup": round(ratio, 1),
        "reference_loop_cpu_s": round(reference, 3),
        "hash_reads_seen_by_lab": asked,
    }
    print("bench_collect: %d devices, %s, %d ms latency/request; machine reference loop %.2f s of CPU"
          % (a.devices, figures["auth"], a.latency_ms, reference))
    print("  parallel   forks=%d %s: %d ok in %.1f s = %.1f devices/s; controller CPU %.1f ms/device, lab CPU %.1f ms/device"
          % (a.forks, a.strategy, par["ok"], par["wall"], par_rate, figures["parallel"]["controller_cpu_ms_per_device"],
             figures["parallel"]["lab_cpu_ms_per_device"]))
    print("  sequential forks=1: %d ok in %.1f s = %.2f devices/s; controller CPU %.1f ms/device"
          % (seq["ok"], seq["wall"], seq_rate, figures["sequential_forks1"]["controller_cpu_ms_per_device"]))
    print("  speedup: %.1fx  (goals: >= 20 devices/s -> %s, >= 10x -> %s)"
          % (ratio, "met" if par_rate >= 20 else "MISSED", "met" if ratio >= 10 else "MISSED"))
    print("BENCH_COLLECT " + json.dumps(figures))
    complete = par["ok"] == a.devices and seq["ok"] == n_seq
    if not complete:
        print("bench_collect: not every device was collected", file=sys.stderr)
    if a.strict and not (complete and par_rate >= 20 and ratio >= 10):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
