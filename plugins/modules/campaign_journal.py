#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: campaign_journal
short_description: Record what a campaign stage did to each device in the campaign journal
version_added: 0.1.0
description:
  - Appends one event per device to V(<path>/journal.jsonl), the append-only journal of a campaign, one JSON
    object per line (C(detail), C(outcome), C(run), C(serial), C(stage), C(status), C(ts); keys sorted).
  - Only events whose outcome, status or detail differ from the latest event of the same serial number and
    stage are appended, so calling it again with the same events reports no change.
  - Safe when several forks or playbook runs append at the same time (an exclusive C(flock) on the journal
    covers the read that decides what is new and the write). Lines already written are never rewritten; a
    last line cut short by a crash is skipped with a warning and the next event starts on a new line.
  - Hardware hashes never go into the journal. Keys named like a hash (C(hardware_hash), C(hardwareIdentifier),
    C(DeviceHardwareData)) are dropped from O(events[].detail) and long base64 runs are cut, with a warning.
  - The campaign folder is created (mode C(0700)) when missing; the journal is created with mode C(0600).
author:
  - Winfleet Autopilot Maintainers (@winfleet)
extends_documentation_fragment:
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Writes nothing and returns the events that would be appended.
  diff_mode:
    support: full
    details:
      - The diff shows the journal lines appended (or that would be appended).
  idempotent:
    support: full
options:
  path:
    description:
      - The campaign folder on the controller, for example V(campaigns/<fleet>/<campaign>). The journal is
        V(<path>/journal.jsonl).
    type: path
    required: true
  stage:
    description: The campaign stage the events belong to.
    type: str
    required: true
    choices: [collect, merge, cleanup, register, deliver]
  events:
    description:
      - One entry per device.
    type: list
    elements: dict
    required: true
    suboptions:
      serial:
        description: Device serial number (compared exactly, after trimming white space).
        type: str
        required: true
      outcome:
        description: What the stage did for this device.
        type: str
        required: true
        choices: [ok, changed, failed, skipped]
      status:
        description:
          - A few words the report shows. For O(stage=register) the words of the Microsoft Managed Desktop
            pages (C(Registered), C(Device already registered), C(Device claimed by another organization),
            C(Hardware hash not valid), C(Registration pending) ...); for a failure, the cause.
        type: str
        default: ''
      detail:
        description:
          - Stage-specific facts (see the collection's docs/report.md), never a hardware hash.
        type: dict
        default: {}
  run:
    description:
      - An identifier of this run (for example the start time of the playbook), recorded with every event and
        listed by M(winfleet.autopilot.campaign_journal_info).
    type: str
notes:
  - "Runs on the controller: use C(delegate_to: localhost) (with C(run_once: true) and the events of all hosts) or a
    C(hosts: localhost) play."
seealso:
  - module: winfleet.autopilot.campaign_journal_info
  - module: winfleet.autopilot.campaign_report
"""

EXAMPLES = r"""
- name: Journal what the collector found on every host
  winfleet.autopilot.campaign_journal:
    path: "{{ campaign_dir }}"
    stage: collect
    run: "{{ campaign_run }}"
    events: >-
      {{ ansible_play_hosts_all | map('extract', hostvars, 'journal_event') | select('defined') | list }}
  delegate_to: localhost
  run_once: true

- name: Journal the registration outcome of one device
  winfleet.autopilot.campaign_journal:
    path: campaigns/fleet-a/2026-11
    stage: register
    events:
      - serial: PF3XK2L9
        outcome: failed
        status: Device claimed by another organization
        detail:
          import_id: winfleet-3f2a
          error_code: 808
          request_id: 7d1c0c5e-6f4a-4d0e-9d5b-0f1c2b3a4d5e
  delegate_to: localhost
"""

RETURN = r"""
appended:
  description: Number of events appended (or that would be appended in check mode).
  returned: always
  type: int
  sample: 3
events:
  description: The events appended (or that would be appended in check mode), as written to the journal.
  returned: always
  type: list
  elements: dict
  sample:
    - serial: PF3XK2L9
      stage: register
      outcome: changed
      status: Registered
      detail: {import_id: winfleet-3f2a}
      run: "2026-11-21T10:00:00Z"
      ts: "2026-11-21T10:04:12Z"
journal:
  description: Path of the journal file.
  returned: always
  type: str
  sample: campaigns/fleet-a/2026-11/journal.jsonl
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        stage=dict(type="str", required=True, choices=list(_journal.STAGES)),
        events=dict(type="list", elements="dict", required=True, options=dict(
            serial=dict(type="str", required=True),
            outcome=dict(type="str", required=True, choices=list(_journal.OUTCOMES)),
            status=dict(type="str", default=""),
            detail=dict(type="dict", default={}),
        )),
        run=dict(type="str"),
    )


def run(module):
    params = module.params
    new, warnings = _journal.append(params["path"], params["stage"], params["events"], run=params["run"],
                                    check_mode=module.check_mode)
    for warning in warnings:
        module.warn(warning)
    journal = _journal.journal_path(params["path"])
    out = dict(changed=bool(new), appended=len(new), events=new, journal=journal)
    if module._diff:
        out["diff"] = dict(before_header=journal, after_header=journal, before="",
                           after="".join(_journal.encode(event).decode("utf-8") for event in new))
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
