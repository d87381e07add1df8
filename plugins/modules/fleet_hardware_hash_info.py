#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_hardware_hash_info
short_description: Read the Autopilot hardware hashes of many Windows devices over WinRM in one task
version_added: 0.2.0
description:
  - Reads the device record Windows Autopilot needs (serial number, manufacturer, model, hardware hash) from every
    host of the play's batch (or of O(hosts)) in one task on the controller, many devices at a time.
  - Each host is read with its own standard WinRM connection variables from the inventory, resolved and templated as
    ansible's C(winrm) connection does (C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_password) or
    C(ansible_winrm_password), C(ansible_winrm_transport), C(ansible_winrm_scheme), C(ansible_winrm_path),
    C(ansible_winrm_server_cert_validation), C(ansible_winrm_ca_trust_path), C(ansible_winrm_connection_timeout),
    C(ansible_winrm_operation_timeout_sec), C(ansible_winrm_read_timeout_sec), C(ansible_winrm_message_encryption),
    C(ansible_winrm_proxy), and the Kerberos and CredSSP settings such as C(ansible_winrm_kerberos_delegation)).
  - Each device is read exactly as M(winfleet.autopilot.hardware_hash_info) reads it (the same five WS-Management
    Enumerate requests, no PowerShell, nothing copied to the device) and gets the same record, device facts, decoder
    findings and, when it cannot be read, the same RV(devices.error) and message.
  - The hardware hashes go to one C(Get-WindowsAutopilotInfo) CSV file per device in O(csv_dir); they are never
    returned, displayed or logged.
  - Devices are read on at most O(concurrency) threads. First every device gets a reachability probe (one thread,
    non-blocking sockets), an unauthenticated empty C(POST) to the WS-Management path, which Windows answers with
    C(401). A device that does not answer within its read timeout (switched off behind a firewall, hung) is reported
    V(timed_out) after that one timeout, in parallel with all the others, without taking a reader thread.
  - With O(journal), the outcome of every device is recorded in the campaign journal (stage C(collect)), hosts the
    journal shows as collected are not read again, and a host read after an earlier failure has that failure marked
    as skipped (C(Collected as <serial>)).
  - Prints nothing per device. The result has every device's outcome (RV(devices)), the unreadable ones in words
    (RV(unreadable)) and counts (RV(summary)).
author:
  - Winfleet Autopilot Maintainers (@winfleet)
extends_documentation_fragment:
  - winfleet.autopilot._attributes
  - winfleet.autopilot._attributes.CONTROLLER
attributes:
  check_mode:
    support: full
    details:
      - The devices are read in check mode too (reading changes nothing on them); no CSV file is written and nothing
        is appended to the journal, but C(changed) says whether they would be.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - It changes nothing on the devices. On the controller it writes only the CSV files in O(csv_dir) (replaced
        only when their content changes) and the journal events that differ from the latest ones.
options:
  hosts:
    description:
      - The inventory names of the hosts to read.
      - By default the hosts of the play's current batch (C(ansible_play_batch)), so C(--limit), host patterns and
        C(serial) apply as usual. Use it with C(run_once=true) in a play on the Windows group.
    type: list
    elements: str
  group_tag:
    description:
      - Group tag to put in every device's record (RV(devices.record)) and CSV file (Autopilot's C(Group Tag) column).
    type: str
    default: ''
  assigned_user:
    description: User principal name to put in every device's record (RV(devices.record)) and CSV file.
    type: str
    default: ''
  csv_dir:
    description:
      - A folder on the controller for one C(<serial number>.csv) per device read, with the
        C(Get-WindowsAutopilotInfo) header, CRLF line ends and no quotes, as M(winfleet.autopilot.hardware_hash_info)
        writes it. Replaced atomically, and only when its content changes.
      - Without it the hashes are read and checked, and then dropped.
    type: path
  csv_encoding:
    description:
      - V(ascii) is what the Intune import accepts as is; V(utf-16) is what Windows PowerShell 5.1 C(Out-File)
        writes (UTF-16LE with BOM).
    type: str
    choices: [ascii, utf-16]
    default: ascii
  read_retries:
    description:
      - How many times to read a device again, over a new connection, when it dropped the connection in the middle
        of an answer. Each retry is named in the device's RV(devices.warnings).
    type: int
    default: 2
  concurrency:
    description:
      - How many devices are read at the same time, at most (one thread each).
      - The work per device is mostly waiting on the network; the controller's CPU bounds the rate. Devices that do
        not answer at all do not count against it (see O(probe)).
      - Lowered when the process may not open enough files for it.
    type: int
    default: 256
  processes:
    description:
      - How many processes share the devices (each with its share of O(concurrency) and of the probes). Python runs
        one thread at a time per process, and on a busy fleet reading is bound by the controller's CPU.
      - V(0) is one per CPU the controller lets this process use, at most 8. Fewer than 64 devices per process are
        read in one process.
    type: int
    default: 0
  probe:
    description:
      - Probe every device first (see the description) so that devices that never answer cost one timeout in
        parallel instead of a reader each. Not done for hosts reached through a proxy (C(ansible_winrm_proxy)).
      - V(false) hands every device to a reader straight away.
    type: bool
    default: true
  journal:
    description:
      - The campaign folder whose C(journal.jsonl) records the outcome of every device read (stage C(collect)); see
        M(winfleet.autopilot.campaign_journal).
      - Hosts whose latest collect event is a success are not read again (unless O(recollect)).
    type: path
  run:
    description: Identifier of this run, recorded with every journal event.
    type: str
  recollect:
    description: Read again the hosts the journal already shows as collected.
    type: bool
    default: false
  max_unreadable_percentage:
    description:
      - When more than this share of the hosts could not be read, the task fails (after writing the CSV files and
        the journal), which stops the play - a guard against wrong credentials or a network problem. V(100) never
        fails. Hosts skipped because they were collected earlier count among the hosts.
      - That failure leaves RV(devices) out of the result (ansible displays a failure in full); RV(unreadable),
        RV(summary) and the journal have the outcomes.
    type: int
    default: 100
notes:
  - Runs on the controller (action plugin) and needs C(pywinrm) there. Use C(run_once=true) in a play on the Windows
    group (the host's own connection plugin is never used), or run it in a play on C(localhost) with O(hosts).
  - "Passwords: each host's password is used for its own connection only. It is never put in a result or a message."
  - The account must be an administrator of the device; see M(winfleet.autopilot.hardware_hash_info) for the errors
    and what they mean.
  - For one host at a time (ad-hoc, or with C(shutdown)), use M(winfleet.autopilot.hardware_hash_info).
seealso:
  - module: winfleet.autopilot.hardware_hash_info
  - module: winfleet.autopilot.campaign_journal
  - module: winfleet.autopilot.registration_csv
"""

EXAMPLES = r"""
- name: Collect the hardware hashes of the Windows fleet into one folder
  hosts: windows
  gather_facts: false
  tasks:
    - name: Read every device of the play
      winfleet.autopilot.fleet_hardware_hash_info:
        csv_dir: /srv/autopilot/incoming
        group_tag: Sales
      run_once: true
      register: fleet

    - name: Say which devices could not be read
      ansible.builtin.debug:
        msg: "{{ fleet.unreadable }}"
      run_once: true
      when: fleet.unreadable | length > 0

- name: A campaign's collect step - journaled, resumable, stops when too many devices cannot be read
  hosts: windows
  gather_facts: false
  tasks:
    - name: Read the devices not collected yet
      winfleet.autopilot.fleet_hardware_hash_info:
        csv_dir: /srv/campaigns/fleet-a/2026-11/collected/winrm
        journal: /srv/campaigns/fleet-a/2026-11
        run: "{{ now(utc=true, fmt='%Y-%m-%dT%H:%M:%SZ') }}"
        concurrency: 128
        max_unreadable_percentage: 30
      run_once: true
      any_errors_fatal: true

- name: From a localhost play, for named hosts
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read two devices
      winfleet.autopilot.fleet_hardware_hash_info:
        hosts: [pc0001, pc0002]
      register: two
"""

RETURN = r"""
devices:
  description:
    - One entry per host, by inventory name, in the order of the hosts.
    - The same as M(winfleet.autopilot.hardware_hash_info) returns for the host, without the hardware hash.
  returned: unless the task failed for O(max_unreadable_percentage)
  type: dict
  sample:
    pc0001:
      host: pc0001
      changed: true
      attempts: 1
      record: {serial_number: PF3K2Z7Q, manufacturer: LENOVO, model: 21CB0041US, product_id: '', group_tag: Sales,
               assigned_user: '', source: pc0001}
      device: {computer_name: DESKTOP-3K2Z7Q1, uuid: 0E3F31A4-62D9-4B52-9BC8-5A2F1D0C77E1, os_build: 10.0.22631,
               os_caption: Microsoft Windows 11 Pro, build_number: 22631}
      hash_summary: {valid: true, errors: [], warnings: []}
      endpoint: http://10.1.2.3:5985/wsman
      csv_path: /srv/autopilot/incoming/PF3K2Z7Q.csv
    pc0002:
      host: pc0002
      changed: false
      attempts: 1
      failed: true
      error: timed_out
      msg: "pc0002 (http://10.1.2.4:5985/wsman) did not answer root/cimv2/Win32_OperatingSystem within 30s ..."
  contains:
    host:
      description: The inventory name.
      type: str
    record:
      description:
        - The device's Autopilot record (C(serial_number), C(manufacturer), C(model), C(product_id), C(group_tag),
          C(assigned_user), C(source)), without C(hardware_hash).
      type: dict
      returned: when the device was read
    device:
      description: C(computer_name), C(uuid), C(os_build), C(os_caption), C(build_number).
      type: dict
      returned: when the device was read
    hash_summary:
      description: What the decoder found inside the hash (never the hash itself), with C(errors) and C(warnings).
      type: dict
      returned: when the device was read
    endpoint:
      description: The WS-Man endpoint that was read.
      type: str
      returned: when the device was read
    csv_path:
      description: The CSV file written (or that would be written in check mode).
      type: str
      returned: when the device was read and O(csv_dir) is set
    changed:
      description: Whether the device's CSV file was (or would be) written.
      type: bool
    attempts:
      description: How many reads it took.
      type: int
      returned: when the device was read or tried
    warnings:
      description: What deserves a look (a retried read, a hash that looks broken, a certificate not validated).
      type: list
      elements: str
      returned: when there are any
    failed:
      description: V(true) when the device could not be read (the task itself does not fail for it).
      type: bool
      returned: when the device could not be read
    error:
      description:
        - Why the device could not be read, with the names of M(winfleet.autopilot.hardware_hash_info) -
          V(unreachable), V(timed_out), V(connection_dropped), V(certificate), V(bad_credentials),
          V(not_administrator), V(windows_too_old), V(hash_empty), V(wmi_provider_error), V(wsman_fault),
          V(config), with Kerberos V(ntlm_refused), V(clock_skew), V(unknown_service_principal), V(kdc_unreachable),
          V(wrong_realm), V(password_expired), V(kerberos), or V(internal_error) for a fault of the collector itself.
      type: str
      returned: when the device could not be read
    msg:
      description: What went wrong and what to do, naming the device.
      type: str
      returned: when the device could not be read
    skipped:
      description: V(true) for a host not read because the journal shows it collected.
      type: bool
      returned: when the host was not read
    skip_reason:
      description: Why the host was not read.
      type: str
      returned: when the host was not read
unreadable:
  description: "One line per host that could not be read: C(<host>: <cause in words> - <message>)."
  returned: always
  type: list
  elements: str
  sample: ["pc0002: Host timed out - pc0002 (http://10.1.2.4:5985/wsman) did not answer ..."]
summary:
  description: Counts of the run.
  returned: always
  type: dict
  contains:
    hosts:
      description: Hosts of the task.
      type: int
    read:
      description: Hosts that were read (not skipped).
      type: int
    collected:
      description: Hosts read successfully.
      type: int
    unreadable:
      description: Hosts that could not be read.
      type: int
    skipped:
      description: Hosts not read because the journal shows them collected.
      type: int
    by_error:
      description: Unreadable hosts by RV(devices.error).
      type: dict
    concurrency:
      description: How many devices were read at the same time at most.
      type: int
    processes:
      description: How many processes read them.
      type: int
    elapsed_s:
      description: Seconds the task took.
      type: float
    settings_s:
      description: Seconds of it spent reading the journal and resolving the hosts' connection variables.
      type: float
    devices_per_s:
      description: Hosts read per second.
      type: float
  sample: {hosts: 500, read: 480, collected: 470, unreadable: 10, skipped: 20, by_error: {timed_out: 8, unreachable: 2},
           concurrency: 256, processes: 2, elapsed_s: 9.4, devices_per_s: 51.1}
journal:
  description: The journal written to and how many events were appended (or would be, in check mode).
  returned: when O(journal) is set
  type: dict
  sample: {path: /srv/campaigns/fleet-a/2026-11/journal.jsonl, appended: 480}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils._fleet_collect import FLEET_ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=FLEET_ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg="winfleet.autopilot.fleet_hardware_hash_info runs on the controller through its action "
                         "plugin; it cannot run as a module on the target")


if __name__ == "__main__":
    main()
