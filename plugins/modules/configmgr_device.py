#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: configmgr_device
short_description: Remove devices from Configuration Manager through its AdminService
version_added: 0.1.0
description:
  - Deletes Configuration Manager device records (C(SMS_R_System) resources, with their discovery and inventory data)
    through the administration service REST API, the clean-up step the Microsoft Managed Desktop and Windows
    Autopilot pages ask for before a device is registered again.
  - Finds the records by O(name), O(serial_number) (the BIOS serial number from hardware inventory), O(resource_id)
    or O(smbios_guid). When several selectors are given, a record must match all of them. Every record that matches
    is removed (ConfigMgr often holds several records with the same name, for example after a re-image).
  - Refuses, without looking anything up, a selector that is empty, only whitespace or contains a wildcard
    (C(*), C(%) or C(?)).
  - O(serial_number) given together with another selector is a guard instead. Every matched record must carry that
    serial number (case-insensitive, trimmed), or the task fails naming the record and both serial numbers, and
    nothing is deleted.
  - Creation belongs to Configuration Manager itself (discovery, client installation); this module only removes.
    A device whose client is still active creates a new record at its next heartbeat discovery.
  - Needs an administrative user with the C(Delete Resource) permission on a collection that holds the device
    (and C(Read Resource)); the collection's C(docs/configmgr.md) describes a least-privilege role.
  - A whole fleet in one task - O(names), O(serial_numbers), O(resource_ids) or O(devices) (one entry per device,
    each with its own guard) - looks up and deletes every entry in one AdminService session.
extends_documentation_fragment:
  - winfleet.autopilot.configmgr.MODULES
  - winfleet.autopilot.cleanup
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs the same lookup and returns exactly the records a real run would remove.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - Device name (C(SMS_R_System.Name)), matched exactly, case-insensitive.
    type: str
  serial_number:
    description:
      - BIOS serial number (C(SMS_G_System_PC_BIOS.SerialNumber)). Alone, it selects the records whose hardware
        inventory carries it.
      - With O(name), O(resource_id) or O(smbios_guid), it is a guard every matched record must pass.
    type: str
  resource_id:
    description:
      - ConfigMgr ResourceId of the record.
    type: int
  smbios_guid:
    description:
      - SMBIOS GUID of the device (C(SMS_R_System.SMBIOSGUID)), matched case-insensitively.
    type: str
  names:
    description:
      - The list form of O(name) - one device name per entry.
    type: list
    elements: str
  resource_ids:
    description:
      - The list form of O(resource_id).
    type: list
    elements: int
  devices:
    description:
      - The list form of the single-record selectors - one entry per device, each as one task of the single form
        (O(serial_number) with another selector is that entry's guard). The clean-up role passes
        C({resource_id, serial_number}) entries with O(require_serial_match=false).
    type: list
    elements: dict
    suboptions:
      name:
        description: Device name.
        type: str
      serial_number:
        description: BIOS serial number; alone it selects, with another selector it is the entry's guard.
        type: str
      resource_id:
        description: ResourceId.
        type: int
      smbios_guid:
        description: SMBIOS GUID.
        type: str
      require_serial_match:
        description: This entry's O(require_serial_match).
        type: bool
seealso:
  - module: winfleet.autopilot.configmgr_device_info
  - name: Configuration Manager administration service
    description: The REST API this module uses.
    link: https://learn.microsoft.com/mem/configmgr/develop/adminservice/overview
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Remove a retired PC from Configuration Manager, only if it is the one with this serial number
  winfleet.autopilot.configmgr_device:
    url: https://cm01.contoso.com/AdminService
    username: CONTOSO\svc-autopilot
    password: "{{ vault_configmgr_password }}"
    name: PC-0042
    serial_number: PF3ABCDE
    state: absent

- name: Remove every record of a serial number (connection options from module_defaults)
  winfleet.autopilot.configmgr_device:
    serial_number: 5CG1234XYZ
  register: removed

- name: Remove the old records of a whole fleet in one session
  winfleet.autopilot.configmgr_device:
    devices:
      - name: PC-0042
        serial_number: PF3ABCDE
      - resource_id: 16777221
        serial_number: PF3ABCDF

- name: What was removed
  ansible.builtin.debug:
    msg: "{{ removed.removed | map(attribute='name') | list }}"
"""

RETURN = r"""
removed:
  description: The records removed (in check mode, the ones a real run would remove). Empty when nothing matched.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: ConfigMgr ResourceId.
      type: int
      sample: 16777220
    resource_id:
      description: ConfigMgr ResourceId (same as RV(removed[].id)).
      type: int
    name:
      description: Device name.
      type: str
      sample: PC-0042
    serial_number:
      description: BIOS serial number from hardware inventory, or null when the record has none.
      type: str
    smbios_guid:
      description: SMBIOS GUID.
      type: str
    client:
      description: Whether the record has a ConfigMgr client.
      type: bool
    active:
      description: Whether the client was active.
      type: bool
    decommissioned:
      description: Whether the record was decommissioned.
      type: bool
    obsolete:
      description: Whether the record was obsolete (superseded by a newer record of the same device).
      type: bool
results:
  description:
    - The list forms - one entry per selector given, in the order given, with C(selector), C(serial_number),
      C(found), C(removed), C(failed) and C(msg).
  returned: with O(names), O(serial_numbers), O(resource_ids) or O(devices)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._bulk import module_result
from ansible_collections.winfleet.autopilot.plugins.module_utils._configmgr import (
    ConfigMgrPermissionError,
    argument_spec,
    check_resource_id,
    check_selector,
    client_from_module,
    delete_device,
    delete_many,
    entries_from,
    find_devices,
    serial_mismatches,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError

PERMISSION = "Delete Resource (and Read Resource) on a collection that contains the device"
SINGLE = ("name", "serial_number", "resource_id", "smbios_guid")
LISTS = ("names", "serial_numbers", "resource_ids", "devices")


def run_many(module, client, entries):
    results = delete_many(client, entries, module.params["require_serial_match"], module.check_mode) if entries else []
    result, failure = module_result(results, module._diff)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


def run(module, client):
    p = module.params
    name = check_selector("name", p["name"])
    serial = check_selector("serial_number", p["serial_number"])
    guid = check_selector("smbios_guid", p["smbios_guid"])
    rid = check_resource_id("resource_id", p["resource_id"])
    guard = serial is not None and (name is not None or guid is not None or rid is not None)
    devices = find_devices(client, names=[name], serial_numbers=[] if guard else [serial], resource_ids=[rid],
                           smbios_guids=[guid])
    if guard:
        problems = serial_mismatches(devices, serial, p["require_serial_match"])
        if problems:
            raise InputError("Serial number guard failed, nothing deleted: %s" % "; ".join(problems),
                             mismatched=problems, matched=devices)
    result = {"changed": bool(devices), "removed": devices}
    if devices and module._diff:
        result["diff"] = {"before": {"devices": devices}, "after": {}}
    if not devices or module.check_mode:
        module.exit_json(**result)
    removed = []
    for dev in devices:
        try:
            if delete_device(client, dev["id"]):
                removed.append(dev)
        except WinfleetError as exc:
            # Report what this run already removed before the failure (a later run finds the rest).
            exc.details["removed"] = removed
            exc.details["changed"] = bool(removed)
            raise
    result["removed"] = removed
    result["changed"] = bool(removed)
    if module._diff:
        result["diff"] = {"before": {"devices": removed} if removed else {}, "after": {}}
    module.exit_json(**result)


def main():
    spec = argument_spec(
        name=dict(type="str"),
        serial_number=dict(type="str"),
        resource_id=dict(type="int"),
        smbios_guid=dict(type="str"),
        require_serial_match=dict(type="bool", default=True),
        state=dict(type="str", choices=["absent"], default="absent"),
        names=dict(type="list", elements="str"),
        serial_numbers=dict(type="list", elements="str"),
        resource_ids=dict(type="list", elements="int"),
        devices=dict(type="list", elements="dict", options=dict(
            name=dict(type="str"), serial_number=dict(type="str"), resource_id=dict(type="int"),
            smbios_guid=dict(type="str"), require_serial_match=dict(type="bool"))),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[SINGLE + LISTS],
                           mutually_exclusive=[(many, one) for many in LISTS for one in SINGLE])
    client = None
    try:
        many = any(module.params[o] is not None for o in LISTS)
        entries = entries_from(module.params) if many else None  # every entry checked before any request
        client = client_from_module(module)
        try:
            if many:
                run_many(module, client, entries)
            run(module, client)
        except ConfigMgrPermissionError as exc:
            exc.msg = "Missing permission: configmgr_device needs %s. %s" % (PERMISSION, exc.msg)
            exc.details["required_permissions"] = [PERMISSION]
            raise
    except WinfleetError as exc:
        exc.fail(module)
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    main()
