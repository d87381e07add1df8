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
  - Registers Windows devices in Windows Autopilot from upload files (the output of the merge step) or from a
    list, with the Graph C(importedWindowsAutopilotDeviceIdentities/import) action. One task registers a whole fleet.
  - Devices already registered in the tenant are left alone and reported as C(Device already registered), without
    a change. The others are imported in batches, one C(importId) per batch, and the module waits for the service's
    verdict on each device.
  - Each device's outcome is reported in the words of the Microsoft Managed Desktop registration pages
    (C(Registered), C(Device already registered), C(Device not found), C(Hardware hash not valid),
    C(Device claimed by another organization), C(Unexpected error) with the request ID, C(Registration pending)).
  - The C(importId) is derived from the batch's content. A run that was interrupted (crash, timeout, lost response)
    is resumed by running the module again; it finds its own import records and waits for them instead of importing
    the devices twice.
  - Each import record the service returns is paired with its device by serial number (trimmed, case-insensitive),
    never by its position in the answer.
  - With O(journal) (the campaign folder), the module is the campaign's register stage. It skips the devices the
    campaign journal shows as registered (or refused for a reason a retry cannot change), records
    C(Registration pending) for the devices it waits for before waiting (so a run killed meanwhile knows they are
    its own), and each device's outcome once the verdicts are in. A device a killed run of the campaign submitted and
    that is registered now is reported C(Registered).
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
      - Upload files in the Autopilot format (header C(Device Serial Number,Windows Product ID,Hardware Hash),
        optionally followed by C(Group Tag) and C(Assigned User)). Files, folders (their C(*.csv) files) and glob
        patterns. Read in any encoding the merge reads (ASCII, UTF-8, UTF-16 with or without BOM, CRLF or LF).
      - A path that matches nothing, or a file in another format, fails the task naming the file; nothing is sent.
      - Mutually exclusive with O(devices).
    type: list
    elements: path
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
  journal:
    description:
      - The campaign folder whose journal (V(<journal>/journal.jsonl)) the module reads and appends to (stage
        C(register)); see the collection's docs/report.md.
      - Devices whose latest register event is V(ok) or V(changed) are not sent again, nor (unless O(retry_failed))
        devices refused for a reason a retry cannot change.
      - Events appended, one per device, C(detail) being C(import_id), C(error_code) and C(request_id).
        C(Registration pending) (V(skipped)) for each device the module waits for, written before it waits. Then the
        outcome in the seed's words. C(Registered) is V(changed), C(Device already registered) is V(ok), a refusal
        or a device still pending after O(wait_timeout) is V(failed). A device still pending with O(wait=false) is
        V(skipped). Import records are deleted only after the outcomes are written.
    type: path
  run:
    description:
      - Identifier of this run, recorded with every journal event (with O(journal)).
    type: str
  exclude_serials:
    description:
      - Serial numbers (trimmed, case-insensitive) not to send, whatever the input and the journal say.
    type: list
    elements: str
    default: []
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
  retry_failed:
    description:
      - A device this module sent before with the same group tag and assigned user - by a run killed before it saw
        the answer, or an earlier run with O(delete_import_records=false) - whose import record holds a refusal a
        retry cannot change (C(Device claimed by another organization), C(Hardware hash not valid),
        C(Device not found)) gets that verdict reported again and is not imported a second time. With O(journal),
        devices the journal shows refused for such a reason are not sent either.
      - V(true) sends such devices again (after the supplier released the device or the hash was corrected).
      - Devices that failed for a passing reason (C(Unexpected error), still pending) are always sent again.
    type: bool
    default: false
    aliases: [resubmit_refused]
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

- name: The register stage of a campaign - every upload file, resumable, outcomes in the journal
  winfleet.autopilot.autopilot_import:
    path: "{{ campaign_dir }}/upload"
    journal: "{{ campaign_dir }}"
    run: "{{ campaign_run_id }}"
    poll_interval: 30
    fail_on_error: false
  register: registration

- name: Show how the wait went
  ansible.builtin.debug:
    msg: "{{ registration.progress }}"
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
        - C(Registered), C(Device already registered), C(Device not found), C(Hardware hash not valid),
          C(Device claimed by another organization), C(Unexpected error), C(Registration pending);
          C(Would import) in check mode.
      type: str
      sample: Registered
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
  sample: {"Registered": 480, "Device already registered": 18, "Hardware hash not valid": 2}
graph:
  description: Request statistics of this run (requests, retries, throttled responses, tokens).
  returned: always
  type: dict
  sample: {"requests": 14, "retries": 1, "throttled": 1, "token_requests": 1}
looks:
  description:
    - One entry per look at the import records while waiting. V(t) is the seconds since the wait started, then the
      number of the devices waited for that are ready, still pending and refused.
  returned: always
  type: list
  elements: dict
  sample: [{"t": 0.0, "ready": 0, "pending": 500, "failed": 0}, {"t": 15.1, "ready": 498, "pending": 0, "failed": 2}]
progress:
  description:
    - "The looks in words (C(Registration, look 2: 498 registered, 0 pending, 2 failed (of 500 submitted))) and
      a last line with the outcome counts and the devices not sent (registered or refused before, excluded)."
  returned: always
  type: list
  elements: str
skipped:
  description: Devices of the input not sent, by reason (V(registered before), V(refused before), V(excluded)).
  returned: always
  type: dict
  sample: {"registered before": 480, "refused before": 2, "excluded": 0}
sources:
  description: The upload files read (O(path)), each with its V(dialect), V(encoding) and V(rows).
  returned: always
  type: list
  elements: dict
journal_appended:
  description: Events appended to the journal (with O(journal); in check mode, the events that would be).
  returned: always
  type: int
  sample: 1000
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import ALREADY, REGISTERED
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    GraphPermissionError,
    argument_spec,
    client_from_module,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_stage import register

PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"


def run(module):
    p = module.params
    if p["purchase_order_id"]:
        module.warn("purchase_order_id is for your own tracking: Graph's import has no purchase order field, so it "
                    "is returned with the results but not stored in Intune")
    client = client_from_module(module)
    try:
        stage = register(client, paths=p["path"], devices=p["devices"], journal=p["journal"], run=p["run"],
                         exclude_serials=p["exclude_serials"], retry_failed=p["retry_failed"],
                         group_tag=p["group_tag"], assigned_user=p["assigned_user"], batch_size=p["batch_size"],
                         wait=p["wait"], wait_timeout=p["wait_timeout"], poll_interval=p["poll_interval"],
                         delete_import_records=p["delete_import_records"], update_existing=p["update_existing"],
                         check_mode=module.check_mode)
    except GraphPermissionError as exc:
        exc.msg = ("Missing permission: the app registration %s may not do this. autopilot_import needs the "
                   "application permission %s with admin consent. %s" % (p["client_id"], PERMISSION, exc.msg))
        exc.details["required_permissions"] = [PERMISSION]
        raise
    for w in stage.warnings:
        module.warn(w)
    results = stage.results
    for res in results:
        res["purchase_order_id"] = p["purchase_order_id"]
    before = sorted(r["serial_number"] for r in results if r["outcome"] == ALREADY)
    after = sorted(r["serial_number"] for r in results if r["outcome"] in (ALREADY, REGISTERED)
                   or (module.check_mode and r["outcome"] == "Would import"))
    changed = any(r["changed"] for r in results) or bool(stage.journal_events)
    out = {"changed": changed, "devices": results, "summary": stage.summary, "graph": dict(client.stats),
           "looks": stage.looks, "progress": stage.progress(), "skipped": stage.skipped, "sources": stage.sources,
           "journal_appended": len(stage.journal_events)}
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
        path=dict(type="list", elements="path"),
        devices=dict(type="list", elements="dict", options=dict(
            serial_number=dict(type="str", required=True),
            hardware_hash=dict(type="str", required=True, no_log=True),
            product_id=dict(type="str"),
            group_tag=dict(type="str"),
            assigned_user=dict(type="str"),
        )),
        journal=dict(type="path"),
        run=dict(type="str"),
        exclude_serials=dict(type="list", elements="str", default=[]),
        group_tag=dict(type="str"),
        assigned_user=dict(type="str"),
        purchase_order_id=dict(type="str"),
        batch_size=dict(type="int", default=500),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=1800),
        poll_interval=dict(type="float", default=15),
        delete_import_records=dict(type="bool", default=True),
        update_existing=dict(type="bool", default=False),
        retry_failed=dict(type="bool", default=False, aliases=["resubmit_refused"]),
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
