# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reusable pytest helpers for the Graph lab: start it, seed it, write CSVs, run playbooks.

Import the fixtures into a test module (``from winfleet_lab.fixtures_graph import graph_lab``).
"""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from winfleet_lab import hashgen, samplefleet
from winfleet_lab.graph import GraphLab
from winfleet_lab.playbook import BIN, ansible_env, write_extravars

# Fast settings for tests: the documented numbers, one hundred times faster, and a 0.2 s processing delay.
FAST = {"time_scale": 0.01, "processing_delay": 20.0, "delete_delay": 10.0}


def start_lab(directory, **settings):
    cfg = dict(FAST)
    cfg.update(settings)
    return GraphLab(directory, **cfg).start()


@pytest.fixture
def graph_lab(tmp_path):
    lab = start_lab(tmp_path / "graph-lab")
    try:
        yield lab
    finally:
        lab.stop()


def devices(seed, count):
    """``count`` lab devices as dicts with their hashes (the registration CSV's content)."""
    out = []
    for dev in hashgen.fleet(seed, count, vm_every=0):
        out.append({"serial_number": dev.serial, "hardware_hash": hashgen.build_hash(dev), "device": dev})
    return out


def write_csv(path, rows, group_tag=False, user=False):
    """A registration CSV in the merge module's format (ASCII, CRLF, no quotes)."""
    width = 5 if user else 4 if group_tag else 3
    keys = ("serial_number", "product_id", "hardware_hash", "group_tag", "assigned_user")[:width]
    return samplefleet.write_csv(path, samplefleet.AUTOPILOT5[:width], [[r.get(k) or "" for k in keys] for r in rows])


def playbook_env(extra=None):
    return ansible_env(**(extra or {}))


def run_playbook(playbook, workdir, extravars, env=None, check=False, diff=False, popen=False):
    """Run ``ansible-playbook`` (the venv's) on localhost; ``extravars`` go in as a JSON file.
    Returns the CompletedProcess (or the Popen with ``popen=True``)."""
    workdir = pathlib.Path(workdir)
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
           "-e", write_extravars(workdir, extravars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if popen:  # a run the caller may kill: a killed module leaves its AnsiballZ folder in TMPDIR (stock ansible)
        tmp = workdir / "tmp"
        tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        return subprocess.Popen(cmd, env=playbook_env(dict(env or {}, TMPDIR=tmp)), cwd=str(workdir),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    return subprocess.run(cmd, env=playbook_env(env), cwd=str(workdir), capture_output=True, text=True, timeout=300,
                          check=False)


def kill_tree(pid):
    """SIGKILL a process and all its descendants (ansible-playbook's workers call setsid, so a process
    group kill would leave the running module alive)."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    seen = {}
    # Stop everything first (so nothing forks a new worker while we look), then kill.
    for _round in range(3):
        for p in [root, *root.children(recursive=True)]:
            if p.pid not in seen:
                seen[p.pid] = p
                try:
                    p.suspend()
                except psutil.NoSuchProcess:
                    pass
    for p in seen.values():
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(seen.values()), timeout=15)


def lab_vars(lab, app="registrar"):
    """Extra vars the test playbooks use for module_defaults."""
    return {"graph": lab.connection(app)}


def schema_guard(lab):
    """Validate every Graph answer of ``lab`` against Microsoft's published schema for its API version (the lab's
    own schema/graph-schema.json): returns the list the errors go to (``$batch`` inner answers included, since the lab
    answers them through the same ``handle``)."""
    from winfleet_lab.graph.schema import check_reply

    errors = []
    service = lab.service
    handle = service.handle

    def checked(method, path, query, headers, body, inner=False):
        reply = handle(method, path, query, headers, body, inner=inner)
        errors.extend(check_reply(path, reply.status, reply.body, query))
        return reply

    service.handle = checked
    return errors
