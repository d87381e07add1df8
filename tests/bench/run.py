#!/usr/bin/env python3
"""`make bench`: run every tests/bench/bench_*.py in turn; each prints its own figures."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv):
    only = set(argv)
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem[len("bench_"):]
        if only and name not in only:
            continue
        print("=== bench %s ===" % name, flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(script)])
        print("=== bench %s: exit %d in %.1f s ===\n" % (name, rc, time.monotonic() - started), flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("benchmarks that failed: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
