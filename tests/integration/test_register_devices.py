# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""autopilot_device_info, autopilot_device and user_licence_info through ansible-playbook against the Graph lab."""

from __future__ import annotations

import json
import pathlib
import time

import pytest

from winfleet_lab import fixtures_graph
from winfleet_lab.fixtures_graph import devices, lab_vars, run_playbook

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parent / "register"
graph_lab = fixtures_graph.graph_lab


def _register(lab, rows):
    """Import straight through the lab (the import module has its own tests) and finish processing."""
    body = {"importedWindowsAutopilotDeviceIdentities": [
        {"serialNumber": r["serial_number"], "hardwareIdentifier": r["hardware_hash"], "groupTag": "Order-1"}
        for r in rows]}
    client = _client(lab)
    client.post("/deviceManagement/importedWindowsAutopilotDeviceIdentities/import", body)
    lab.service.handle("POST", "/_lab/process", {}, {}, b"")


def _client(lab):
    from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient

    return GraphClient(lab.connection())


def test_device_info_status_update_and_removal(graph_lab, tmp_path):
    lab = graph_lab
    dom = lab.cfg.tenant_domain
    rows = devices(71, 6)
    ready, active, inactive, target, doomed, pending = (r["serial_number"] for r in rows)
    _register(lab, rows[:5])
    lab.service.enroll(active, days_since_sync=1, upn="alice@" + dom)
    lab.service.enroll(inactive, days_since_sync=12, upn="carol@" + dom)
    # A pending import (processing takes 0.2 s; the playbook asks right away, well within 1000 s of lab time).
    lab.service.cfg.processing_delay = 100000.0
    _client(lab).post("/deviceManagement/importedWindowsAutopilotDeviceIdentities/import", {
        "importedWindowsAutopilotDeviceIdentities": [{"serialNumber": pending, "hardwareIdentifier": rows[5]["hardware_hash"]}]})
    # A failed one (claimed by another organization).
    failed = devices(72, 1)[0]
    lab.service.store.put("foreign", failed["serial_number"].upper(), "Other Org")
    lab.service.cfg.processing_delay = 0.0
    _client(lab).post("/deviceManagement/importedWindowsAutopilotDeviceIdentities/import", {
        "importedWindowsAutopilotDeviceIdentities": [{"serialNumber": failed["serial_number"],
                                                     "hardwareIdentifier": failed["hardware_hash"]}]})
    serials = [ready, active, inactive, target, doomed, pending, failed["serial_number"], "NOSUCHSERIAL",
               ready[:-1]]  # a prefix of a real serial: contains() matches it, the exact match must not
    out = tmp_path / "devices.json"
    ev = dict(lab_vars(lab), out=str(out), serials=serials, target=target, doomed=doomed, enrolled=active,
              user="bob@" + dom, users=["alice@" + dom, "bob@" + dom, "dave@" + dom, "nobody@" + dom])
    started = time.monotonic()
    proc = run_playbook(PLAYBOOKS / "devices.yml", tmp_path / "work", ev, diff=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.monotonic() - started < 120
    r = json.loads(out.read_text())

    status = {d["serial_number"]: d["status"] for d in r["info_before"]["devices"]}
    # registered, and the lab's tenant has no deployment profile: not ready for the user (issue 16)
    assert status == {ready: "Registered, no profile", active: "Active", inactive: "Inactive",
                      target: "Registered, no profile", doomed: "Registered, no profile", pending: "Registration pending",
                      failed["serial_number"]: "Registration failed", "NOSUCHSERIAL": "Device not found",
                      ready[:-1]: "Device not found"}
    assert r["info_before"]["changed"] is False

    assert r["update_check"]["changed"] is True
    assert r["update_check"]["diff"]["before"]["group_tag"] == "Order-1"
    assert r["update_check"]["diff"]["after"]["group_tag"] == "Microsoft365Managed_Autopilot"
    assert r["update"]["changed"] is True
    assert r["update"]["device"]["assigned_user"] == "bob@" + dom
    assert r["update"]["device"]["display_name"] == "LAB-PC-01"
    assert r["update_again"]["changed"] is False

    assert r["remove_enrolled"]["failed"] is True
    assert "enrolled in Intune" in r["remove_enrolled"]["msg"]
    assert r["remove"]["changed"] is True and r["remove"]["removed"] is True
    assert r["remove_again"]["changed"] is False
    after = {d["serial_number"]: d["status"] for d in r["info_after"]["devices"]}
    assert after[doomed] == "Device not found"
    assert after[active] == "Active"
    # The Entra object created by the registration went with it.
    assert not any(d["displayName"] == doomed for d in lab.service.store.data["entra"].values())

    lic = {u["user_principal_name"].split("@")[0]: u for u in r["licences"]["users"]}
    assert lic["alice"]["licensed"] is True
    assert lic["bob"]["licensed"] is False and lic["bob"]["missing"] == ["INTUNE_A", "AAD_PREMIUM"]
    assert lic["dave"]["missing"] == ["INTUNE_A"] and lic["dave"]["not_provisioned"] == {"INTUNE_A": "PendingInput"}
    assert lic["nobody"]["found"] is False
    assert r["licences"]["all_licensed"] is False
    assert sorted(r["licences"]["not_ready"]) == sorted(["bob@" + dom, "dave@" + dom, "nobody@" + dom])
