#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ad_computer
short_description: Remove old computer objects of re-used devices from Active Directory
version_added: 0.1.0
description:
  - Deletes computer objects from Active Directory Domain Services over LDAP, with the tree-delete control, so the
    objects below them (BitLocker recovery information, C(msFVE-RecoveryInformation)) go too.
  - The selectors identify the records (combined with AND, matched exactly, below O(search_base)). An empty
    selector, one that is only whitespace or one with a wildcard or LDAP filter character (C(* ( ) \)) is refused
    and nothing is deleted.
  - With O(serial_number) and another selector, O(serial_number) is a guard - every matched computer must carry
    that serial number (case-insensitive, trimmed) or the task fails and nothing is deleted. O(serial_number) alone
    selects every computer object carrying it.
  - Nothing found is not an error - the task reports no change, so a second run is idempotent.
  - Creating computer objects belongs to Active Directory itself (domain join); V(absent) is the only state.
  - The bind account needs C(Delete) and C(Delete subtree) on the computer objects below O(search_base) (or
    C(Delete all child objects) on their OUs); see the collection's C(docs/ad.md).
extends_documentation_fragment:
  - winfleet.autopilot.ldap.MODULES
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode looks up the same computers and their child objects and returns exactly what would be removed.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - Computer name (the object's C(cn)).
    type: str
  sam_account_name:
    description:
      - Pre-Windows 2000 account name (C(sAMAccountName)); the trailing V($) is added when missing.
    type: str
  serial_number:
    description:
      - Serial number (one of the values of the multi-valued C(serialNumber) attribute).
      - Alone, it selects the computers carrying it; with another selector, it is a guard (see the description).
    type: str
  object_guid:
    description:
      - C(objectGUID) of the computer object.
    type: str
  require_serial_match:
    description:
      - With the O(serial_number) guard, whether a matched computer that has no serial number at all fails the
        guard. V(false) lets such records through (a differing serial still fails).
    type: bool
    default: true
  state:
    description:
      - V(absent) deletes the matched computer objects and their child objects.
    type: str
    choices: [absent]
    default: absent
seealso:
  - module: winfleet.autopilot.ad_computer_info
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Remove the old AD record of a re-used device, only if it really is that device
  winfleet.autopilot.ad_computer:
    server: dc01.corp.example.com
    ca_path: /etc/pki/corp-root-ca.pem
    username: svc-autopilot-cleanup@corp.example.com
    password: "{{ vault_ad_cleanup_password }}"
    search_base: OU=Workstations,DC=corp,DC=example,DC=com
    name: PC-0042
    serial_number: 5CG1234XYZ
    state: absent
  delegate_to: localhost

- name: Remove every AD computer object carrying a serial number (connection set through module_defaults)
  winfleet.autopilot.ad_computer:
    serial_number: 5CG1234XYZ
    state: absent
  delegate_to: localhost
  register: cleanup
"""

RETURN = r"""
removed:
  description:
    - The computer objects deleted (in check mode, that would be deleted), sorted by name, each with the child
      objects the tree delete removed with it. Empty when nothing matched.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(objectGUID).
      type: str
    name:
      description: Computer name (C(cn)).
      type: str
    serial_number:
      description: The first C(serialNumber) value, or null.
      type: str
    serial_numbers:
      description: Every C(serialNumber) value.
      type: list
      elements: str
    distinguished_name:
      description: Distinguished name.
      type: str
    sam_account_name:
      description: C(sAMAccountName).
      type: str
    children:
      description: Objects below the computer that went with it (BitLocker recovery information, ...).
      type: list
      elements: dict
      contains:
        id:
          description: C(objectGUID).
          type: str
        name:
          description: Relative name.
          type: str
        distinguished_name:
          description: Distinguished name.
          type: str
        object_class:
          description: Most specific object class (C(msFVE-RecoveryInformation) for BitLocker).
          type: str
mismatched:
  description: Names of the computers that failed the O(serial_number) guard.
  returned: when the guard fails
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._ldap import (
    argument_spec,
    check_serial_guard,
    client_from_module,
    find_computers,
    plan_removal,
    remove,
    resolve_selectors,
)


def run(module, client, selectors, guard):
    p = module.params
    computers = find_computers(client, p["search_base"], selectors)
    if guard is not None:
        check_serial_guard(computers, guard, p["require_serial_match"])
    removed = plan_removal(client, computers)
    result = {"changed": bool(removed), "removed": removed}
    if module._diff:
        result["diff"] = {"before": {"computers": removed} if removed else {}, "after": {}}
    if removed and not module.check_mode:
        remove(client, removed)
    return result


def main():
    spec = argument_spec(
        name=dict(type="str"),
        sam_account_name=dict(type="str"),
        serial_number=dict(type="str"),
        object_guid=dict(type="str"),
        require_serial_match=dict(type="bool", default=True),
        state=dict(type="str", choices=["absent"], default="absent"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        selectors, guard = resolve_selectors(module.params)  # refuse bad selectors before connecting
        with client_from_module(module) as client:
            result = run(module, client, selectors, guard)
        module.exit_json(**result)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
