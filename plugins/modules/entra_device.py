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
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
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
  require_serial_match:
    description:
      - With the O(serial_number) guard, whether an object no record claims fails the task.
      - V(false) accepts such objects (typically a hybrid-joined object after its Intune and Autopilot records were
        deleted); an object resolving to another serial number always fails.
    type: bool
    default: true
  force:
    description:
      - Delete objects that still belong to a Windows Autopilot device, with a warning. This orphans the Autopilot
        record; prefer deleting the Autopilot record, which removes the object.
    type: bool
    default: false
  state:
    description:
      - Only V(absent). Entra creates device objects when a device registers or joins.
    type: str
    choices: [absent]
    default: absent
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
"""

from ansible.module_utils.basic import AnsibleModule

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
    entra_absent,
    explain_permission,
    selectors,
)


def main():
    spec = argument_spec(
        serial_number=dict(type="str"),
        device_id=dict(type="str"),
        ztdid=dict(type="str"),
        name=dict(type="str"),
        id=dict(type="str"),
        require_serial_match=dict(type="bool", default=True),
        force=dict(type="bool", default=False),
        state=dict(type="str", choices=["absent"], default="absent"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path"),
                                               ("id", "device_id", "ztdid", "name")])
    try:
        selectors(module.params, ENTRA_SELECTORS)  # refuse bad selectors before any request
        client = client_from_module(module)
        try:
            removed, before = entra_absent(client, module.params, module.check_mode, warn=module.warn)
        except GraphPermissionError as exc:
            raise explain_permission(exc, "entra_device", [DEV_WRITE, SVC_READ, MD_READ], writes=("devices",))
        result = {"changed": bool(removed), "removed": removed}
        if module._diff:
            result["diff"] = {"before": {"devices": before} if removed else {}, "after": {}}
        module.exit_json(**result)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
