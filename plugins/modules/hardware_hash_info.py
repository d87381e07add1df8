#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: hardware_hash_info
short_description: Read a Windows device's Autopilot hardware hash over WinRM (WS-Management)
version_added: 0.1.0
description:
  - Reads the device record Windows Autopilot needs (serial number, manufacturer, model and the hardware hash)
    from a Windows PC, the way C(Get-WindowsAutopilotInfo) does, but from the Ansible controller and for the
    whole fleet at once.
  - Runs against the Windows hosts of the play (the play's C(hosts) is the Windows group) and uses each host's standard WinRM connection
    variables (C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password), C(ansible_winrm_transport),
    C(ansible_winrm_scheme), C(ansible_winrm_server_cert_validation), C(ansible_winrm_ca_trust_path),
    C(ansible_winrm_connection_timeout), C(ansible_winrm_operation_timeout_sec), C(ansible_winrm_read_timeout_sec)),
    so an existing Windows inventory works unchanged.
  - Reads WMI with WS-Management Enumerate requests (C(Win32_OperatingSystem), C(Win32_BIOS), C(Win32_ComputerSystem),
    C(Win32_ComputerSystemProduct) and C(MDM_DevDetail_Ext01) in C(root/cimv2/mdm/dmmap)). No PowerShell runs on the
    device and no file is copied to it.
  - Decodes the hash and reports findings (structure, checksum, serial/make/model agreement, virtual machine, TPM).
  - Each failure has its own message and a machine-readable RV(error) (V(unreachable), V(timed_out),
    V(bad_credentials), V(not_administrator), V(windows_too_old), V(hash_empty), V(wmi_provider_error),
    V(connection_dropped), V(certificate); with Kerberos V(ntlm_refused), V(clock_skew), V(unknown_service_principal),
    V(kdc_unreachable), V(wrong_realm), V(password_expired)).
  - Optionally writes the per-device CSV into a folder on the controller (what the flash-drive method produces) and
    shuts the device down afterwards.
author:
  - Winfleet Autopilot Maintainers (@winfleet)
extends_documentation_fragment:
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.CONTROLLER
attributes:
  check_mode:
    support: full
    details:
      - The device is read in check mode too (reading changes nothing); the CSV file is not written, nothing is
        appended to the journal and the device is not shut down, but C(changed) says whether they would be.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Reading and writing an unchanged CSV report no change. O(shutdown=true) always reports a change.
options:
  include_hash:
    description:
      - Return the hardware hash in RV(record.hardware_hash).
      - When V(true), the task result is marked C(no_log) by the plugin so the hash never appears in displayed output
        or logs, at any verbosity; the registered variable still holds it (that is what the merge and register steps
        consume).
      - Set V(false) to see the record and the decoded summary in the output (for example with C(-v)).
    type: bool
    default: true
  group_tag:
    description: Group tag to put in RV(record.group_tag) and in the CSV (Autopilot's C(Group Tag) column).
    type: str
    default: ''
  assigned_user:
    description: User principal name to put in RV(record.assigned_user) and in the CSV (C(Assigned User) column).
    type: str
    default: ''
  csv_dir:
    description:
      - A folder on the controller. When set, the device's CSV is written there as C(<serial number>.csv), with the
        C(Get-WindowsAutopilotInfo) header (C(Device Serial Number,Windows Product ID,Hardware Hash), plus
        C(Group Tag) and C(Assigned User) when given), CRLF line ends and no quotes.
      - The file is replaced atomically, and only when its content changes.
    type: path
  csv_encoding:
    description:
      - V(ascii) is what the Intune import accepts as is.
      - V(utf-16) is byte-for-byte what Windows PowerShell 5.1 C(Out-File) writes on the flash drive (UTF-16LE with BOM).
    type: str
    choices: [ascii, utf-16]
    default: ascii
  read_retries:
    description:
      - How many times to read the device again, over a new connection, when it dropped the connection in the middle
        of an answer (a network hiccup). Every read is a WMI query, so reading again changes nothing on the device.
      - Each retry is named in the task's warnings; the result's RV(attempts) says how many reads it took.
    type: int
    default: 2
  journal:
    version_added: 0.2.0
    description:
      - The campaign folder whose C(journal.jsonl) records the host's outcome (stage C(collect)), with the same events
        M(winfleet.autopilot.fleet_hardware_hash_info) records.
      - A host the journal shows as collected is skipped (unless O(recollect)); a host read after an earlier failure
        has that failure marked as skipped (C(Collected as <serial>)).
    type: path
  run:
    version_added: 0.2.0
    description: Identifier of this run, recorded with the journal events.
    type: str
  recollect:
    version_added: 0.2.0
    description: Read the host again even when the journal shows it as collected.
    type: bool
    default: false
  shutdown:
    description:
      - Shut the device down after it was read (C(shutdown /s /t 0) in a WinRS cmd shell).
      - Windows often drops the connection before it answers; that counts as success (RV(shutdown.connection_dropped)).
    type: bool
    default: false
notes:
  - Runs on the controller (action plugin) and needs C(pywinrm) there; the host's connection plugin is not used,
    so the play may keep C(ansible_connection=winrm).
  - Transports are those of pywinrm, plus V(negotiate). Over HTTP use V(ntlm) (or V(kerberos), V(negotiate) or
    V(credssp)), which encrypt the messages; V(basic) needs HTTPS unless the device allows unencrypted traffic.
  - V(kerberos) and V(negotiate) need the C(gssapi) and C(krb5) Python bindings (C(pyspnego[kerberos])) and a
    C(krb5.conf) for the domain; the ticket comes from the password (obtained once per process), the ticket cache
    (E(KRB5CCNAME)) or a keytab (E(KRB5_CLIENT_KTNAME)), for C(HTTP/<ansible_winrm_kerberos_hostname_override or
    ansible_host>). A device refusing NTLM fails with RV(error=ntlm_refused) and the hint to use Kerberos.
  - The account must be an administrator of the device. A local account is filtered by UAC remote restrictions unless
    C(LocalAccountTokenFilterPolicy) is set to 1; the error message says so.
  - For a whole fleet use M(winfleet.autopilot.fleet_hardware_hash_info), which reads many devices in one task with
    the same records and errors; this module runs one task per host (for ad-hoc use, and for O(shutdown)).
seealso:
  - module: winfleet.autopilot.fleet_hardware_hash_info
  - name: Get-WindowsAutopilotInfo
    description: The PowerShell script that reads the same classes on the device itself.
    link: https://www.powershellgallery.com/packages/Get-WindowsAutopilotInfo
  - name: MDM_DevDetail_Ext01 class
    description: The WMI class that holds the hardware hash.
    link: https://learn.microsoft.com/windows/win32/dmwmibridgeprov/mdm-devdetail-ext01
"""

EXAMPLES = r"""
- name: Collect the hardware hashes of the Windows fleet
  hosts: windows
  gather_facts: false
  tasks:
    - name: Read the device record
      winfleet.autopilot.hardware_hash_info:
        group_tag: Sales
      register: autopilot

    - name: Show what was found, without the hash
      ansible.builtin.debug:
        msg: "{{ autopilot.record.serial_number }} {{ autopilot.record.model }} valid={{ autopilot.hash_summary.valid }}"

- name: Flash-drive replacement - one CSV per device on the controller, then power the devices off
  hosts: windows
  gather_facts: false
  tasks:
    - name: Write <serial>.csv into /srv/autopilot/incoming and shut down
      winfleet.autopilot.hardware_hash_info:
        csv_dir: /srv/autopilot/incoming
        shutdown: true

- name: Keep going when some devices fail, and list the failures
  hosts: windows
  gather_facts: false
  tasks:
    - name: Read the device record
      winfleet.autopilot.hardware_hash_info:
      register: autopilot
      ignore_errors: true

    - name: Report devices that could not be read
      ansible.builtin.debug:
        msg: "{{ autopilot.error }}: {{ autopilot.msg }}"
      when: autopilot is failed
"""

RETURN = r"""
attempts:
  description: How many reads it took (more than 1 when the device dropped the connection and was read again).
  returned: always
  type: int
  sample: 1
record:
  description:
    - The device's Autopilot record, in the shape the merge and register steps take.
    - RV(record.hardware_hash) is present only with O(include_hash=true).
  returned: success
  type: dict
  contains:
    serial_number:
      description: C(Win32_BIOS.SerialNumber), trimmed.
      type: str
      sample: PF3K2Z7Q
    manufacturer:
      description: C(Win32_ComputerSystem.Manufacturer), trimmed.
      type: str
      sample: LENOVO
    model:
      description: C(Win32_ComputerSystem.Model), trimmed.
      type: str
      sample: 21CB0041US
    hardware_hash:
      description: The hardware hash (padded base64 of C(DeviceHardwareData)). Secret-like; never displayed.
      type: str
      returned: success and O(include_hash=true)
      sample: T0EeBAEAHAAAAAoA...
    product_id:
      description: Windows Product ID; always empty (only OEMs can read it reliably).
      type: str
      sample: ''
    group_tag:
      description: O(group_tag).
      type: str
      sample: Sales
    assigned_user:
      description: O(assigned_user).
      type: str
      sample: ''
    source:
      description: The inventory host name, so that M(winfleet.autopilot.registration_csv) names the host in its reports.
      type: str
      sample: pc0042
device:
  description: Facts about the device read with the record.
  returned: success
  type: dict
  contains:
    computer_name:
      description: C(Win32_ComputerSystem.Name).
      type: str
      sample: DESKTOP-3K2Z7Q1
    uuid:
      description: C(Win32_ComputerSystemProduct.UUID) (the SMBIOS UUID).
      type: str
      sample: 0E3F31A4-62D9-4B52-9BC8-5A2F1D0C77E1
    os_build:
      description: C(Win32_OperatingSystem.Version).
      type: str
      sample: 10.0.22631
    os_caption:
      description: C(Win32_OperatingSystem.Caption).
      type: str
      sample: Microsoft Windows 11 Pro
    build_number:
      description: C(Win32_OperatingSystem.BuildNumber).
      type: int
      sample: 22631
hash_summary:
  description:
    - What the decoder found inside the hash (never the hash itself), with RV(hash_summary.errors) (unusable) and
      RV(hash_summary.warnings) (worth a look, for example a serial that differs from the BIOS).
    - It also holds what the hash carries (C(serial_number), C(manufacturer), C(model), C(uuid), C(tpm_version),
      C(os_build), C(is_virtual_machine), C(mac_addresses), ...).
  returned: success
  type: dict
  contains:
    valid:
      description: Whether the hash is structurally valid (no RV(hash_summary.errors)).
      type: bool
      sample: true
    errors:
      description: Why the hash is unusable.
      type: list
      elements: str
      sample: []
    warnings:
      description: Findings worth a look.
      type: list
      elements: str
      sample: []
endpoint:
  description: The WS-Man endpoint that was read.
  returned: success
  type: str
  sample: https://10.1.2.3:5986/wsman
csv_path:
  description: The CSV file written (or that would be written in check mode).
  returned: success and O(csv_dir) is set
  type: str
  sample: /srv/autopilot/incoming/PF3K2Z7Q.csv
shutdown:
  description: What happened with O(shutdown).
  returned: success
  type: dict
  contains:
    requested:
      description: O(shutdown).
      type: bool
      sample: true
    issued:
      description: Whether the command was sent (not in check mode).
      type: bool
      sample: true
    connection_dropped:
      description: Whether Windows dropped the connection before answering (counts as success).
      type: bool
      sample: true
error:
  description:
    - Why the device could not be read, as a stable name.
    - V(unreachable), V(timed_out), V(connection_dropped), V(certificate), V(bad_credentials), V(not_administrator),
      V(windows_too_old), V(hash_empty), V(wmi_provider_error), V(wsman_fault), V(config), V(shutdown_failed),
      V(journal), V(ntlm_refused), V(clock_skew), V(unknown_service_principal), V(kdc_unreachable), V(wrong_realm),
      V(password_expired), V(kerberos).
  returned: failure
  type: str
  sample: not_administrator
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._fleet_collect import HOST_ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=HOST_ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="winfleet.autopilot.hardware_hash_info runs on the controller through its action plugin; "
                         "it cannot run as a module on the target")


if __name__ == "__main__":
    main()
