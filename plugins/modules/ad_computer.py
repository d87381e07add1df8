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
  - A whole fleet in one task - O(names), O(serial_numbers), O(object_guids) or O(computers) (one entry per computer,
    each with its own guard) - looks up and tree-deletes every entry over one LDAP connection.
extends_documentation_fragment:
  - winfleet.autopilot.ldap.MODULES
  - winfleet.autopilot.cleanup
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
  names:
    description:
      - The list form of O(name) - one computer name per entry.
    type: list
    elements: str
  object_guids:
    description:
      - The list form of O(object_guid).
    type: list
    elements: str
  computers:
    description:
      - The list form of the single-record selectors - one entry per computer, each as one task of the single form
        (combined with AND; O(serial_number) with another selector is that entry's guard). The clean-up role passes
        C({object_guid, serial_number}) entries with O(require_serial_match=false).
    type: list
    elements: dict
    suboptions:
      name:
        description: Computer name.
        type: str
      sam_account_name:
        description: C(sAMAccountName).
        type: str
      serial_number:
        description: Serial number; alone it selects, with another selector it is the entry's guard.
        type: str
      object_guid:
        description: C(objectGUID).
        type: str
      require_serial_match:
        description: This entry's O(require_serial_match).
        type: bool
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

- name: Remove the old AD records of a whole fleet over one connection
  winfleet.autopilot.ad_computer:
    computers:
      - object_guid: 8a5c0f5e-1b2d-4c3e-9f00-0123456789ab
        serial_number: 5CG1234XYZ
      - name: PC-0043
        serial_number: 5CG1234XZA
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
  returned: when the guard fails (single form)
  type: list
  elements: str
results:
  description:
    - The list forms - one entry per selector given, in the order given, with C(selector), C(serial_number),
      C(found) (the computers matched), C(removed) (with their children), C(failed) and C(msg).
  returned: with O(names), O(serial_numbers), O(object_guids) or O(computers)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._bulk import module_result
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._ldap import (
    argument_spec,
    check_serial_guard,
    client_from_module,
    entries_from,
    find_computers,
    plan_removal,
    remove,
    remove_many,
    resolve_selectors,
)

SINGLE = ("name", "sam_account_name", "serial_number", "object_guid")
LISTS = ("names", "serial_numbers", "object_guids", "computers")


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
        names=dict(type="list", elements="str"),
        serial_numbers=dict(type="list", elements="str"),
        object_guids=dict(type="list", elements="str"),
        computers=dict(type="list", elements="dict", options=dict(
            name=dict(type="str"), sam_account_name=dict(type="str"), serial_number=dict(type="str"),
            object_guid=dict(type="str"), require_serial_match=dict(type="bool"))),
        require_serial_match=dict(type="bool", default=True),
        state=dict(type="str", choices=["absent"], default="absent"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[(many, one) for many in LISTS for one in SINGLE])
    try:
        p = module.params
        if all(p[o] is None for o in LISTS):
            selectors, guard = resolve_selectors(p)  # refuse bad selectors before connecting
            with client_from_module(module) as client:
                result = run(module, client, selectors, guard)
            module.exit_json(**result)
        entries = entries_from(p)  # every entry checked before connecting
        results = []
        if entries:
            with client_from_module(module) as client:
                results = remove_many(client, p["search_base"], entries, p["require_serial_match"], module.check_mode)
        result, failure = module_result(results, module._diff, what="computers", before_removed=True)
        if failure:
            module.fail_json(msg=failure, **result)
        module.exit_json(**result)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
