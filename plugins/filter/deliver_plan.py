# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: deliver_changes
short_description: The group tags and assigned users the registered devices must get
version_added: 0.2.0
description:
  - Given the registered devices (M(winfleet.autopilot.autopilot_device_info) C(devices)), returns the entries of one
    M(winfleet.autopilot.autopilot_device) task (its C(devices) option) - one per device whose group tag differs from
    O(group_tag) or whose assigned user differs from the one O(assigned_users) names (by serial number, or by the
    inventory host the journal's collect event recorded).
  - The same file provides C(deliver_events), the deliver stage's journal events. The logic is in the collection's
    C(module_utils/_deliver_stage.py).
options:
  _input:
    description: The registered devices.
    type: list
    elements: dict
    required: true
  journal:
    description: The result of M(winfleet.autopilot.campaign_journal_info).
    type: dict
  serials:
    description: The serial numbers registered, as journaled.
    type: list
    elements: str
  group_tag:
    description: The group tag every device must carry (empty leaves tags alone).
    type: str
  assigned_users:
    description: User principal names by serial number or inventory host name.
    type: dict
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Set the group tag and the assigned user, in one task
  winfleet.autopilot.autopilot_device:
    devices: "{{ before.devices | winfleet.autopilot.deliver_changes(journal=journal, serials=serials,
      group_tag='FLEET-A', assigned_users={'PF3ABCDE': 'alice@contoso.com'}) }}"
"""

RETURN = r"""
_value:
  description: C({serial_number, group_tag?, assigned_user?}) per device to change.
  type: list
  elements: dict
"""

from ansible_collections.winfleet.autopilot.plugins.module_utils import _deliver_stage as stage


def deliver_changes(devices, journal=None, serials=None, group_tag="", assigned_users=None):
    return stage.changes(devices, journal, serials, group_tag, assigned_users)


def deliver_events(devices, journal=None, serials=None, assigned_users=None, licences=None, update=None):
    return stage.events(devices, journal, serials, assigned_users, licences, update)


class FilterModule:
    def filters(self):
        return {"deliver_changes": deliver_changes, "deliver_events": deliver_events}
