#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: user_licence_info
short_description: Check that users have the licences they need before a device is handed to them
version_added: 0.1.0
description:
  - Before a registered device is delivered, its user must have the appropriate licences applied. This module reads
    each user's assigned licences and plans from Microsoft Graph and reports, per user, which required licences are
    missing.
  - A requirement is met by an assigned SKU (part number such as C(SPE_E3), or SKU ID) or by an assigned service plan
    (name such as C(INTUNE_A), or ID) that is enabled, not disabled, and whose service is provisioned. A plan whose
    service is still being provisioned (for example C(PendingInput)) does not count.
  - Needs the application permission C(User.Read.All), to read C(assignedLicenses), C(assignedPlans) and
    C(provisionedPlans) of each user; it names SKUs and plans from the tenant's C(subscribedSkus)
    (C(LicenseAssignment.Read.All)).
    Without the second permission, SKUs are known by ID only and plans by ID or by the names Microsoft publishes for
    C(INTUNE_A) and C(AAD_PREMIUM). (C(/users/{id}/licenseDetails) takes no application permission, so an app
    cannot use it.)
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  users:
    description:
      - User principal names (or object IDs) to check, for example the assigned users of a registration.
    type: list
    elements: str
    required: true
  required_licences:
    description:
      - Licences every user must have. The default is the Intune (C(INTUNE_A)) and Microsoft Entra ID P1
        (C(AAD_PREMIUM)) service plans, which Microsoft 365 E3/E5 and Business Premium include.
    type: list
    elements: str
    default: [INTUNE_A, AAD_PREMIUM]
  fail_on_missing:
    description:
      - Fail when a user is unknown or lacks a required licence (the per-user results are returned either way).
    type: bool
    default: false
seealso:
  - module: winfleet.autopilot.autopilot_import
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Are the assigned users licensed?
  winfleet.autopilot.user_licence_info:
    users: "{{ registration.devices | map(attribute='assigned_user') | select | list }}"
    required_licences: [SPE_E3]
    fail_on_missing: true
"""

RETURN = r"""
users:
  description: One entry per user.
  returned: always
  type: list
  elements: dict
  contains:
    user_principal_name:
      description: The user as given.
      type: str
    found:
      description: Whether the user exists in the tenant.
      type: bool
    licensed:
      description: Whether every required licence is there and provisioned.
      type: bool
    missing:
      description: Required licences the user lacks.
      type: list
      elements: str
    not_provisioned:
      description: Required service plans present but not provisioned yet, with their provisioning status.
      type: dict
    licences:
      description: SKU part numbers assigned to the user.
      type: list
      elements: str
all_licensed:
  description: Whether every user has every required licence.
  returned: always
  type: bool
not_ready:
  description: Users who are unknown or lack a required licence.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._licence import (
    DEFAULT_REQUIRED,
    check_users,
)

PERMISSION = "User.Read.All"


def main():
    spec = argument_spec(
        users=dict(type="list", elements="str", required=True),
        required_licences=dict(type="list", elements="str", default=list(DEFAULT_REQUIRED)),
        fail_on_missing=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path")])
    try:
        client = client_from_module(module)
        try:
            users = check_users(client, module.params["users"], module.params["required_licences"])
        except GraphPermissionError as exc:
            exc.msg = ("Missing permission: user_licence_info needs the application permission %s with admin "
                       "consent (and LicenseAssignment.Read.All to name SKUs). %s" % (PERMISSION, exc.msg))
            exc.details["required_permissions"] = [PERMISSION]
            raise
    except WinfleetError as exc:
        exc.fail(module)
    not_ready = [u["user_principal_name"] for u in users if not u["licensed"]]
    result = {"changed": False, "users": users, "all_licensed": not not_ready, "not_ready": not_ready}
    if not_ready and module.params["fail_on_missing"]:
        module.fail_json(msg="%d of %d users lack a required licence (%s): %s" % (
            len(not_ready), len(users), ", ".join(module.params["required_licences"]), ", ".join(not_ready)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
