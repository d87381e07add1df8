# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""autopilot_import through ansible-playbook against the Graph lab: outcomes, idempotence,
throttling and 503 storms, token expiry, missing permission, crash and resume."""

from __future__ import annotations

import base64
import json
import pathlib

import pytest

from winfleet_lab import fixtures_graph, hashgen
from winfleet_lab.fixtures_graph import devices, kill_tree, lab_vars, run_playbook, start_lab, write_csv

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parent / "register"
graph_lab = fixtures_graph.graph_lab


def _import(lab, tmp_path, name, **extra):
    out = tmp_path / ("%s.json" % name)
    ev = dict(lab_vars(lab, extra.pop("app", "registrar")), out=str(out))
    ev.update(extra)
    proc = run_playbook(PLAYBOOKS / "import.yml", tmp_path / "work", ev)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    return result, proc


def _by_serial(result):
    return {d["serial_number"]: d for d in result["devices"]}


def test_register_outcomes_and_idempotence(graph_lab, tmp_path):
    lab = graph_lab
    good = devices(1, 4)
    foreign = devices(2, 1)[0]
    lab.service.store.put("foreign", foreign["serial_number"].upper(), "Contoso Refurb Ltd")
    # Already registered in this tenant (by an earlier import).
    already = devices(3, 1)[0]
    # A hash whose checksum no longer matches (altered content).
    raw = bytearray(base64.b64decode(devices(4, 1)[0]["hardware_hash"]))
    raw[40] ^= 0xFF
    damaged = {"serial_number": devices(4, 1)[0]["serial_number"], "hardware_hash": base64.b64encode(bytes(raw)).decode()}
    # A valid hash whose serial is an OEM placeholder: no match possible.
    ph = hashgen.Device(serial="To be filled by O.E.M.", manufacturer="To be filled by O.E.M.", model="Desktop")
    placeholder = {"serial_number": "To be filled by O.E.M.", "hardware_hash": hashgen.build_hash(ph)}
    # Not base64 at all: the service refuses it synchronously (Edm.Binary).
    garbage = {"serial_number": "GARBAGE01", "hardware_hash": "this is not base64!!"}
    # StorageError: an unexpected service-side failure.
    flaky = devices(5, 1)[0]
    lab.service.storage_error_serials.add(flaky["serial_number"].upper())

    first, _unused = _import(lab, tmp_path, "seed", device_list=[{k: already[k] for k in ("serial_number", "hardware_hash")}])
    assert first["changed"] is True

    rows = [*good, foreign, already, damaged, placeholder, garbage, flaky]
    csv_path = write_csv(tmp_path / "registration.csv", rows)
    result, proc = _import(lab, tmp_path, "run1", csv=str(csv_path), group_tag="Order-42")
    assert result["failed"] is True
    outcome = {s: d["outcome"] for s, d in _by_serial(result).items()}
    for g in good:
        assert outcome[g["serial_number"]] == "Registered"
    assert outcome[foreign["serial_number"]] == "Device claimed by another organization"
    assert outcome[already["serial_number"]] == "Device already registered"
    assert outcome[damaged["serial_number"]] == "Hardware hash not valid"
    assert outcome["To be filled by O.E.M."] == "Device not found"
    assert outcome["GARBAGE01"] == "Hardware hash not valid"
    assert outcome[flaky["serial_number"]] == "Unexpected error"
    by = _by_serial(result)
    assert by[flaky["serial_number"]]["request_id"] in by[flaky["serial_number"]]["message"]
    assert by[foreign["serial_number"]]["error_code"] == 808
    assert by[already["serial_number"]]["changed"] is False and by[already["serial_number"]]["failed"] is False
    # Never a hash in what the run printed or returned.
    for row in rows:
        if len(row["hardware_hash"]) > 40:
            assert row["hardware_hash"][:60] not in proc.stdout
            assert row["hardware_hash"][:60] not in json.dumps(result)
    # The group tag reached the registered devices and the Entra objects.
    regs = [d for d in lab.service.store.data["autopilot"].values() if d["serialNumber"] == good[0]["serial_number"]]
    assert regs and regs[0]["groupTag"] == "Order-42"
    entra = lab.service.store.data["entra"][regs[0]["_entra"]]
    assert "[OrderId]:Order-42" in entra["physicalIds"] and any(p.startswith("[ZTDID]:") for p in entra["physicalIds"])
    # Only its own records were deleted, and all of them: a stranger's record stays.
    assert lab.service.store.data["imported"] == {}

    # Second run: every registered device is ok, nothing imported again.
    lab.service.store.delete("foreign", foreign["serial_number"].upper())
    ok_rows = [*good, already]
    csv2 = write_csv(tmp_path / "registration2.csv", ok_rows)
    again, _unused = _import(lab, tmp_path, "run2", csv=str(csv2), group_tag="Order-42")
    assert again["changed"] is False
    assert again.get("failed") is not True
    assert set(again["summary"]) == {"Device already registered"}
    assert lab.stats()["created_by_serial_max"] == 1


def test_check_mode_reports_without_writing(graph_lab, tmp_path):
    lab = graph_lab
    rows = devices(11, 3)
    _import(lab, tmp_path, "seed", device_list=[{k: rows[0][k] for k in ("serial_number", "hardware_hash")}])
    csv_path = write_csv(tmp_path / "r.csv", rows)
    before = lab.stats()["counters"].get("import_records_created", 0)
    out = tmp_path / "check.json"
    proc = run_playbook(PLAYBOOKS / "import.yml", tmp_path / "work", dict(lab_vars(lab), out=str(out), csv=str(csv_path)),
                        check=True, diff=True)
    assert proc.returncode == 0, proc.stdout
    result = json.loads(out.read_text())
    outcome = {s: d["outcome"] for s, d in _by_serial(result).items()}
    assert outcome[rows[0]["serial_number"]] == "Device already registered"
    assert outcome[rows[1]["serial_number"]] == "Would import"
    assert result["changed"] is True
    assert result["diff"]["before"]["registered"] == [rows[0]["serial_number"]]
    assert lab.stats()["counters"].get("import_records_created", 0) == before


def test_throttling_and_503_storm_lose_nothing(tmp_path):
    # A low write limit (5 per 20 s of service time = 0.2 s) and a storm of 503s, some of them *after*
    # the service applied the import (the response is lost): no device lost, none imported twice.
    lab = start_lab(tmp_path / "lab", write_limit_app=5, read_limit_app=40, intune_page_size=7)
    try:
        rows = devices(21, 30)
        lab.service.add_fault({"status": 503, "match": r"/import$", "phase": "after", "times": 2, "retry_after": 1})
        lab.service.add_fault({"status": 503, "match": r"importedWindowsAutopilotDeviceIdentities", "times": 6,
                               "every": 2, "retry_after": 2})
        lab.service.add_fault({"status": 504, "match": r"windowsAutopilotDeviceIdentities", "method": "GET",
                               "times": 3})
        lab.service.add_fault({"status": 500, "match": r"\$batch|importedWindowsAutopilotDeviceIdentities/",
                               "method": "DELETE", "times": 3})
        csv_path = write_csv(tmp_path / "r.csv", rows)
        result, _unused = _import(lab, tmp_path, "storm", csv=str(csv_path), batch_size=4)
        assert result.get("failed") is not True, result.get("msg")
        assert result["summary"] == {"Registered": 30}
        stats = lab.stats()
        assert stats["created_by_serial_max"] == 1
        assert len(stats["created_by_serial"]) == 30
        assert stats["counters"]["throttled"] > 0
        assert stats["counters"]["faults_injected"] >= 8
        assert result["graph"]["retries"] > 0
        registered = [d["serialNumber"] for d in lab.service.store.data["autopilot"].values()]
        assert sorted(registered) == sorted(r["serial_number"] for r in rows)
    finally:
        lab.stop()


def test_token_expiry_mid_run(graph_lab, tmp_path):
    lab = graph_lab
    rows = devices(31, 5)
    lab.service.add_fault({"kind": "expire_tokens", "after": 3})
    result, _unused = _import(lab, tmp_path, "expiry", csv=str(write_csv(tmp_path / "r.csv", rows)))
    assert result.get("failed") is not True, result.get("msg")
    assert result["summary"] == {"Registered": 5}
    assert result["graph"]["token_refreshes"] == 1
    assert result["graph"]["token_requests"] == 2
    assert lab.stats()["counters"]["expired_tokens_seen"] >= 1


def test_missing_permission_is_reported_clearly(graph_lab, tmp_path):
    lab = graph_lab
    rows = devices(41, 2)
    result, proc = _import(lab, tmp_path, "reader", app="reader", csv=str(write_csv(tmp_path / "r.csv", rows)))
    assert result["failed"] is True
    assert "Missing permission" in result["msg"]
    assert "DeviceManagementServiceConfig.ReadWrite.All" in result["msg"]
    assert result["status"] == 403 and result["request_id"]
    assert result["required_permissions"] == ["DeviceManagementServiceConfig.ReadWrite.All"]
    assert "Traceback" not in proc.stdout
    assert lab.stats()["counters"].get("import_records_created", 0) == 0


def test_bad_secret_is_an_aadsts_error(graph_lab, tmp_path):
    lab = graph_lab
    out = tmp_path / "bad.json"
    conn = dict(lab.connection(), client_secret="wrong")
    proc = run_playbook(PLAYBOOKS / "import.yml", tmp_path / "work",
                        {"graph": conn, "out": str(out), "device_list": [
                            {k: devices(51, 1)[0][k] for k in ("serial_number", "hardware_hash")}]})
    assert proc.returncode == 0
    result = json.loads(out.read_text())
    assert result["failed"] is True
    assert "invalid_client" in result["msg"] and "AADSTS7000215" in result["msg"]
    assert result["status"] == 400 and "Traceback" not in proc.stdout


def test_resume_after_killed_run_and_lab_crash(tmp_path):
    # The module is killed while the service is still processing; the lab crashes too and restarts from
    # its journal. The re-run adopts the first run's import records: nothing is imported twice.
    lab = start_lab(tmp_path / "lab", processing_delay=1e9)  # pending until the test lets the service finish
    try:
        rows = devices(61, 12)
        csv_path = write_csv(tmp_path / "r.csv", rows)
        out = tmp_path / "killed.json"
        proc = run_playbook(PLAYBOOKS / "import.yml", tmp_path / "work",
                            dict(lab_vars(lab), out=str(out), csv=str(csv_path), batch_size=5), popen=True)
        try:
            lab.service.wait_for(lambda s: s.stats["import_records_created"] >= 12, timeout=60)
        finally:
            kill_tree(proc.pid)
            proc.wait()
        assert not out.exists()
        lab.restart(crash=True)

        def finish_once_seen(phase, method, path, _status):
            # the re-run has read its pending import records: now the service finishes them
            if (phase, method) == ("reply", "GET") and path.endswith("/importedWindowsAutopilotDeviceIdentities"):
                lab.service.observers.remove(finish_once_seen)
                lab.service.process_now()

        lab.service.observers.append(finish_once_seen)
        result, _unused = _import(lab, tmp_path, "resumed", csv=str(csv_path), batch_size=5)
        assert result.get("failed") is not True, result.get("msg")
        assert result["summary"] == {"Registered": 12}
        assert result["changed"] is True
        # The lab restarted, so its counters restarted: the re-run created no new import record.
        assert lab.stats()["counters"].get("import_records_created", 0) == 0
        assert len(lab.service.store.data["autopilot"]) == 12
    finally:
        lab.stop()
