# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""AWX's engine for the tests: a job's private data directory laid out the way AWX's ``RunJob`` task lays it out
(awx/main/tasks/jobs.py), and ansible-runner started on it in a process of its own, as an AWX execution node starts
``ansible-runner worker``.

``Job(workdir)`` makes the private data directory (``awx_<id>_*``, mode 0700) and fills it:

    project/                          the project's checkout: the job template's playbook, collections/requirements.yml
    requirements_collections/         what the project sync installs from collections/requirements.yml
    inventory/hosts                   the inventory as AWX hands it over: a script (0700) that prints the JSON
    env/extravars                     the job template's extra vars and AWX's awx_* meta vars (YAML)
    env/tmpXXXXXXXX                   a custom credential type's extra_vars injector (0400, passed as -e @file)
    env/cmdline                       the ansible-playbook arguments (-u, --forks, -v, -e @credential file)
    env/settings                      ansible-runner's settings (job_timeout, output suppression)
    cp/                               ControlPath sockets
    artifacts/<id>/                   written by ansible-runner: command, job_events/, stdout, stderr, status, rc

AWX passes the job's environment (ANSIBLE_COLLECTIONS_PATH pointing at requirements_collections first, ...) as
``envvars`` with ``suppress_env_files=True``: no env/envvars file is written. Without a machine credential there is
nothing to answer at a prompt, so no passwords either (AWX drops an empty ``passwords``).

Deviations, on purpose: no container (AWX runs the worker in the execution environment with podman; here
``process_isolation`` is off - neither podman nor bubblewrap is installed - so paths are the host's, not /runner/...);
``suppress_output_file`` is false so that ``artifacts/<id>/stdout`` exists to be scanned (AWX keeps the same text in
its job events); the job events are written as files by ansible-runner instead of being streamed into AWX's
database (the same event data); no ``indirect_instance_count`` callback (AWX's own, not installed here).
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

import yaml

from .playbook import BIN, ROOT

JOB_ID = 1013
# What an AWX node's environment holds that ansible needs; the rest of the test process's environment (PYTHONPATH
# with the repo's collection link, the test callback, AZURE_* of a developer) stays out of the job.
_PASS_THROUGH = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
# awx/settings/defaults.py: every ANSIBLE_* setting goes into the job's environment.
AWX_ANSIBLE_SETTINGS = {"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
                        "ANSIBLE_FORCE_COLOR": "True", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"}


class _UnsafeDumper(yaml.SafeDumper):
    """Every string, keys included, as ``!unsafe``: how AWX marks extra vars a job template did not set itself."""

    def represent_data(self, data):
        if isinstance(data, str):
            return self.represent_scalar("!unsafe", data)
        return super().represent_data(data)


def awx_yaml(variables, trusted=None):
    """Extra vars as AWX writes them: a top-level var equal to the job template's own stays plain (Jinja allowed,
    ALLOW_JINJA_IN_EXTRA_VARS=template); everything else (meta vars, survey answers, credentials) is ``!unsafe``."""
    trusted = trusted or {}
    out = []
    for key, value in variables.items():
        dumper = yaml.SafeDumper if key in trusted and trusted[key] == value else _UnsafeDumper
        out.append(yaml.dump({key: value}, Dumper=dumper, default_flow_style=False))
    return "".join(out)


def _write(path, text, mode=0o600):
    path = pathlib.Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return path


def build_collection(out_dir):
    """``ansible-galaxy collection build`` of the repository; returns the tarball's path."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(ROOT), "--output-path", str(out_dir),
                    "--force"], check=True, capture_output=True, text=True, env=_galaxy_env(), timeout=300)
    (tarball,) = out_dir.glob("winfleet-autopilot-*.tar.gz")
    return tarball


def _galaxy_env(**extra):
    env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
    # AWX's GALAXY_TASK_ENV
    env.update(PATH=str(BIN) + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_FORCE_COLOR="false", **extra)
    return env


class Job:
    """One AWX job (a run of a job template): its private data directory and how ansible-runner is started on it."""

    def __init__(self, workdir, job_id=JOB_ID, forks=5, verbosity=0, job_timeout=0):
        workdir = pathlib.Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.id = job_id
        # build_private_data_dir: mkdtemp (0700) with inventory/ and env/
        self.pdd = pathlib.Path(tempfile.mkdtemp(prefix="awx_%d_" % job_id, dir=str(workdir)))
        for sub in ("inventory", "env"):
            (self.pdd / sub).mkdir(mode=0o700)
        self.project = self.pdd / "project"
        self.collections = self.pdd / "requirements_collections"
        self.artifacts = self.pdd / "artifacts" / str(job_id)
        self.forks = forks
        self.verbosity = verbosity
        self.job_timeout = job_timeout
        self.credential_files = []
        self.inventory_file = None

    # ------------------------------------------------------------------------------------------------ project
    def sync_project(self, playbooks, collections):
        """The project's checkout (``playbooks``: {relative path: text}) with a ``collections/requirements.yml`` of
        the ``collections`` tarballs, then what the project sync does with it: ``ansible-galaxy collection install
        -r`` into ``requirements_collections`` (ANSIBLE_COLLECTIONS_PATH pointing there, as AWX's project_update.yml
        runs it)."""
        for rel, text in playbooks.items():
            _write(self.project / rel, text, 0o644)
        requirements = {"collections": [{"name": str(t), "type": "file"} for t in collections]}
        req = _write(self.project / "collections" / "requirements.yml", yaml.safe_dump(requirements), 0o644)
        proc = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-r", str(req),
                               "-p", str(self.collections)], capture_output=True, text=True, cwd=str(self.project),
                              env=_galaxy_env(ANSIBLE_COLLECTIONS_PATH=str(self.collections)), timeout=300)
        if proc.returncode:
            raise RuntimeError("ansible-galaxy collection install failed:\n%s%s" % (proc.stdout, proc.stderr))
        return self.collections

    # ------------------------------------------------------------------------------------------------ inventory
    def write_inventory(self, source):
        """Import ``source`` the way an inventory sync does (``ansible-inventory --list --export``: group vars stay
        on their groups, untemplated) and write it as AWX hands it to a job: ``inventory/hosts``, a 0700 script that
        prints the JSON, every host with its ``remote_tower_*`` vars."""
        proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list", "--export"],
                              capture_output=True, text=True, check=True, env=_galaxy_env(), timeout=120)
        data = json.loads(proc.stdout)
        hostvars = data.setdefault("_meta", {}).setdefault("hostvars", {})
        hosts = sorted({h for group in data.values() if isinstance(group, dict) for h in group.get("hosts", [])})
        for number, host in enumerate(hosts, 1):
            hostvars.setdefault(host, {}).update(remote_tower_enabled="true", remote_tower_id=number)
        script = "#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(data)
        self.inventory_file = _write(self.pdd / "inventory" / "hosts", script, 0o700)
        return data

    # ------------------------------------------------------------------------------------------------ vars
    def write_extra_vars(self, template_vars, job_template="winfleet refresh"):
        """env/extravars: the job template's extra vars (plain) and AWX's meta vars (``!unsafe``)."""
        meta = {}
        for prefix in ("awx", "tower"):
            meta.update({"%s_job_id" % prefix: self.id, "%s_job_launch_type" % prefix: "manual",
                         "%s_job_template_name" % prefix: job_template, "%s_user_name" % prefix: "admin",
                         "%s_inventory_name" % prefix: "fleet", "%s_project_revision" % prefix: _revision()})
        variables = dict(template_vars, **meta)
        return _write(self.pdd / "env" / "extravars", awx_yaml(variables, trusted=template_vars))

    def inject_credential(self, extra_vars):
        """A custom credential type with an ``extra_vars`` injector: a 0400 file in env/ (mkstemp), every value
        ``!unsafe``, passed to ansible-playbook as ``-e @file``."""
        fd, path = tempfile.mkstemp(dir=str(self.pdd / "env"))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(awx_yaml(extra_vars))
        os.chmod(path, 0o400)
        self.credential_files.append(pathlib.Path(path))
        return pathlib.Path(path)

    # ------------------------------------------------------------------------------------------------ run
    def args(self):
        """RunJob.build_args without a machine credential, then the credentials' ``-e @file``."""
        out = ["-u", "root"]
        if self.forks:
            out.append("--forks=%d" % self.forks)
        if self.verbosity:
            out.append("-" + "v" * min(5, self.verbosity))
        for path in self.credential_files:
            out += ["-e", "@%s" % path]
        return out

    def envvars(self):
        """RunJob.build_env (non-container paths): the ANSIBLE_* settings, the job's ids, and the search paths with
        the private data directory's requirements_* first."""
        env = dict(AWX_ANSIBLE_SETTINGS)
        cp = self.pdd / "cp"
        cp.mkdir(mode=0o700, exist_ok=True)
        env.update({
            "AWX_PRIVATE_DATA_DIR": str(self.pdd),
            "JOB_ID": str(self.id),
            "INVENTORY_ID": "1",
            "PROJECT_REVISION": _revision(),
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "MAX_EVENT_RES": "700000",
            "AWX_HOST": "https://awx.example.invalid",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp),
            "ANSIBLE_ROLES_PATH": ":".join([str(self.pdd / "requirements_roles"), "~/.ansible/roles",
                                            "/usr/share/ansible/roles", "/etc/ansible/roles"]),
            "ANSIBLE_COLLECTIONS_PATH": ":".join([str(self.collections), "~/.ansible/collections",
                                                  "/usr/share/ansible/collections"]),
            "ANSIBLE_CALLBACK_PLUGINS": ":".join([str(self.pdd / "plugins_path"), "~/.ansible/plugins",
                                                  "/plugins/callback", "/usr/share/ansible/plugins/callback"]),
            "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""),
            "NO_PROXY": "127.0.0.1,localhost",
        })
        return env

    def run(self, playbook, timeout=600):
        """Write env/cmdline and env/settings, start ansible-runner on the private data directory in a process of
        its own (``python -m winfleet_lab.awx``; it spawns ansible-playbook itself) and return ``{"status", "rc"}``."""
        _write(self.pdd / "env" / "cmdline", shlex.join(self.args()))
        settings = {"job_timeout": self.job_timeout, "suppress_ansible_output": True, "suppress_output_file": False}
        _write(self.pdd / "env" / "settings", json.dumps(settings))
        params = {"ident": self.id, "private_data_dir": str(self.pdd), "playbook": playbook,
                  "inventory": str(self.inventory_file), "suppress_env_files": True, "envvars": self.envvars(),
                  "fact_cache_type": ""}
        env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
        env.update(PATH=params["envvars"]["PATH"])  # winfleet_lab is installed in the venv; no checkout on the path
        proc = subprocess.run([sys.executable, "-m", "winfleet_lab.awx"], input=json.dumps(params), text=True,
                              capture_output=True, env=env, cwd=str(self.pdd), timeout=timeout)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode or not lines:
            raise RuntimeError("ansible-runner did not finish (exit %d):\n%s\n%s"
                               % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        return json.loads(lines[-1])

    # ------------------------------------------------------------------------------------------------ results
    def events(self):
        """The job events ansible-runner wrote, in order."""
        folder = self.artifacts / "job_events"
        files = [p for p in folder.glob("*.json") if "-partial" not in p.name]
        files.sort(key=lambda p: int(p.name.split("-", 1)[0]))
        return [json.loads(p.read_text(encoding="utf-8")) for p in files]

    def stdout(self):
        return (self.artifacts / "stdout").read_text(encoding="utf-8")


def _revision():
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30).stdout.strip() or "0" * 40
    except OSError:
        return "0" * 40


def worker(params):
    """The execution node's side: ``ansible_runner.run`` with the job's parameters (it spawns ansible-playbook)."""
    os.environ.pop("PYTHONPATH", None)  # only for importing this module: the job's environment is AWX's
    import ansible_runner

    runner = ansible_runner.run(**params)
    return {"status": runner.status, "rc": runner.rc}


if __name__ == "__main__":
    print(json.dumps(worker(json.load(sys.stdin))), flush=True)
