#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: device_records_info
short_description: Find a fleet's records in Intune, Windows Autopilot and Microsoft Entra ID in one task
version_added: 0.3.0
description:
  - Looks up every serial number of a fleet (and, for hybrid-joined Entra objects, every computer name) in the three
    cloud services that keep a record of a Windows device, with one sign-in and C($batch) requests, and returns the
    records per service.
  - Each list is what the service's own module returns for the same values - RV(intune) as
    M(winfleet.autopilot.intune_device_info), RV(autopilot) as M(winfleet.autopilot.autopilot_device_info) with
    C(include_import_state=false) (registered devices only), RV(entra) as M(winfleet.autopilot.entra_device_info)
    - so a clean-up can plan from one look instead of three tasks.
  - Selectors are exact values; an empty, whitespace-only or wildcard (C(*)) value is refused.
  - Needs the application permissions C(DeviceManagementManagedDevices.Read.All),
    C(DeviceManagementServiceConfig.Read.All) and C(Device.Read.All), those of the services looked up (the Entra
    look-up reads the other two as well, to resolve serial numbers).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  serial_numbers:
    description:
      - The serial numbers of the fleet. An empty list looks up nothing by serial number.
    type: list
    elements: str
    required: true
  names:
    description:
      - Computer names whose Microsoft Entra objects are looked up by display name as well (hybrid-joined objects
        carry no Autopilot or Intune link), like O(winfleet.autopilot.entra_device_info#module:names).
    type: list
    elements: str
    default: []
  services:
    description:
      - The services to look in.
    type: list
    elements: str
    choices: [intune, autopilot, entra]
    default: [intune, autopilot, entra]
seealso:
  - module: winfleet.autopilot.intune_device_info
  - module: winfleet.autopilot.autopilot_device_info
  - module: winfleet.autopilot.entra_device_info
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: What the cloud still knows about a batch of re-used PCs
  winfleet.autopilot.device_records_info:
    serial_numbers: [5CG1234XYZ, 5CG1234XZA]
    names: [PC-0041, PC-0042]
  register: records

- name: Show them per service
  ansible.builtin.debug:
    msg:
      - "Intune: {{ records.intune | map(attribute='name') | list }}"
      - "Autopilot: {{ records.autopilot | map(attribute='serial_number') | list }}"
      - "Entra: {{ records.entra | map(attribute='name') | list }}"
"""

RETURN = r"""
intune:
  description: The Intune managed devices found, as RV(winfleet.autopilot.intune_device_info#module:devices).
  returned: when O(services) holds C(intune)
  type: list
  elements: dict
autopilot:
  description:
    - The Windows Autopilot devices found, as RV(winfleet.autopilot.autopilot_device_info#module:devices)
      (registered devices only).
  returned: when O(services) holds C(autopilot)
  type: list
  elements: dict
entra:
  description: The Microsoft Entra device objects found, as RV(winfleet.autopilot.entra_device_info#module:devices).
  returned: when O(services) holds C(entra)
  type: list
  elements: dict
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
    MD_READ,
    RECORD_SERVICES,
    SVC_READ,
    explain_permission,
    records_many,
)


def main():
    spec = argument_spec(
        serial_numbers=dict(type="list", elements="str", required=True),
        names=dict(type="list", elements="str", default=[]),
        services=dict(type="list", elements="str", choices=list(RECORD_SERVICES), default=list(RECORD_SERVICES)),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path")])
    try:
        client = client_from_module(module)
        try:
            found = records_many(client, module.params["serial_numbers"], module.params["names"],
                                 module.params["services"])
        except GraphPermissionError as exc:
            raise explain_permission(exc, "device_records_info", [MD_READ, SVC_READ, DEV_READ])
        module.exit_json(changed=False, **found)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
