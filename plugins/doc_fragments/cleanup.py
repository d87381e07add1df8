# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options shared by the deleting cleanup modules (intune_device, entra_device, ad_computer, configmgr_device):
    # the serial-number guard, the state and the fleet (list) form.
    DOCUMENTATION = r"""
options:
  serial_numbers:
    description:
      - The list form of O(serial_number) alone - a whole fleet in one task. Each value selects the records carrying
        that serial number, exactly as O(serial_number) alone does.
      - Every value is checked before anything is read (an empty or wildcard value refuses the whole task); an
        empty list deletes nothing.
      - Mutually exclusive with the single-record selectors.
    type: list
    elements: str
  require_serial_match:
    description:
      - With the O(serial_number) guard, whether a matched record without any serial number fails the guard.
      - V(false) accepts records without a serial number; a record whose serial number differs always fails.
      - In the list forms it applies to every entry (an entry of the records list may set its own).
    type: bool
    default: true
  state:
    description:
      - Only V(absent). The service creates these records itself.
    type: str
    choices: [absent]
    default: absent
notes:
  - "List forms: the records of every entry are looked up and deleted in one task (Microsoft Graph: C($batch)
    requests of 20; LDAP: one connection; ConfigMgr: one session). Each entry is judged on its own: a refused guard
    or a refused deletion fails that entry (C(failed) and C(msg) in its RV(results) entry) and the others go on; the task
    then fails once, naming every failed entry, with RV(removed) and RV(results) still returned."
  - A record that is already gone is not an error (nothing to do, or gone meanwhile); a second run reports no change.
"""
