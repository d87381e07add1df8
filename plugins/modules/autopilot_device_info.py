#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: autopilot_device_info
short_description: Windows Autopilot devices and their registration status
version_added: 0.1.0
description:
  - Looks up Windows Autopilot devices by serial number (or lists them all) and reports each device's status in the
    words of the Microsoft Managed Desktop pages - C(Registration pending), C(Registration failed), C(Ready for user)
    (registered AND a deployment profile assigned), C(Profile pending), C(Registered, no profile), C(Profile
    assignment failed), C(Registered) (the API version does not report profiles, as v1.0), C(Active), C(Inactive) (not
    seen for O(inactive_days) days) - or C(Device not found).
  - Each device carries its deployment profile state (status, detailed status, when it was assigned, the profile's
    name); with O(explain_profiles), a device without a profile also carries why, in words
    (C(no deployment profile targets group tag Sales)).
  - Serial numbers are matched exactly (case-insensitive) on the client side; the service's C(contains) filter is
    only used to narrow the search.
  - Needs the application permission C(DeviceManagementServiceConfig.Read.All); O(explain_profiles) also needs
    C(Group.Read.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  serial_numbers:
    description:
      - Serial numbers to look up. When omitted, every Autopilot device of the tenant is returned.
    type: list
    elements: str
  explain_profiles:
    description:
      - For each registered device without a deployment profile, read the tenant's profiles, their assigned groups
        and the groups' membership rules, evaluate the rules against the device's C(devicePhysicalIds), and say in
        C(deployment_profile_cause) which profile will reach it or why none does.
    type: bool
    default: false
  include_import_state:
    description:
      - For serial numbers not registered, look at the import records to tell C(Registration pending) and
        C(Registration failed) from C(Device not found).
    type: bool
    default: true
  inactive_days:
    description:
      - An enrolled device not seen for more than this many days is C(Inactive).
    type: int
    default: 7
seealso:
  - module: winfleet.autopilot.autopilot_import
  - module: winfleet.autopilot.autopilot_device
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Status of the devices just registered
  winfleet.autopilot.autopilot_device_info:
    serial_numbers: "{{ registration.devices | map(attribute='serial_number') | list }}"
  register: fleet

- name: Devices ready to hand to their users
  ansible.builtin.debug:
    msg: "{{ fleet.devices | selectattr('status', 'eq', 'Ready for user') | map(attribute='serial_number') | list }}"
"""

RETURN = r"""
devices:
  description: One entry per serial number asked for (or per device of the tenant).
  returned: always
  type: list
  elements: dict
  contains:
    serial_number:
      description: Serial number.
      type: str
    found:
      description: Whether the device is registered in Windows Autopilot.
      type: bool
    status:
      description:
        - C(Registration pending), C(Registration failed), C(Ready for user), C(Profile pending),
          C(Registered, no profile), C(Profile assignment failed), C(Registered), C(Active), C(Inactive)
          or C(Device not found).
      type: str
      sample: Ready for user
    id:
      description: Windows Autopilot device ID.
      type: str
    group_tag:
      description: Group tag (Order ID).
      type: str
    purchase_order_id:
      description: Purchase order ID (set by OEMs and partners).
      type: str
    assigned_user:
      description: Assigned user principal name.
      type: str
    display_name:
      description: Name the device gets during deployment.
      type: str
    manufacturer:
      description: Manufacturer.
      type: str
    model:
      description: Model.
      type: str
    enrollment_state:
      description: Intune enrollment state (C(notContacted), C(enrolled) ...).
      type: str
    last_contacted:
      description: When the device last contacted Intune, if ever.
      type: str
    deployment_profile_status:
      description: Deployment profile assignment status (beta API only), for example C(assignedInSync), C(pending),
        C(notAssigned), C(failed).
      type: str
    deployment_profile_detailed_status:
      description: Why the assignment failed (beta API only), for example C(hardwareRequirementsNotMet); C(none)
        otherwise.
      type: str
    deployment_profile_assigned:
      description: When the profile was assigned, if it is.
      type: str
    deployment_profile:
      description: The name of the assigned deployment profile, if one is assigned.
      type: str
    deployment_profile_cause:
      description: With O(explain_profiles), for a device without a profile - which profile targets it, or why none
        does.
      type: str
      returned: with O(explain_profiles), for devices without a profile
    azure_ad_device_id:
      description: Device ID of the Microsoft Entra device object.
      type: str
    managed_device_id:
      description: Intune managed device ID, if enrolled.
      type: str
    import_state:
      description: For devices not registered, the latest import record's state.
      type: dict
      returned: when an import record exists
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils import _profiles
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import device_info
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)

PERMISSION = "DeviceManagementServiceConfig.Read.All"


def main():
    spec = argument_spec(
        serial_numbers=dict(type="list", elements="str"),
        include_import_state=dict(type="bool", default=True),
        explain_profiles=dict(type="bool", default=False),
        inactive_days=dict(type="int", default=7),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path")])
    try:
        client = client_from_module(module)
        try:
            devices = device_info(client, module.params["serial_numbers"], module.params["include_import_state"],
                                  module.params["inactive_days"])
            devices = _profiles.name_profiles(client, devices)
            if module.params["explain_profiles"]:
                devices = _profiles.explain_many(client, devices)
        except GraphPermissionError as exc:
            exc.msg = ("Missing permission: autopilot_device_info needs the application permission %s (or "
                       "DeviceManagementServiceConfig.ReadWrite.All) with admin consent. %s" % (PERMISSION, exc.msg))
            exc.details["required_permissions"] = [PERMISSION]
            raise
        module.exit_json(changed=False, devices=devices, graph=dict(client.stats))
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
