# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The register stage in one call (module_utils/_register_stage.py) against the in-process Graph lab: journal events,
resume after a run killed at each step, verdicts paired by serial number when /import answers out of order."""

from __future__ import annotations

import json

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _autopilot as ap
from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient, GraphResponse
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_plan import read_upload_files
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_stage import register
from winfleet_lab import fixtures_graph
from winfleet_lab.fixtures_graph import devices, write_csv

graph_lab = fixtures_graph.graph_lab


class Killed(Exception):
    """What SIGKILL would be: the run stops here."""


def _client(lab):
    return GraphClient(dict(lab.connection("registrar"), backoff_delay=0.01, backoff_max_delay=0.1))


def _stage(lab, campaign, paths, **kw):
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("wait_timeout", 30)
    kw.setdefault("delete_import_records", False)
    return register(_client(lab), paths=paths, journal=str(campaign), run=kw.pop("run", "run-1"), **kw)


def _journal_events(campaign):
    return _journal.read(str(campaign)).events


def _latest(campaign):
    return {serial: stages["register"] for serial, stages in _journal.latest(_journal_events(campaign)).items()}


@pytest.fixture
def fleet(graph_lab, tmp_path):
    """Five devices in an upload folder, the first claimed by another organization."""
    rows = devices(4401, 5)
    graph_lab.service.store.put("foreign", rows[0]["serial_number"].upper(), "Contoso Refurb Ltd")
    upload = tmp_path / "campaign" / "upload"
    upload.mkdir(parents=True)
    write_csv(upload / "registration.csv", rows, group_tag=True)
    return rows, tmp_path / "campaign", [str(upload)]


def test_stage_journals_pending_then_outcomes_and_a_rerun_sends_nothing(graph_lab, fleet):
    rows, campaign, paths = fleet
    foreign = rows[0]["serial_number"]
    first = _stage(graph_lab, campaign, paths)
    assert {r["serial_number"]: r["outcome"] for r in first.results} == {
        r["serial_number"]: ap.OTHER_ORG if r["serial_number"] == foreign else ap.REGISTERED for r in rows}
    events = _journal_events(campaign)
    assert [(e["outcome"], e["status"]) for e in events[:5]] == [("skipped", ap.PENDING)] * 5
    assert sorted((e["serial"], e["outcome"], e["status"]) for e in events[5:]) == sorted(
        (r["serial_number"], "failed" if r["serial_number"] == foreign else "changed",
         ap.OTHER_ORG if r["serial_number"] == foreign else ap.REGISTERED) for r in rows)
    refused = _latest(campaign)[foreign]
    assert refused["detail"]["error_code"] == 808 and refused["detail"]["import_id"].startswith(ap.IMPORT_PREFIX)
    assert set(refused["detail"]) == {"import_id", "error_code", "request_id"}
    assert first.looks and first.looks[-1]["pending"] == 0
    assert first.sources[0]["dialect"] == "autopilot-4"
    assert "hardware" not in json.dumps(events).lower()
    # again: nothing left to send, not a single Graph request, the journal unchanged
    before = (campaign / "journal.jsonl").read_bytes()
    client = _client(graph_lab)
    again = register(client, paths=paths, journal=str(campaign), run="run-2")
    assert again.results == [] and client.stats["requests"] == 0
    assert again.skipped == {"registered before": 4, "refused before": 1, "excluded": 0}
    assert (campaign / "journal.jsonl").read_bytes() == before
    assert max(graph_lab.stats()["created_by_serial"].values()) == 1


def test_killed_while_waiting_then_resumed(graph_lab, fleet, monkeypatch):
    rows, campaign, paths = fleet
    monkeypatch.setattr(graph_lab.service.cfg, "processing_delay", 1e6)  # the service takes its time

    def killed(_seconds):
        raise Killed

    with pytest.raises(Killed):
        _stage(graph_lab, campaign, paths, sleep=killed)
    assert {e["status"] for e in _journal_events(campaign)} == {ap.PENDING}  # journaled before the wait
    # the service finishes while nobody watches; the re-run finds the devices registered: its own doing
    graph_lab.service.process_now()
    again = _stage(graph_lab, campaign, paths, run="run-2")
    latest = _latest(campaign)
    foreign = rows[0]["serial_number"]
    for r in rows[1:]:
        assert (latest[r["serial_number"]]["outcome"], latest[r["serial_number"]]["status"]) == ("changed", ap.REGISTERED)
    # the refusal is read from the killed run's own import record, not imported again
    assert (latest[foreign]["outcome"], latest[foreign]["status"]) == ("failed", ap.OTHER_ORG)
    assert {r["serial_number"]: r["changed"] for r in again.results if r["outcome"] == ap.REGISTERED} == {
        r["serial_number"]: True for r in rows[1:]}
    assert set(graph_lab.stats()["created_by_serial"].values()) == {1}


def test_killed_before_the_pending_events_then_resumed(graph_lab, fleet, monkeypatch):
    # the import was sent (and taken), the run died before it journaled anything: the re-run adopts the records
    rows, campaign, paths = fleet
    monkeypatch.setattr(graph_lab.service.cfg, "processing_delay", 1e6)
    devs, _sources = read_upload_files(paths)
    entries, _warnings = ap.prepare(devs)
    ap.Registrar(_client(graph_lab), wait=False, delete_import_records=False).run(entries)
    assert not (campaign / "journal.jsonl").exists()
    monkeypatch.setattr(graph_lab.service.cfg, "processing_delay", 0.0)
    graph_lab.service.process_now()
    monkeypatch.setattr(graph_lab.service.cfg, "processing_delay", 20.0)
    again = _stage(graph_lab, campaign, paths)
    outcomes = {r["serial_number"]: r["outcome"] for r in again.results}
    assert outcomes[rows[0]["serial_number"]] == ap.OTHER_ORG
    assert {outcomes[r["serial_number"]] for r in rows[1:]} == {ap.ALREADY}  # nothing told it they were its own
    assert set(graph_lab.stats()["created_by_serial"].values()) == {1}


def test_retry_failed_and_exclusions(graph_lab, fleet):
    rows, campaign, paths = fleet
    foreign, excluded = rows[0]["serial_number"], rows[1]["serial_number"]
    first = _stage(graph_lab, campaign, paths, exclude_serials=[" %s " % excluded.lower()])
    assert excluded not in {r["serial_number"] for r in first.results}
    assert first.skipped["excluded"] == 1
    graph_lab.service.store.data["foreign"].pop(foreign.upper())  # the supplier released it
    kept = _stage(graph_lab, campaign, paths, run="run-2")
    assert [r["serial_number"] for r in kept.results] == [excluded]  # the refusal is final without retry_failed
    retried = _stage(graph_lab, campaign, paths, run="run-3", retry_failed=True)
    assert [(r["serial_number"], r["outcome"]) for r in retried.results] == [(foreign, ap.REGISTERED)]
    assert _latest(campaign)[foreign]["status"] == ap.REGISTERED


def test_check_mode_writes_nothing(graph_lab, fleet):
    _rows, campaign, paths = fleet
    out = _stage(graph_lab, campaign, paths, check_mode=True)
    assert {r["outcome"] for r in out.results} == {"Would import"}
    assert len(out.journal_events) == 5 and not (campaign / "journal.jsonl").exists()
    assert graph_lab.stats()["counters"].get("import_records_created", 0) == 0


def test_verdicts_follow_serials_when_the_lab_answers_out_of_order(graph_lab, monkeypatch):
    lab = graph_lab
    monkeypatch.setattr(lab.service.cfg, "import_shuffle", True)
    rows = devices(4402, 12)
    foreign = {rows[3]["serial_number"], rows[8]["serial_number"]}
    for s in foreign:
        lab.service.store.put("foreign", s.upper(), "Contoso Refurb Ltd")
    entries, _warnings = ap.prepare(rows)
    results = ap.Registrar(_client(lab), poll_interval=0.05, timeout=30, delete_import_records=False).run(entries)
    for res in results:
        assert res["outcome"] == (ap.OTHER_ORG if res["serial_number"] in foreign else ap.REGISTERED), res["serial_number"]
        record = lab.service.store.data["imported"][res["record_id"]]
        assert record["serialNumber"] == res["serial_number"]


class FakeGraph:
    """/import answers in reverse order, with serials in another case and padded; every import completes except
    the serials in ``refuse``."""

    retries = 3

    def __init__(self, refuse=()):
        self.records = []
        self.refuse = {s.upper() for s in refuse}
        self.stats = {"requests": 0}

    def batch(self, calls):
        return [GraphResponse(200, {"value": []}, {}, "req-batch") for _call in calls]

    def paged(self, url):
        assert url == ap.IMPORTED
        return [dict(r) for r in self.records]

    def post(self, url, body, **_kw):
        assert url == ap.IMPORTED + "/import"
        made = []
        for item in body["importedWindowsAutopilotDeviceIdentities"]:
            serial = item["serialNumber"]
            state = ({"deviceImportStatus": "error", "deviceErrorCode": 808,
                      "deviceErrorName": "ZtdDeviceAssignedToOtherTenant"} if serial.upper() in self.refuse
                     else {"deviceImportStatus": "complete", "deviceRegistrationId": "dev-" + serial,
                           "deviceErrorCode": 0, "deviceErrorName": "None"})
            made.append({"id": "rec-%d" % len(self.records), "serialNumber": serial, "importId": item["importId"],
                         "groupTag": item["groupTag"], "state": state})
            self.records.append(made[-1])
        answer = [dict(r, serialNumber=" %s " % r["serialNumber"].lower()) for r in reversed(made)]
        return GraphResponse(200, {"value": answer}, {}, "req-import")


def test_verdicts_are_paired_by_serial_not_position():
    rows = devices(4403, 6)
    refused = rows[1]["serial_number"]
    fake = FakeGraph(refuse=[refused])
    entries, _warnings = ap.prepare(rows)
    results = ap.Registrar(fake, poll_interval=0, timeout=5, delete_import_records=False).run(entries)
    by = {r["serial_number"]: r for r in results}
    assert by[refused]["outcome"] == ap.OTHER_ORG and by[refused]["error_code"] == 808
    for r in rows:
        if r["serial_number"] != refused:
            assert (by[r["serial_number"]]["outcome"], by[r["serial_number"]]["device_id"]) == (
                ap.REGISTERED, "dev-" + r["serial_number"])
    assert {by[r["serial_number"]]["record_id"]: r["serial_number"] for r in rows} == {
        rec["id"]: rec["serialNumber"] for rec in fake.records}
