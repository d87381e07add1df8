# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: register_pending
short_description: The devices of a campaign's upload files that the register stage would still send
version_added: 0.3.0
description:
  - For each campaign folder, reads its upload files (V(<folder>/upload), or O(upload)) with the merge's reader and its
    journal, on the controller, and returns the serial numbers that M(winfleet.autopilot.autopilot_import) with
    O(winfleet.autopilot.autopilot_import#module:journal) would send - the same rule, from the same code
    (C(module_utils/_register_plan.py)) - without starting a module process.
  - Not sent - devices the journal shows as registered; devices refused for a reason a retry cannot change (claimed by
    another organization, hash not valid, device not found) unless O(retry_failed); O(exclude_serials). A device a
    killed run submitted without seeing the verdict is still to send (the module looks its verdict up).
  - The C(winfleet.autopilot.register) role starts its module only when something is left or the upload files
    cannot be read (the module then says why), so a re-run with nothing new costs no module process.
  - Runs where lookups run - on the controller, as the user who runs C(ansible-playbook). Hashes are read, never
    returned.
options:
  _terms:
    description: Campaign folders.
    type: list
    elements: path
    required: true
  upload:
    description: The upload files (files, folders or globs) instead of V(<folder>/upload).
    type: list
    elements: path
  retry_failed:
    description: Devices finally refused count as still to send.
    type: bool
    default: false
  exclude_serials:
    description: Serial numbers never sent.
    type: list
    elements: str
    default: []
seealso:
  - module: winfleet.autopilot.autopilot_import
  - plugin: winfleet.autopilot.campaign_journal
    plugin_type: lookup
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Register only when something is left
  winfleet.autopilot.autopilot_import:
    path: ["{{ campaign_dir }}/upload"]
    journal: "{{ campaign_dir }}"
  when: left.problem is not none or left.serials | length > 0
  vars:
    left: "{{ query('winfleet.autopilot.register_pending', campaign_dir) | first }}"
"""

RETURN = r"""
_raw:
  description:
    - One result per folder - C(serials) (the serial numbers still to send, in file order) and C(problem) (why the
      upload files cannot be read, or null).
  type: list
  elements: dict
"""

import os

from ansible.plugins.lookup import LookupBase

from ansible_collections.winfleet.autopilot.plugins.module_utils import _register_plan


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        upload = self.get_option("upload")
        out = []
        for folder in terms:
            folder = str(folder)
            paths = list(upload) if upload else [os.path.join(folder, "upload")]
            serials, problem = _register_plan.pending(folder, paths, self.get_option("retry_failed"),
                                                      self.get_option("exclude_serials"))
            out.append({"serials": serials, "problem": problem})
        return out
