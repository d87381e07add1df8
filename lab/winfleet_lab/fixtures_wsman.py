# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers the WS-Man lab's tests and bench share: start a lab (in process or as a child process), run
``ansible-playbook`` against it, read the results back.

Fixtures themselves live in the tests' own ``conftest.py``/modules; everything here starts and stops itself.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import signal
import subprocess
import sys

from winfleet_lab.playbook import BIN, ansible_env
from winfleet_lab.wsman import EventLog, Fleet, Lab

# The fault fleet the collect tests share: one device per fault (by inventory name), and the error each must give.
FAULT_FLEET = {
    "pc0003": "offline",
    "pc0004": "silent",
    "pc0005": "bad_password",
    "pc0006": "access_denied",
    "pc0007": "too_old",
    "pc0008": "empty_hash",
    "pc0009": "mi_result_1",
    "pc0010": "drop",
    "pc0011": {"slow": 300},
}
FAULT_ERRORS = {"pc0003": "unreachable", "pc0004": "timed_out", "pc0005": "bad_credentials", "pc0006": "not_administrator",
                "pc0007": "windows_too_old", "pc0008": "hash_empty", "pc0009": "wmi_provider_error",
                "pc0010": "connection_dropped"}
FAULT_HEALTHY = ["pc0000", "pc0001", "pc0002", "pc0011"]


@contextlib.contextmanager
def running_lab(http_port=5985, https_port=5986, workdir=None, **fleet_kwargs):
    """A started ``Lab`` for ``Fleet.generate(**fleet_kwargs)``; stopped on exit."""
    fleet = Fleet.generate(**fleet_kwargs)
    lab = Lab(fleet, http_port=http_port, https_port=https_port, workdir=workdir)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def run_playbook(playbook, inventory, *args, env=None, timeout=600):
    """(returncode, stdout, stderr) of ``ansible-playbook -i inventory playbook args``."""
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ansible_env(), timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def run_adhoc(inventory, pattern, module, module_args="", *args, env=None, timeout=300):
    cmd = [str(BIN / "ansible"), "-i", str(inventory), pattern, "-m", module, "-a", module_args, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ansible_env(), timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


class LabProcess:
    """The lab CLI as a child process (the bench uses it so the lab has its own interpreter and core).

    Waits for its ``READY`` line (no sleeping) and stops it by its PID.
    """

    def __init__(self, workdir, *cli_args, env=None):
        self.workdir = pathlib.Path(workdir)
        self.env = env or {}  # more environment (KRB5_CONFIG for a Kerberos lab)
        self.args = [sys.executable, "-m", "winfleet_lab.wsman", "serve", "--workdir", str(self.workdir), *map(str, cli_args)]
        self.proc = None
        self.ready = None

    def __enter__(self):
        env = ansible_env(**self.env)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for line in self.proc.stdout:
            if line.startswith("READY "):
                self.ready = json.loads(line[6:])
                break
        if self.ready is None:
            err = self.proc.stderr.read()
            self.proc.wait(10)
            raise RuntimeError("the lab did not start: %s" % err[-2000:])
        return self

    @property
    def inventory(self):
        return self.ready["inventory"]

    def events(self):
        path = self.workdir / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def cpu_seconds(self):
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()


__all__ = ["FAULT_ERRORS", "FAULT_FLEET", "FAULT_HEALTHY", "EventLog", "Fleet", "Lab", "LabProcess", "ansible_env",
           "run_adhoc", "run_playbook", "running_lab"]
