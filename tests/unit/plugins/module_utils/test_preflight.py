# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pre-flight (issue 16): the access token's roles against the least permissions of each enabled stage, a deployment
profile for each group tag, the licences among the tenant's subscriptions, the sampled hosts' WinRM results - as
findings that say what to fix - and the whole tenant check against the in-process Graph lab."""

from __future__ import annotations

import base64
import json
import re

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _preflight as pf
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient
from winfleet_lab import fixtures_graph

graph_lab = fixtures_graph.graph_lab


def _jwt(claims):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return "%s.%s.%s" % (part({"alg": "RS256", "typ": "JWT"}), part(claims), "c2lnbmF0dXJl")


def test_roles_come_from_the_token_payload():
    token = _jwt({"roles": ["DeviceManagementServiceConfig.ReadWrite.All"], "appid": "a", "tid": "t"})
    assert pf.token_claims(token)["roles"] == ["DeviceManagementServiceConfig.ReadWrite.All"]
    assert pf.token_claims("not-a-jwt") is None
    assert pf.token_claims("a.%%%.c") is None


def test_a_held_permission_includes_the_lesser_ones():
    have = pf.granted(["DeviceManagementServiceConfig.ReadWrite.All", "Directory.Read.All"])
    assert {"DeviceManagementServiceConfig.Read.All", "User.Read.All", "Group.Read.All", "Device.Read.All"} <= have
    assert "Device.ReadWrite.All" not in have and "GroupMember.ReadWrite.All" not in have


@pytest.mark.parametrize("kwargs, roles, missing", [
    # register and deliver, nothing else: one permission
    ({}, ["DeviceManagementServiceConfig.ReadWrite.All", "Group.Read.All"], []),
    ({}, ["DeviceManagementServiceConfig.Read.All"],
     [("error", "DeviceManagementServiceConfig.ReadWrite.All"), ("warning", "Group.Read.All")]),
    # assigned users and licences: User.Read.All is needed, LicenseAssignment.Read.All only names SKUs
    ({"assigned_users": True, "required_licences": ["INTUNE_A"]},
     ["DeviceManagementServiceConfig.ReadWrite.All", "Group.Read.All"],
     [("error", "User.Read.All"), ("warning", "LicenseAssignment.Read.All")]),
    ({"assigned_users": True, "required_licences": ["INTUNE_A"]},
     ["DeviceManagementServiceConfig.ReadWrite.All", "Directory.Read.All"], []),
    # the fleet's group: GroupMember.ReadWrite.All and Device.ReadWrite.All (device members)
    ({"group": True}, ["DeviceManagementServiceConfig.ReadWrite.All", "Group.Read.All", "GroupMember.ReadWrite.All"],
     [("error", "Device.ReadWrite.All")]),
    # clean-up: the three ReadWrite permissions, or the Read ones for a dry run
    ({"stages": ["cleanup"]}, ["DeviceManagementServiceConfig.ReadWrite.All", "Device.ReadWrite.All"],
     [("error", "DeviceManagementManagedDevices.ReadWrite.All")]),
    ({"stages": ["cleanup"], "cleanup_dry_run": True},
     ["DeviceManagementServiceConfig.Read.All", "DeviceManagementManagedDevices.Read.All", "Device.Read.All"], []),
])
def test_missing_permissions_per_stage(kwargs, roles, missing):
    findings, table = pf.permission_findings(roles, pf.needed(**kwargs))
    got = [(f["severity"], re.search(r"permission ([\w.]+)", f["message"]).group(1)) for f in findings]
    assert got == missing
    assert all("Grant admin consent" in f["fix"] for f in findings)
    assert all(row["held"] == (not any(m[1] in row["any"] for m in missing)) for row in table)


def _targets(rule='(device.devicePhysicalIds -any (_ -eq "[OrderID]:FLEET-A"))', kind="groupassignmenttarget"):
    return {"profiles": [{"id": "p1", "name": "User-driven", "assignments": [{"kind": kind, "group_id": "g1"}]}],
            "groups": {"g1": {"id": "g1", "name": "Autopilot FLEET-A", "rule": rule, "members": set()}}, "error": None}


def test_a_group_tag_no_profile_reaches_is_an_error_with_the_rule_to_use():
    findings, reach = pf.profile_findings(_targets(), ["FLEET-A", "Sales"])
    assert [(r["group_tag"], r["profile"]) for r in reach] == [("FLEET-A", "User-driven"), ("Sales", None)]
    assert len(findings) == 1 and findings[0]["severity"] == "error"
    assert findings[0]["message"].startswith("no deployment profile targets group tag Sales: its devices would "
                                             "register but boot into the ordinary Windows setup")
    assert '[OrderID]:Sales' in findings[0]["fix"]
    assert "(profiles now reach: 'User-driven' -> 'Autopilot FLEET-A'" in findings[0]["fix"]
    # a profile for every Autopilot device reaches any tag; groups that cannot be read only make it a warning
    assert pf.profile_findings(_targets('(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))'), ["X"])[0] == []
    unread = dict(_targets(), groups={}, error="the groups cannot be read (403)")
    assert [f["severity"] for f in pf.profile_findings(unread, ["FLEET-A"])[0]] == ["warning"]


def test_licences_among_the_subscriptions():
    skus = [{"skuId": "05e9a617-0261-4cee-bb44-138d3ef5d965", "skuPartNumber": "SPE_E3", "capabilityStatus": "Enabled",
             "consumedUnits": 25, "prepaidUnits": {"enabled": 25},
             "servicePlans": [{"servicePlanId": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "servicePlanName": "INTUNE_A"}]},
            {"skuId": "s2", "skuPartNumber": "EMS", "capabilityStatus": "Suspended", "consumedUnits": 0,
             "prepaidUnits": {"enabled": 10}, "servicePlans": [{"servicePlanId": "x", "servicePlanName": "AAD_PREMIUM"}]}]
    findings, table = pf.licence_findings(skus, ["INTUNE_A", "SPE_E3", "AAD_PREMIUM", "SPE_E5"])
    assert [(f["severity"], f["message"].split(" ")[0:4]) for f in findings] == [
        ("warning", ["every", "unit", "of", "the"]), ("warning", ["every", "unit", "of", "the"]),
        ("error", ["the", "subscriptions", "with", "AAD_PREMIUM"]), ("error", ["no", "subscription", "of", "the"])]
    assert table[0] == {"licence": "INTUNE_A", "skus": ["SPE_E3"], "enabled": True, "free_units": 0}
    assert [f["severity"] for f in pf.licence_findings(None, ["INTUNE_A"])[0]] == ["warning"]


def test_winrm_sample_all_unreadable_is_an_error_some_a_warning():
    one = {"devices": [{}, {}, {}], "unreadable": ["pc0006: wrong password - 401"], "summary": {"hosts": 3}}
    assert [f["severity"] for f in pf.winrm_findings(one)] == ["warning"]
    assert [f["severity"] for f in pf.winrm_findings(one, max_unreadable_percentage=30)] == ["error"]
    every = {"devices": [{}], "unreadable": ["pc0001: unreachable - timed out"], "summary": {"hosts": 1}}
    assert [f["severity"] for f in pf.winrm_findings(every)] == ["error"]
    assert pf.winrm_findings({"skipped": True}) == []
    failed = {"failed": True, "msg": "pywinrm is not installed"}
    assert "pywinrm" in pf.winrm_findings(failed)[0]["message"]


def test_combine_puts_errors_first_and_says_what_to_fix():
    tenant = {"findings": [pf.finding("warning", "licences", "w", "f1")]}
    ad = {"failed": True, "msg": "Cannot bind to ldaps://dc: invalid credentials"}
    out = pf.combine(tenant, ad=ad, cleanup=True)
    assert [(f["severity"], f["check"]) for f in out] == [("error", "ad"), ("warning", "licences")]
    summary = pf.summary(out)
    assert summary["errors"] == 1 and summary["lines"][0].startswith("ERROR ad: AD DS cannot be searched")
    assert "fix: check fleet_ldap" in summary["lines"][0]
    assert pf.combine({"failed": True, "msg": "boom"})[0]["check"] == "graph"


def test_sample_spreads_over_the_fleet():
    hosts = ["pc%04d" % i for i in range(50)]
    assert pf.sample(hosts, 5) == ["pc0000", "pc0010", "pc0020", "pc0030", "pc0040"]
    assert pf.sample(hosts[:3], 5) == hosts[:3] and pf.sample(hosts, 0) == []


# ------------------------------------------------------------------------------------------------ against the lab
def _client(lab, app="registrar"):
    return GraphClient(dict(lab.connection(app), backoff_delay=0.01, backoff_max_delay=0.1))


def test_the_tenant_check_against_the_lab(graph_lab):
    svc = graph_lab.service
    svc.default_profile("FLEET-A")
    svc.add_group("Autopilot fleet A")
    good = pf.check_tenant(_client(graph_lab), group_tags=["FLEET-A"], required_licences=["INTUNE_A", "AAD_PREMIUM"],
                           assigned_users=True, group="Autopilot fleet A", computer_name="FA-%SERIAL%")
    assert good["findings"] == [], good["findings"]
    assert "DeviceManagementServiceConfig.ReadWrite.All" in good["roles"] and good["group"]["name"] == "Autopilot fleet A"
    assert good["profiles"][0]["profile"] == "User-driven FLEET-A"

    graph_lab.add_app("narrow", ["DeviceManagementServiceConfig.ReadWrite.All", "Group.Read.All"])
    bad = pf.check_tenant(_client(graph_lab, "narrow"), group_tags=["FLEET-A", "SALES"], required_licences=["INTUNE_A"],
                          assigned_users=True, group="No such group", computer_name="FA-%SERIAL%%RAND:2%")
    errors = [(f["check"], f["message"]) for f in bad["findings"] if f["severity"] == "error"]
    checks = [c for c, _m in errors]
    assert checks.count("permissions") == 3 and {"profiles", "group", "computer names"} <= set(checks), errors
    text = " ".join(m for _c, m in errors)
    for words in ("User.Read.All", "GroupMember.ReadWrite.All", "Device.ReadWrite.All", "group tag SALES",
                  "No such group not found", "use one macro"):
        assert words in text, words
    assert [f["check"] for f in bad["findings"] if f["severity"] == "warning"] == ["permissions", "licences"]

    cfg = dict(graph_lab.connection(), client_secret="wrong")
    refused = pf.check_tenant(GraphClient(dict(cfg, backoff_delay=0.01)))
    assert [(f["check"], f["severity"]) for f in refused["findings"]] == [("token", "error")]
    assert "AADSTS7000215" in refused["findings"][0]["message"]


def test_profiles_that_would_not_apply_the_computer_names():
    profiles = [{"displayName": "Hybrid", "@odata.type": "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile"},
                {"displayName": "Named", "@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
                 "deviceNameTemplate": "CONTOSO-%RAND:5%"},
                {"displayName": "Plain", "@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
                 "deviceNameTemplate": ""}]
    reach = [{"profile": "Hybrid"}, {"profile": "Named"}, {"profile": "Plain"}, {"profile": None}]
    found = pf.name_findings(profiles, reach)
    assert [(f["severity"], f["message"].split(" is ")[0].split(" applies ")[0]) for f in found] == [
        ("warning", "profile 'Hybrid'"), ("warning", "profile 'Named'")]
