# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: decode_hardware_hash
short_description: Decode and validate a Windows Autopilot hardware hash
version_added: 0.1.0
description:
  - Decodes the base64 C(DeviceHardwareData) blob (the "4K hash") and checks its structure, its SHA-256 checksum
    trailer and the TPM EkPubHash, then reports the device facts inside it.
  - Never fails on bad input. An unusable hash comes back with RV(_value.valid=false) and the reasons in
    RV(_value.errors); things worth a look (virtual machine, no TPM 2.0, placeholder SMBIOS values, stale capture,
    columns that disagree with the hash) are in RV(_value.warnings).
  - The hash itself is not part of the result.
author:
  - Winfleet Autopilot Maintainers (@winfleet)
options:
  _input:
    description: The hardware hash (base64 text). Whitespace, quotes, BOMs, NULs and missing padding are tolerated.
    type: raw
    required: true
  serial_number:
    description: The serial number a file claims for this device; a different serial inside the hash is a warning.
    type: str
  manufacturer:
    description: The manufacturer a partner file claims; compared with the hash.
    type: str
  model:
    description: The model a partner file claims; compared with the hash.
    type: str
  product_key_id:
    description: The Windows Product ID (PKID) a file claims; compared with the hash.
    type: str
  stale_days:
    description: Warn when the hash was captured more than this many days ago; V(0) turns the check off.
    type: int
    default: 365
"""

EXAMPLES = r"""
- name: Check a hash before registering it
  ansible.builtin.assert:
    that: (device_hash | winfleet.autopilot.decode_hardware_hash(serial_number=device_serial)).valid
    fail_msg: "{{ (device_hash | winfleet.autopilot.decode_hardware_hash).errors | join('; ') }}"

- name: Show what is inside a hash
  ansible.builtin.debug:
    msg: "{{ device_hash | winfleet.autopilot.decode_hardware_hash }}"
"""

RETURN = r"""
_value:
  description: What the hash holds and what is wrong with it.
  type: dict
  contains:
    valid:
      description: V(true) when the hash is usable (no errors).
      type: bool
    errors:
      description: Why the hash is unusable (bad base64, truncated, checksum mismatch, no serial inside, ...).
      type: list
      elements: str
    warnings:
      description: Findings that do not make the hash unusable.
      type: list
      elements: str
    serial_number:
      description: SMBIOS system serial number.
      type: str
    manufacturer:
      description: SMBIOS system manufacturer.
      type: str
    model:
      description: SMBIOS system product name.
      type: str
    family:
      description: SMBIOS system family.
      type: str
    uuid:
      description: SMBIOS UUID, rendered as Win32_ComputerSystemProduct.UUID shows it.
      type: str
    tpm_version:
      description: TPM specification version, for example V(2.0); null without a TPM.
      type: str
    ek_pub_hash:
      description: SHA-256 of the TPM endorsement key (hex).
      type: str
    product_key_id:
      description: The OA3 product key ID (PKID) when the firmware has one.
      type: str
    os_build:
      description: Windows build the hash was captured on, for example V(10.0.22631.4460).
      type: str
    captured_at:
      description: When the hash was captured (ISO 8601, UTC).
      type: str
    mac_addresses:
      description: Permanent MAC addresses of the network adapters.
      type: list
      elements: str
    disk_serials:
      description: Serial numbers of the disks.
      type: list
      elements: str
    is_virtual_machine:
      description: V(true) when the hash looks like a virtual machine's.
      type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.winfleet.autopilot.plugins.module_utils._hwhash import DEFAULT_STALE_DAYS, decode


def decode_hardware_hash(value, serial_number=None, manufacturer=None, model=None, product_key_id=None,
                         stale_days=DEFAULT_STALE_DAYS):
    try:
        stale_days = int(stale_days)
    except (TypeError, ValueError):
        raise AnsibleFilterError("decode_hardware_hash: stale_days must be a number, got %r" % (stale_days,))
    if value is not None and not isinstance(value, (str, bytes)):
        value = str(value)
    report = decode(value, serial_number=serial_number, manufacturer=manufacturer, model=model,
                    product_key_id=product_key_id, stale_days=stale_days)
    return report.as_dict()


class FilterModule:
    def filters(self):
        return {"decode_hardware_hash": decode_hardware_hash}
