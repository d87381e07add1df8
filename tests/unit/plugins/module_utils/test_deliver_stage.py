# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deliver stage's logic (module_utils/_deliver_stage.py): the changes and the journal events."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils import _deliver_stage as ds

JOURNAL = {"devices": {"sn-1": {"collect": {"detail": {"host": "pc1"}}}, "SN-2": {}, "SN-3": {}}}
SERIALS = ["sn-1", "SN-2", "SN-3"]


def _dev(serial, tag="", user="", status="Ready for user", found=True):
    return {"serial_number": serial, "found": found, "group_tag": tag, "assigned_user": user, "status": status}


def test_changes_by_serial_or_host_only_where_different():
    devices = [_dev("SN-1", "FLEET-A", "Alice@lab"), _dev("SN-2", "OLD"), _dev("SN-3", "FLEET-A"),
               _dev("SN-4", found=False, status="Device not found")]
    users = {"pc1": "alice@lab", "sn-2": "bob@lab"}
    assert ds.changes(devices, JOURNAL, SERIALS, "FLEET-A", users) == [
        {"serial_number": "SN-2", "group_tag": "FLEET-A", "assigned_user": "bob@lab"}]
    assert ds.changes(devices, JOURNAL, SERIALS, "", {}) == []


def test_events_status_licence_and_refusals():
    after = [_dev("SN-1", user="alice@lab", status="Active"), _dev("SN-2", user="bob@lab"),
             _dev("SN-3", user="carol@lab"), _dev("SN-4", found=False, status="Device not found"), _dev("SN-5")]
    licences = {"users": [
        {"user_principal_name": "alice@lab", "found": True, "licensed": True},
        {"user_principal_name": "bob@lab", "found": True, "licensed": False, "missing": ["INTUNE_A"],
         "not_provisioned": {"AAD_PREMIUM": "PendingProvisioning"}}]}
    update = {"results": [{"serial_number": "SN-3", "failed": True, "msg": "HTTP 400 refused"}]}
    ev = {e["serial"]: e for e in ds.events(after, JOURNAL, SERIALS, {}, licences, update)}
    assert (ev["sn-1"]["outcome"], ev["sn-1"]["status"], ev["sn-1"]["detail"]["licence"]) == ("ok", "Active", "ok")
    assert ev["SN-2"]["status"] == "Licence missing" and ev["SN-2"]["detail"]["prerequisites"] == [
        "bob@lab lacks INTUNE_A, AAD_PREMIUM"]
    assert ev["SN-3"]["status"] == "Update failed" and ev["SN-3"]["detail"]["prerequisites"] == ["HTTP 400 refused"]
    assert ev["SN-3"]["detail"]["licence"] == "not checked"
    assert (ev["SN-4"]["outcome"], ev["SN-4"]["status"]) == ("failed", "Device not found")
    assert ev["SN-5"]["detail"] == {"group_tag": "", "assigned_user": "", "licence": "not needed", "prerequisites": [],
                                    "profile": {"status": None, "detailed_status": None, "assigned": None,
                                                "name": None, "cause": ""}}
    unknown = ds.events([_dev("SN-1", user="zed@lab")], licences={"users": [
        {"user_principal_name": "zed@lab", "found": False, "licensed": False}]})
    assert unknown[0]["status"] == "Licence missing" and unknown[0]["detail"]["prerequisites"] == [
        "zed@lab does not exist in the tenant"]


def test_a_whole_update_task_failure_refuses_every_device_it_was_given():
    update = {"failed": True, "msg": "Missing permission", "invocation": {"module_args": {"devices": [
        {"serial_number": "SN-2"}]}}}
    ev = {e["serial"]: e for e in ds.events([_dev("SN-1"), _dev("SN-2")], update=update)}
    assert ev["SN-1"]["status"] == "Ready for user" and ev["SN-2"]["status"] == "Update failed"
    assert ds.refusals({"skipped": True}) == {}
