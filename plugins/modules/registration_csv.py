#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registration_csv
short_description: Merge hardware hashes from any source into valid Autopilot registration CSV files
version_added: 0.1.0
description:
  - Reads hardware hashes from any mix of files, folders and globs, and from records passed in (for example
    the output of M(winfleet.autopilot.hardware_hash_info)), and writes one canonical registration file split
    into batches the portals and Microsoft Graph accept.
  - "Reads the Intune/Autopilot CSV (3, 4 or 5 columns), Partner Center CSV, Managed Desktop CSV,
    Configuration Manager report exports (C(Serial_Number)/C(HardwareHash) and other heading aliases),
    Get-WindowsAutopilotInfo output (UTF-16LE with BOM) and OEM files. The encoding is detected; CRLF,
    trailing blank lines, Excel's trailing empty columns and header rows repeated by concatenation are tolerated."
  - "Files joined end to end (C(copy /b a.csv+b.csv), C(cat)) are read whole: byte-order marks in the middle are
    dropped and a header with other columns further down applies to the rows below it. Excel's C(sep=;) first line
    sets the delimiter."
  - Excel workbooks (C(.xlsx), C(.xlsm)), such as the Managed Desktop template saved from Excel, are read sheet by
    sheet; sheets without device columns are listed in RV(not_read).
  - A file without hardware hashes (a partner or corporate identifier list of manufacturer, model and serial number)
    is reported once, as a whole, and marked in RV(sources[].identifiers_only).
  - Validates every row with the hardware hash decoder (see P(winfleet.autopilot.decode_hardware_hash#filter)).
    Rejects rows the portal would refuse or that would register the wrong thing, each with the file, line,
    serial number and reason. Template and sample rows, Excel damage (scientific notation, lost leading zeros),
    empty or broken hashes, values with commas or quotes, and product keys in the Windows Product ID column.
  - "Serial numbers that firmware writes when SMBIOS holds none (empty, C(To be filled by O.E.M.), C(Default string),
    C(System Serial Number), runs of one character, counting sequences, numbered placeholders) are refused: such a
    device cannot be told apart from others. The reject names the device by make, model, SMBIOS UUID and MAC address."
  - Values are checked against one character-set rule, the same in every message. Upload files hold printable ASCII
    only, because the portal takes ANSI text (no Unicode) and ASCII is the part every ANSI code page shares.
  - Nothing of a hash is ever shown. A value that holds hash-like text where a serial, heading or other value belongs
    (a hash broken across lines, a file without its header row) is described by its length, and long values are cut.
  - De-duplicates by device identity (serial number, SMBIOS UUID and TPM EkPubHash), not by the hash text,
    which changes with every capture; the newest capture wins. The same serial number on different devices
    is reported as a conflict and none of its rows is written.
  - Writes exactly what the portals require. Exact headings, no quotes, ASCII without BOM, CRLF line ends;
    each file is written to a temporary file and renamed into place, and only when its content changes.
author:
  - Winfleet Autopilot Maintainers (@winfleet)
extends_documentation_fragment:
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff lists the serial numbers of the devices added to and removed from the output.
  idempotent:
    support: full
options:
  src:
    description:
      - Files, folders and glob patterns to read. A folder contributes the files matching O(pattern).
      - A path or pattern that matches nothing is reported as a rejected source.
      - The output files themselves are never read as input, so O(dest) may live in a source folder.
    type: list
    elements: path
    default: []
  pattern:
    description:
      - Globs (case-insensitive) that choose the files read from the folders in O(src).
      - Every other file in those folders is listed in RV(not_read) with the reason it was not read; a module warning
        names the ones that may hold devices (CSV, text and workbook files).
    type: list
    elements: str
    default: ['*.csv', '*.xlsx']
  recurse:
    description: Also read matching files in sub-folders of the folders in O(src).
    type: bool
    default: false
  records:
    description:
      - Device records passed in directly, for example from M(winfleet.autopilot.hardware_hash_info).
      - Rejects name these as V(records[N]) or by their O(records[].source).
    type: list
    elements: dict
    default: []
    suboptions:
      serial_number:
        description: Device serial number. Taken from the hash when empty.
        type: str
      hardware_hash:
        description:
          - The base64 hardware hash.
          - Required, except with O(format=corporate_identifiers), where a record with O(records[].manufacturer),
            O(records[].model) and O(records[].serial_number) (for example C(Win32_ComputerSystem) and C(Win32_BIOS)
            read over WinRM) is enough.
        type: str
      product_id:
        description: The 13-digit Windows Product ID (PKID), if known.
        type: str
      manufacturer:
        description: Manufacturer, compared with the hash.
        type: str
      model:
        description: Model, compared with the hash.
        type: str
      group_tag:
        description: Group tag (order ID) of this device.
        type: str
      assigned_user:
        description: User principal name to assign.
        type: str
      source:
        description: Where the record came from (host name), used in reports.
        type: str
  dest:
    description:
      - Path of the registration CSV to write.
      - When there are more devices than O(batch_size), the batches are written as V(<stem>-001.csv),
        V(<stem>-002.csv), ... instead, and O(dest) itself is not written. Batch files left over from an
        earlier, larger run are removed.
      - Its folder must exist, except with O(journal) (a campaign's merge stage), where a missing folder is created
        (mode C(0700)).
    type: path
    required: true
  format:
    description:
      - V(autopilot) is the Intune / Windows Autopilot import format; it has 3, 4 or 5 columns depending on whether
        any device has a group tag or an assigned user.
      - V(partner) is the Partner Center format (with manufacturer and model from the hash).
      - V(mmd) is the Microsoft Managed Desktop format.
      - V(corporate_identifiers) is the Intune portal's Windows corporate identifier file (Windows Autopilot device
        preparation, enrollment restrictions). No header, one C(Manufacturer,Model,Serial) line per device, at most
        5,000 lines per file. Manufacturer and model come from the hash (the firmware's SMBIOS values, case kept),
        or, for a row or record without a hash, from its manufacturer and model columns. Periods, which the portal
        refuses, are removed (Microsoft's instructions say to remove them) and each value changed that way is listed in
        RV(cleaned); a device whose values hold a comma, a quotation mark or characters outside printable ASCII, or
        whose serial number is a placeholder, is rejected with its file, line and reason.
    type: str
    choices: [autopilot, corporate_identifiers, mmd, partner]
    default: autopilot
  batch_size:
    description:
      - Most devices per file. The portals accept 500 per hash upload (the default) and 5,000 per corporate
        identifier file (the default, and the most, with O(format=corporate_identifiers)).
    type: int
  group_tag:
    description: Group tag (order ID) to apply to every device, replacing the one in the sources.
    type: str
  assigned_user:
    description: User principal name to assign to every device, replacing the one in the sources.
    type: str
  stale_days:
    description: Warn about hashes captured more than this many days ago. V(0) turns the check off.
    type: int
    default: 365
  fail_on_reject:
    description:
      - Fail, writing nothing, when any row is rejected or any serial is in conflict.
      - When V(false), the accepted devices are written and the rejects are returned and warned about.
    type: bool
    default: true
  return_devices:
    description: Return the per-device summary in RV(devices). Turn off for very large merges.
    type: bool
    default: true
  workers:
    description:
      - Processes that read and validate the source files in parallel. V(0) decides from the input size
        (one per core, at most 4, once the files add up to 8 MB or more).
      - The result is the same for any number of workers.
    type: int
    default: 0
  mode:
    description: File mode of the written files. Hardware hashes are sensitive, so only the owner can read by default.
    type: raw
    default: '0600'
  journal:
    description:
      - A campaign folder whose journal (V(<journal>/journal.jsonl)) records the merge's outcome for each device
        (stage C(merge)), after the files are written.
      - One event per serial number. Accepted devices are V(ok) / C(In upload file), with the C(file), C(line) and
        C(batch) of the upload file that holds them. Rejected rows and conflicts whose serial was not accepted from
        another source are V(failed) with their reason, named by serial number or, without one, by V(<file>:<line>).
        A problem of a whole source folder (an empty folder) is not recorded.
      - Only events that change something are appended; check mode appends nothing.
    type: path
  run:
    description: Identifier of this run, recorded with every journal event (with O(journal)).
    type: str
notes:
  - "Runs where the files are, normally the controller (C(delegate_to: localhost) or a C(hosts: localhost) play)."
  - Hardware hashes are never returned or logged; O(records[].hardware_hash) is C(no_log).
seealso:
  - plugin: winfleet.autopilot.decode_hardware_hash
    plugin_type: filter
  - name: Manually register devices with Windows Autopilot
    description: The CSV rules this module enforces.
    link: https://learn.microsoft.com/autopilot/add-devices
"""

EXAMPLES = r"""
- name: Merge flash-drive CSVs, a ConfigMgr export and an OEM file into one upload
  winfleet.autopilot.registration_csv:
    src:
      - /srv/autopilot/usb/
      - /srv/autopilot/configmgr-export.csv
      - /srv/autopilot/oem/*.csv
    dest: /srv/autopilot/upload/fleet-a.csv
    group_tag: FLEET-A
  delegate_to: localhost
  run_once: true
  register: merged

- name: Merge what the collector read over WinRM, keep going past bad rows
  winfleet.autopilot.registration_csv:
    records: "{{ ansible_play_hosts_all | map('extract', hostvars, 'autopilot') | selectattr('record', 'defined')
                 | map(attribute='record') | list }}"
    dest: "{{ campaign_dir }}/registration.csv"
    fail_on_reject: false
  delegate_to: localhost
  run_once: true

- name: Show what was refused and why
  ansible.builtin.debug:
    msg: "{{ item.file }}:{{ item.line }} {{ item.serial_number }}: {{ item.reason }}"
  loop: "{{ merged.rejected }}"
"""

RETURN = r"""
paths:
  description: The files that make up the registration, in batch order.
  returned: always
  type: list
  elements: str
  sample: [/srv/autopilot/upload/fleet-a-001.csv, /srv/autopilot/upload/fleet-a-002.csv]
written:
  description: The files written by this run (empty when nothing changed or in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Batch files of an earlier run that this run removed.
  returned: always
  type: list
  elements: str
device_count:
  description: Devices in the output.
  returned: always
  type: int
  sample: 742
rows_read:
  description: Data rows and records read from all sources.
  returned: always
  type: int
sources:
  description: What was read from each file.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    encoding:
      description: The detected encoding, for example V(utf-16-le) for Windows PowerShell output.
      type: str
    dialect:
      description: V(autopilot-3) to V(autopilot-5), V(partner), V(mmd), V(configmgr) or V(custom).
      type: str
    rows:
      description: Data rows read.
      type: int
    columns:
      description: The headings as found.
      type: list
      elements: str
    ignored_columns:
      description: Headings that mean nothing to the registration and were ignored.
      type: list
      elements: str
    identifiers_only:
      description: The file lists devices without hardware hashes (manufacturer, model and serial number).
      type: bool
not_read:
  description:
    - Files in the source folders and sheets in workbooks that were not read, each with the reason (name does not
      match O(pattern), Excel's lock file, a sub-folder without O(recurse), an empty sheet, this merge's own output).
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The file, or V(file [sheet]) for a sheet of a workbook.
      type: str
    reason:
      description: Why it was not read.
      type: str
  sample:
    - file: /srv/autopilot/usb/notes.txt
      reason: the name does not match *.csv, *.xlsx (add a pattern to read it)
rejected:
  description: Rows and files that were refused.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The file (or V(records[N])).
      type: str
    line:
      description: The line in the file; V(0) for a problem with the whole file.
      type: int
    serial_number:
      description: The serial number, when one could be read.
      type: str
    reason:
      description: Why, in words.
      type: str
  sample:
    - file: /srv/autopilot/usb/PC0042.csv
      line: 2
      serial_number: "4.4E+11"
      reason: "serial number '4.4E+11' is in scientific notation: the file was damaged by Excel"
cleaned:
  description:
    - With O(format=corporate_identifiers), the distinct values whose periods were removed (C(field), C(value) as the
      firmware reports it, C(written)).
  returned: always
  type: list
  elements: dict
  sample:
    - field: manufacturer
      value: Dell Inc.
      written: Dell Inc
conflicts:
  description: Rows whose serial number is shared by different devices; none of them was written.
  returned: always
  type: list
  elements: dict
duplicates:
  description: Further captures of a device already in the output (the newest capture is kept).
  returned: always
  type: list
  elements: dict
findings:
  description: Warnings about accepted devices (virtual machine, no TPM 2.0, stale capture, placeholder values,
    columns that disagree with the hash).
  returned: always
  type: list
  elements: dict
  sample:
    - file: /srv/autopilot/usb/VM01.csv
      line: 2
      serial_number: 8063-9430-4127-4020-9400-5548-46
      message: virtual machine (make/model Microsoft Corporation Virtual Machine, Hyper-V MAC address)
added:
  description: Serial numbers in the new output that were not in the previous one.
  returned: always
  type: list
  elements: str
dropped:
  description: Serial numbers in the previous output that are no longer in it.
  returned: always
  type: list
  elements: str
journal_appended:
  description: Events appended to the journal (with O(journal); in check mode, the events that would be).
  returned: always
  type: int
  sample: 742
devices:
  description: Summary of each device written, without its hash.
  returned: when O(return_devices=true)
  type: list
  elements: dict
  sample:
    - serial_number: PF3XK2L9
      manufacturer: LENOVO
      model: 21CB0041US
      uuid: 2A856E34-C6B7-50DD-00EB-023E169E132D
      tpm_version: "2.0"
      os_build: 10.0.22631.4460
      captured_at: "2026-11-02T09:30:00Z"
      is_virtual_machine: false
      source: /srv/autopilot/usb/PC0042.csv:2
      warnings: []
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils import _csvsource as src
from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal, _merge_stage
from ansible_collections.winfleet.autopilot.plugins.module_utils import _registration as reg
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._files import write_atomic


def argument_spec():
    return dict(
        src=dict(type="list", elements="path", default=[]),
        pattern=dict(type="list", elements="str", default=["*.csv", "*.xlsx"]),
        recurse=dict(type="bool", default=False),
        records=dict(type="list", elements="dict", default=[], options=dict(
            serial_number=dict(type="str"),
            hardware_hash=dict(type="str", no_log=True),
            product_id=dict(type="str"),
            manufacturer=dict(type="str"),
            model=dict(type="str"),
            group_tag=dict(type="str"),
            assigned_user=dict(type="str"),
            source=dict(type="str"),
        )),
        dest=dict(type="path", required=True),
        format=dict(type="str", default="autopilot", choices=sorted(reg.FORMATS)),
        batch_size=dict(type="int"),
        group_tag=dict(type="str"),
        assigned_user=dict(type="str"),
        stale_days=dict(type="int", default=365),
        fail_on_reject=dict(type="bool", default=True),
        return_devices=dict(type="bool", default=True),
        mode=dict(type="raw", default="0600"),
        workers=dict(type="int", default=0),
        journal=dict(type="path"),
        run=dict(type="str"),
    )


def run(module):
    params = module.params
    limit = reg.batch_limit(params["format"])
    opts = reg.default_options(
        format=params["format"], batch_size=params["batch_size"] or limit, group_tag=params["group_tag"],
        assigned_user=params["assigned_user"], stale_days=params["stale_days"], pattern=params["pattern"],
        recurse=params["recurse"],
    )
    reg.validate_options(opts)
    if opts["batch_size"] > limit:
        module.warn("batch_size %d is above the %d devices the portals accept per upload"
                    % (opts["batch_size"], limit))
    if not params["src"] and not params["records"]:
        raise WinfleetError("nothing to merge: give src (files, folders, globs) and/or records")
    dest = params["dest"]
    previous = reg.existing_outputs(dest)
    if params["workers"] < 0:
        raise WinfleetError("workers must be 0 (automatic) or more")
    result = reg.collect(params["src"], params["records"], opts, exclude=previous, workers=params["workers"])
    merged = reg.merge(result)
    problems = len(result.rejected) + len(result.conflicts)
    rendered = reg.render(merged, dest, opts["format"], opts["batch_size"])
    to_write, to_remove, before = reg.plan(rendered, previous, opts["format"])
    after = [d.serial for d in merged]
    before_set, after_set = set(before), set(after)
    out = dict(
        changed=False,
        paths=list(rendered),
        written=[],
        removed=[],
        device_count=len(merged),
        rows_read=result.rows_read,
        sources=result.sources,
        not_read=result.skipped,
        rejected=result.rejected,
        conflicts=result.conflicts,
        duplicates=result.duplicates,
        findings=result.findings,
        added=sorted(after_set - before_set),
        dropped=sorted(before_set - after_set),
        journal_appended=0,
        cleaned=list(result.cleaned.values()),
    )
    if params["return_devices"]:
        out["devices"] = [d.as_dict() for d in merged]
    if problems and params["fail_on_reject"]:
        first = (result.rejected + result.conflicts)[0]
        module.fail_json(
            msg="%d row(s) rejected and %d in conflict; nothing written (first: %s:%s %s). Fix the sources or set "
                "fail_on_reject=false to write the %d accepted devices."
                % (len(result.rejected), len(result.conflicts), first["file"], first["line"], first["reason"],
                   len(merged)),
            **out)
    unread = [s for s in result.skipped if s["reason"].startswith("a sub-folder") or (
        s["reason"].startswith("the name does not match") and s["file"].lower().endswith(src.DATA_EXTENSIONS))]
    if unread:
        module.warn("%d file(s) that may hold devices were not read (first: %s: %s); see 'not_read'"
                    % (len(unread), unread[0]["file"], unread[0]["reason"]))
    if problems:
        module.warn("%d row(s) rejected and %d in conflict were left out of %s; see 'rejected' and 'conflicts'"
                    % (len(result.rejected), len(result.conflicts), dest))
    if not merged:
        module.warn("no device was accepted: %s holds only the header" % dest)
    changed = bool(to_write or to_remove)
    out["changed"] = changed
    if module._diff and changed:
        out["diff"] = dict(
            before_header=dest, after_header=dest,
            before="".join("%s\n" % s for s in sorted(before_set)),
            after="".join("%s\n" % s for s in sorted(after_set)),
        )
    if changed and not module.check_mode:
        mode = params["mode"]
        if isinstance(mode, str):
            mode = int(mode, 8)
        if params["journal"]:
            _journal.ensure_dir(os.path.dirname(os.path.abspath(dest)))  # the campaign's upload folder, mode 0700
        write_atomic(rendered, to_write, to_remove, mode=mode)
        out["written"] = to_write
        out["removed"] = to_remove
    if params["journal"]:
        events = _merge_stage.merge_events(
            after, list(rendered), opts["batch_size"], result.rejected + result.conflicts,
            campaign_dir=params["journal"], folders=[p for p in params["src"] if not os.path.isfile(p)])
        new, warnings = _journal.append(params["journal"], "merge", events, run=params["run"],
                                        check_mode=module.check_mode)
        for warning in warnings:
            module.warn(warning)
        out["journal_appended"] = len(new)
        out["changed"] = out["changed"] or bool(new)
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except WinfleetError as exc:
        exc.fail(module)
    except (ValueError, TypeError) as exc:
        module.fail_json(msg="invalid option: %s" % exc)


if __name__ == "__main__":
    main()
