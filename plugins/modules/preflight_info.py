#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight_info
short_description: Check a tenant before a Windows Autopilot campaign touches anything
version_added: 0.3.0
description:
  - Checks, read-only, what a campaign needs from Microsoft Graph and Intune, and says what to fix - the pre-flight
    of C(playbooks/preflight.yml), which adds WinRM, AD DS and ConfigMgr checks with the existing modules.
  - B(Token and permissions.) Gets an access token with the fleet's app registration and reads the application
    permissions Entra granted from its C(roles) claim (the token's payload; the signature is Graph's to check). Each
    stage of O(stages) needs its least permissions (docs/getting-started.md section 2) - C(register)
    C(DeviceManagementServiceConfig.ReadWrite.All); C(deliver) the same, C(Group.Read.All) to explain profiles,
    C(User.Read.All) when users are assigned and licences checked, C(LicenseAssignment.Read.All) to name SKUs,
    C(GroupMember.ReadWrite.All) and C(Device.ReadWrite.All) with O(group); C(cleanup) the three ReadWrite
    permissions (Read with O(cleanup_dry_run)). A permission a held one includes counts as held.
  - B(Deployment profiles.) For each of O(group_tags), whether a deployment profile reaches a device with that tag
    through a group whose membership rule matches it (the collection's rule evaluator, as the deliver stage uses it).
    None is an error - its devices would boot into the ordinary Windows setup.
  - B(Licences.) Each of O(required_licences) (SKU part number, SKU id, service plan name or id) exists among the
    tenant's C(subscribedSkus), enabled, with free units.
  - B(Group and names.) O(group) is one static Entra group; O(computer_name) and O(computer_names) follow the
    documented name rules (15 characters, letters, digits, hyphens, C(%SERIAL%) or C(%RAND:x%)).
  - Every finding is returned in RV(findings) with its severity and what to fix; warnings are also shown as task
    warnings. The module does not fail on findings - the playbook decides (it fails when RV(error_count) is not 0).
  - Needs the application permission C(DeviceManagementServiceConfig.Read.All) (the deployment profiles), and
    C(Group.Read.All) (the groups they are assigned to) and C(LicenseAssignment.Read.All) (C(subscribedSkus)) for the
    profile and licence checks - which the campaign's deliver stage needs anyway. Without them, those checks are
    warnings that say what they could not see.
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  stages:
    description:
      - The campaign's stages that talk to Graph; the permissions of each are checked.
      - The profile, licence and group checks belong to C(deliver).
    type: list
    elements: str
    choices: [register, deliver, cleanup]
    default: [register, deliver]
  cleanup_dry_run:
    description: The clean-up only reads (Read.All permissions are enough).
    type: bool
    default: false
  group_tags:
    description:
      - The group tags the fleet's devices will carry (the fleet's tag and the devices' own). An empty list checks
        devices without a group tag.
    type: list
    elements: str
    default: []
  required_licences:
    description:
      - SKUs or service plans the assigned users need; each must exist in the tenant. Not given, not checked.
    type: list
    elements: str
  assigned_users:
    description: Whether the fleet pre-assigns users (their licences are then read, with C(User.Read.All)).
    type: bool
    default: false
  group:
    description: The fleet's static Entra group (object id or display name), checked to exist, be unique and static.
    type: str
  computer_name:
    description: The fleet's computer name template (for example V(CORP-%SERIAL%)), checked against the rules.
    type: str
  computer_names:
    description: Computer names (or templates) by serial number or inventory host name, checked against the rules.
    type: dict
seealso:
  - module: winfleet.autopilot.autopilot_device
  - module: winfleet.autopilot.user_licence_info
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Check the tenant before the campaign
  winfleet.autopilot.preflight_info:
    stages: [register, deliver, cleanup]
    group_tags: [FLEET-A]
    required_licences: [INTUNE_A, AAD_PREMIUM]
    assigned_users: true
    group: Autopilot FLEET-A devices
    computer_name: FLA-%SERIAL%
  module_defaults:
    group/winfleet.autopilot.graph: "{{ fleet_graph }}"
  register: preflight

- name: Stop on errors
  ansible.builtin.assert:
    that: preflight.error_count == 0
    fail_msg: "{{ preflight.findings | selectattr('severity', 'eq', 'error') | map(attribute='message') | list }}"
"""

RETURN = r"""
findings:
  description: What is wrong, errors first.
  returned: always
  type: list
  elements: dict
  contains:
    severity:
      description: V(error) (the campaign would fail) or V(warning).
      type: str
    check:
      description: V(token), V(permissions), V(profiles), V(licences), V(group) or V(computer names).
      type: str
    message:
      description: What pre-flight found.
      type: str
    fix:
      description: What to do about it.
      type: str
  sample:
    - severity: error
      check: profiles
      message: "no deployment profile targets group tag Sales; profiles reach: 'User-driven' -> 'Autopilot FLEET-A'"
      fix: "Intune admin center > Devices > Windows > Enrollment > Deployment profiles: assign a profile ..."
error_count:
  description: Number of error findings.
  returned: always
  type: int
warning_count:
  description: Number of warning findings.
  returned: always
  type: int
roles:
  description: The application permissions of the app's access token (its C(roles) claim).
  returned: always
  type: list
  elements: str
  sample: [DeviceManagementServiceConfig.ReadWrite.All, Group.Read.All]
permissions:
  description: Every permission the stages need, with the stage, what for, and whether the app holds it.
  returned: always
  type: list
  elements: dict
profiles:
  description: Per group tag, the profile that reaches its devices (C(profile), null for none) and the words.
  returned: always
  type: list
  elements: dict
licences:
  description: Per required licence, the tenant's SKUs that hold it, whether one is enabled, and free units.
  returned: always
  type: list
  elements: dict
group:
  description: The fleet's group (C(id), C(name), C(dynamic)) when O(group) resolves.
  returned: always
  type: dict
app:
  description: The token's app id, tenant id and expiry (seconds since the epoch).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphAuthError,
    argument_spec,
    client_from_module,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._preflight import check_tenant, finding

PERMISSION = "DeviceManagementServiceConfig.Read.All"


def main():
    spec = argument_spec(
        stages=dict(type="list", elements="str", choices=["register", "deliver", "cleanup"],
                    default=["register", "deliver"]),
        cleanup_dry_run=dict(type="bool", default=False),
        group_tags=dict(type="list", elements="str", default=[]),
        required_licences=dict(type="list", elements="str"),
        assigned_users=dict(type="bool", default=False),
        group=dict(type="str"),
        computer_name=dict(type="str"),
        computer_names=dict(type="dict"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path")])
    p = module.params
    try:
        try:
            client = client_from_module(module)
        except GraphAuthError as exc:  # no credential at all: a finding like a refused one
            result = {"findings": [finding("error", "token", exc.msg, "set fleet_graph: tenant_id, client_id and "
                                           "client_secret or client_certificate_path")],
                      "roles": [], "permissions": [], "profiles": [], "licences": [], "group": None, "app": None}
        else:
            result = check_tenant(client, stages=p["stages"], cleanup_dry_run=p["cleanup_dry_run"],
                                  group_tags=p["group_tags"], required_licences=p["required_licences"],
                                  assigned_users=p["assigned_users"], group=p["group"],
                                  computer_name=p["computer_name"], computer_names=p["computer_names"])
    except WinfleetError as exc:
        exc.fail(module)
    findings = sorted(result["findings"], key=lambda f: 0 if f["severity"] == "error" else 1)
    for f in findings:
        if f["severity"] == "warning":
            module.warn("pre-flight: %s - fix: %s" % (f["message"], f["fix"]))
    result.update(changed=False, findings=findings,
                  error_count=sum(1 for f in findings if f["severity"] == "error"),
                  warning_count=sum(1 for f in findings if f["severity"] == "warning"))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
