# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: campaign_journal
short_description: Read a campaign journal on the controller
version_added: 0.2.0
description:
  - Reads the journal of each campaign folder given (V(<folder>/journal.jsonl)) on the controller and returns what
    M(winfleet.autopilot.campaign_journal_info) returns - the latest event of every device at every stage, the
    devices done at each stage, counts - without starting a module process (the campaign's roles read the journal
    this way between their bulk tasks).
  - A missing journal reads as empty. Damaged lines are skipped with a warning, as the module does.
  - Runs where lookups run - on the controller, as the user who runs C(ansible-playbook). Use the module to read a
    journal on another host or as another user (C(become)).
options:
  _terms:
    description: Campaign folders.
    type: list
    elements: path
    required: true
seealso:
  - module: winfleet.autopilot.campaign_journal_info
  - module: winfleet.autopilot.campaign_journal
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Which devices are registered?
  ansible.builtin.debug:
    msg: "{{ (query('winfleet.autopilot.campaign_journal', campaign_dir) | first).done.register }}"
"""

RETURN = r"""
_raw:
  description:
    - One summary per folder - C(devices) (serial number -> stage -> latest event), C(done) (stage -> serial numbers
      whose latest event there is C(ok) or C(changed)), C(failed), C(counts) and C(events) (the number of events
      read), as M(winfleet.autopilot.campaign_journal_info) returns them.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError

display = Display()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        out = []
        for folder in terms:
            try:
                summary, warnings = _journal.info(str(folder))
            except WinfleetError as exc:
                raise AnsibleLookupError(exc.msg)
            for warning in warnings:
                display.warning(warning)
            out.append(summary)
        return out
