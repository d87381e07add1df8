# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ``ansible-playbook`` from tests the way a user does, and read back what it did."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".build" / "collections"
BIN = pathlib.Path(sys.executable).parent
# Never let a developer's own Azure credentials or CA overrides leak into a test run.
SCRUBBED = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def ansible_env(**extra):
    """The environment every test and bench run of ansible / ansible-playbook uses (the one place it is built)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "PYTHONPATH": str(COLLECTIONS),
        "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""),
        "NO_PROXY": "127.0.0.1,localhost",
        "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "lab" / "callback_plugins"),
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


def write_extravars(workdir, extravars):
    """Write ``extravars`` (they hold lab secrets) to a new 0600 JSON file in ``workdir``; return ``"@path"`` for -e."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    varfile = workdir / ("vars-%d.json" % len(list(workdir.glob("vars-*.json"))))
    fd = os.open(str(varfile), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(extravars, fh)
    return "@%s" % varfile


def run_playbook(playbook, *args, env=None, check=False, timeout=600):
    """Run a playbook with the JSON callback; return ``(returncode, parsed_json_or_None, stdout, stderr)``."""
    cmd = [str(BIN / "ansible-playbook"), str(playbook), *args]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT),
                          env=ansible_env(ANSIBLE_STDOUT_CALLBACK="results_json", **(env or {})))
    return proc.returncode, parse_results(proc.stdout), proc.stdout, proc.stderr


def parse_results(stdout):
    """The JSON document the results_json callback prints last (verbose output may come before it)."""
    start = 0 if stdout.startswith("{") else stdout.rfind("\n{\n") + 1
    try:
        return json.loads(stdout[start:]) if start >= 0 else None
    except ValueError:
        return None


def task_results(data, name, host="localhost"):
    """The result of the task called ``name`` on ``host`` from the JSON callback's output."""
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == name and host in task["hosts"]:
                return task["hosts"][host]
    raise KeyError(name)
