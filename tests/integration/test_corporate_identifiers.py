# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Corporate identifiers (issue 16 part 5) through ansible-playbook against the Graph lab: the merge writes the
portal's identifier file (make and model from the hashes, periods removed, no header), corporate_identifier
registers it - check mode first, changing nothing -, a second run changes nothing, a device the portal cannot take
fails before anything is sent, the info module finds them, and absent removes them (check mode first)."""

from __future__ import annotations

import json
import pathlib

import pytest

from winfleet_lab.fixtures_graph import devices, schema_guard, start_lab, write_csv
from winfleet_lab.playbook import run_playbook, task_results, write_extravars

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parent / "corporate_identifiers"
IMPORT = "POST deviceManagement/importedDeviceIdentities/importDeviceIdentityList"
DELETE = "DELETE deviceManagement/importedDeviceIdentities/{id}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = start_lab(tmp_path_factory.mktemp("corpid") / "lab")
    try:
        yield lab
    finally:
        lab.stop()


def _fleet():
    """Lab devices covering a make with a period (Dell Inc.) and one without (LENOVO)."""
    pool = devices(1601, 40)
    dell = [d for d in pool if d["device"].manufacturer == "Dell Inc."][:2]
    lenovo = [d for d in pool if d["device"].manufacturer == "LENOVO"][:2]
    assert len(dell) == 2 and len(lenovo) == 2
    return dell + lenovo


def test_corporate_identifiers_end_to_end(lab, tmp_path):
    fleet = _fleet()
    (tmp_path / "sources").mkdir()
    (tmp_path / "corporate-identifiers").mkdir()
    write_csv(tmp_path / "sources" / "hashes.csv", fleet)
    extra = [{"manufacturer": "HP", "model": "HP EliteBook 840 G9 Notebook PC", "serial_number": "5CG2000AAA"},
             {"manufacturer": "Microsoft Corporation", "model": "Surface Pro 9", "serial_number": "048392017465"}]
    extravars = {"graph": lab.connection(), "workdir": str(tmp_path), "extra_devices": extra}
    schema_errors = schema_guard(lab)  # every answer as Microsoft's beta schema defines the entity
    rc, data, out, err = run_playbook(PLAYBOOKS / "lifecycle.yml", "-i", "localhost,", "-c", "local",
                                      "-e", write_extravars(tmp_path / "run", extravars), timeout=300)
    assert data is not None, out + err
    assert rc == 0, out + err

    # The merge: the portal's file, make and model as the hashes carry them (SMBIOS), periods removed.
    merged = task_results(data, "Merge (identifier file)")
    dest = tmp_path / "corporate-identifiers" / "identifiers.csv"
    assert merged["changed"] is True and merged["paths"] == [str(dest)] and not merged["rejected"]
    expected = sorted([("%s,%s,%s" % (d["device"].manufacturer.replace(".", ""), d["device"].model,
                                      d["serial_number"]), d["serial_number"]) for d in fleet]
                      + [("Acme Corp,Widget 3000,WMI0001", "WMI0001")], key=lambda t: t[1].upper())
    data_bytes = dest.read_bytes()
    assert data_bytes == "".join(line + "\r\n" for line, _s in expected).encode("ascii")  # no header, CRLF
    assert {(c["field"], c["value"], c["written"]) for c in merged["cleaned"]} == {
        ("manufacturer", "Dell Inc.", "Dell Inc"), ("manufacturer", "Acme Corp.", "Acme Corp")}
    wanted = {line for line, _s in expected}
    wanted |= {"%s,%s,%s" % (e["manufacturer"], e["model"], e["serial_number"]) for e in extra}

    # Check mode: the search ran, nothing was imported; the diff says what would be added.
    check = task_results(data, "Register (check)")
    assert check["changed"] is True and {r["status"] for r in check["results"]} == {"To be registered"}
    assert check["diff"]["before"] == {"identifiers": []} and set(check["diff"]["after"]["identifiers"]) == wanted

    # The real run imported each once, in one importDeviceIdentityList call (inside one $batch).
    present = task_results(data, "Register")
    assert present["changed"] is True and {r["status"] for r in present["results"]} == {"Registered"}
    assert {r["identifier"] for r in present["results"]} == wanted
    assert all(r["id"] and r["enrollment_state"] == "Not contacted" for r in present["results"])
    assert lab.service.stats[IMPORT] == 1

    # A second run changes nothing and imports nothing.
    again = task_results(data, "Register again")
    assert again["changed"] is False and {r["status"] for r in again["results"]} == {"Already registered"}

    # Bad devices fail before any request, each named with its reason.
    refused = task_results(data, "A device the portal cannot take")
    assert refused["failed"] is True and "nothing was sent" in refused["msg"]
    reasons = {e["source"]: e["reason"] for e in refused["errors"]}
    assert "contains a comma" in reasons["devices[0]"]
    assert "placeholder" in reasons["devices[1]"]

    info = task_results(data, "Look them up")["identities"]
    assert {i["identifier"] for i in info if i["found"]} == wanted
    assert [i["serial_number"] for i in info if not i["found"]] == ["NOTHERE1"]
    listed = task_results(data, "List all")["identities"]
    assert {i["identifier"] for i in listed} == wanted

    # Absent: check mode deletes nothing, the real run deletes by id, the next run has nothing to do.
    check_absent = task_results(data, "Remove (check)")
    assert check_absent["changed"] is True and {r["status"] for r in check_absent["results"]} == {"To be removed"}
    absent = task_results(data, "Remove")
    assert absent["changed"] is True and {r["status"] for r in absent["results"]} == {"Removed"}
    assert lab.service.stats[DELETE] == 2
    assert sorted(absent["diff"]["before"]["identifiers"]) == sorted(
        "%s,%s,%s" % (e["manufacturer"], e["model"], e["serial_number"]) for e in extra)
    assert absent["diff"]["after"] == {"identifiers": []}
    gone = task_results(data, "Remove again")
    assert gone["changed"] is False and {r["status"] for r in gone["results"]} == {"Not registered"}

    # What the lab holds: the merged file's identifiers, Windows, not contacted yet.
    stored = lab.service.identities()
    assert {s["importedDeviceIdentifier"] for s in stored} == {line for line, _s in expected}
    assert {(s["importedDeviceIdentityType"], s["platform"], s["enrollmentState"]) for s in stored} == {
        ("manufacturerModelSerial", "windows", "notContacted")}
    assert {s["description"] for s in stored} == {"lab fleet"}
    assert schema_errors == []


def test_a_fleet_registered_by_identifier_journals_each_device(tmp_path):
    """playbooks/refresh.yml with fleet_registration_method=corporate_identifier: each device's register event is
    "Corporate identifier registered" with its identity, the deliver stage leaves the devices alone (they are not
    Autopilot devices), the report shows the state; an identifier the service refuses is that device's failure (the
    threshold decides, the campaign goes on) and is sent again by the next run; a run with nothing new adds nothing
    to the journal."""
    from winfleet_lab.campaign import Campaign

    fleet = {"fleet_registration_method": "corporate_identifier", "fleet_cleanup_enabled": False,
             "fleet_assigned_users": {}, "fleet_poll_interval": 1, "fleet_wait_timeout": 60}
    camp = Campaign(tmp_path, "127.0.65.1", count=3, seed=1665, overrides=fleet).start()
    try:
        service = camp.labs.graph.service
        refused = camp.serial("pc0001")
        accepted = service.identifier_accepted
        service.identifier_accepted = lambda kind, ident: accepted(kind, ident) and not ident.endswith("," + refused)
        rc, _data, out, err = camp.run(threshold=50)
        assert rc == 0, out[-3000:] + err[-2000:]
        latest = camp.latest()
        assert latest[refused]["register"]["outcome"] == "failed"
        assert latest[refused]["register"]["status"] == "Corporate identifier refused"
        assert "status false" in latest[refused]["register"]["detail"]["cause"]
        report = json.loads((camp.dir / "report" / "report.json").read_text())
        assert report["summary"]["by_status"] == {"Corporate identifier registered": 2,
                                                  "Corporate identifier refused": 1}
        assert report["summary"]["failed"] == 1

        service.identifier_accepted = accepted
        rc, _data, out, err = camp.run(threshold=0)
        assert rc == 0, out[-3000:] + err[-2000:]
        latest = camp.latest()
        identities = {i["importedDeviceIdentifier"].rsplit(",", 1)[1]: i for i in service.identities()}
        assert len(latest) == 3 and len(identities) == 3
        for serial, stages in latest.items():
            reg = stages["register"]
            assert reg["status"] == "Corporate identifier registered", reg
            assert reg["detail"]["identity_id"] == identities[serial]["id"]
            assert "deliver" not in stages  # not an Autopilot device: nothing to deliver, nothing "not found"
        assert latest[refused]["register"]["outcome"] == "changed"  # added by this run
        assert camp.labs.graph_stats()["created_by_serial"] == {}  # no hash import
        report = json.loads((camp.dir / "report" / "report.json").read_text())
        assert report["summary"]["by_status"] == {"Corporate identifier registered": 3}
        assert report["summary"]["failed"] == 0
        lines = len(camp.events())
        rc, _data, out, err = camp.run(threshold=0)
        assert rc == 0, out[-3000:] + err[-2000:]
        assert len(camp.events()) == lines  # the identities are there and journaled: nothing new
    finally:
        camp.stop()
