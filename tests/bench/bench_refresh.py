"""Bench (refresh): the 8-device lab campaign (playbooks/refresh.yml) and its no-op re-run, before and after a change.

The same lab campaign (8 devices, one offline, one claimed by another organization) runs from this tree and from a
baseline commit checked out beside it (a git worktree under .build/bench-baseline), alternately, ``--rounds`` times,
with the same interpreter and ansible-core. Each run is timed twice: the first run (collect, clean, merge,
register, deliver, report) and the re-run that finds nothing left to do. Prints the pairs and their ratios and ends
with one line ``BENCH_REFRESH {json}``. Besides wall time, each run's CPU time (ansible-playbook and every process
it starts; the labs are apart) is reported: on a shared machine it varies less than wall time.

    python tests/bench/bench_refresh.py [--baseline 903be3b] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The last commit before the campaign engine moved to stock Ansible (in-process modules, batched strategy).
DEFAULT_BASELINE = "903be3b"

ONE_RUN = r"""
import json, resource, sys, time
sys.path[:0] = [sys.argv[1] + "/lab", sys.argv[1] + "/tests/lab", sys.argv[1] + "/.build/collections"]  # the lab moved to lab/
import dataclasses
from winfleet_lab.campaign import Campaign
from winfleet_lab.graph import config as graph_config
settings = {"processing_delay": 60.0}
# A tree whose Graph lab assigns deployment profiles (issue 16): assigned at once, so both trees do the same work
# (the wait for assignment is the service's time, not the engine's).
known = {f.name for f in dataclasses.fields(graph_config.LabConfig)}
settings.update({k: 0.0 for k in ("membership_delay", "profile_assignment_delay") if k in known})
camp = Campaign(sys.argv[2], sys.argv[3], count=8, faults={"pc0003": "offline"}, seed=909, forks=8, name="bench",
                overrides={"fleet_batch_size": 8, "fleet_max_fail_percentage": 50, "fleet_poll_interval": 1,
                           "fleet_wait_timeout": 120},
                graph_settings=settings).start()
try:
    camp.labs.claim_by_other_tenant("pc0004")
    out = {}
    for name in ("first", "noop"):
        t0, c0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
        rc, _data, o, e = camp.run(threshold=30)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out[name] = round(time.monotonic() - t0, 2)
        # CPU of ansible-playbook and every process it started (workers, modules); the labs run in this process
        out[name + "_cpu"] = round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2)
        if rc != 0:
            sys.stderr.write(o[-3000:] + e[-3000:])
            sys.exit("refresh failed (rc %d)" % rc)
    print(json.dumps(out))
finally:
    camp.stop()
"""


def baseline_tree(rev):
    tree = ROOT / ".build" / "bench-baseline"
    if tree.exists():
        subprocess.run(["git", "-C", str(tree), "checkout", "-q", "--detach", rev], check=True)
    else:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), rev], check=True)
    link = tree / ".build" / "collections" / "ansible_collections" / "winfleet" / "autopilot"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(tree, link)
    return tree


def one(tree, address):
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as work:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ANSIBLE_COLLECTIONS_PATH")}
        proc = subprocess.run([sys.executable, "-c", ONE_RUN, str(tree), work, address], capture_output=True,
                              text=True, env=env, cwd=str(tree))
        if proc.returncode:
            raise SystemExit("bench refresh in %s: %s" % (tree, proc.stderr[-4000:]))
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="commit to compare with (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    base = baseline_tree(a.baseline)
    runs = {"baseline": [], "current": []}
    for i in range(a.rounds):
        for name, tree in (("baseline", base), ("current", ROOT)):
            res = one(tree, "127.0.%d.1" % (120 + i * 2 + (name == "current")))
            runs[name].append(res)
            print("round %d %-8s first %6.1f s (CPU %5.1f s)   no-op re-run %6.1f s (CPU %5.1f s)" % (
                i + 1, name, res["first"], res["first_cpu"], res["noop"], res["noop_cpu"]), flush=True)
    fig = {"baseline": a.baseline, "rounds": a.rounds}
    for key in ("first", "noop", "first_cpu", "noop_cpu"):
        b = statistics.median(r[key] for r in runs["baseline"])
        c = statistics.median(r[key] for r in runs["current"])
        fig["%s_baseline_s" % key] = round(b, 2)
        fig["%s_current_s" % key] = round(c, 2)
        fig["%s_ratio" % key] = round(c / b, 2)  # < 1: faster than before
    # Each round runs the two trees one right after the other: the median of the per-round ratios is less affected
    # by the machine's speed drifting during the bench than the ratio of the medians.
    for key in ("first", "noop", "first_cpu", "noop_cpu"):
        fig["%s_pair_ratio" % key] = round(statistics.median(
            c[key] / b[key] for b, c in zip(runs["baseline"], runs["current"], strict=True)), 2)
    fig["pairs"] = runs
    print("median first run %.1f s -> %.1f s (x%.2f), no-op re-run %.1f s -> %.1f s (x%.2f)" % (
        fig["first_baseline_s"], fig["first_current_s"], fig["first_ratio"], fig["noop_baseline_s"],
        fig["noop_current_s"], fig["noop_ratio"]))
    print("median CPU first run %.1f s -> %.1f s (x%.2f), no-op re-run %.1f s -> %.1f s (x%.2f)" % (
        fig["first_cpu_baseline_s"], fig["first_cpu_current_s"], fig["first_cpu_ratio"], fig["noop_cpu_baseline_s"],
        fig["noop_cpu_current_s"], fig["noop_cpu_ratio"]))
    print("median of the per-round ratios: first run x%.2f (CPU x%.2f), no-op re-run x%.2f (CPU x%.2f)" % (
        fig["first_pair_ratio"], fig["first_cpu_pair_ratio"], fig["noop_pair_ratio"], fig["noop_cpu_pair_ratio"]))
    print("BENCH_REFRESH " + json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
