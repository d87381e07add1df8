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
  - A whole fleet in one task - O(serial_numbers), O(ids) or O(devices) (one entry per record to delete, each with
    its own guard) - looks every entry up and deletes in Graph C($batch) requests of 20, each response judged on
    its own (throttled ones re-sent after their C(Retry-After)).
  - Needs the application permission C(DeviceManagementManagedDevices.ReadWrite.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot.cleanup
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
  ids:
    description:
      - The list form of O(id) (Intune managed device IDs); IDs already gone are not an error.
    type: list
    elements: str
  devices:
    description:
      - The list form of the single-record selectors - one entry per record (or device), each entry as one task of the
        single form (O(serial_number) with another selector is that entry's guard).
    type: list
    elements: dict
    suboptions:
      serial_number:
        description: Serial number; alone it selects, with another selector it is the entry's guard.
        type: str
      device_name:
        description: Device name.
        type: str
      id:
        description: Intune managed device ID.
        type: str
      azure_ad_device_id:
        description: Device ID of the Microsoft Entra device object.
        type: str
      require_serial_match:
        description: This entry's O(require_serial_match).
        type: bool
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

- name: Delete the Intune records of a whole fleet in one task
  winfleet.autopilot.intune_device:
    serial_numbers: [5CG1234XYZ, 5CG1234XZA, PF3ABCDE]
    state: absent

- name: Delete records found earlier by id, each only if it still carries its device's serial number
  winfleet.autopilot.intune_device:
    devices:
      - id: 2f1c3b8e-5a9d-4c7e-8f10-6b2d4e9a1c37
        serial_number: 5CG1234XYZ
      - id: 7a9e0c1d-2b3f-4d5e-8f60-718293a4b5c6
        serial_number: PF3ABCDE
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
results:
  description: One entry per selector given (one for the single form), in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    selector:
      description: The entry's selectors.
      type: dict
    serial_number:
      description: The entry's serial number (selector or guard), null when it has none.
      type: str
    found:
      description: The managed devices the entry matched (see M(winfleet.autopilot.intune_device_info)).
      type: list
      elements: dict
    removed:
      description: The entry's records deleted (in check mode, that would be deleted).
      type: list
      elements: dict
    failed:
      description: Whether the entry failed (a refused guard or deletion); nothing of it was deleted.
      type: bool
    msg:
      description: Why the entry failed.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._bulk import first_error, module_result
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph_devices import (
    INTUNE_SELECTORS,
    MD_WRITE,
    bulk_entries,
    explain_permission,
    intune_absent_many,
)

SINGLE = ("serial_number", "device_name", "id", "azure_ad_device_id")
LISTS = ("serial_numbers", "ids", "devices")


def main():
    spec = argument_spec(
        serial_number=dict(type="str"),
        device_name=dict(type="str"),
        id=dict(type="str"),
        azure_ad_device_id=dict(type="str"),
        serial_numbers=dict(type="list", elements="str"),
        ids=dict(type="list", elements="str"),
        devices=dict(type="list", elements="dict", options=dict(
            serial_number=dict(type="str"), device_name=dict(type="str"), id=dict(type="str"),
            azure_ad_device_id=dict(type="str"), require_serial_match=dict(type="bool")),
            mutually_exclusive=[("id", "device_name", "azure_ad_device_id")]),
        require_serial_match=dict(type="bool", default=True),
        state=dict(type="str", choices=["absent"], default="absent"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path"),
                                               ("id", "device_name", "azure_ad_device_id")]
                           + [(many, one) for many in LISTS for one in SINGLE])
    try:
        todo, single = bulk_entries(module.params, INTUNE_SELECTORS)  # refuse bad selectors before any request
        client = client_from_module(module)
        try:
            results = intune_absent_many(client, todo, module.check_mode,
                                         require_serial_match=module.params["require_serial_match"]) if todo else []
            error = first_error(results)
            if isinstance(error, GraphPermissionError):
                raise error
        except GraphPermissionError as exc:
            raise explain_permission(exc, "intune_device", [MD_WRITE], writes=("managed",))
        if single and error is not None:
            raise error
        result, failure = module_result(results, module._diff)
        if failure:
            module.fail_json(msg=failure, **result)
        module.exit_json(**result)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
