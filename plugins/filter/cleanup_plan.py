# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cleanup_plan
short_description: Attribute the records found in each service to the devices being cleaned
version_added: 0.1.0
description:
  - Given the devices of a campaign and the records the C(_info) modules found for them in Intune, Windows Autopilot,
    Microsoft Entra ID, AD DS and Configuration Manager, decides which record belongs to which device, in the order
    the services require (Intune, Autopilot, Entra, AD DS, Configuration Manager).
  - A record belongs to a device when its serial number is the device's (case-insensitive), or, for a record that
    carries no serial number (most AD computer objects, hybrid-joined Entra objects), when its name is the device's
    computer name. A record whose name is the device's but whose serial number is another device's is a conflict
    and is never planned for deletion. A record claimed by two devices is a conflict too.
  - Used by the C(winfleet.autopilot.cleanup) role; the deletion modules check the serial number again before they
    delete anything. The same file provides C(cleanup_selection), C(cleanup_review), C(cleanup_step) and
    C(cleanup_events) (the role's other steps); the logic is in the collection's C(module_utils/_cleanup_stage.py).
author:
  - Winfleet Autopilot Maintainers (@winfleet)
options:
  _input:
    description: The devices, each a dict with C(serial) and optionally C(name) (the computer name).
    type: list
    elements: dict
    required: true
  intune:
    description: Intune managed devices found (C(intune_device_info) C(devices)).
    type: list
    elements: dict
  autopilot:
    description: Windows Autopilot devices found (C(autopilot_device_info) C(devices), entries with C(found=false) are ignored).
    type: list
    elements: dict
  entra:
    description: Microsoft Entra device objects found (C(entra_device_info) C(devices)).
    type: list
    elements: dict
  ad:
    description: AD DS computer objects found (C(ad_computer_info) C(computers)).
    type: list
    elements: dict
  configmgr:
    description: Configuration Manager devices found (C(configmgr_device_info) C(devices)).
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Plan the clean-up
  ansible.builtin.set_fact:
    plan: >-
      {{ devices | winfleet.autopilot.cleanup_plan(intune=intune_records, autopilot=autopilot_records,
         entra=entra_records, ad=ad_records, configmgr=configmgr_records) }}
"""

RETURN = r"""
_value:
  description: One entry per device, in the order given.
  type: list
  elements: dict
  contains:
    serial:
      description: The device's serial number.
      type: str
    name:
      description: The device's computer name (empty when unknown).
      type: str
    records:
      description:
        - The records to delete, in deletion order; each has C(service), C(id), C(name), C(serial_number) and C(via).
        - C(via=autopilot) marks an Entra object that still belongs to a Windows Autopilot identity; the service
          removes it together with that identity, so it is not deleted on its own.
      type: list
      elements: dict
    conflicts:
      description: Records that look related but belong to another device (never deleted), with C(reason).
      type: list
      elements: dict
"""

from ansible_collections.winfleet.autopilot.plugins.module_utils import _cleanup_stage as stage


def cleanup_plan(devices, intune=None, autopilot=None, entra=None, ad=None, configmgr=None):
    return stage.plan(devices, intune=intune, autopilot=autopilot, entra=entra, ad=ad, configmgr=configmgr)


def cleanup_selection(journal, devices=None, force=False):
    return stage.selection(journal, devices, force)


def cleanup_review(plan, max_deletions=None):
    return stage.review(plan, max_deletions)


def cleanup_step(plan, service, done=None):
    if service not in stage.SERVICES:
        from ansible.errors import AnsibleFilterError

        raise AnsibleFilterError("cleanup_step: service must be one of %s, got %r"
                                 % (", ".join(stage.SERVICES), service))
    return stage.step(plan, service, done)


def cleanup_events(plan, done=None, dry_run=False, status=None):
    return stage.events(plan, done, dry_run, status)


class FilterModule:
    """The clean-up stage's logic lives in module_utils/_cleanup_stage.py; these filters only expose it."""

    def filters(self):
        return {"cleanup_plan": cleanup_plan, "cleanup_selection": cleanup_selection, "cleanup_review": cleanup_review,
                "cleanup_step": cleanup_step, "cleanup_events": cleanup_events}
