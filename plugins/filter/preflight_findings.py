# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: preflight_findings
short_description: Every pre-flight finding in one list - the tenant's, WinRM's, AD DS's and ConfigMgr's
version_added: 0.3.0
description:
  - Takes the result of M(winfleet.autopilot.preflight_info) and the results of the read-only look-ups
    C(playbooks/preflight.yml) runs with the existing modules - M(winfleet.autopilot.fleet_hardware_hash_info) on a
    sample of hosts, M(winfleet.autopilot.ad_computer_info), M(winfleet.autopilot.configmgr_device_info) - and
    returns the findings (C(severity), C(check), C(message), C(fix)), errors first, with their count and one line
    each.
  - Every sampled host unreadable, or more than O(max_unreadable_percentage) of them, is an error (credentials or
    network); fewer is a warning per host. A failed AD DS or ConfigMgr look-up is an error.
  - The same file provides C(preflight_sample), a sample of hosts spread over the fleet. The logic is in the
    collection's C(module_utils/_preflight.py).
options:
  _input:
    description: The result of M(winfleet.autopilot.preflight_info).
    type: dict
    required: true
  winrm:
    description: The result of M(winfleet.autopilot.fleet_hardware_hash_info) on the sample.
    type: dict
  ad:
    description: The result of M(winfleet.autopilot.ad_computer_info).
    type: dict
  configmgr:
    description: The result of M(winfleet.autopilot.configmgr_device_info).
    type: dict
  max_unreadable_percentage:
    description: Share of unreadable sampled hosts (percent) above which WinRM is an error.
    type: float
    default: 100
  cleanup:
    description: Whether the clean-up stage is on.
    type: bool
    default: false
  ldap_configured:
    description: Whether an AD DS connection is set.
    type: bool
    default: true
author:
  - Winfleet Autopilot Maintainers (@winfleet)
"""

EXAMPLES = r"""
- name: All findings
  ansible.builtin.set_fact:
    preflight: "{{ tenant | winfleet.autopilot.preflight_findings(winrm=winrm_sample, ad=ad_lookup) }}"
"""

RETURN = r"""
_value:
  description: C({findings, errors, warnings, lines}).
  type: dict
"""

from ansible_collections.winfleet.autopilot.plugins.module_utils import _preflight


def preflight_findings(tenant, winrm=None, ad=None, configmgr=None, max_unreadable_percentage=100, cleanup=False,
                       ldap_configured=True):
    findings = _preflight.combine(tenant, winrm, ad, configmgr, max_unreadable_percentage, cleanup, ldap_configured)
    return dict(_preflight.summary(findings), findings=findings)


def preflight_sample(hosts, size=5):
    return _preflight.sample(hosts, size)


class FilterModule:
    def filters(self):
        return {"preflight_findings": preflight_findings, "preflight_sample": preflight_sample}
