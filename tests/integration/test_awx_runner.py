# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The campaign under AWX's engine: playbooks/refresh.yml run by ansible-runner on a private data directory laid out
as AWX lays it out (winfleet_lab.awx), against an 8-device lab fleet (1 offline, 1 with another password, 1 claimed
by another tenant, 1 re-used with stale records) and three hash files.

The collection comes from ``ansible-galaxy collection build`` installed through the project's
collections/requirements.yml into ``requirements_collections``; the inventory is AWX's JSON inventory script; the
lab's credentials come in as a custom credential type's injected extra vars. Then everything the run left outside its
inputs - every file under artifacts/ (command, job_events, stdout, stderr, status, rc), the rest of the private data
directory, the campaign's report and journal - goes through tools/secretscan.py with the labs' secret registry, and
through stricter hash checks (any base64 run that starts with the hash magic, any piece of a lab hash)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from winfleet_lab import awx, hashgen, samplefleet
from winfleet_lab import secrets as lab_secrets
from winfleet_lab.campaign import Labs
from winfleet_lab.hashleak import HashPieces
from winfleet_lab.playbook import ROOT

pytestmark = pytest.mark.integration

COUNT = 8
BASE = "127.0.56.1"
FAULTS = {"pc0002": "offline", "pc0003": "bad_password"}
FOREIGN = "pc0005"  # claimed by another organization
REUSED = "pc0006"  # stale Autopilot / Entra / Intune records from an earlier life
SOURCES_SEED = 1313
# AWX's highest verbosity, "5 (WinRM Debug)": the most a job can print (the job events' results are the same at 0).
VERBOSITY = 5
STAGES = ("collect", "cleanup", "merge", "register", "deliver")
PLAYBOOK = """---
# The job template's playbook: the whole campaign of the collection the project's requirements install.
- name: Refresh the fleet
  ansible.builtin.import_playbook: winfleet.autopilot.refresh
"""
# Base64 runs of 64+ characters that start with the hash magic ("OA" = "T0..."), wherever they begin: the head of a
# hash, whole or cut (tools/secretscan.py flags whole hashes only).
HASH_HEAD = re.compile(rb"T0[A-Za-z0-9+/]{62,}")
# Inputs that hold secrets or hashes by design, relative to the private data directory / the campaign folder.
PDD_INPUTS = ("env", "inventory", "requirements_collections")
CAMPAIGN_INPUTS = ("collected", "upload")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("awx")
    # The labs register every secret they create; `make test` names one registry for the whole run (and scans it last
    # across .build/artifacts), a lone pytest run gets its own.
    registry = os.environ.get(lab_secrets.ENV) or str(workdir / "secrets-registry.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(lab_secrets.ENV, registry)
        tarball = awx.build_collection(workdir / "build")
        sources = workdir / "shared" / "sources"
        samplefleet.write_fleet(str(sources), seed=SOURCES_SEED, count=4, damage=False)
        inventory_source = workdir / "scm-inventory"
        inventory_source.mkdir()
        (inventory_source / "hosts.yml").write_text(
            "---\nfleet:\n  hosts:\n    pc[0000:%04d]:\n" % (COUNT - 1), encoding="utf-8")
        os.symlink(ROOT / "inventory" / "lab" / "group_vars", inventory_source / "group_vars")
        with Labs(workdir / "labs", count=COUNT, base_address=BASE, faults=FAULTS, seed=2613, vm_every=0) as labs:
            labs.claim_by_other_tenant(FOREIGN)
            labs.seed_reused(REUSED, user="carol@winfleetlab.onmicrosoft.com", join="hybrid")
            conn = labs.connection()
            job = awx.Job(workdir, forks=COUNT, verbosity=VERBOSITY)
            job.sync_project({"refresh.yml": PLAYBOOK}, [tarball])
            job.write_inventory(inventory_source)
            # The job template: where the campaign lives (shared storage), the hash files, the lab's addresses and
            # CA (not secret), the failure threshold.
            campaign_root = workdir / "shared" / "campaigns"
            job.write_extra_vars({
                "campaign_name": "awx", "campaign_root": str(campaign_root), "refresh_fail_threshold": 30,
                "fleet_oem_files": [str(sources / "oem-partner.csv")],
                "fleet_configmgr_exports": [str(sources / "configmgr-export.csv")],
                "fleet_csv_folders": [str(sources / "usb")],
                "fleet_poll_interval": 1, "fleet_wait_timeout": 60,
                "lab_winrm_hosts": conn["lab_winrm_hosts"], "lab_winrm_port": conn["lab_winrm_port"],
                "lab_winrm_ca_path": conn["lab_winrm_ca_path"],
            })
            # The credential ("Winfleet lab", a custom credential type): WinRM account and the Graph app.
            job.inject_credential({"lab_winrm_user": conn["lab_winrm_user"],
                                   "lab_winrm_password": conn["lab_winrm_password"], "lab_graph": conn["lab_graph"]})
            job.result = job.run("refresh.yml")
            job.registry = pathlib.Path(registry)
            job.campaign = campaign_root / "lab" / "awx"
            job.hashes = {hashgen.build_hash(labs.host("pc%04d" % i).device) for i in range(COUNT)} | {
                hashgen.build_hash(d) for d in hashgen.fleet(SOURCES_SEED, 4)}
            job.serial = {"pc%04d" % i: labs.serial("pc%04d" % i) for i in range(COUNT)}
            yield job


def _files(root, skip):
    """Every regular file under ``root`` except the top-level folders named in ``skip``."""
    out = []
    for path in sorted(pathlib.Path(root).rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip or path.is_symlink() or not path.is_file():
            continue
        out.append(path)
    return out


def _outputs(job):
    return _files(job.pdd, PDD_INPUTS) + _files(job.campaign, CAMPAIGN_INPUTS)


def _secretscan(job, paths, tmp_path):
    """tools/secretscan.py over ``paths`` with the labs' registry: ``(exit code, hits, figures)``."""
    report = tmp_path / ("secretscan-%d.json" % len(list(tmp_path.glob("secretscan-*.json"))))
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "secretscan.py"), "--registry", str(job.registry),
                           "--json", str(report), *map(str, paths)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    return proc.returncode, data["hits"], data["figures"]


def _hash_heads(paths):
    """``[(file, offset)]`` of every base64 run of 64+ characters that starts with the hash magic."""
    return [(str(p), m.start()) for p in paths for m in HASH_HEAD.finditer(p.read_bytes())]


def test_job_runs_successfully_with_the_installed_collection(job):
    assert job.result == {"status": "successful", "rc": 0}, job.stdout()[-4000:]
    assert (job.artifacts / "status").read_text() == "successful"
    assert (job.artifacts / "rc").read_text() == "0"
    # ansible-playbook as AWX starts it: the cmdline's arguments, AWX's inventory script, the template's extra vars,
    # the credential as a file (its path, never its values), the collections the project sync installed first.
    command = json.loads((job.artifacts / "command").read_text())
    argv = command["command"]
    assert argv[0] == "ansible-playbook" and argv[-1] == "refresh.yml"
    assert argv[argv.index("-i") + 1] == str(job.pdd / "inventory" / "hosts")
    extra = [argv[i + 1] for i, a in enumerate(argv) if a == "-e"]
    assert sorted(extra) == sorted(["@%s" % (job.pdd / "env" / "extravars"), "@%s" % job.credential_files[0]])
    assert command["cwd"] == str(job.project)
    assert command["env"]["ANSIBLE_COLLECTIONS_PATH"].split(":")[0] == str(job.collections)
    assert "PYTHONPATH" not in command["env"]  # the repo's collection link is not on the job's path
    assert not (job.pdd / "env" / "envvars").exists() and not (job.pdd / "env" / "passwords").exists()
    # every task of the collection ran from requirements_collections, none from the repository
    installed = str(job.collections / "ansible_collections" / "winfleet" / "autopilot") + os.sep
    paths = {ev["event_data"]["task_path"].rsplit(":", 1)[0] for ev in job.events()
             if ev["event"] == "playbook_on_task_start" and ev["event_data"].get("task_path")}
    assert paths and all(p.startswith(installed) for p in paths), sorted(paths)[:5]


def test_job_events_show_the_campaign(job):
    events = job.events()
    kinds = [ev["event"] for ev in events if ev["event"] != "verbose"]
    assert kinds[0] == "playbook_on_start" and kinds[-1] == "playbook_on_stats"
    plays = [ev["event_data"]["play"] for ev in events if ev["event"] == "playbook_on_play_start"]
    for play in ("Collect the hardware hashes of the fleet over WinRM", "Clean out stale records",
                 "Merge, register and deliver"):
        assert play in plays, plays
    roles = {ev["event_data"].get("role", "").rsplit(".", 1)[-1] for ev in events
             if ev["event"] == "playbook_on_task_start"}
    assert set(STAGES) <= roles, roles
    # the fleet collector (one task for the batch) reports each device's outcome (the unreadable ones too: it
    # journals them, they do not fail the play), the offline device unreachable, the other-password device refused
    (read,) = [ev["event_data"]["res"] for ev in events if ev["event"] == "runner_on_ok"
               and ev["event_data"].get("task") == "Read the hardware hashes of the batch over WinRM"]
    errors = {host: res.get("error") for host, res in read["devices"].items()}
    assert errors == {"pc%04d" % i: {2: "unreachable", 3: "bad_credentials"}.get(i) for i in range(COUNT)}, errors
    (stats,) = [ev["event_data"] for ev in events if ev["event"] == "playbook_on_stats"]
    assert stats["failures"].get("localhost", 0) == 0 and stats["ok"].get("localhost", 0) > 0
    assert "Registration, look 1:" in job.stdout()


def test_campaign_report_and_journal(job):
    report = job.campaign / "report"
    for name in ("report.html", "report.json", "report.csv", "junit.xml"):
        assert (report / name).stat().st_size > 200, name
    summary = json.loads((report / "report.json").read_text())["summary"]
    # 8 lab devices (2 unreadable, 1 refused) and 3 from the hash files
    assert (summary["devices"], summary["failed"]) == (11, 3), summary
    latest = {}
    for line in (job.campaign / "journal.jsonl").read_text().splitlines():
        ev = json.loads(line)
        latest.setdefault(ev["serial"], {})[ev["stage"]] = ev
    assert {stage for stages in latest.values() for stage in stages} == set(STAGES)
    reused = latest[job.serial[REUSED]]
    assert reused["cleanup"]["outcome"] == "changed", reused["cleanup"]
    assert reused["deliver"]["status"] == "Ready for user"
    assert latest[job.serial[FOREIGN]]["register"]["status"] == "Device claimed by another organization"
    assert latest["pc0002"]["collect"]["status"] == "Host unreachable"


def test_no_secret_reached_the_artifacts(job, tmp_path):
    outputs = _outputs(job)
    names = {str(p.relative_to(job.pdd)) for p in outputs if job.pdd in p.parents}
    # what is scanned: all of artifacts/<id>/ (and the campaign's report and journal)
    for rel in ("command", "stdout", "stderr", "status", "rc"):
        assert "artifacts/%d/%s" % (job.id, rel) in names, rel
    assert sum(1 for n in names if n.startswith("artifacts/%d/job_events/" % job.id)) > 100
    assert job.campaign / "journal.jsonl" in outputs and job.campaign / "report" / "report.json" in outputs
    known = {kind for kind, _value in lab_secrets.load(job.registry)}
    assert {"password", "client_secret", "token"} <= known, known  # the run's access tokens too
    rc, hits, figures = _secretscan(job, outputs, tmp_path)
    assert (rc, hits) == (0, []), "\n".join("%(file)s:%(line)d: %(kind)s" % h for h in hits)
    assert figures["files"] == len(outputs)


def test_the_scan_sees_the_secrets_where_they_are_meant_to_be(job, tmp_path):
    """The scanner and this run's registry find the WinRM password and the Graph client secret in the credential
    file, and all three hash checks find the hashes in the upload files: the zeros are not blind scanners'."""
    rc, hits, _figures = _secretscan(job, job.credential_files, tmp_path)
    assert rc == 1 and {"registered password", "registered client_secret"} <= {h["kind"] for h in hits}, hits
    uploads = sorted((job.campaign / "upload").glob("*.csv"))
    rc, hits, _figures = _secretscan(job, uploads, tmp_path)
    assert rc == 1 and {h["kind"] for h in hits} == {"hardware hash"}
    assert len(_hash_heads(uploads)) >= 9  # every registered device's hash
    assert len(HashPieces(job.hashes).scan_files(uploads)) == len(uploads)


def test_no_hash_text_in_the_artifacts(job):
    outputs = _outputs(job)
    assert _hash_heads(outputs) == []
    # nor any 32-character piece of one of the lab's hashes (winfleet_lab.hashleak), whole or cut, anywhere
    assert HashPieces(job.hashes).scan_files(outputs) == []


def test_extra_vars_as_awx_writes_them(job):
    """The job template's vars are plain YAML, AWX's meta vars and the credential's values ``!unsafe``: a value with
    Jinja in it is never templated."""
    extravars = (job.pdd / "env" / "extravars").read_text()
    assert "campaign_name: awx\n" in extravars and "!unsafe 'awx_job_id': %d" % job.id in extravars
    credential = job.credential_files[0].read_text()
    assert "!unsafe 'lab_winrm_password': !unsafe" in credential
    assert oct(job.credential_files[0].stat().st_mode & 0o777) == "0o400"
    loaded = yaml.safe_load(credential.replace("!unsafe ", ""))
    assert set(loaded) == {"lab_winrm_user", "lab_winrm_password", "lab_graph"}
