#!/usr/bin/env python3
"""Merge benchmark: 100,000 devices with 4,000-character hashes in 200 files of mixed encodings.

Prints rows/s, peak RSS and the ratio to a plain `csv`-module read of the same files (the I/O floor),
and the rows/s at a quarter of the size to show the merge is linear in rows. Goal on 2 cores:
<= 10 s wall and <= 1 GB peak RSS for the 100,000 rows, fully validated and written.
Each measurement runs in a fresh process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / ".build" / "collections")]
DATA = ROOT / ".build" / "bench" / "merge"
ROWS_PER_FILE = 500
WORKERS = int(os.environ.get("BENCH_MERGE_WORKERS", "0"))
DIALECTS = [
    (("Device Serial Number", "Windows Product ID", "Hardware Hash"), lambda d, h: (d.serial, "", h)),
    (("Manufacturer", "Model", "Serial Number", "Hardware Hash"), lambda d, h: (d.manufacturer, d.model, d.serial, h)),
    (("Manufacturer", "Model", "Serial_Number", "HardwareHash"), lambda d, h: (d.manufacturer, d.model, d.serial, h)),
    (("Device Serial Number", "Windows Product ID", "Hardware Hash", "Manufacturer name", "Device model"),
     lambda d, h: (d.serial, "", h, d.manufacturer, d.model)),
]
ENCODINGS = ["utf-16", "utf-8-sig", "ascii", "utf-16-le-nobom"]


def generate(files):
    from winfleet_lab import hashgen

    stamp = DATA / ("ready-%d" % files)
    if stamp.exists():
        return
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    devices = hashgen.fleet(2026, files * ROWS_PER_FILE, vm_every=50)
    for i in range(files):
        header, row = DIALECTS[i % len(DIALECTS)]
        batch = devices[i * ROWS_PER_FILE:(i + 1) * ROWS_PER_FILE]
        text = "\r\n".join([",".join(header)] + [",".join(row(d, hashgen.build_hash(d))) for d in batch]) + "\r\n"
        enc = ENCODINGS[(i // len(DIALECTS)) % len(ENCODINGS)]
        if enc == "utf-16":
            data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
        elif enc == "utf-16-le-nobom":
            data = text.encode("utf-16-le")
        else:
            data = text.encode(enc)
        (DATA / ("part-%03d.csv" % i)).write_bytes(data)
    stamp.write_text("ok")


def files_for(count):
    return sorted(str(p) for p in DATA.glob("part-*.csv"))[:count]


def measure_floor(count):
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _csvsource as src

    started = time.perf_counter()
    rows = 0
    for path in files_for(count):
        with open(path, "rb") as handle:
            text, _enc = src.decode_bytes(handle.read())
        for _row in csv.reader(io.StringIO(text, newline="")):
            rows += 1
    return {"seconds": time.perf_counter() - started, "rows": rows - count}


def measure_merge(count):
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _registration as reg
    from ansible_collections.winfleet.autopilot.plugins.module_utils._files import write_atomic

    out = ROOT / ".build" / "bench" / "merge-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    result = reg.collect(files_for(count), [], reg.default_options(), workers=WORKERS)
    merged = reg.merge(result)
    rendered = reg.render(merged, str(out / "registration.csv"), "autopilot", 500)
    to_write, to_remove, _before = reg.plan(rendered, reg.existing_outputs(str(out / "registration.csv")))
    write_atomic(rendered, to_write, to_remove)
    seconds = time.perf_counter() - started
    assert not result.rejected, result.rejected[:3]
    return {"seconds": seconds, "rows": result.rows_read, "devices": len(merged), "files_written": len(to_write)}


def child(kind, count):
    """Run one measurement in a fresh interpreter; return its figures and peak RSS."""
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(count)], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    if args.child:
        import resource

        kind, count = args.child[0], int(args.child[1])
        figures = measure_floor(count) if kind == "floor" else measure_merge(count)
        figures["peak_rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                  + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0
        print(json.dumps(figures))
        return 0
    t0 = time.perf_counter()
    generate(args.files)
    print("data: %d files x %d rows, 4,000-character hashes, encodings %s (%.1f s to generate or reuse)"
          % (args.files, ROWS_PER_FILE, "/".join(ENCODINGS), time.perf_counter() - t0))
    quarter = max(1, args.files // 4)
    floor = child("floor", args.files)
    full = child("merge", args.files)
    small = child("merge", quarter)
    rate = full["rows"] / full["seconds"]
    small_rate = small["rows"] / small["seconds"]
    print("csv-module floor : %7d rows in %6.2f s  (%8.0f rows/s), peak RSS %6.0f MB"
          % (floor["rows"], floor["seconds"], floor["rows"] / floor["seconds"], floor["peak_rss_mb"]))
    print("merge (full)     : %7d rows in %6.2f s  (%8.0f rows/s), peak RSS %6.0f MB, %d devices, %d files written"
          % (full["rows"], full["seconds"], rate, full["peak_rss_mb"], full["devices"], full["files_written"]))
    print("merge (quarter)  : %7d rows in %6.2f s  (%8.0f rows/s), peak RSS %6.0f MB"
          % (small["rows"], small["seconds"], small_rate, small["peak_rss_mb"]))
    print("ratio merge/floor wall time: %.2fx; linearity (rows/s full vs quarter): %.2f"
          % (full["seconds"] / floor["seconds"], rate / small_rate))
    goal_wall = full["seconds"] <= 10.0
    goal_rss = full["peak_rss_mb"] <= 1024.0
    print("goal <= 10 s wall: %s; goal <= 1 GB peak RSS: %s" % ("met" if goal_wall else "MISSED",
                                                                  "met" if goal_rss else "MISSED"))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
