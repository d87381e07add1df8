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
    delete anything.
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

SERVICES = ("intune", "autopilot", "entra", "ad", "configmgr")


def _norm(value):
    return str(value).strip().upper() if value not in (None, "") else ""


def _summary(service, rec):
    out = {"service": service, "id": str(rec.get("id") or ""), "name": rec.get("name") or rec.get("device_name") or
           rec.get("display_name") or "", "serial_number": rec.get("serial_number") or None, "via": None}
    if service == "entra" and rec.get("autopilot_id"):
        # An Entra-joined object created by Autopilot registration goes with its Autopilot identity.
        out["via"] = "autopilot"
    if service == "entra":
        out["join_type"] = rec.get("join_type")
    return out


def cleanup_plan(devices, intune=None, autopilot=None, entra=None, ad=None, configmgr=None):
    found = {"intune": intune or [], "autopilot": [r for r in (autopilot or []) if r.get("found", True) and r.get("id")],
             "entra": entra or [], "ad": ad or [], "configmgr": configmgr or []}
    plan = []
    by_serial, by_name = {}, {}
    for dev in devices or []:
        entry = {"serial": str(dev.get("serial") or "").strip(), "name": str(dev.get("name") or "").strip(),
                 "records": [], "conflicts": []}
        plan.append(entry)
        if entry["serial"]:
            by_serial.setdefault(_norm(entry["serial"]), []).append(entry)
        if entry["name"]:
            by_name.setdefault(_norm(entry["name"]), []).append(entry)
    for service in SERVICES:
        seen = set()
        for rec in found[service]:
            summary = _summary(service, rec)
            key = (service, summary["id"])
            if not summary["id"] or key in seen:
                continue
            seen.add(key)
            serial, name = _norm(summary["serial_number"]), _norm(summary["name"])
            if serial:
                owners = by_serial.get(serial, [])
                for other in by_name.get(name, []) if name else []:
                    if other not in owners:
                        other["conflicts"].append(dict(summary, reason="the record has the device's name but the "
                                                       "serial number %s" % summary["serial_number"]))
            else:
                owners = by_name.get(name, []) if name else []
            if len(owners) > 1:
                for owner in owners:
                    owner["conflicts"].append(dict(summary, reason="the record matches %d devices of the campaign"
                                                   % len(owners)))
            elif owners:
                owners[0]["records"].append(summary)
    return plan


class FilterModule:
    def filters(self):
        return {"cleanup_plan": cleanup_plan}
