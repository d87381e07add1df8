#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: corporate_identifier_info
short_description: Windows corporate identifiers (manufacturer, model, serial number) registered in Intune
version_added: 0.2.0
description:
  - Looks up Windows corporate identifiers (Graph beta C(importedDeviceIdentities), type C(manufacturerModelSerial))
    for the given devices with C(searchExistingIdentities), or lists them all when no device is given.
  - Each device is checked and its values written as M(winfleet.autopilot.corporate_identifier) would send them
    (periods removed unless O(strip_periods=false)), so the lookup finds what that module registered.
  - Needs the application permission C(DeviceManagementServiceConfig.Read.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  devices:
    description:
      - The devices to look up. With neither O(devices) nor O(path), every Windows corporate identifier is listed.
    type: list
    elements: dict
    suboptions:
      manufacturer:
        description: System manufacturer (SMBIOS).
        type: str
        required: true
      model:
        description: System product name (SMBIOS).
        type: str
        required: true
      serial_number:
        description: Serial number.
        type: str
        required: true
  path:
    description: Identifier files in the portal's format (no header, C(manufacturer,model,serial) per line), or folders.
    type: list
    elements: path
  strip_periods:
    description: Remove periods from the values before looking them up, as M(winfleet.autopilot.corporate_identifier)
      does.
    type: bool
    default: true
seealso:
  - module: winfleet.autopilot.corporate_identifier
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Which of these devices have a corporate identifier?
  winfleet.autopilot.corporate_identifier_info:
    devices:
      - manufacturer: LENOVO
        model: 21CB0041US
        serial_number: PF3ABCDE
  register: corp

- name: Every Windows corporate identifier of the tenant that has not enrolled yet
  winfleet.autopilot.corporate_identifier_info:
  register: all_ids

- ansible.builtin.debug:
    msg: "{{ all_ids.identities | selectattr('enrollment_state', 'eq', 'Not contacted') | map(attribute='identifier') }}"
"""

RETURN = r"""
identities:
  description:
    - With devices or files, one entry per identifier asked for (C(found) tells whether the service has it);
      otherwise every Windows corporate identifier of the tenant.
  returned: always
  type: list
  elements: dict
  contains:
    identifier:
      description: The identifier, C(manufacturer,model,serial).
      type: str
    manufacturer:
      description: Manufacturer.
      type: str
    model:
      description: Model.
      type: str
    serial_number:
      description: Serial number.
      type: str
    found:
      description: Whether the service has the identifier.
      type: bool
    id:
      description: The identity's id.
      type: str
    enrollment_state:
      description: C(Not contacted), C(Enrolled), C(Failed), C(Pending reset), C(Blocked) or C(Unknown).
      type: str
    description:
      description: The description stored with it.
      type: str
    created:
      description: When it was added.
      type: str
    last_contacted:
      description: When the device last contacted Intune, if ever.
      type: str
    source:
      description: Where the device asked for came from.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils import _corpid
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)

PERMISSION = "DeviceManagementServiceConfig.Read.All"


def main():
    spec = argument_spec(
        devices=dict(type="list", elements="dict", options=dict(
            manufacturer=dict(type="str", required=True), model=dict(type="str", required=True),
            serial_number=dict(type="str", required=True))),
        path=dict(type="list", elements="path"),
        strip_periods=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("client_secret", "client_certificate_path")])
    p = module.params
    try:
        _corpid.check_api_version(p)
        identifiers = None
        if p["devices"] is not None or p["path"] is not None:
            identifiers, _dups, _cleaned = _corpid.collect(p["devices"], p["path"], p["strip_periods"])
        client = client_from_module(module)
        try:
            if identifiers is None:
                identities = [dict(_corpid.view(r), found=True) for r in _corpid.list_all(client)]
            else:
                found = _corpid.search(client, [i.text for i in identifiers]) if identifiers else {}
                identities = []
                for ident in identifiers:
                    rec = found.get(ident.text)
                    entry = dict(_corpid.view(rec), found=True) if rec else dict(
                        ident.as_dict(), found=False, id=None, enrollment_state=None)
                    entry["source"] = ident.where
                    identities.append(entry)
        except GraphPermissionError as exc:
            exc.msg = ("Missing permission: corporate_identifier_info needs the application permission %s (or "
                       "DeviceManagementServiceConfig.ReadWrite.All) with admin consent. %s" % (PERMISSION, exc.msg))
            exc.details["required_permissions"] = [PERMISSION]
            raise
        module.exit_json(changed=False, identities=identities)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
