# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""`molecule test -s <role>` for every role's scenario (extensions/molecule/<role>/: converge, idempotence, check)
against the labs, which this module starts (3 WinRM devices on 127.0.54.1-3, one offline, and a Graph lab)."""

from __future__ import annotations

import json
import subprocess

import pytest

from winfleet_lab import samplefleet
from winfleet_lab.campaign import Labs
from winfleet_lab.fixtures_graph import devices, write_csv
from winfleet_lab.playbook import BIN, ROOT, ansible_env

pytestmark = pytest.mark.integration

SCENARIOS = ["collect", "merge", "cleanup", "register", "deliver"]


@pytest.fixture(scope="module")
def molecule_env(tmp_path_factory):
    work = tmp_path_factory.mktemp("molecule")
    # the lab tenant's deployment profile targets every Autopilot device: the deliver scenario retags its devices
    labs = Labs(work / "labs", count=3, base_address="127.0.54.1", faults={"pc0002": "offline"}, seed=707,
                vm_every=0, profile_group_tag="")
    labs.start()
    try:
        # merge: an OEM file and a flash-drive folder (2 devices each)
        samplefleet.write_fleet(str(work / "sources"), seed=4343, count=8, damage=False)
        # register: an upload file of 3 lab devices
        to_register = devices(909, 3)
        (work / "register" / "upload").mkdir(parents=True)
        write_csv(str(work / "register" / "upload" / "registration.csv"), to_register)
        # deliver: 2 devices registered beforehand
        to_deliver = devices(808, 2)
        from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient

        GraphClient(labs.graph.connection()).post(
            "/deviceManagement/importedWindowsAutopilotDeviceIdentities/import",
            {"importedWindowsAutopilotDeviceIdentities": [
                {"serialNumber": d["serial_number"], "hardwareIdentifier": d["hardware_hash"]} for d in to_deliver]})
        labs.control("process", {})
        seed = {
            "molecule_sources": str(work / "sources"),
            "molecule_source_devices": 4,
            "molecule_register_serials": [d["serial_number"] for d in to_register],
            "molecule_deliver_serials": [d["serial_number"] for d in to_deliver],
            "molecule_deliver_events": [{"serial": d["serial_number"], "outcome": "changed", "status": "Registered",
                                         "detail": {}} for d in to_deliver],
        }
        (work / "seed.yml").write_text(json.dumps(seed))
        connection = labs.write_connection(work / "connection.yml")
        yield ansible_env(WINFLEET_LAB_CONNECTION=connection, WINFLEET_MOLECULE_DIR=work,
                          MOLECULE_NO_LOG="false", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    finally:
        labs.stop()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(molecule_env, scenario):
    env = dict(molecule_env)
    env.pop("ANSIBLE_CALLBACK_PLUGINS", None)
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # the three steps ran and passed (idempotence: the second converge changed nothing)
    for step in ("converge", "idempotence", "check"):
        assert "%s > %s: Executed: Successful" % (scenario, step) in out, out[-3000:]
