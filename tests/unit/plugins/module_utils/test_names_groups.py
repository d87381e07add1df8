# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Groups and names (issue 16): the computer name rules Intune documents (15 characters, letters, digits, hyphens,
not only digits, %SERIAL% / %RAND:x%), the group membership plan, and the deliver stage with a static group and a
name template against the in-process Graph lab - added in bulk, named, a re-run changes nothing."""

from __future__ import annotations

import random

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _group_members as gm
from ansible_collections.winfleet.autopilot.plugins.module_utils import _names as nm
from ansible_collections.winfleet.autopilot.plugins.module_utils._deliver_stage import deliver
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient
from winfleet_lab import fixtures_graph

graph_lab = fixtures_graph.graph_lab


# ------------------------------------------------------------------------------------------------ name rules


def _client(lab):
    return GraphClient(dict(lab.connection("registrar"), backoff_delay=0.01, backoff_max_delay=0.1))


@pytest.mark.parametrize("template, problem", [
    ("CORP-%SERIAL%", None),
    ("CORP-%serial%", None),                          # macros as Intune writes them, case aside
    ("CORP-%RAND:6%", None),
    ("LAB%RAND:12%", None),                           # 3 + 12 = 15: the limit
    ("LAB-%RAND:12%", "at least 16 characters"),
    ("CORP-%SERIAL%-%RAND:3%", "use one macro"),
    ("CORP_%SERIAL%", "contains '_'"),
    ("CORP %SERIAL%", "contains ' '"),
    ("CORP-%SERIAL", "not a macro Intune knows"),
    ("CORP-%HOST%", "not a macro Intune knows"),
    ("CORP-%RAND:0%", "at least one digit"),
    ("CORP-PC", "every device would get the same name"),
    ("", "empty"),
])
def test_fleet_templates_follow_the_documented_rules(template, problem):
    found = nm.check_template(template, fleet=True)
    assert (found is None) if problem is None else (problem in found), found


@pytest.mark.parametrize("name, problem", [
    ("PC-0001", None), ("12345", "only digits"), ("PC-ABCDEFGHIJKLM", "16 characters"), ("PC.1", "contains '.'"),
])
def test_fixed_names_of_the_map(name, problem):
    found = nm.check_template(name, fleet=False)
    assert (found is None) if problem is None else (problem in found), found


def test_render_serial_and_random_and_keep_a_fitting_name():
    assert nm.render("CORP-%SERIAL%", "5CG1234XYZ") == ("CORP-5CG1234XYZ", None)
    name, problem = nm.render("CORP-%SERIAL%", "5CG1234XYZ99")
    assert name == "CORP-5CG1234XYZ99" and "17 characters, at most 15" in problem   # a long serial: refused, not cut
    assert "contains ' '" in nm.render("C-%SERIAL%", "AB 12")[1]                   # a serial with a blank
    name, problem = nm.render("WFL-%RAND:6%", "SN1", rng=random.Random(1))
    assert problem is None and name.startswith("WFL-") and len(name) == 10 and name[4:].isdigit()
    # a device whose name already fits keeps it: %RAND:x% is drawn once, a re-run changes nothing
    assert nm.render("WFL-%RAND:6%", "SN1", current="wfl-123456") == ("wfl-123456", None)
    assert nm.render("WFL-%RAND:6%", "SN1", current="WFL-12345")[0] != "WFL-12345"


def test_plan_by_map_then_template_and_duplicates_refused():
    devs = [{"serial_number": s, "found": True, "display_name": ""} for s in ("SN-1", "SN-2", "SN-3")]
    devs.append({"serial_number": "SN-9", "found": False})
    wanted = {"SN-2": {"host": "pc0002"}}
    names, problems = nm.plan(devs, "LAB-%SERIAL%", {"pc0002": "DESK-0002", "sn-3": "DESK-0002"}, wanted)
    assert names == {"SN-1": "LAB-SN-1"}
    assert set(problems) == {"SN-2", "SN-3"} and "would be the name of 2 devices" in problems["SN-2"]
    assert nm.plan(devs, None, None) == ({}, {})


# ------------------------------------------------------------------------------------------------ membership plan
def test_membership_plan():
    devs = [{"serial_number": "A", "found": True, "azure_ad_device_id": "D-A"},
            {"serial_number": "B", "found": True, "azure_ad_device_id": "D-B"},
            {"serial_number": "C", "found": True, "azure_ad_device_id": "00000000-0000-0000-0000-000000000000"},
            {"serial_number": "D", "found": True, "azure_ad_device_id": "D-D"},
            {"serial_number": "E", "found": False}]
    plan = gm.plan(devs, {"d-a": "OBJ-A", "d-b": "OBJ-B"}, {"obj-a"})
    assert {k: v["action"] for k, v in plan.items()} == {"A": "member", "B": "add", "C": "failed", "D": "failed"}
    assert plan["B"]["object_id"] == "OBJ-B"
    assert "no Entra device id yet" in plan["C"]["cause"] and "no Entra device object" in plan["D"]["cause"]


# ------------------------------------------------------------------------------------------------ against the lab
def test_group_and_names_in_bulk_then_unchanged(graph_lab, registered):
    _serials, campaign = registered
    svc = graph_lab.service
    group = svc.add_group("Autopilot fleet D")
    svc.add_group("Autopilot dynamic", membership_rule='(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))')
    journal = campaign / "journal.jsonl"
    before = journal.read_bytes()

    dry = deliver(_client(graph_lab), str(campaign), group="Autopilot fleet D", computer_name="FD-%RAND:5%",
                  check_mode=True)
    assert journal.read_bytes() == before and svc.store.data["groups"][group["id"]]["_members"] == []
    assert dry.group["added"] == 3

    run = deliver(_client(graph_lab), str(campaign), group="Autopilot fleet D", computer_name="FD-%RAND:5%")
    assert run.group["added"] == 3 and run.group["members"] == 3
    assert len(svc.store.data["groups"][group["id"]]["_members"]) == 3
    names = {d["serialNumber"]: d.get("displayName") for d in svc.store.data["autopilot"].values()}
    assert all(n.startswith("FD-") and len(n) == 8 for n in names.values()), names
    assert {e["status"] for e in run.events} == {"Ready for user"}
    assert {e["detail"]["group"]["member"] for e in run.events} == {True}
    assert {e["detail"]["computer_name"] for e in run.events} == set(names.values())

    again = deliver(_client(graph_lab), str(campaign), group=group["id"], computer_name="FD-%RAND:5%")
    assert again.group["added"] == 0 and again.journal_events == []          # a re-run changes nothing
    assert not any(r["changed"] for r in again.updates)
    assert {d["serialNumber"]: d.get("displayName") for d in svc.store.data["autopilot"].values()} == names

    # an add that meets a member added meanwhile (a re-sent or concurrent add): Graph's 400 "already exist" means
    # a member, not a failure
    client = _client(graph_lab)
    objects = gm.entra_objects(client, [d["azure_ad_device_id"] for d in run.devices])
    planned = {k: dict(v, action="add") for k, v in gm.plan(run.devices, objects, set()).items()}
    results = gm.add(client, group["id"], planned)
    assert {(r["added"], r["member"], r["cause"]) for r in results.values()} == {(False, True, "")}

    dynamic = deliver(_client(graph_lab), str(campaign), group="Autopilot dynamic")
    assert {e["status"] for e in dynamic.events} == {"Update failed"}
    assert "dynamic membership" in dynamic.events[0]["detail"]["prerequisites"][0]


def test_a_duplicate_add_answers_400_already_exist(graph_lab, registered):
    _serials, _campaign = registered
    svc = graph_lab.service
    group = svc.add_group("Static")
    client = _client(graph_lab)
    obj = next(iter(svc.store.data["entra"]))
    body = {"@odata.id": "%s/v1.0/directoryObjects/%s" % (client.graph_url, obj)}
    assert client.post("groups/%s/members/$ref" % group["id"], body).status == 204
    with pytest.raises(Exception) as exc:
        client.post("groups/%s/members/$ref" % group["id"], body)
    assert exc.value.status == 400 and "One or more added object references already exist" in exc.value.detail


def test_a_bad_template_fails_before_anything_is_read(graph_lab, tmp_path):
    client = _client(graph_lab)
    with pytest.raises(InputError, match="use one macro"):
        deliver(client, str(tmp_path), computer_name="X-%SERIAL%%RAND:2%")
    assert client.stats["requests"] == 0
