#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: entra_device
short_description: Delete stale Microsoft Entra ID device objects (re-used hardware)
version_added: 0.1.0
description:
  - Deletes the Microsoft Entra device objects the selectors match (C(DELETE /devices/{id})), the last step of
    cleaning the old records of a re-used device.
  - Selectors are exact values. An empty, whitespace-only or wildcard (C(*)) selector is refused before anything is read.
  - Entra device objects carry no serial number. The module resolves it through the records that do - the Windows
    Autopilot device named by the object's C([ZTDID]) physical ID, an Intune managed device whose C(azureADDeviceId)
    is the object's device ID, an Autopilot record whose C(azureActiveDirectoryDeviceId) is it, and, for a
    hybrid-joined object (trust type C(ServerAd)) only, the guard serial's Intune managed device having the object's
    name. See the cleanup section of C(docs/graph.md).
  - With O(serial_number) and another selector, every matched object must resolve to that serial number; an object
    resolving to another serial number always fails the task (naming the object and both serial numbers) and nothing
    is deleted. An object nothing claims any more passes only with O(require_serial_match=false).
  - An object that still belongs to a Windows Autopilot device is refused unless O(force=true) - Microsoft removes it
    together with the Autopilot record, and deleting it first leaves an orphaned Autopilot record.
  - Needs the application permissions C(Device.ReadWrite.All), C(DeviceManagementServiceConfig.Read.All) (Autopilot
    ownership and serial numbers) and C(DeviceManagementManagedDevices.Read.All) (serial numbers through Intune).
  - A whole fleet in one task - O(serial_numbers), O(ids) or O(devices) (one entry per object, each with its own
    guard) - reads the objects and their owners in Graph C($batch) requests and deletes in C($batch) requests of 20.
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot.cleanup
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs the same lookup and guards and returns exactly the objects a real run would delete.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  serial_number:
    description:
      - Serial number of the device. Alone, it selects the objects the device's Autopilot record and Intune managed
        devices point at (by device ID and C([ZTDID])).
      - With another selector, it is a guard that every matched object must pass.
    type: str
  device_id:
    description:
      - Device ID (C(deviceId), a GUID) of the object. Mutually exclusive with O(id), O(ztdid) and O(name).
    type: str
  ztdid:
    description:
      - Windows Autopilot ZTDID (a GUID); selects the objects whose C(physicalIds) contain C([ZTDID]:<ztdid>)
        (the tag matched case-insensitively, C([ZTDId]) occurs).
    type: str
  name:
    description:
      - Display name of the object, matched exactly (case-insensitive). Hybrid-joined objects carry the computer name.
    type: str
  id:
    description:
      - Object ID of the Entra device (a GUID; not the device ID).
    type: str
  ids:
    description:
      - The list form of O(id) (object IDs); objects already gone are not an error.
    type: list
    elements: str
  devices:
    description:
      - The list form of the single-object selectors - one entry per object (or device), each entry as one task of
        the single form (O(serial_number) with another selector is that entry's guard). The clean-up role passes
        C({id, serial_number}) entries with O(require_serial_match=false).
    type: list
    elements: dict
    suboptions:
      serial_number:
        description: Serial number; alone it selects, with another selector it is the entry's guard.
        type: str
      device_id:
        description: Device ID.
        type: str
      ztdid:
        description: Windows Autopilot ZTDID.
        type: str
      name:
        description: Display name.
        type: str
      id:
        description: Object ID.
        type: str
      require_serial_match:
        description: This entry's O(require_serial_match).
        type: bool
  force:
    description:
      - Delete objects that still belong to a Windows Autopilot device, with a warning. This orphans the Autopilot
        record; prefer deleting the Autopilot record, which removes the object.
    type: bool
    default: false
notes:
  - Objects synced from Active Directory (hybrid joined) come back at the next sync unless the AD computer object is
    deleted too; the module warns.
  - In the recommended order (Intune, Autopilot, Entra) the serial-bearing records are gone when this module runs.
    Look the objects up with M(winfleet.autopilot.entra_device_info) and O(serial_number) before deleting them, then
    delete them by O(id) with O(serial_number) and O(require_serial_match=false).
seealso:
  - module: winfleet.autopilot.entra_device_info
  - module: winfleet.autopilot.intune_device
  - module: winfleet.autopilot.autopilot_device
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Entra objects of the device, while its Intune and Autopilot records still exist
  winfleet.autopilot.entra_device_info:
    serial_number: 5CG1234XYZ
  register: entra

- name: Intune, then Autopilot (waits until the service has removed it)
  winfleet.autopilot.intune_device:
    serial_number: 5CG1234XYZ
    state: absent

- name: Remove the device from Windows Autopilot
  winfleet.autopilot.autopilot_device:
    serial_number: 5CG1234XYZ
    state: absent

- name: Then what is left in Entra (the hybrid-joined object); objects another device claims are refused
  winfleet.autopilot.entra_device:
    id: "{{ item.id }}"
    serial_number: 5CG1234XYZ
    require_serial_match: false
    state: absent
  loop: "{{ entra.devices }}"
"""

RETURN = r"""
removed:
  description: The objects deleted (in check mode, that would be deleted).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Object ID.
      type: str
    name:
      description: Display name.
      type: str
    serial_number:
      description: Serial number resolved for the object (null when nothing claims it).
      type: str
    device_id:
      description: Device ID.
      type: str
    join_type:
      description: C(Entra joined), C(Hybrid joined) or C(Entra registered) (null when the service gives no trust type).
      type: str
    ztdid:
      description: Windows Autopilot ZTDID from the physical IDs.
      type: str
results:
  description:
    - One entry per selector given (one for the single form), in the order given, with C(selector), C(serial_number),
      C(found) (the objects matched, see M(winfleet.autopilot.entra_device_info)), C(removed), C(failed) and C(msg).
  returned: always
  type: list
  elements: dict
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
    DEV_WRITE,
    ENTRA_SELECTORS,
    MD_READ,
    SVC_READ,
    bulk_entries,
    entra_absent_many,
    explain_permission,
)

SINGLE = ("serial_number", "device_id", "ztdid", "name", "id")
LISTS = ("serial_numbers", "ids", "devices")


def main():
    spec = argument_spec(
        serial_number=dict(type="str"),
        device_id=dict(type="str"),
        ztdid=dict(type="str"),
        name=dict(type="str"),
        id=dict(type="str"),
        serial_numbers=dict(type="list", elements="str"),
        ids=dict(type="list", elements="str"),
        devices=dict(type="list", elements="dict", options=dict(
            serial_number=dict(type="str"), device_id=dict(type="str"), ztdid=dict(type="str"), name=dict(type="str"),
            id=dict(type="str"), require_serial_match=dict(type="bool")),
            mutually_exclusive=[("id", "device_id", "ztdid", "name")]),
        require_serial_match=dict(type="bool", default=True),
        force=dict(type="bool", default=False),
        state=dict(type="str", choices=["absent"], default="absent"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path"),
                                               ("id", "device_id", "ztdid", "name")]
                           + [(many, one) for many in LISTS for one in SINGLE])
    try:
        todo, single = bulk_entries(module.params, ENTRA_SELECTORS)  # refuse bad selectors before any request
        client = client_from_module(module)
        try:
            results = entra_absent_many(client, todo, module.check_mode, warn=module.warn,
                                        require_serial_match=module.params["require_serial_match"],
                                        force=module.params["force"]) if todo else []
            error = first_error(results)
            if isinstance(error, GraphPermissionError):
                raise error
        except GraphPermissionError as exc:
            raise explain_permission(exc, "entra_device", [DEV_WRITE, SVC_READ, MD_READ], writes=("devices",))
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
