"""hardware_hash_info through ansible-playbook against a lab fleet: every fault has its own message, healthy
hosts are unaffected, the hash never reaches the output, CSV + shutdown + check mode work."""

from __future__ import annotations

import json
import socket

import pytest

from winfleet_lab import hashgen
from winfleet_lab.fixtures_wsman import FAULT_FLEET, FAULT_HEALTHY, ansible_env, run_playbook, running_lab

pytestmark = pytest.mark.integration

PLAYBOOK = __import__("pathlib").Path(__file__).parent / "collect" / "collect.yml"

FAULTS = FAULT_FLEET
# error kind and words each message must carry
EXPECTED = {
    "pc0003": ("unreachable", "connection refused"),
    "pc0004": ("timed_out", "timed out"),
    "pc0005": ("bad_credentials", "rejected the credentials"),
    "pc0006": ("not_administrator", "LocalAccountTokenFilterPolicy"),
    "pc0007": ("windows_too_old", "build 14393"),
    "pc0008": ("hash_empty", "empty hardware hash"),
    "pc0009": ("wmi_provider_error", "KB5013942"),
    "pc0010": ("connection_dropped", "dropped the connection"),
}
HEALTHY = FAULT_HEALTHY


@pytest.fixture(scope="module")
def fault_lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("wsman-faults")
    with running_lab(seed=11, count=12, base_address="127.0.10.1", faults=FAULTS, vm_every=3) as lab:
        inv = lab.fleet.write_inventory(
            str(work / "inventory.ini"),
            host_vars={"pc0004": {"ansible_winrm_operation_timeout_sec": 2, "ansible_winrm_read_timeout_sec": 3}})
        rc, out, err = run_playbook(PLAYBOOK, inv, "-v", "-f", "12", "-e", "results_file=%s" % (work / "results.json"),
                                    "-e", "merge_dest=%s" % (work / "registration.csv"))
        results = json.loads((work / "results.json").read_text())
        lab.merge_dest = work / "registration.csv"
        yield lab, results, rc, out + err


def test_every_fault_has_its_own_message(fault_lab):
    _lab, results, rc, text = fault_lab
    assert rc == 0, text[-3000:]
    msgs = {}
    for name, (kind, words) in EXPECTED.items():
        res = results[name]
        assert res.get("failed") is True, (name, res)
        assert res["error"] == kind, (name, res)
        assert words in res["msg"], (name, res["msg"])
        assert name in res["msg"], "the message names the device"
        assert "Traceback" not in res["msg"] and "Traceback" not in str(res.get("exception", ""))
        msgs[name] = res["msg"]
    assert len(set(msgs.values())) == len(msgs)
    assert len({results[n]["error"] for n in EXPECTED}) == len(EXPECTED)


def test_healthy_hosts_are_unaffected(fault_lab):
    lab, results, _rc, _text = fault_lab
    for name in HEALTHY:
        host = lab.fleet.by_name[name]
        res = results[name]
        assert not res.get("failed"), (name, res.get("msg"))
        rec = res["record"]
        assert rec["serial_number"] == host.device.serial
        assert rec["manufacturer"] == host.device.manufacturer and rec["model"] == host.device.model
        assert rec["hardware_hash"] == hashgen.build_hash(host.device)
        assert set(rec) == {"serial_number", "manufacturer", "model", "hardware_hash", "product_id", "group_tag", "assigned_user",
                            "source"}
        assert rec["source"] == name
        assert res["device"]["uuid"] == host.device.uuid
        assert res["device"]["computer_name"] == host.computer_name
        assert res["device"]["os_build"] == ".".join(host.device.os_build.split(".")[:3])
        summary = res["hash_summary"]
        assert summary["valid"] is True and summary["serial_number"] == host.device.serial
        assert summary["is_virtual_machine"] is (host.device.model == "Virtual Machine")
        assert "hardware_hash" not in summary
    assert any(lab.fleet.by_name[n].device.model == "Virtual Machine" for n in HEALTHY), "the fleet has a VM"


def test_the_hash_never_reaches_the_output(fault_lab):
    lab, _results, _rc, text = fault_lab
    for name in HEALTHY:
        full = lab.fleet.by_name[name].hash_text
        assert full[:64] not in text and full[-200:-100] not in text
    assert "censored" in text or "no_log" in text


def test_event_log_tells_who_asked_what(fault_lab):
    lab = fault_lab[0]
    ev = lab.fleet.events
    asked = {e["cls"] for e in ev.events("wmi_query", host="pc0000")}
    assert asked == {"Win32_OperatingSystem", "Win32_BIOS", "Win32_ComputerSystem", "Win32_ComputerSystemProduct",
                     "MDM_DevDetail_Ext01"}
    # too old: the collector stops after the OS build, it never asks for the hash
    assert {e["cls"] for e in ev.events("wmi_query", host="pc0007")} == {"Win32_OperatingSystem"}
    assert ev.events("auth_failed", host="pc0005") and not ev.events("wmi_query", host="pc0005")
    assert ev.events("dropped_mid_response", host="pc0010")
    assert not ev.events(host="pc0003"), "nothing listens for an offline device"
    assert not ev.events("shutdown") and not ev.events("command")


@pytest.fixture
def small_lab(tmp_path):
    with running_lab(seed=23, count=3, base_address="127.0.10.64") as lab:
        inv = lab.fleet.write_inventory(str(tmp_path / "inventory.ini"), scheme="https", ca_path=lab.ca_path)
        yield lab, inv, tmp_path


def _run(inv, tmp_path, *args, **evars):
    results_file = tmp_path / "results.json"
    evars["results_file"] = str(results_file)
    rc, out, err = run_playbook(PLAYBOOK, inv, "-e", json.dumps(evars), *args, env=ansible_env())
    assert rc == 0, (out + err)[-3000:]
    return json.loads(results_file.read_text())


def _refused(address, port):
    with socket.socket() as s:
        return s.connect_ex((address, port)) != 0


def test_check_mode_reads_only_then_csv_and_shutdown(small_lab):
    lab, inv, tmp_path = small_lab
    csv_dir = tmp_path / "csv"
    check = _run(inv, tmp_path, "--check", csv_dir=str(csv_dir), do_shutdown=True, group_tag="Lab")
    for res in check.values():
        assert not res.get("failed"), res.get("msg")
        assert res["changed"] is True and res["shutdown"] == {"requested": True, "issued": False, "connection_dropped": False}
        assert res["record"]["group_tag"] == "Lab"
    assert not csv_dir.exists(), "check mode wrote CSV files"
    assert not lab.fleet.events.events("shutdown") and not lab.fleet.events.events("command")

    real = _run(inv, tmp_path, csv_dir=str(csv_dir), do_shutdown=True, group_tag="Lab")
    for name, res in real.items():
        host = lab.fleet.by_name[name]
        assert res["changed"] is True and res["shutdown"]["issued"] is True, res
        data = (csv_dir / ("%s.csv" % host.device.serial)).read_bytes()
        assert data == ("Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\n%s,,%s,Lab\r\n"
                        % (host.device.serial, host.hash_text)).encode("ascii")
        assert res["csv_path"] == str(csv_dir / ("%s.csv" % host.device.serial))
    shut = lab.fleet.events.events("shutdown")
    assert sorted(e["host"] for e in shut) == sorted(lab.fleet.by_name)
    assert all(e["command"] == "shutdown /s /t 0" for e in shut)
    for host in lab.fleet.hosts:
        assert host.powered is False
        assert _refused(host.address, host.https_port), "a shut-down device still accepts connections"


def test_include_hash_false_shows_the_record(small_lab):
    lab, inv, tmp_path = small_lab
    results = _run(inv, tmp_path, "-v", include_hash=False)
    for name, res in results.items():
        assert "hardware_hash" not in res["record"]
        assert res["record"]["serial_number"] == lab.fleet.by_name[name].device.serial
        assert res["changed"] is False


def test_collected_records_merge_into_the_upload_file(fault_lab):
    lab, _results, rc, text = fault_lab
    assert rc == 0, text[-3000:]
    lines = lab.merge_dest.read_bytes().split(b"\r\n")
    assert lines[0] == b"Device Serial Number,Windows Product ID,Hardware Hash"
    rows = {line.split(b",")[0].decode(): line.split(b",")[2].decode() for line in lines[1:] if line}
    assert set(rows) == {lab.fleet.by_name[n].device.serial for n in HEALTHY}
    for name in HEALTHY:
        device = lab.fleet.by_name[name].device
        assert rows[device.serial] == hashgen.build_hash(device)
