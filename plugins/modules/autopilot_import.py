#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: autopilot_import
short_description: Register devices in Windows Autopilot through Microsoft Graph
version_added: 0.1.0
description:
  - Registers Windows devices in Windows Autopilot from a registration CSV (the output of the merge step) or from a
    list, with the Graph C(importedWindowsAutopilotDeviceIdentities/import) action.
  - Devices already registered in the tenant are left alone and reported as C(Device already registered), without
    a change. The others are imported in batches, one C(importId) per batch, and the module waits for the service's
    verdict on each device.
  - Each device's outcome is reported in the words of the Microsoft Managed Desktop registration pages
    (C(Ready for user), C(Device already registered), C(Device not found), C(Hardware hash not valid),
    C(Device claimed by another organization), C(Unexpected error) with the request ID, C(Registration pending)).
  - The C(importId) is derived from the batch's content. A run that was interrupted (crash, timeout, lost response)
    is resumed by running the module again; it finds its own import records and waits for them instead of importing
    the devices twice.
  - Only import records this module created, for devices of this run, are ever deleted.
  - Needs the application permission C(DeviceManagementServiceConfig.ReadWrite.All).
extends_documentation_fragment:
  - winfleet.autopilot.graph.MODULES
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports which devices would be imported and which are already registered; sends no write request.
  diff_mode:
    support: full
    details:
      - The diff lists the registered serial numbers before and after.
  idempotent:
    support: full
    details:
      - A device registered in this tenant is C(ok), not C(changed).
options:
  path:
    description:
      - Registration CSV (ASCII, header C(Device Serial Number,Windows Product ID,Hardware Hash), optionally followed
        by C(Group Tag) and C(Assigned User)).
      - Mutually exclusive with O(devices).
    type: path
  devices:
    description:
      - Devices to register, instead of O(path).
    type: list
    elements: dict
    suboptions:
      serial_number:
        description: Serial number of the device (C(Win32_BIOS.SerialNumber)).
        type: str
        required: true
      hardware_hash:
        description: The hardware hash (C(DeviceHardwareData)), base64. Never shown in output.
        type: str
        required: true
      product_id:
        description: Windows Product ID, usually empty.
        type: str
      group_tag:
        description: Group tag (Order ID) for this device; overrides O(group_tag).
        type: str
      assigned_user:
        description: User principal name to pre-assign; overrides O(assigned_user).
        type: str
  group_tag:
    description:
      - Group tag (Order ID) for devices whose row or entry has none. Dynamic groups see it as C([OrderID]:<tag>).
    type: str
  assigned_user:
    description:
      - User principal name to pre-assign to devices whose row or entry has none.
    type: str
  purchase_order_id:
    description:
      - Purchase order ID for your own tracking. It is returned with each device's result. Graph's import has no
        purchase order field (OEMs and partners set it), so it is not stored in Intune; the module warns once.
    type: str
  batch_size:
    description:
      - Devices per import request (at most 500, the portal's limit).
    type: int
    default: 500
  wait:
    description:
      - Wait for the service to process the devices. With V(false) the module submits and returns; devices are
        C(Registration pending) (reported as changed when this run imported them, and not as failures) and a later
        run picks up where this one stopped.
      - With V(true), a device still pending when O(wait_timeout) expires is a failure.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the service's verdict (the service typically needs one to two minutes).
    type: float
    default: 1800
  poll_interval:
    description:
      - Seconds between two looks at the import records.
    type: float
    default: 15
  delete_import_records:
    description:
      - Delete this run's import records once the service has reached a verdict on them. It costs one write per
        device (batched 20 per request) under the service's write throttle (100 writes per 20 seconds per app), so
        for very large fleets you may prefer V(false).
    type: bool
    default: true
  resubmit_refused:
    description:
      - A device this module sent before with the same group tag and assigned user - by a run killed before it saw
        the answer, or an earlier run with O(delete_import_records=false) - whose import record holds a refusal a
        retry cannot change (C(Device claimed by another organization), C(Hardware hash not valid),
        C(Device not found)) gets that verdict reported again and is not imported a second time.
      - V(true) sends such devices again (after the supplier released the device or the hash was corrected).
    type: bool
    default: false
  update_existing:
    description:
      - For devices already registered, set the group tag and assigned user given here when they differ
        (C(updateDeviceProperties)); reported as changed.
    type: bool
    default: false
  fail_on_error:
    description:
      - Fail the task when a device could not be registered. The per-device results are returned either way.
    type: bool
    default: true
seealso:
  - module: winfleet.autopilot.autopilot_device_info
  - module: winfleet.autopilot.autopilot_device
  - module: winfleet.autopilot.user_licence_info
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Register the merged fleet
  winfleet.autopilot.autopilot_import:
    path: /srv/autopilot/registration.csv
    group_tag: Microsoft365Managed_Autopilot
    tenant_id: "{{ tenant_id }}"
    client_id: "{{ client_id }}"
    client_secret: "{{ client_secret }}"
  register: registration

- name: Register two devices from a list, connection options set once for the group
  module_defaults:
    group/winfleet.autopilot.graph:
      tenant_id: "{{ tenant_id }}"
      client_id: "{{ client_id }}"
      client_certificate_path: /etc/winfleet/app.pem
  winfleet.autopilot.autopilot_import:
    devices:
      - serial_number: PF3ABCDE
        hardware_hash: "{{ hashes['PF3ABCDE'] }}"
        assigned_user: alice@contoso.com
      - serial_number: 5CG1234XYZ
        hardware_hash: "{{ hashes['5CG1234XYZ'] }}"

- name: What would be imported?
  winfleet.autopilot.autopilot_import:
    path: /srv/autopilot/registration.csv
  check_mode: true
"""

RETURN = r"""
devices:
  description: One entry per device of the input (duplicates merged), in input order.
  returned: always
  type: list
  elements: dict
  contains:
    serial_number:
      description: Serial number.
      type: str
      sample: PF3ABCDE
    outcome:
      description:
        - C(Ready for user), C(Device already registered), C(Device not found), C(Hardware hash not valid),
          C(Device claimed by another organization), C(Unexpected error), C(Registration pending);
          C(Would import) in check mode.
      type: str
      sample: Ready for user
    message:
      description: What the outcome means and what to do, in the registration pages' words.
      type: str
    registered:
      description: Whether the device is registered in this tenant now.
      type: bool
    changed:
      description: Whether this run registered (or updated) the device.
      type: bool
    failed:
      description: Whether the device could not be registered.
      type: bool
    device_id:
      description: ID of the Windows Autopilot device (C(deviceRegistrationId)).
      type: str
    import_id:
      description: The C(importId) of the batch the device was sent in.
      type: str
    error_code:
      description: The service's C(deviceErrorCode) (for example 806, 808).
      type: int
    error_name:
      description: The service's C(deviceErrorName) (for example C(ZtdDeviceAssignedToOtherTenant)).
      type: str
    request_id:
      description: Graph C(request-id) of the request that submitted the device (quote it to Microsoft support).
      type: str
    group_tag:
      description: Group tag requested.
      type: str
    assigned_user:
      description: User requested.
      type: str
    purchase_order_id:
      description: Purchase order ID given (tracking only).
      type: str
    hash_errors:
      description: Problems the local decoder found in the hash (the service's verdict is what counts).
      type: list
      elements: str
    hash_warnings:
      description: Warnings from the local decoder (placeholder serials, no TPM ...).
      type: list
      elements: str
summary:
  description: Number of devices per outcome.
  returned: always
  type: dict
  sample: {"Ready for user": 480, "Device already registered": 18, "Hardware hash not valid": 2}
graph:
  description: Request statistics of this run (requests, retries, throttled responses, tokens).
  returned: always
  type: dict
  sample: {"requests": 14, "retries": 1, "throttled": 1, "token_requests": 1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    ALREADY,
    READY,
    Registrar,
    prepare,
    read_registration_csv,
    summarize,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)

PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"


def run(module):
    p = module.params
    if p["path"]:
        devices = read_registration_csv(p["path"])
    else:
        devices = p["devices"]
    entries, warnings = prepare(devices, group_tag=p["group_tag"], assigned_user=p["assigned_user"])
    for w in warnings:
        module.warn(w)
    if p["purchase_order_id"]:
        module.warn("purchase_order_id is for your own tracking: Graph's import has no purchase order field, so it "
                    "is returned with the results but not stored in Intune")
    client = client_from_module(module)
    registrar = Registrar(client, batch_size=p["batch_size"], poll_interval=p["poll_interval"], wait=p["wait"],
                          timeout=p["wait_timeout"], delete_import_records=p["delete_import_records"],
                          update_existing=p["update_existing"], resubmit_refused=p["resubmit_refused"])
    try:
        results = registrar.run(entries, check_mode=module.check_mode)
    except GraphPermissionError as exc:
        exc.msg = ("Missing permission: the app registration %s may not do this. autopilot_import needs the "
                   "application permission %s with admin consent. %s" % (p["client_id"], PERMISSION, exc.msg))
        exc.details["required_permissions"] = [PERMISSION]
        raise
    for w in registrar.warnings:
        module.warn(w)
    for res in results:
        res["purchase_order_id"] = p["purchase_order_id"]
    before = sorted(r["serial_number"] for r in results if r["outcome"] == ALREADY)
    after = sorted(r["serial_number"] for r in results if r["outcome"] in (ALREADY, READY)
                   or (module.check_mode and r["outcome"] == "Would import"))
    changed = any(r["changed"] for r in results)
    out = {"changed": changed, "devices": results, "summary": summarize(results), "graph": dict(client.stats)}
    if module._diff:
        out["diff"] = {"before": {"registered": before}, "after": {"registered": after}}
    failed = [r for r in results if r["failed"]]
    if failed and p["fail_on_error"] and not module.check_mode:
        module.fail_json(msg="%d of %d devices were not registered: %s" % (
            len(failed), len(results), ", ".join("%s (%s)" % (r["serial_number"], r["outcome"]) for r in failed[:10])
            + (" ..." if len(failed) > 10 else "")), **out)
    module.exit_json(**out)


def main():
    spec = argument_spec(
        path=dict(type="path"),
        devices=dict(type="list", elements="dict", options=dict(
            serial_number=dict(type="str", required=True),
            hardware_hash=dict(type="str", required=True, no_log=True),
            product_id=dict(type="str"),
            group_tag=dict(type="str"),
            assigned_user=dict(type="str"),
        )),
        group_tag=dict(type="str"),
        assigned_user=dict(type="str"),
        purchase_order_id=dict(type="str"),
        batch_size=dict(type="int", default=500),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=1800),
        poll_interval=dict(type="float", default=15),
        delete_import_records=dict(type="bool", default=True),
        update_existing=dict(type="bool", default=False),
        resubmit_refused=dict(type="bool", default=False),
        fail_on_error=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[("path", "devices"), ("client_secret", "client_certificate_path")],
                           required_one_of=[("path", "devices")])
    try:
        run(module)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
