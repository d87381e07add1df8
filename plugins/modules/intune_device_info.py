#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: intune_device_info
short_description: Look up Intune managed devices by serial number, name or ID
version_added: 0.1.0
description:
  - Returns the Microsoft Intune managed devices the selectors match, with the same lookup
    M(winfleet.autopilot.intune_device) uses before it deletes.
  - Selectors are exact values. An empty, whitespace-only or wildcard (C(*)) selector is refused, and so is no selector
    at all.
  - Needs the application permission C(DeviceManagementManagedDevices.Read.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  serial_number:
    description:
      - Serial number. Alone, it selects the managed devices with that serial number (exact, case-insensitive).
      - With another selector, each returned record gets RV(devices[].serial_match), the verdict of the guard of
        M(winfleet.autopilot.intune_device).
    type: str
  device_name:
    description:
      - Device (computer) name, matched exactly (case-insensitive). Mutually exclusive with O(id) and O(azure_ad_device_id).
    type: str
  id:
    description:
      - Intune managed device ID (a GUID).
    type: str
  azure_ad_device_id:
    description:
      - Device ID of the Microsoft Entra device object (a GUID).
    type: str
  serial_numbers:
    description:
      - Several serial numbers at once (a whole fleet in one task); each is looked up like O(serial_number) and the
        records found are returned once. An empty list looks up nothing.
      - Mutually exclusive with the other selectors.
    type: list
    elements: str
seealso:
  - module: winfleet.autopilot.intune_device
  - module: winfleet.autopilot.entra_device_info
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: What Intune still knows about a re-used device
  winfleet.autopilot.intune_device_info:
    serial_number: 5CG1234XYZ
  register: intune

- name: Show the records
  ansible.builtin.debug:
    msg: "{{ intune.devices | map(attribute='name') | list }}"
"""

RETURN = r"""
devices:
  description: The managed devices found (empty when none).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Intune managed device ID.
      type: str
    name:
      description: Device name.
      type: str
    serial_number:
      description: Serial number (null when Intune has none).
      type: str
    azure_ad_device_id:
      description: Device ID of the Microsoft Entra device object.
      type: str
    user_principal_name:
      description: Primary user.
      type: str
    operating_system:
      description: Operating system.
      type: str
    os_version:
      description: Operating system version.
      type: str
    manufacturer:
      description: Manufacturer.
      type: str
    model:
      description: Model.
      type: str
    enrolled:
      description: When the device enrolled.
      type: str
    last_sync:
      description: When the device last synchronised with Intune.
      type: str
    management_agent:
      description: Management agent (C(mdm), C(configurationManagerClientMdm) ...).
      type: str
    enrollment_type:
      description: Enrollment type (C(windowsAzureADJoin), C(windowsAutoEnrollment), C(windowsCoManagement) ...).
      type: str
    join_type:
      description: Join type (beta API only).
      type: str
    autopilot_enrolled:
      description: Whether the device enrolled through Windows Autopilot (beta API only).
      type: bool
    compliance_state:
      description: Compliance state.
      type: str
    serial_match:
      description: Whether the record carries O(serial_number) (null when it has no serial number).
      type: bool
      returned: when O(serial_number) is given with another selector
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph_devices import (
    INTUNE_SELECTORS,
    MD_READ,
    explain_permission,
    intune_info,
    intune_info_many,
    selectors,
)


def main():
    spec = argument_spec(
        serial_number=dict(type="str"),
        device_name=dict(type="str"),
        id=dict(type="str"),
        azure_ad_device_id=dict(type="str"),
        serial_numbers=dict(type="list", elements="str"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path"),
                                               ("id", "device_name", "azure_ad_device_id"),
                                               ("serial_numbers", "serial_number"), ("serial_numbers", "id"),
                                               ("serial_numbers", "device_name"),
                                               ("serial_numbers", "azure_ad_device_id")])
    try:
        many = module.params["serial_numbers"]
        if many is None:
            selectors(module.params, INTUNE_SELECTORS)
        client = client_from_module(module)
        try:
            if many is None:
                devices = intune_info(client, module.params)
            else:
                devices = intune_info_many(client, many)
        except GraphPermissionError as exc:
            raise explain_permission(exc, "intune_device_info", [MD_READ])
        module.exit_json(changed=False, devices=devices)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
