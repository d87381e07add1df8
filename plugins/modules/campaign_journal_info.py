#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: campaign_journal_info
short_description: Read the campaign journal - the latest event of every device and stage
version_added: 0.1.0
description:
  - Reads V(<path>/journal.jsonl) written by M(winfleet.autopilot.campaign_journal) and reduces it to the latest
    event of each serial number and stage, so a play can skip devices a stage has already done or re-try only the
    ones that failed.
  - A missing journal is an empty campaign. A line that is not a valid event (for example the last line of a
    journal whose writer crashed mid-write) is skipped with a warning.
author:
  - Winfleet Autopilot Maintainers (@winfleet)
extends_documentation_fragment:
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.INFO_MODULE
options:
  path:
    description: The campaign folder on the controller; the journal is V(<path>/journal.jsonl).
    type: path
    required: true
notes:
  - "Runs on the controller: use C(delegate_to: localhost) or a C(hosts: localhost) play."
seealso:
  - module: winfleet.autopilot.campaign_journal
  - module: winfleet.autopilot.campaign_report
"""

EXAMPLES = r"""
- name: Read the campaign journal
  winfleet.autopilot.campaign_journal_info:
    path: "{{ campaign_dir }}"
  delegate_to: localhost
  run_once: true
  register: journal

- name: Collect only from the hosts whose hash is not in the journal yet
  ansible.builtin.meta: end_host
  when: autopilot_serial | default('') in journal.done.collect

- name: Show the devices whose registration failed
  ansible.builtin.debug:
    msg: "{{ journal.failures.register | map('extract', journal.devices) | map(attribute='register.status') }}"
"""

RETURN = r"""
devices:
  description: Serial number -> stage -> the latest event of that device at that stage.
  returned: always
  type: dict
  sample:
    PF3XK2L9:
      collect:
        serial: PF3XK2L9
        stage: collect
        outcome: ok
        status: Hash collected
        detail: {source: winrm, host: pc-0042, findings: [], manufacturer: LENOVO, model: 21CB0041US}
        run: "2026-11-21T10:00:00Z"
        ts: "2026-11-21T10:00:07Z"
done:
  description: Stage -> sorted serial numbers whose latest outcome at that stage is V(ok) or V(changed). Every
    stage is present, possibly with an empty list.
  returned: always
  type: dict
  sample: {collect: [PF3XK2L9, PF3XK2M0], merge: [PF3XK2L9], cleanup: [], register: [], deliver: []}
failures:
  description:
    - Stage -> sorted serial numbers whose latest outcome at that stage is V(failed). Every stage is present,
      possibly with an empty list.
    - Not called C(failed), which Ansible reserves for the task's own failure.
  returned: always
  type: dict
  sample: {collect: [], merge: [PF3XK2M0], cleanup: [], register: [], deliver: []}
runs:
  description: The run identifiers seen in the journal, in the order they first appear.
  returned: always
  type: list
  elements: str
  sample: ["2026-11-21T10:00:00Z", "2026-11-22T08:30:00Z"]
events:
  description: Number of valid events in the journal.
  returned: always
  type: int
  sample: 214
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True)), supports_check_mode=True)
    try:
        summary, warnings = _journal.info(module.params["path"])
        for warning in warnings:
            module.warn(warning)
        module.exit_json(changed=False, **summary)
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
