#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: ad_computer_info
short_description: Find computer objects in Active Directory by name, account name, serial number or GUID
version_added: 0.1.0
description:
  - Looks up computer objects in Active Directory Domain Services over LDAP, below O(search_base).
  - This is the same lookup M(winfleet.autopilot.ad_computer) uses before it deletes, so it shows exactly which
    records a cleanup would touch.
  - All selectors given must match (they are combined with AND). Values are matched exactly (case-insensitive, as
    AD compares); wildcards and LDAP filter characters are refused. At least one selector is required.
  - The bind account only needs read access to the computer objects.
extends_documentation_fragment:
  - winfleet.autopilot.ldap.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  name:
    description:
      - Computer name (the object's C(cn), as in Active Directory Users and Computers).
    type: str
  sam_account_name:
    description:
      - Pre-Windows 2000 account name (C(sAMAccountName)); the trailing V($) is added when missing.
    type: str
  serial_number:
    description:
      - Serial number stored in the computer object's multi-valued C(serialNumber) attribute (one of its values).
    type: str
  object_guid:
    description:
      - C(objectGUID) of the computer object, as V(8a5c0f5e-1b2d-4c3e-9f00-0123456789ab) (braces allowed).
    type: str
  names:
    description:
      - Several computer names at once (a whole fleet in one task, over one connection); each is looked up like
        O(name). Objects found by both lists are returned once. An empty list looks up nothing.
      - Mutually exclusive with the single-value selectors.
    type: list
    elements: str
  serial_numbers:
    description:
      - Several serial numbers at once; each is looked up like O(serial_number) alone.
      - Mutually exclusive with the single-value selectors.
    type: list
    elements: str
seealso:
  - module: winfleet.autopilot.ad_computer
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Which AD computer objects carry this serial number?
  winfleet.autopilot.ad_computer_info:
    server: dc01.corp.example.com
    ca_path: /etc/pki/corp-root-ca.pem
    username: svc-autopilot@corp.example.com
    password: "{{ vault_ad_password }}"
    search_base: OU=Workstations,DC=corp,DC=example,DC=com
    serial_number: 5CG1234XYZ
  delegate_to: localhost
  register: ad

- name: Show their names
  ansible.builtin.debug:
    msg: "{{ ad.computers | map(attribute='name') | list }}"
"""

RETURN = r"""
computers:
  description: The computer objects found, sorted by name. Empty when none matches.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(objectGUID).
      type: str
      sample: 8a5c0f5e-1b2d-4c3e-9f00-0123456789ab
    name:
      description: Computer name (C(cn)).
      type: str
    serial_number:
      description: The first C(serialNumber) value, or null when the object has none.
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
    dns_host_name:
      description: C(dNSHostName).
      type: str
    description:
      description: C(description).
      type: str
    operating_system:
      description: C(operatingSystem).
      type: str
    operating_system_version:
      description: C(operatingSystemVersion).
      type: str
    enabled:
      description: Whether the account is enabled (C(userAccountControl) without ACCOUNTDISABLE).
      type: bool
    when_created:
      description: Creation time (ISO 8601, UTC).
      type: str
    when_changed:
      description: Last change (ISO 8601, UTC).
      type: str
    last_logon:
      description: C(lastLogonTimestamp) (ISO 8601, UTC; replicated, up to 14 days behind), null if never.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._ldap import (
    argument_spec,
    client_from_module,
    find_computers,
    resolve_selectors,
)


def main():
    spec = argument_spec(
        name=dict(type="str"),
        sam_account_name=dict(type="str"),
        serial_number=dict(type="str"),
        object_guid=dict(type="str"),
        names=dict(type="list", elements="str"),
        serial_numbers=dict(type="list", elements="str"),
    )
    single = ("name", "sam_account_name", "serial_number", "object_guid")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[(many, one) for many in ("names", "serial_numbers") for one in single])
    try:
        params = module.params
        if params["names"] is None and params["serial_numbers"] is None:
            lookups = [params]
        else:
            lookups = [{"name": v} for v in params["names"] or []]
            lookups += [{"serial_number": v} for v in params["serial_numbers"] or []]
        queries = []
        for lookup in lookups:  # every value is validated before anything is read
            selectors, guard = resolve_selectors(lookup)
            if guard is not None:  # for the info module the serial number is one more exact match
                selectors["serial_number"] = guard
            queries.append(selectors)
        computers, seen = [], set()
        if queries:
            with client_from_module(module) as client:
                for selectors in queries:
                    for comp in find_computers(client, params["search_base"], selectors):
                        if comp["id"] not in seen:
                            seen.add(comp["id"])
                            computers.append(comp)
        module.exit_json(changed=False, computers=sorted(computers, key=lambda c: (c["name"] or "").lower()))
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
