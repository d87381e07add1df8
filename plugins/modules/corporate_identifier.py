#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: corporate_identifier
short_description: Register Windows devices by corporate identifier (manufacturer, model, serial number)
version_added: 0.2.0
description:
  - Adds Windows corporate identifiers to Intune, or removes them. Windows Autopilot device preparation and
    enrollment restrictions that block personal devices recognise a device as corporate-owned when its manufacturer,
    model and serial number match an identifier; no hardware hash is needed.
  - Uses the Microsoft Graph beta API C(deviceManagement/importedDeviceIdentities) with the identifier type
    C(manufacturerModelSerial). It looks up the given identifiers first (C(searchExistingIdentities)) and imports
    only the missing ones (C(importDeviceIdentityList)); O(state=absent) deletes the ones found, by id. All calls go
    in Graph C($batch) requests.
  - The devices come from O(devices), from the portal's identifier files (O(path), as
    M(winfleet.autopilot.registration_csv) writes them with C(format=corporate_identifiers)), or both.
  - "Every device is checked before anything is sent, and the task fails naming each refused device (its list
    index or file and line) and why: an empty value, a comma in a value (an identifier is
    C(manufacturer,model,serial) without quoting), a placeholder serial number, control characters. Periods, which
    the portal refuses, are removed by default (Microsoft's instructions say to remove them) and each value changed
    that way is listed in RV(cleaned); O(strip_periods=false) refuses them instead."
  - Manufacturer and model must be what the firmware reports (SMBIOS system manufacturer and product name, as
    C(Win32_ComputerSystem) shows them), case included. Identifiers apply at enrollment time only, on Windows 11
    22H2 (OS build 22621.3374) or later and Windows 10 22H2 (OS build 19045.4598) or later.
  - Needs the application permission C(DeviceManagementServiceConfig.ReadWrite.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode looks the identifiers up (a read-only search) and reports what a real run would change.
  diff_mode:
    support: full
    details:
      - The diff lists the identifiers before and after.
  idempotent:
    support: full
options:
  devices:
    description:
      - The devices, each with its manufacturer, model and serial number as the firmware reports them.
    type: list
    elements: dict
    suboptions:
      manufacturer:
        description: System manufacturer (SMBIOS), for example V(LENOVO) or V(Dell Inc.).
        type: str
        required: true
      model:
        description: System product name (SMBIOS), for example V(21CB0041US).
        type: str
        required: true
      serial_number:
        description: Serial number (SMBIOS system serial number, C(Win32_BIOS.SerialNumber)).
        type: str
        required: true
  path:
    description:
      - Identifier files in the portal's format (no header, one C(manufacturer,model,serial) per line), or folders
        holding them (C(*.csv) and C(*.txt)).
    type: list
    elements: path
  state:
    description:
      - V(present) adds the identifiers the service does not have yet; V(absent) deletes those it has.
    type: str
    choices: [present, absent]
    default: present
  strip_periods:
    description:
      - Remove periods from the values (the portal refuses them; Microsoft says to remove them). V(false) refuses a
        device whose values hold a period instead.
    type: bool
    default: true
  description:
    description:
      - Description stored with each identifier added.
    type: str
  journal:
    description:
      - With O(state=present), the campaign folder whose journal (V(<journal>/journal.jsonl)) gets one event per
        device (stage C(register); see the collection's docs/report.md) - C(Corporate identifier registered)
        (V(changed) when this run added the identifier, V(ok) when the service had it; C(detail.identity_id)) or
        C(Corporate identifier refused) (V(failed), the cause in C(detail.cause)). An event names the device's
        serial number as the journal knows it (the identifier's may have lost its periods); a device journaled
        already with the same identity gets no new event. Check mode writes nothing.
      - The campaign's deliver stage leaves these devices alone (they are not Windows Autopilot devices), and a
        later hash import (M(winfleet.autopilot.autopilot_import)) still sends them.
    type: path
  run:
    description: Identifier of this run, recorded with every journal event (with O(journal)).
    type: str
  fail_on_error:
    description:
      - Fail the task when the service refused or failed an identifier (the per-device results, and with
        O(journal) the journal events, are there either way). V(false) suits a campaign, whose failure threshold
        decides at the end. Devices refused before anything is sent (bad values) and errors of the whole task
        (sign-in, permission, connection) fail it always.
    type: bool
    default: true
notes:
  - Corporate identifiers exist only in the Graph beta API; O(api_version=v1.0) is refused.
  - The service's answer for each identifier is paired with its device by the identifier itself, never by position.
seealso:
  - module: winfleet.autopilot.corporate_identifier_info
  - module: winfleet.autopilot.registration_csv
  - name: Add Windows corporate identifiers
    description: The portal's rules for the identifier file.
    link: https://learn.microsoft.com/intune/intune-service/enrollment/corporate-identifiers-add
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Mark two laptops as corporate-owned
  winfleet.autopilot.corporate_identifier:
    devices:
      - manufacturer: LENOVO
        model: 21CB0041US
        serial_number: PF3ABCDE
      - manufacturer: Dell Inc.          # written as "Dell Inc" (periods are removed)
        model: Latitude 7440
        serial_number: 5CG1234XYZ

- name: Register what the merge wrote in the portal's identifier format
  winfleet.autopilot.corporate_identifier:
    path:
      - "{{ campaign_dir }}/corporate-identifiers"

- name: Register a campaign's identifiers and journal each device's outcome
  winfleet.autopilot.corporate_identifier:
    path:
      - "{{ campaign_dir }}/corporate-identifiers"
    journal: "{{ campaign_dir }}"
    run: "{{ campaign_run_id }}"

- name: Remove retired devices' identifiers
  winfleet.autopilot.corporate_identifier:
    devices: "{{ retired }}"
    state: absent
"""

RETURN = r"""
results:
  description: One entry per identifier, in the order given (later copies of the same identifier left out).
  returned: always
  type: list
  elements: dict
  contains:
    manufacturer:
      description: Manufacturer as sent.
      type: str
    model:
      description: Model as sent.
      type: str
    serial_number:
      description: Serial number as sent.
      type: str
    identifier:
      description: The identifier, C(manufacturer,model,serial).
      type: str
      sample: LENOVO,21CB0041US,PF3ABCDE
    source:
      description: Where the device came from (V(devices[N]) or V(file:line)).
      type: str
    id:
      description: The identity's id in Intune (null when it has none).
      type: str
    status:
      description:
        - C(Registered), C(Already registered), C(To be registered) (check mode), C(Refused by the service),
          C(Removed), C(Not registered), C(To be removed) (check mode) or C(Removal failed).
      type: str
      sample: Registered
    enrollment_state:
      description: The service's enrollment state of the identity (C(Not contacted), C(Enrolled), C(Failed) ...).
      type: str
    changed:
      description: Whether this identifier was (in check mode, would be) added or removed.
      type: bool
    failed:
      description: Whether the service refused this identifier.
      type: bool
    msg:
      description: Why it failed, in words.
      type: str
    warnings:
      description: Doubts about the values (placeholder manufacturer or model).
      type: list
      elements: str
duplicates:
  description: Later copies of an identifier already listed (left out).
  returned: always
  type: list
  elements: dict
cleaned:
  description: The distinct values whose periods were removed (C(field), C(value) as given, C(written)).
  returned: always
  type: list
  elements: dict
  sample:
    - field: manufacturer
      value: Dell Inc.
      written: Dell Inc
journal_appended:
  description: Events appended to the journal (with O(journal); in check mode, the events that would be).
  returned: always
  type: int
  sample: 12
errors:
  description: The devices refused before anything was sent (C(source), C(reason)); the task failed.
  returned: on failure
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils import _corpid, _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)

PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"


def main():
    spec = argument_spec(
        devices=dict(type="list", elements="dict", options=dict(
            manufacturer=dict(type="str", required=True), model=dict(type="str", required=True),
            serial_number=dict(type="str", required=True))),
        path=dict(type="list", elements="path"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        strip_periods=dict(type="bool", default=True),
        description=dict(type="str"),
        journal=dict(type="path"),
        run=dict(type="str"),
        fail_on_error=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[("devices", "path")],
                           mutually_exclusive=[("client_secret", "client_certificate_path")])
    p = module.params
    try:
        _corpid.check_api_version(p)
        identifiers, duplicates, cleaned = _corpid.collect(p["devices"], p["path"], p["strip_periods"])
        if not identifiers:
            raise InputError("no device given: devices is empty and the identifier files hold no line")
        if p["journal"] and p["state"] != "present":
            raise InputError("journal goes with state=present: removing identifiers journals nothing")
        client = client_from_module(module)
        try:
            results, existing = _corpid.run(client, identifiers, p["state"], module.check_mode, p["description"])
        except GraphPermissionError as exc:
            exc.msg = ("Missing permission: corporate_identifier needs the application permission %s with admin "
                       "consent. %s" % (PERMISSION, exc.msg))
            exc.details["required_permissions"] = [PERMISSION]
            raise
        result = {"changed": any(r["changed"] for r in results), "results": results, "duplicates": duplicates,
                  "cleaned": cleaned, "journal_appended": 0}
        if p["journal"]:
            current = _journal.latest(_journal.read(p["journal"]).events)
            new, warned = _journal.append(p["journal"], "register", _corpid.events(results, current), run=p["run"],
                                          check_mode=module.check_mode)
            result["journal_appended"] = len(new)
            for text in warned:
                module.warn(text)
        if module._diff:
            before = sorted(existing)
            if p["state"] == "present":
                after = sorted(set(before) | {r["identifier"] for r in results if r["changed"]})
            else:
                after = sorted(set(before) - {r["identifier"] for r in results if r["changed"]})
            result["diff"] = {"before": {"identifiers": before}, "after": {"identifiers": after}}
        failure = _corpid.failure_message(results)
        if failure and p["fail_on_error"]:
            module.fail_json(msg=failure, **result)
        if failure:
            module.warn(failure)
        module.exit_json(**result)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
