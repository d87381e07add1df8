#!/usr/bin/env python3
"""`make demo`: the main job on the embedded lab.

Until the WinRM and Graph labs drive the whole campaign, the demo generates a sample
fleet's hash files (every source dialect, with the damage real files carry), merges and
validates them with playbooks/merge.yml and prints the summary.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lab"))

from winfleet_lab import samplefleet  # noqa: E402


def main():
    started = time.monotonic()
    campaign = ROOT / "campaigns" / "demo"
    sources = campaign / "sources"
    out = campaign / "upload"
    shutil.rmtree(campaign, ignore_errors=True)
    out.mkdir(parents=True)
    samplefleet.write_fleet(str(sources), seed=2026, count=50)
    print("demo: wrote a sample fleet of 50 devices' hash files to %s" % sources)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"), ANSIBLE_NOCOLOR="1")
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks" / "merge.yml"),
           "-e", '{"merge_src": ["%s", "%s"], "merge_dest": "%s", "merge_group_tag": "DEMO"}'
           % (sources, sources / "usb", out / "registration.csv")]
    rc = subprocess.call(cmd, env=env, cwd=str(ROOT))
    print("demo: upload files in %s (%.1f s)" % (out, time.monotonic() - started))
    return rc


if __name__ == "__main__":
    sys.exit(main())
