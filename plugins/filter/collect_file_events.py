# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: collect_file_events
short_description: The collect stage's journal events for the devices found in hash files
version_added: 0.2.0
description:
  - Given the devices M(winfleet.autopilot.registration_csv) read from the campaign's hash files (its C(devices)),
    returns one C(campaign_journal) event per device - C(changed) / C(Hash collected) with the file it came from -
    except the devices a WinRM read already recorded (a file copy of a device does not take the place of its read).
  - The logic is in the collection's C(module_utils/_collect_stage.py).
options:
  _input:
    description: The devices read from the files.
    type: list
    elements: dict
    required: true
  journal:
    description: The result of M(winfleet.autopilot.campaign_journal_info).
    type: dict
  files_dir:
    description: The folder of the hash files (C(<campaign>/collected/files)); the event's source is relative to it.
    type: str
    required: true
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: Record the devices found in the files
  winfleet.autopilot.campaign_journal:
    path: "{{ campaign_dir }}"
    stage: collect
    events: "{{ files.devices | winfleet.autopilot.collect_file_events(journal=journal, files_dir=campaign_dir ~ '/collected/files') }}"
"""

RETURN = r"""
_value:
  description: The events (C(serial), C(outcome), C(status), C(detail)).
  type: list
  elements: dict
"""

from ansible_collections.winfleet.autopilot.plugins.module_utils._collect_stage import file_events


def collect_file_events(devices, journal=None, files_dir=""):
    return file_events(devices, (journal or {}).get("devices"), files_dir)


class FilterModule:
    def filters(self):
        return {"collect_file_events": collect_file_events}
