#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: configmgr_device_info
short_description: Configuration Manager device records and their Autopilot hardware hashes
version_added: 0.1.0
description:
  - Looks up Configuration Manager device records (C(SMS_R_System)) through the administration service REST API,
    with the BIOS serial number from hardware inventory (C(SMS_G_System_PC_BIOS)). It is the same lookup
    M(winfleet.autopilot.configmgr_device) uses before it deletes.
  - Values within one selector add up (any of them), different selectors narrow down (all of them) unless
    O(match=any). At least one selector is required. Empty, whitespace-only or wildcard values (C(*), C(%), C(?))
    are refused.
  - With O(hardware_hash=true) it also reads the devices' Windows Autopilot hardware hashes from the
    C(MDM_DevDetail_Ext01) hardware inventory class (C(SMS_G_System_MDM_DEVDETAIL_EXT01.DeviceHardwareData), the
    data behind the console's "Windows Autopilot Device Information" report) and returns them as RV(records), ready
    for the O(winfleet.autopilot.registration_csv#module:records) option of M(winfleet.autopilot.registration_csv).
    Configuration Manager is then one more source of hashes, next to files, flash drives and the WinRM collector.
  - Needs an administrative user with C(Read Resource) on the collections that hold the devices (read access to
    their inventory comes with it).
extends_documentation_fragment:
  - winfleet.autopilot.configmgr.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  name:
    description:
      - Device names (C(SMS_R_System.Name)), matched exactly, case-insensitive.
    type: list
    elements: str
  serial_number:
    description:
      - BIOS serial numbers (C(SMS_G_System_PC_BIOS.SerialNumber)), matched exactly, case-insensitive.
    type: list
    elements: str
  resource_id:
    description:
      - ConfigMgr ResourceIds.
    type: list
    elements: int
  smbios_guid:
    description:
      - SMBIOS GUIDs (C(SMS_R_System.SMBIOSGUID)), matched case-insensitively.
    type: list
    elements: str
  match:
    description:
      - How different selectors combine. V(all) returns the devices every selector matches; V(any) returns the
        devices any selector matches (for example a fleet's devices by serial number or by name in one look-up).
    type: str
    choices: [all, any]
    default: all
  hardware_hash:
    description:
      - Also return the devices' Autopilot hardware hash records in RV(records).
      - "Hardware hashes must never appear in output or logs, so the task must set C(no_log: true) (the registered
        variable still holds the records); the module fails otherwise, before reading anything."
    type: bool
    default: false
notes:
  - Hardware inventory of C(MDM_DevDetail_Ext01) has to be enabled in the client settings (it is what the built-in
    "Windows Autopilot Device Information" report reads); devices not inventoried yet are listed in RV(hash_missing).
seealso:
  - module: winfleet.autopilot.configmgr_device
  - module: winfleet.autopilot.registration_csv
  - name: Configuration Manager administration service
    description: The REST API this module uses.
    link: https://learn.microsoft.com/mem/configmgr/develop/adminservice/overview
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Read the hashes of a batch of PCs from Configuration Manager
  winfleet.autopilot.configmgr_device_info:
    name: [PC-0041, PC-0042, PC-0043]
    hardware_hash: true
  no_log: true  # required with hardware_hash; the registered variable keeps the records
  register: cm

- name: Merge them with the other sources into the upload file
  winfleet.autopilot.registration_csv:
    records: "{{ cm.records }}"
    src: [/srv/autopilot/usb/]
    dest: /srv/autopilot/upload/fleet-a.csv
  delegate_to: localhost

- name: Devices without an inventoried hash
  ansible.builtin.debug:
    var: cm.hash_missing

- name: Records of a serial number (connection options from module_defaults group/winfleet.autopilot.configmgr)
  winfleet.autopilot.configmgr_device_info:
    serial_number: PF3ABCDE
  register: found
"""

RETURN = r"""
devices:
  description: The matching device records, sorted by ResourceId.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: ConfigMgr ResourceId.
      type: int
      sample: 16777220
    resource_id:
      description: ConfigMgr ResourceId (same as RV(devices[].id)).
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
      description: Whether the client is active.
      type: bool
    decommissioned:
      description: Whether the record is decommissioned.
      type: bool
    obsolete:
      description: Whether the record is obsolete (superseded by a newer record of the same device).
      type: bool
    client_version:
      description: ConfigMgr client version.
      type: str
    domain:
      description: Domain or workgroup.
      type: str
    creation_date:
      description: When the record was created.
      type: str
records:
  description:
    - The devices' Autopilot records, one per device with an inventoried hash, in the shape
      M(winfleet.autopilot.registration_csv) takes as O(winfleet.autopilot.registration_csv#module:records).
    - Holds hardware hashes; the task runs with C(no_log).
  returned: when O(hardware_hash=true)
  type: list
  elements: dict
  contains:
    serial_number:
      description: BIOS serial number (empty when the record has none; the merge takes it from the hash).
      type: str
    product_id:
      description: Windows Product ID; ConfigMgr does not hold it here, so it is empty.
      type: str
    hardware_hash:
      description: The base64 hardware hash (C(DeviceHardwareData) of the newest inventory revision).
      type: str
    source:
      description: V(configmgr:<device name>), how the merge names the record in its reports.
      type: str
hash_missing:
  description: Names of the matching devices without an inventoried hardware hash.
  returned: when O(hardware_hash=true)
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._configmgr import (
    ConfigMgrPermissionError,
    argument_spec,
    check_resource_id,
    check_selector,
    client_from_module,
    find_devices,
    hash_records,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError

PERMISSION = "Read Resource on the collections that contain the devices"


def _values(module, option, check):
    return [check("%s[%d]" % (option, i), v) for i, v in enumerate(module.params[option] or [])]


def run(module, client):
    names = _values(module, "name", check_selector)
    serials = _values(module, "serial_number", check_selector)
    ids = _values(module, "resource_id", check_resource_id)
    guids = _values(module, "smbios_guid", check_selector)
    devices = find_devices(client, names=names, serial_numbers=serials, resource_ids=ids, smbios_guids=guids,
                           match=module.params["match"])
    result = {"changed": False, "devices": devices}
    if module.params["hardware_hash"]:
        records, missing = hash_records(client, devices) if devices else ([], [])
        result["records"] = records
        result["hash_missing"] = missing
    module.exit_json(**result)


def main():
    spec = argument_spec(
        name=dict(type="list", elements="str"),
        serial_number=dict(type="list", elements="str"),
        resource_id=dict(type="list", elements="int"),
        smbios_guid=dict(type="list", elements="str"),
        hardware_hash=dict(type="bool", default=False),
        match=dict(type="str", choices=["all", "any"], default="all"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[("name", "serial_number", "resource_id", "smbios_guid")])
    client = None
    try:
        if module.params["hardware_hash"] and not module.no_log:
            raise InputError("hardware_hash=true returns hardware hashes, which must never be displayed or logged: "
                             "set 'no_log: true' on this task (the registered variable still holds the records)")
        client = client_from_module(module)
        try:
            run(module, client)
        except ConfigMgrPermissionError as exc:
            exc.msg = "Missing permission: configmgr_device_info needs %s. %s" % (PERMISSION, exc.msg)
            exc.details["required_permissions"] = [PERMISSION]
            raise
    except WinfleetError as exc:
        exc.fail(module)
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    main()
