#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: autopilot_device
short_description: Manage a registered Windows Autopilot device (group tag, user, name, removal)
version_added: 0.1.0
description:
  - Sets the group tag, the assigned user and the display name of a Windows Autopilot device
    (C(updateDeviceProperties)), or removes the device from Windows Autopilot.
  - Devices are registered with M(winfleet.autopilot.autopilot_import); this module does not create them.
  - Removal is asynchronous in the service; the module waits until the device is gone (O(wait)). The service
    refuses to remove a device that is still enrolled in Intune; delete the Intune managed device first.
  - A device with an assigned user has its user unassigned (C(unassignUserFromDevice)) before it is deleted, the order
    of Microsoft's deregistration page - Intune device, then the user, then the Autopilot record.
  - A whole fleet in one task - O(serial_numbers) or O(ids) with O(state=absent), or O(devices) (each entry with its own
    properties, or C(state=absent) for all) - reads, deletes and updates in Graph C($batch) requests of 20 and waits
    for all removals in one loop.
  - With O(journal) (the campaign folder), the module is the campaign's deliver stage. Every device the campaign journal
    shows as registered gets O(group_tag) and its user from O(assigned_users) where they differ (one bulk update);
    the module reads each device's final state, checks the assigned users' licences (O(required_licences)) and
    records one C(deliver) event per device in the journal - C(Ready for user) (registered AND a deployment profile
    assigned), C(Profile pending), C(Registered, no profile) (with the cause, for example C(no deployment profile
    targets group tag Sales)), C(Profile assignment failed), C(Active), C(Device not found), C(Update failed),
    C(Licence missing), ... A device the service refuses to update is recorded, not fatal.
  - To say why no profile reaches a device, the deliver stage reads the deployment profiles, their assignments and the
    assigned groups, and evaluates each group's membership rule against the device's C(devicePhysicalIds)
    (C([ZTDId]), C([OrderID]) = group tag, C([PurchaseOrderId])). Profiles and their status exist in the beta API
    only (O(api_version=beta), the default).
  - Needs the application permission C(DeviceManagementServiceConfig.ReadWrite.All); with O(required_licences), also
    C(User.Read.All) (or C(LicenseAssignment.Read.All)); with O(journal), C(Group.Read.All) to read the groups the
    profiles are assigned to (without it, a device without a profile is recorded without its cause); with O(group),
    C(GroupMember.ReadWrite.All) and C(Device.ReadWrite.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  serial_number:
    description:
      - Serial number of the device (matched exactly, case-insensitive).
      - One of O(serial_number) and O(id) is required.
    type: str
  id:
    description:
      - Windows Autopilot device ID.
    type: str
  state:
    description:
      - V(present) updates the properties given; V(absent) removes the device from Windows Autopilot.
    type: str
    choices: [present, absent]
    default: present
  group_tag:
    description:
      - Group tag (Order ID). V("") clears it. Left alone when not given.
      - With O(journal), the group tag every registered device of the campaign must carry (V("") or not given leaves
        the tags alone).
    type: str
  assigned_user:
    description:
      - User principal name to assign. V("") removes the assignment. Left alone when not given.
    type: str
  display_name:
    description:
      - Name the device gets during deployment. Left alone when not given.
    type: str
  serial_numbers:
    description:
      - The list form of O(serial_number), with O(state=absent) only. Serial numbers not registered are not an error.
      - Mutually exclusive with O(serial_number), O(id), O(ids) and O(devices).
    type: list
    elements: str
  ids:
    description:
      - The list form of O(id), with O(state=absent) only. Devices already gone are not an error.
    type: list
    elements: str
  devices:
    description:
      - The list form - one entry per device. With O(state=present) each entry sets its own properties (a property
        left out, or null, is left alone); with O(state=absent) each entry is removed (O(id) with O(serial_number)
        removes the device only if it carries that serial number).
      - A device that is not registered fails its entry with C(Device not found) (O(state=present)); the other
        entries go on, and the task fails once at the end naming every failed entry.
    type: list
    elements: dict
    suboptions:
      serial_number:
        description: Serial number (exact, case-insensitive).
        type: str
      id:
        description: Windows Autopilot device ID.
        type: str
      group_tag:
        description: Group tag.
        type: str
      assigned_user:
        description: User principal name to assign (V("") removes the assignment).
        type: str
      display_name:
        description: Display name.
        type: str
  journal:
    description:
      - The campaign folder whose journal (V(<journal>/journal.jsonl)) the module reads and appends to (stage
        C(deliver)) - the deliver stage for every device the journal shows as registered.
      - Mutually exclusive with O(serial_number), O(id), O(serial_numbers), O(ids), O(devices) and O(state=absent).
    type: path
  run:
    description:
      - Identifier of this run, recorded with every journal event (with O(journal)).
    type: str
  assigned_users:
    description:
      - With O(journal), the user principal name to assign, by serial number or by inventory host name (the host the
        journal's C(collect) event recorded). Devices not listed keep their assignment.
    type: dict
  required_licences:
    description:
      - With O(journal), the licences (SKU part numbers or service plan names) every assigned user must have; a
        device whose user lacks one is recorded as C(Licence missing). Not given, licences are not checked.
    type: list
    elements: str
  group_tags:
    description:
      - With O(journal), a device's own group tag, by serial number or by inventory host name (the host the journal's
        C(collect) event recorded); it comes before O(group_tag). Devices not listed get O(group_tag).
    type: dict
  profile_wait_timeout:
    description:
      - With O(journal), how long (seconds) to wait for the service to assign a deployment profile to the devices a
        profile targets (dynamic group evaluation, then assignment, take minutes to hours). V(0) looks once and does
        not wait. A device still waiting at the end is recorded as C(Profile pending); the next run looks at it again.
      - Devices no profile reaches are not waited for - C(Registered, no profile), with the cause.
    type: float
    default: 0
  profile_poll_interval:
    description:
      - With O(journal), seconds between two looks while waiting for profile assignment.
    type: float
    default: 30
  group:
    description:
      - With O(journal), a static Entra group (object id or display name) every registered device joins, as
        Get-WindowsAutopilotInfo's C(-AddToGroup) does - the device's Entra object (its C(deviceId) is the Autopilot
        record's C(azureActiveDirectoryDeviceId)) added with C(POST groups/{id}/members/$ref), 20 per C($batch),
        only where it is not a member yet.
      - A group that is not found, not unique or has dynamic membership is recorded as every device's cause
        (C(Update failed)), not a failed task. Needs C(GroupMember.ReadWrite.All) and C(Device.ReadWrite.All).
    type: str
  computer_name:
    description:
      - With O(journal), the computer name template of the registered devices (C(displayName) through
        C(updateDeviceProperties), as C(-AssignedComputerName) sets it) - V(%SERIAL%) is the serial number,
        V(%RAND:x%) x random digits (one or the other, as in Intune's name template). A device whose name already fits
        the template keeps it, so V(%RAND:x%) is drawn once.
      - The rules Intune documents apply - at most 15 characters, letters, digits and hyphens, not only digits; a
        device whose name would break them is recorded C(Update failed) with the cause. The name applies to Entra
        joined deployments, and a deployment profile's own name template comes first.
    type: str
  computer_names:
    description:
      - With O(journal), computer names (or templates) by serial number or inventory host name; they come before
        O(computer_name).
    type: dict
  wait:
    description:
      - With O(state=absent), wait until the service has removed the device (in the list forms, one wait for all).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the removal.
    type: float
    default: 600
  poll_interval:
    description:
      - Seconds between two looks while waiting.
    type: float
    default: 10
seealso:
  - module: winfleet.autopilot.autopilot_import
  - module: winfleet.autopilot.autopilot_device_info
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Tag a device for Microsoft Managed Desktop and assign its user
  winfleet.autopilot.autopilot_device:
    serial_number: PF3ABCDE
    group_tag: Microsoft365Managed_Autopilot
    assigned_user: alice@contoso.com
    display_name: CONTOSO-PF3ABCDE

- name: Tag a fleet and assign its users in one task
  winfleet.autopilot.autopilot_device:
    devices:
      - serial_number: PF3ABCDE
        group_tag: FLEET-A
        assigned_user: alice@contoso.com
      - serial_number: PF3ABCDF
        group_tag: FLEET-A

- name: The deliver stage of a campaign - tag, users, licences, each device's final state in the journal
  winfleet.autopilot.autopilot_device:
    journal: "{{ campaign_dir }}"
    group_tag: FLEET-A
    assigned_users:
      PF3ABCDE: alice@contoso.com
    required_licences: [INTUNE_A, AAD_PREMIUM]
    group: Autopilot FLEET-A devices
    computer_name: FLA-%SERIAL%

- name: Remove retired devices (one wait for all of them)
  winfleet.autopilot.autopilot_device:
    serial_numbers: [5CG1234XYZ, 5CG1234XZA]
    state: absent

- name: Remove a retired device from Windows Autopilot
  winfleet.autopilot.autopilot_device:
    serial_number: 5CG1234XYZ
    state: absent
"""

RETURN = r"""
device:
  description: The device after the change (in check mode, as it would be). Empty after removal.
  returned: always
  type: dict
  contains:
    serial_number:
      description: Serial number.
      type: str
    id:
      description: Windows Autopilot device ID.
      type: str
    group_tag:
      description: Group tag.
      type: str
    assigned_user:
      description: Assigned user principal name.
      type: str
    display_name:
      description: Display name.
      type: str
    status:
      description: Status in the registration pages' words (C(Ready for user), C(Profile pending), C(Registered, no
        profile), C(Profile assignment failed), C(Registered), C(Active), C(Inactive)).
      type: str
removed:
  description: Whether the service finished removing the device (with O(state=absent)).
  returned: when state is absent and the device existed (single form)
  type: bool
results:
  description:
    - The list forms - one entry per device given, in the order given.
  returned: with O(serial_numbers), O(ids) or O(devices)
  type: list
  elements: dict
  contains:
    serial_number:
      description: Serial number.
      type: str
    id:
      description: Windows Autopilot device ID (null when not registered).
      type: str
    before:
      description: The device before (empty when not registered).
      type: dict
    device:
      description: The device after the update (O(state=present); in check mode, as it would be).
      type: dict
    updated:
      description: The properties changed (O(state=present)).
      type: list
      elements: str
    removed:
      description:
        - O(state=absent) - V(true) when the service finished removing the device, V(false) when it did not (yet),
          null when there was nothing to remove.
      type: bool
    changed:
      description: Whether this device was (in check mode, would be) changed.
      type: bool
    failed:
      description: Whether this device failed.
      type: bool
    msg:
      description: Why it failed.
      type: str
    status:
      description: V(Device not found) for a device that is not registered (O(state=present)).
      type: str
      returned: when the device is not registered
devices:
  description:
    - With O(journal) - the final state of every device the journal shows as registered (in check mode, as it would
      be), as M(winfleet.autopilot.autopilot_device_info) returns it.
  returned: with O(journal)
  type: list
  elements: dict
users:
  description: With O(journal) and O(required_licences) - the licence check of each assigned user, as
    M(winfleet.autopilot.user_licence_info) returns it.
  returned: with O(journal)
  type: list
  elements: dict
events:
  description: With O(journal) - the deliver event of each device (C(serial), C(outcome), C(status), C(detail)).
  returned: with O(journal)
  type: list
  elements: dict
journal_appended:
  description: With O(journal) - events appended to the journal (in check mode, that would be).
  returned: with O(journal)
  type: int
group:
  description:
    - With O(journal) and O(group) - the group (C(id), C(name)), how many devices were added in this run
      (C(added); in check mode, would be) and how many are members (C(members)); C(error) when it cannot be used.
  returned: with O(journal) and O(group)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    AUTOPILOT,
    find_one,
    wait_gone,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot_devices import (
    absent_many,
    check_entries,
    update_many,
    update_plan,
    view,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._bulk import failure_message
from ansible_collections.winfleet.autopilot.plugins.module_utils._deliver_stage import deliver
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphError,
    GraphPermissionError,
    argument_spec,
    client_from_module,
)

PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"
SINGLE = ("serial_number", "id", "display_name", "assigned_user")
LISTS = ("serial_numbers", "ids", "devices")


def run_stage(module, client):
    """The deliver stage of a campaign (``journal``)."""
    p = module.params
    if p["state"] != "present":
        raise InputError("journal (the deliver stage) takes state=present")
    stage = deliver(client, p["journal"], run=p["run"], group_tag=p["group_tag"] or "",
                    assigned_users=p["assigned_users"] or {}, required_licences=p["required_licences"],
                    check_mode=module.check_mode, profile_wait_timeout=p["profile_wait_timeout"],
                    profile_poll_interval=p["profile_poll_interval"], group_tags=p["group_tags"], group=p["group"],
                    computer_name=p["computer_name"], computer_names=p["computer_names"])
    for warning in stage.warnings:
        module.warn(warning)
    updates = [r for r in stage.updates if r.get("changed")]
    added = (stage.group or {}).get("added") or 0
    result = {"changed": bool(updates) or bool(stage.journal_events) or bool(added), "devices": stage.devices,
              "users": stage.users, "events": stage.events, "journal_appended": len(stage.journal_events),
              "results": stage.updates}
    if stage.group is not None:
        result["group"] = stage.group
    if module._diff:
        result["diff"] = {"before": {"devices": [r["before"] for r in updates]},
                          "after": {"devices": [r["device"] for r in updates]}}
    module.exit_json(**result)


def run(module, client):
    p = module.params
    dev = find_one(client, p["serial_number"], p["id"])
    who = p["id"] or p["serial_number"]
    if p["state"] == "absent":
        if dev is None:
            module.exit_json(changed=False, device={})
        before = view(dev)
        result = {"changed": True, "device": {}}
        if module._diff:
            result["diff"] = {"before": before, "after": {}}
        if module.check_mode:
            module.exit_json(**result)
        try:
            if (dev.get("userPrincipalName") or "").strip():
                # Microsoft's order: the Intune device first (the caller), then unassign the user, then delete.
                client.post("%s/%s/unassignUserFromDevice" % (AUTOPILOT, dev["id"]), {})
                result["unassigned_user"] = dev["userPrincipalName"]
            client.delete("%s/%s" % (AUTOPILOT, dev["id"]))
        except GraphError as exc:
            if exc.status == 400 and "Cannot find device" in (exc.detail or ""):
                module.exit_json(changed=False, device={})  # gone meanwhile (or a retried delete)
            raise
        result["removed"] = False
        if p["wait"]:
            result["removed"] = wait_gone(client, dev["id"], p["wait_timeout"], p["poll_interval"])
            if not result["removed"]:
                module.fail_json(msg="Windows Autopilot device %s was not removed within %s seconds; the service "
                                     "removes devices asynchronously, run again later" % (who, p["wait_timeout"]),
                                 **result)
        module.exit_json(**result)
    if dev is None:
        module.fail_json(msg="Device not found: %s is not registered in Windows Autopilot; register it with "
                             "winfleet.autopilot.autopilot_import" % who, status="Device not found")
    body, before, after = update_plan(dev, p)
    result = {"changed": bool(body), "device": after}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    if body and not module.check_mode:
        client.post("%s/%s/updateDeviceProperties" % (AUTOPILOT, dev["id"]), body, retry_unsafe=True)
        fresh = find_one(client, device_id=dev["id"])
        if fresh is not None:
            result["device"] = view(fresh)
    module.exit_json(**result)


def run_many(module, client):
    """The list forms: one bulk call, per-device results, one failure at the end naming every failed device."""
    p = module.params
    if p["devices"] is not None:
        raw = p["devices"]
    else:
        raw = [{"serial_number": s} for s in p["serial_numbers"] or []] + [{"id": i} for i in p["ids"] or []]
        if p["state"] != "absent":
            raise InputError("serial_numbers and ids take state=absent; to update devices, give devices (one entry per "
                             "device with its properties)")
    entries = check_entries(raw)
    if p["state"] == "absent":
        results = absent_many(client, entries, module.check_mode, p["wait"], p["wait_timeout"], p["poll_interval"]) \
            if entries else []
        after = [{} for _r in results]
    else:
        results = update_many(client, entries, module.check_mode) if entries else []
        after = [r["device"] for r in results]
    result = {"changed": any(r["changed"] for r in results), "results": results}
    if module._diff:
        result["diff"] = {"before": {"devices": [r["before"] for r in results if r["changed"]]},
                          "after": {"devices": [a for r, a in zip(results, after, strict=True) if r["changed"]]}}
    failure = failure_message(results, "devices")
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


def main():
    spec = argument_spec(
        serial_number=dict(type="str"),
        id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        group_tag=dict(type="str"),
        assigned_user=dict(type="str"),
        display_name=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=600),
        poll_interval=dict(type="float", default=10),
        serial_numbers=dict(type="list", elements="str"),
        ids=dict(type="list", elements="str"),
        devices=dict(type="list", elements="dict", options=dict(
            serial_number=dict(type="str"), id=dict(type="str"), group_tag=dict(type="str"),
            assigned_user=dict(type="str"), display_name=dict(type="str"))),
        journal=dict(type="path"),
        run=dict(type="str"),
        assigned_users=dict(type="dict"),
        required_licences=dict(type="list", elements="str"),
        group_tags=dict(type="dict"),
        profile_wait_timeout=dict(type="float", default=0),
        profile_poll_interval=dict(type="float", default=30),
        group=dict(type="str"),
        computer_name=dict(type="str"),
        computer_names=dict(type="dict"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[("serial_number", "id", "journal") + LISTS],
                           mutually_exclusive=[("client_secret", "client_certificate_path"), ("devices", "serial_numbers"),
                                               ("devices", "ids")]
                           + [(many, one) for many in LISTS
                              for one in ("serial_number", "id", "group_tag", "assigned_user", "display_name")]
                           + [("journal", other) for other in SINGLE + LISTS],
                           required_by={"run": "journal", "assigned_users": "journal", "required_licences": "journal",
                                        "group_tags": "journal", "group": "journal", "computer_name": "journal",
                                        "computer_names": "journal"})
    try:
        if module.params["journal"]:
            client = client_from_module(module)
            try:
                run_stage(module, client)
            except GraphPermissionError as exc:
                needed = [PERMISSION] + (["User.Read.All"] if module.params["required_licences"] is not None else [])
                exc.msg = ("Missing permission: autopilot_device (the deliver stage) needs the application "
                           "permissions %s with admin consent. %s" % (" and ".join(needed), exc.msg))
                exc.details["required_permissions"] = needed
                raise
        many = any(module.params[o] is not None for o in LISTS)
        if many:
            check_entries(module.params["devices"] or [{"id": i} for i in module.params["ids"] or []]
                          + [{"serial_number": s} for s in module.params["serial_numbers"] or []])
        client = client_from_module(module)
        try:
            if many:
                run_many(module, client)
            run(module, client)
        except GraphPermissionError as exc:
            exc.msg = ("Missing permission: autopilot_device needs the application permission %s with admin consent. %s"
                       % (PERMISSION, exc.msg))
            exc.details["required_permissions"] = [PERMISSION]
            raise
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
