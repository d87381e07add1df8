#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: entra_device_info
short_description: Look up Microsoft Entra ID device objects, their join type and the serial number behind them
version_added: 0.1.0
description:
  - Returns the Microsoft Entra device objects the selectors match, with the same lookup
    M(winfleet.autopilot.entra_device) uses before it deletes.
  - Each object reports its join type (trust type C(AzureAd) = Entra joined, C(ServerAd) = hybrid joined,
    C(Workplace) = Entra registered), its Windows Autopilot C([ZTDID]) and C([OrderId]) physical IDs, the live
    Autopilot device it belongs to, and the serial number resolved through the Autopilot and Intune records that
    point at it (Entra itself stores no serial number).
  - Selectors are exact values. An empty, whitespace-only or wildcard (C(*)) selector is refused, and so is no selector
    at all.
  - Needs the application permissions C(Device.Read.All), C(DeviceManagementServiceConfig.Read.All) and
    C(DeviceManagementManagedDevices.Read.All) (the last two to resolve serial numbers).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  serial_number:
    description:
      - Serial number. Alone, it selects the objects the device's Autopilot record and Intune managed devices point
        at (by device ID and C([ZTDID])).
      - With another selector, each returned object gets RV(devices[].serial_match), the verdict of the guard of
        M(winfleet.autopilot.entra_device).
    type: str
  device_id:
    description:
      - Device ID (C(deviceId), a GUID). Mutually exclusive with O(id), O(ztdid) and O(name).
    type: str
  ztdid:
    description:
      - Windows Autopilot ZTDID (a GUID), matched in C(physicalIds) case-insensitively.
    type: str
  name:
    description:
      - Display name, matched exactly (case-insensitive).
    type: str
  id:
    description:
      - Object ID (a GUID; not the device ID).
    type: str
  serial_numbers:
    description:
      - Several serial numbers at once (a whole fleet in one task); each is looked up like O(serial_number) alone.
      - Mutually exclusive with the other selectors except O(names).
    type: list
    elements: str
  names:
    description:
      - Several display names at once; each is looked up like O(name). Objects found by both lists are returned once.
      - Mutually exclusive with the other selectors except O(serial_numbers).
    type: list
    elements: str
seealso:
  - module: winfleet.autopilot.entra_device
  - module: winfleet.autopilot.intune_device_info
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Entra objects of a re-used device
  winfleet.autopilot.entra_device_info:
    serial_number: 5CG1234XYZ
  register: entra

- name: Hybrid-joined objects among them
  ansible.builtin.debug:
    msg: "{{ entra.devices | selectattr('join_type', 'eq', 'Hybrid joined') | map(attribute='name') | list }}"
"""

RETURN = r"""
devices:
  description: The objects found (empty when none).
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
      description: Serial number resolved through Autopilot or Intune (null when no record claims the object).
      type: str
    serial_source:
      description: Where the serial number comes from - C(autopilot), C(intune) or C(name) (hybrid name agreement).
      type: str
    other_serials:
      description: Further serial numbers claiming the object, when records disagree.
      type: list
      elements: str
      returned: when records disagree
    device_id:
      description: Device ID.
      type: str
    trust_type:
      description: C(AzureAd), C(ServerAd) or C(Workplace).
      type: str
    join_type:
      description: C(Entra joined), C(Hybrid joined) or C(Entra registered).
      type: str
    ztdid:
      description: Windows Autopilot ZTDID from the physical IDs.
      type: str
    order_id:
      description: Group tag (C([OrderId]) physical ID).
      type: str
    purchase_order_id:
      description: Purchase order ID (C([PurchaseOrderId]) physical ID).
      type: str
    autopilot_id:
      description: The Windows Autopilot device the object still belongs to (null when none).
      type: str
    managed_device_ids:
      description: Intune managed devices pointing at the object.
      type: list
      elements: str
    account_enabled:
      description: Whether the object is enabled.
      type: bool
    operating_system:
      description: Operating system.
      type: str
    operating_system_version:
      description: Operating system version.
      type: str
    approximate_last_sign_in:
      description: Approximate last sign-in.
      type: str
    registration_date:
      description: When the object was registered.
      type: str
    on_premises_sync_enabled:
      description: Whether the object is synced from Active Directory.
      type: bool
    is_managed:
      description: Whether an MDM manages the device.
      type: bool
    serial_match:
      description: Whether the object resolves to O(serial_number) (null when nothing claims it).
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
    DEV_READ,
    ENTRA_SELECTORS,
    MD_READ,
    SVC_READ,
    entra_info,
    entra_info_many,
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
        serial_numbers=dict(type="list", elements="str"),
        names=dict(type="list", elements="str"),
    )
    single = ("id", "device_id", "ztdid", "name", "serial_number")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path"),
                                               ("id", "device_id", "ztdid", "name")]
                           + [(many, one) for many in ("serial_numbers", "names") for one in single])
    try:
        many = module.params["serial_numbers"] is not None or module.params["names"] is not None
        if not many:
            selectors(module.params, ENTRA_SELECTORS)
        client = client_from_module(module)
        try:
            if not many:
                devices = entra_info(client, module.params)
            else:
                devices = entra_info_many(client, module.params["serial_numbers"] or [], module.params["names"] or [])
        except GraphPermissionError as exc:
            raise explain_permission(exc, "entra_device_info", [DEV_READ, SVC_READ, MD_READ])
        module.exit_json(changed=False, devices=devices)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
