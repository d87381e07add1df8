# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deliver stage in one call (module_utils/_deliver_stage.deliver) against the in-process Graph lab: tags and
users set in bulk, licences checked, one journal event per registered device; check mode writes nothing; a re-run
changes nothing; a device gone from Autopilot is journaled as such."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._deliver_stage import deliver
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient
from winfleet_lab import fixtures_graph

graph_lab = fixtures_graph.graph_lab
DOMAIN = "winfleetlab.onmicrosoft.com"
REQUIRED = ["INTUNE_A", "AAD_PREMIUM"]


def _client(lab):
    return GraphClient(dict(lab.connection("registrar"), backoff_delay=0.01, backoff_max_delay=0.1))


def _deliver(lab, campaign, serials, check_mode=False):
    users = {serials[0]: "alice@" + DOMAIN, serials[1]: "bob@" + DOMAIN}
    client = _client(lab)
    return client, deliver(client, str(campaign), run="run-2", group_tag="FLEET-D", assigned_users=users,
                           required_licences=REQUIRED, check_mode=check_mode)


def _states(run):
    return {e["serial"]: (e["outcome"], e["status"], e["detail"]["assigned_user"], e["detail"]["licence"])
            for e in run.events}


def test_deliver_sets_tags_and_users_checks_licences_and_journals_each_device(graph_lab, registered):
    serials, campaign = registered
    journal = campaign / "journal.jsonl"
    before = journal.read_bytes()
    _c, dry = _deliver(graph_lab, campaign, serials, check_mode=True)
    assert journal.read_bytes() == before                      # check mode: nothing journaled
    assert sorted(r["serial_number"] for r in dry.updates if r["changed"]) == sorted(serials)
    assert {d["group_tag"] for d in dry.devices} == {"FLEET-D"}  # as it would be
    assert {d.get("groupTag") or "" for d in graph_lab.service.store.data["autopilot"].values()} == {""}

    _c, run = _deliver(graph_lab, campaign, serials)
    alice, bob = "alice@" + DOMAIN, "bob@" + DOMAIN
    assert _states(run) == {serials[0]: ("ok", "Ready for user", alice, "ok"),
                            serials[1]: ("failed", "Licence missing", bob, "missing"),
                            serials[2]: ("ok", "Ready for user", "", "not needed")}
    assert {d.get("groupTag") for d in graph_lab.service.store.data["autopilot"].values()} == {"FLEET-D"}
    latest = _journal.latest(_journal.read(str(campaign)).events)
    assert {s: latest[s]["deliver"]["status"] for s in serials} == {s: st for s, (_o, st, _u, _l) in _states(run).items()}
    assert len(run.journal_events) == 3

    writes = []
    graph_lab.service.observers.append(
        lambda phase, method, path, _status: writes.append(path) if phase == "request" and method != "GET" else None)
    _client_again, again = _deliver(graph_lab, campaign, serials)      # a re-run: read only, nothing new
    assert not any(r["changed"] for r in again.updates) and again.journal_events == []
    assert _states(again) == _states(run)
    assert [w for w in writes if not w.endswith(("/$batch", "/token"))] == []   # no update, no write of any kind


def test_a_registered_device_gone_from_autopilot_is_journaled_not_found(graph_lab, registered):
    serials, campaign = registered
    data = graph_lab.service.store.data["autopilot"]
    gone = next(k for k, d in data.items() if d["serialNumber"].upper() == serials[2].upper())
    graph_lab.service.store.delete("autopilot", gone)
    _c, run = _deliver(graph_lab, campaign, serials)
    assert _states(run)[serials[2]][:2] == ("failed", "Device not found")
    assert _states(run)[serials[0]][:2] == ("ok", "Ready for user")


def test_nothing_registered_means_nothing_asked(graph_lab, tmp_path):
    client = _client(graph_lab)
    run = deliver(client, str(tmp_path / "empty"), group_tag="X", required_licences=REQUIRED)
    assert (run.events, run.journal_events, client.stats["requests"]) == ([], [], 0)


def test_the_profile_wait_reports_its_progress(tmp_path, monkeypatch):
    """wait_for_profiles writes the console's progress file: devices assigned so far, then finished."""
    import json

    from ansible_collections.winfleet.autopilot.plugins.module_utils import _deliver_stage as ds

    looks = iter([["Profile pending", "Ready for user"], ["Ready for user", "Ready for user"]])

    def device_info(_client, serials):
        states = next(looks)
        return [{"serial_number": s, "found": True, "status": st} for s, st in zip(serials, states)]

    monkeypatch.setattr(ds, "device_info", device_info)
    monkeypatch.setenv("WINFLEET_AUTOPILOT_PROGRESS", str(tmp_path / "progress.json"))
    devices = [{"serial_number": s, "found": True, "status": "Profile pending"} for s in ("SN-1", "SN-2")]
    seen = []
    clock = iter(range(100)).__next__
    out = ds.DeliverRun()
    final = ds.wait_for_profiles(None, devices, {}, 60, 1, out, sleep=lambda _s: seen.append(
        json.loads((tmp_path / "progress.json").read_text())["done"]), clock=clock)
    assert [d["status"] for d in final] == ["Ready for user", "Ready for user"]
    state = json.loads((tmp_path / "progress.json").read_text())
    assert (state["stage"], state["total"], state["done"], state["finished"]) == ("deliver", 2, 2, True)
    assert seen[0] == 0
