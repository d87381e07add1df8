"""fleet_hardware_hash_info through ansible-playbook against a lab fleet with every fault: the same records and errors
as the per-host hardware_hash_info, --limit, each host's own connection variables, the journal, check mode, the
unreadable stop, and no password or hash in the output."""

from __future__ import annotations

import json

import pytest

from winfleet_lab import hashgen
from winfleet_lab.fixtures_wsman import FAULT_ERRORS, FAULT_FLEET, FAULT_HEALTHY, run_playbook, running_lab

pytestmark = pytest.mark.integration

HERE = __import__("pathlib").Path(__file__).parent
FLEET = HERE / "collect" / "fleet.yml"
PER_HOST = HERE / "collect" / "collect.yml"

ERRORS = FAULT_ERRORS
HEALTHY = FAULT_HEALTHY
SILENT_VARS = {"pc0004": {"ansible_winrm_operation_timeout_sec": 2, "ansible_winrm_read_timeout_sec": 3}}
ADDED_BY_ANSIBLE = {"failed", "exception", "changed", "invocation", "_ansible_no_log", "shutdown", "warnings", "host",
                    "csv_path"}


def _fleet(inv, tmp_path, *args, **evars):
    results_file = tmp_path / ("fleet-%d.json" % len(list(tmp_path.glob("fleet-*.json"))))
    evars["results_file"] = str(results_file)
    rc, out, err = run_playbook(FLEET, inv, "-e", json.dumps(evars), *args)
    return rc, out + err, (json.loads(results_file.read_text()) if results_file.exists() else None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("fleet-collect")
    with running_lab(seed=11, count=12, base_address="127.0.10.129", faults=FAULT_FLEET, vm_every=3) as lab:
        inv = lab.fleet.write_inventory(str(work / "inventory.ini"), host_vars=SILENT_VARS)
        yield lab, inv, work


@pytest.fixture(scope="module")
def both(lab):
    """The fleet collector's and the per-host action's results for the same fault fleet."""
    lab, inv, work = lab
    rc, text, fleet = _fleet(inv, work, "-vvv", concurrency=4)
    assert rc == 0, text[-3000:]
    per_host_file = work / "per-host.json"
    rc2, out, err = run_playbook(PER_HOST, inv, "-f", "12", "-e", "include_hash=false", "-e", "results_file=%s" % per_host_file)
    assert rc2 == 0, (out + err)[-3000:]
    return lab, fleet, json.loads(per_host_file.read_text()), text


def test_same_records_and_errors_as_the_per_host_action(both):
    lab, fleet, per_host, _text = both
    assert list(fleet["devices"]) == ["pc%04d" % i for i in range(12)]
    for host, expected in per_host.items():
        got = fleet["devices"][host]
        assert got["host"] == host
        same = {k: v for k, v in got.items() if k not in ADDED_BY_ANSIBLE}
        assert same == {k: v for k, v in expected.items() if k not in ADDED_BY_ANSIBLE}, host
        assert bool(got.get("failed")) == bool(expected.get("failed")), host
    for host, kind in ERRORS.items():
        assert fleet["devices"][host]["error"] == kind and host in fleet["devices"][host]["msg"]
    for host in HEALTHY:
        record = fleet["devices"][host]["record"]
        assert record["serial_number"] == lab.fleet.by_name[host].device.serial and "hardware_hash" not in record
    summary = fleet["summary"]
    assert (summary["hosts"], summary["collected"], summary["unreadable"], summary["skipped"]) == (12, 4, 8, 0)
    assert summary["by_error"] == {kind: 1 for kind in ERRORS.values()}
    assert fleet["unreadable"][0].startswith("pc0003: Host unreachable - pc0003 (http://127.0.10.132:5985/wsman) is")
    # the silent device was settled by the probe: it never reached a reader, which would have sent credentials
    assert not lab.fleet.events.events("auth_ok", host="pc0004")


def test_nothing_secret_in_the_output(both):
    lab, fleet, _per_host, text = both
    assert lab.fleet.password not in text and lab.fleet.password not in json.dumps(fleet)
    for host in HEALTHY:
        full = lab.fleet.by_name[host].hash_text
        assert full[:64] not in text and full[-200:-100] not in text
        assert full[:64] not in json.dumps(fleet)


def test_limit_and_each_hosts_own_connection_variables(lab, tmp_path):
    """--limit picks the hosts; a host with its own port and password (another listener, another account) is read
    with them, and a host whose password variable is a template gets it templated with its own variables."""
    lab, _inv, _work = lab
    host = lab.fleet.by_name["pc0005"]  # its device's password is the "wrong" one: give this host that password
    inv = lab.fleet.write_inventory(str(tmp_path / "inventory.ini"), host_vars={
        "pc0005": {"ansible_password": "{{pc0005_secret}}", "pc0005_secret": host.password},
        "pc0001": {"ansible_port": 1, "ansible_winrm_port": host.http_port}})
    rc, text, fleet = _fleet(inv, tmp_path, "--limit", "pc0001,pc0005,pc0002")
    assert rc == 0, text[-3000:]
    assert list(fleet["devices"]) == ["pc0001", "pc0002", "pc0005"]
    assert all(not d.get("failed") for d in fleet["devices"].values()), fleet["unreadable"]
    assert fleet["devices"]["pc0005"]["record"]["serial_number"] == host.device.serial
    assert host.password not in text


def test_journal_resume_check_mode_and_stop(lab, tmp_path):
    lab, inv, _work = lab
    campaign, csv_dir = tmp_path / "campaign", tmp_path / "csv"
    limit = ("--limit", "pc0000,pc0001,pc0003,pc0005")
    rc, text, check = _fleet(inv, tmp_path, "--check", *limit, journal=str(campaign), csv_dir=str(csv_dir))
    assert rc == 0, text[-3000:]
    assert check["changed"] is True and check["journal"]["appended"] == 4
    assert not campaign.exists() and not csv_dir.exists(), "check mode wrote something"

    rc, text, _first = _fleet(inv, tmp_path, *limit, journal=str(campaign), csv_dir=str(csv_dir), run_id="r1")
    assert rc == 0, text[-3000:]
    lines = [json.loads(line) for line in (campaign / "journal.jsonl").read_text().splitlines()]
    assert [(e["serial"], e["outcome"], e["status"]) for e in lines] == [
        (lab.fleet.by_name["pc0000"].device.serial, "changed", "Hash collected"),
        (lab.fleet.by_name["pc0001"].device.serial, "changed", "Hash collected"),
        ("pc0003", "failed", "Host unreachable"), ("pc0005", "failed", "Credentials rejected")]
    assert all(e["run"] == "r1" for e in lines)
    for host in ("pc0000", "pc0001"):
        device = lab.fleet.by_name[host].device
        assert (csv_dir / ("%s.csv" % device.serial)).read_bytes().split(b"\r\n")[1].split(b",")[2] == \
            hashgen.build_hash(device).encode()
    assert "hardware_hash" not in (campaign / "journal.jsonl").read_text()

    # the operator repairs pc0005: the next run reads only the two that failed, and marks pc0005's failure skipped
    lab.repair("pc0005")
    rc, text, second = _fleet(inv, tmp_path, *limit, journal=str(campaign), csv_dir=str(csv_dir), run_id="r2")
    assert rc == 0, text[-3000:]
    assert second["summary"]["skipped"] == 2 and second["devices"]["pc0000"]["skipped"] is True
    new = [json.loads(line) for line in (campaign / "journal.jsonl").read_text().splitlines()][4:]
    serial = lab.fleet.by_name["pc0005"].device.serial
    assert [(e["serial"], e["outcome"], e["status"]) for e in new] == [
        (serial, "changed", "Hash collected"), ("pc0005", "skipped", "Collected as %s" % serial)]

    # more than 20 % unreadable: the task fails after journaling, naming the share
    rc, text, _stopped = _fleet(inv, tmp_path, "--limit", "pc0002,pc0003,pc0006", max_unreadable=20,
                                journal=str(campaign), csv_dir=str(csv_dir))
    assert rc != 0 and "2 of 3 hosts of this batch could not be read (more than 20 %)" in text


def test_the_role_journals_the_same_in_both_modes(lab, tmp_path):
    """collect_mode fleet (one task) and per_host (one task per host, for ad-hoc use) write the same events; per host,
    an unreadable host is a failed host (the play's max_fail_percentage is the stop there)."""
    lab, inv, _work = lab
    limit = ("--limit", "pc0000,pc0002,pc0003,pc0006")
    journals = {}
    for mode in ("fleet", "per_host"):
        campaign = tmp_path / mode
        rc, out, err = run_playbook(HERE / "collect" / "role.yml", inv, *limit, "-e", "campaign=%s mode=%s" % (campaign, mode))
        assert rc == (0 if mode == "fleet" else 2), (out + err)[-3000:]
        events = [json.loads(line) for line in (campaign / "journal.jsonl").read_text().splitlines()]
        journals[mode] = sorted((e["serial"], e["outcome"], e["status"], json.dumps(e["detail"], sort_keys=True))
                                for e in events)
        assert {e["run"] for e in events} == {"test"}
    assert journals["fleet"] == journals["per_host"]
    failed = [j[:3] for j in journals["fleet"] if j[1] == "failed"]
    assert failed == [("pc0003", "failed", "Host unreachable"), ("pc0006", "failed", "Access denied")]
