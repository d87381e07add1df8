#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: intune_device
short_description: Delete stale Intune managed devices (re-used hardware)
version_added: 0.1.0
description:
  - Deletes the Microsoft Intune managed device records the selectors match (C(DELETE /deviceManagement/managedDevices/{id})),
    the first step of cleaning the old records of a re-used device. It does not wipe or retire the device.
  - Selectors are exact values. An empty, whitespace-only or wildcard (C(*)) selector is refused before anything is read.
  - With O(serial_number) and another selector, every matched record must carry that serial number (trimmed,
    case-insensitive); otherwise the task fails, names the record and both serial numbers, and deletes nothing.
  - Windows Autopilot refuses to delete a device that still has an Intune managed device, so run this before
    M(winfleet.autopilot.autopilot_device) with C(state=absent).
  - Needs the application permission C(DeviceManagementManagedDevices.ReadWrite.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs the same lookup and guards and returns exactly the records a real run would delete.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  serial_number:
    description:
      - Serial number of the device. Alone, it selects the managed devices with that serial number
        (C($filter=serialNumber eq), then an exact, case-insensitive match).
      - With O(id), O(device_name) or O(azure_ad_device_id), it is a guard that every matched record must pass.
    type: str
  device_name:
    description:
      - Device (computer) name of the managed device, matched exactly (case-insensitive).
      - Mutually exclusive with O(id) and O(azure_ad_device_id).
    type: str
  id:
    description:
      - Intune managed device ID (a GUID).
    type: str
  azure_ad_device_id:
    description:
      - Device ID of the Microsoft Entra device object the managed device belongs to (a GUID).
    type: str
  require_serial_match:
    description:
      - With the O(serial_number) guard, whether a record without any serial number fails the task.
      - V(false) accepts records without a serial number; a record whose serial number differs always fails.
    type: bool
    default: true
  state:
    description:
      - Only V(absent). Intune creates managed devices when a device enrolls.
    type: str
    choices: [absent]
    default: absent
notes:
  - The cleanup order Microsoft recommends for a re-used device is Intune, then Windows Autopilot (wait until it
    is gone), then Microsoft Entra ID (for hybrid-joined devices, also the Active Directory computer object).
seealso:
  - module: winfleet.autopilot.intune_device_info
  - module: winfleet.autopilot.autopilot_device
  - module: winfleet.autopilot.entra_device
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Delete the Intune record of a re-used device
  winfleet.autopilot.intune_device:
    serial_number: 5CG1234XYZ
    state: absent

- name: Delete by name, but only if the record is this device's
  winfleet.autopilot.intune_device:
    device_name: DESKTOP-4F2K9QZ
    serial_number: 5CG1234XYZ
    state: absent
"""

RETURN = r"""
removed:
  description: The managed devices deleted (in check mode, that would be deleted).
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
      description: Serial number.
      type: str
  sample: [{"id": "2f1c3b8e-5a9d-4c7e-8f10-6b2d4e9a1c37", "name": "DESKTOP-4F2K9QZ", "serial_number": "5CG1234XYZ"}]
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
    MD_WRITE,
    explain_permission,
    intune_absent,
    selectors,
)


def main():
    spec = argument_spec(
        serial_number=dict(type="str"),
        device_name=dict(type="str"),
        id=dict(type="str"),
        azure_ad_device_id=dict(type="str"),
        require_serial_match=dict(type="bool", default=True),
        state=dict(type="str", choices=["absent"], default="absent"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path"),
                                               ("id", "device_name", "azure_ad_device_id")])
    try:
        selectors(module.params, INTUNE_SELECTORS)  # refuse bad selectors before any request
        client = client_from_module(module)
        try:
            removed, before = intune_absent(client, module.params, module.check_mode)
        except GraphPermissionError as exc:
            raise explain_permission(exc, "intune_device", [MD_WRITE], writes=("managed",))
        result = {"changed": bool(removed), "removed": removed}
        if module._diff:
            result["diff"] = {"before": {"devices": before} if removed else {}, "after": {}}
        module.exit_json(**result)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
