# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Registrar against the in-process Graph lab: a device refused before (the run that sent it was killed before it
saw the answer) is not imported a second time, unless resubmit_refused; found by the crash-and-resume suite."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    NO_PROFILE,
    OTHER_ORG,
    REGISTERED,
    Registrar,
    prepare,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient
from winfleet_lab import fixtures_graph
from winfleet_lab.fixtures_graph import devices

graph_lab = fixtures_graph.graph_lab


def _registrar(lab, **kw):
    client = GraphClient(dict(lab.connection("registrar"), backoff_delay=0.01, backoff_max_delay=0.1))
    return Registrar(client, poll_interval=0.05, timeout=30, delete_import_records=False, **kw)


def _entries(devs, **kw):
    entries, _warnings = prepare([{"serial_number": d["serial_number"], "hardware_hash": d["hardware_hash"]}
                                  for d in devs], **kw)
    return entries


def test_refused_device_is_not_imported_twice(graph_lab):
    lab = graph_lab
    devs = devices(3301, 3)
    foreign = devs[0]["serial_number"]
    lab.service.store.put("foreign", foreign.upper(), "Contoso Refurb Ltd")
    # the killed run: sent, refused by the service, the answer never reached the journal
    first = {r["serial_number"]: r for r in _registrar(lab).run(_entries(devs, group_tag="T1"))}
    assert first[foreign]["outcome"] == OTHER_ORG
    assert lab.stats()["created_by_serial"][foreign.upper()] == 1
    # the re-run sends the same devices again: the refusal is reported, nothing is imported again
    again = {r["serial_number"]: r for r in _registrar(lab).run(_entries(devs, group_tag="T1"))}
    assert (again[foreign]["outcome"], again[foreign]["error_code"], again[foreign]["failed"]) == (OTHER_ORG, 808, True)
    assert again[foreign]["resumed"] and not again[foreign]["changed"]
    assert {again[d["serial_number"]]["outcome"] for d in devs[1:]} == {"Device already registered"}
    assert max(lab.stats()["created_by_serial"].values()) == 1


def test_refused_device_is_sent_again_when_asked_or_changed(graph_lab):
    lab = graph_lab
    devs = devices(3302, 1)
    serial = devs[0]["serial_number"]
    lab.service.store.put("foreign", serial.upper(), "Contoso Refurb Ltd")
    _registrar(lab).run(_entries(devs, group_tag="T1"))
    # another group tag is another submission: sent again (and refused again)
    other = _registrar(lab).run(_entries(devs, group_tag="T2"))[0]
    assert other["outcome"] == OTHER_ORG and not other.get("resumed")
    assert lab.stats()["created_by_serial"][serial.upper()] == 2
    # the supplier released the device: resubmit_refused sends it again and it registers
    lab.service.store.data["foreign"].pop(serial.upper())
    done = _registrar(lab, resubmit_refused=True).run(_entries(devs, group_tag="T2"))[0]
    assert done["outcome"] == REGISTERED
    assert lab.stats()["created_by_serial"][serial.upper()] == 3


def test_import_completed_between_the_two_reads_is_not_reported_removed(graph_lab, monkeypatch):
    # device_info reads the Autopilot identities, then the import records of the devices it did not find. An import
    # that completes in between used to make a just-registered device "Device not found" (found by the crash suite).
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _autopilot as ap

    lab = graph_lab
    devs = devices(3303, 1)
    serial = devs[0]["serial_number"]
    assert _registrar(lab).run(_entries(devs))[0]["outcome"] == REGISTERED
    real, calls = ap.find_registered, []

    def not_yet_visible_the_first_time(client, serials, **kw):
        calls.append(list(serials))
        return {} if len(calls) == 1 else real(client, serials, **kw)

    monkeypatch.setattr(ap, "find_registered", not_yet_visible_the_first_time)
    client = GraphClient(dict(lab.connection("registrar"), backoff_delay=0.01))
    info = ap.device_info(client, [serial])
    assert (info[0]["status"], len(calls)) == (NO_PROFILE, 2)  # registered; the lab's tenant has no profile


def test_without_waiting_a_submission_is_a_change_and_the_rerun_is_not(graph_lab, monkeypatch):
    lab = graph_lab
    monkeypatch.setattr(lab.service.cfg, "processing_delay", 1e6)  # the service does not get to it in this test
    devs = devices(3304, 2)
    first = _registrar(lab, wait=False).run(_entries(devs))
    assert [(r["outcome"], r["changed"], r["failed"]) for r in first] == [("Registration pending", True, False)] * 2
    again = _registrar(lab, wait=False).run(_entries(devs))
    assert [(r["outcome"], r["changed"], r.get("resumed")) for r in again] == [("Registration pending", False, True)] * 2
    assert max(lab.stats()["created_by_serial"].values()) == 1
    lab.service.process_now()
    done = _registrar(lab).run(_entries(devs))
    assert [(r["outcome"], r["changed"], r["registered"]) for r in done] == [("Device already registered", False, True)] * 2
