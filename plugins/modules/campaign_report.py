#!/usr/bin/python
# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: campaign_report
short_description: Write the campaign report (CSV, JSON, HTML page, JUnit XML) from the campaign journal
version_added: 0.1.0
description:
  - Builds one row per device from the campaign journal alone (V(<path>/journal.jsonl), written by
    M(winfleet.autopilot.campaign_journal)) - serial number, name, where its hash came from, the decoder's
    findings, what was cleaned, the registration outcome in the words of the Microsoft Managed Desktop pages, the
    final state, and the stage that failed with its cause.
  - "Writes V(report.csv) (UTF-8 with BOM, CRLF; a cell starting with C(=), C(+), C(-), C(@), tab or CR gets a
    leading apostrophe so spreadsheets never run it as a formula), V(report.json), V(report.html) (one
    self-contained page: inline style, script and SVG status chart, a text filter and a final-state filter over the
    table, no external resource - its Content-Security-Policy forbids any) and V(junit.xml) (one test case per
    device; a failed device is a failure carrying its cause, a pending or skipped one is skipped)."
  - The outputs are a pure function of the journal (times come from the journal, not the clock), and each file is
    written to a temporary file and renamed into place only when its bytes change, so a second run over the same
    journal reports no change.
  - The final state is the status of the furthest stage the device reached (its deliver or register status in the
    seed's words); a device that failed before registration is V(Not collected), V(Not in upload file) or
    V(Cleanup failed), with the cause in its own column. A device is failed when the latest event of any stage
    failed.
  - A missing journal gives an empty report, with a warning.
author:
  - Winfleet Autopilot Maintainers (@winfleet)
extends_documentation_fragment:
  - winfleet.autopilot._attributes
attributes:
  check_mode:
    support: full
    details:
      - Writes nothing and reports whether any file would change.
  diff_mode:
    support: full
    details:
      - One diff per report file. The CSV shows its content; the other formats show their size and SHA-256.
  idempotent:
    support: full
options:
  path:
    description: The campaign folder on the controller; the journal is V(<path>/journal.jsonl).
    type: path
    required: true
  dest:
    description: Folder to write the report files in; created (mode C(0700)) when missing. Default V(<path>/report).
    type: path
  formats:
    description: The files to write.
    type: list
    elements: str
    choices: [csv, json, html, junit]
    default: [csv, json, html, junit]
  title:
    description: Title of the HTML page and name of the JUnit test suite. Default V(Autopilot campaign <folder name>).
    type: str
  mode:
    description: File mode of the report files. They name devices and users, so only the owner can read by default.
    type: raw
    default: '0600'
notes:
  - "Runs on the controller: use C(delegate_to: localhost) with C(run_once: true), or a C(hosts: localhost) play."
seealso:
  - module: winfleet.autopilot.campaign_journal
  - module: winfleet.autopilot.campaign_journal_info
"""

EXAMPLES = r"""
- name: Write the campaign report
  winfleet.autopilot.campaign_report:
    path: "{{ campaign_dir }}"
    title: "Fleet A - November refresh"
  delegate_to: localhost
  run_once: true
  register: report

- name: Fail the pipeline when more than 5 % of the devices failed
  ansible.builtin.assert:
    that: report.summary.failed_percentage <= 5
    fail_msg: "{{ report.summary.failed }} of {{ report.summary.devices }} devices failed, see {{ report.files.html }}"

- name: Only the JUnit file, for the CI server
  winfleet.autopilot.campaign_report:
    path: campaigns/fleet-a/2026-11
    dest: "{{ lookup('ansible.builtin.env', 'CI_PROJECT_DIR') }}/test-results"
    formats: [junit]
    mode: '0644'
  delegate_to: localhost
"""

RETURN = r"""
summary:
  description: Counts over the devices of the journal.
  returned: always
  type: dict
  contains:
    devices:
      description: Devices in the report.
      type: int
      sample: 50
    by_status:
      description: Final state -> number of devices.
      type: dict
      sample: {"Ready for user": 44, "Device claimed by another organization": 1, "Not collected": 3,
               "Registration pending": 2}
    failed:
      description: Devices whose latest event at some stage failed.
      type: int
      sample: 4
    failed_percentage:
      description: Failed devices in percent of all devices, one decimal (V(0.0) without devices).
      type: float
      sample: 8.0
files:
  description: Format -> path of each report file (written or already up to date).
  returned: always
  type: dict
  sample:
    csv: campaigns/fleet-a/2026-11/report/report.csv
    json: campaigns/fleet-a/2026-11/report/report.json
    html: campaigns/fleet-a/2026-11/report/report.html
    junit: campaigns/fleet-a/2026-11/report/junit.xml
written:
  description: The files written by this run (would be written, in check mode).
  returned: always
  type: list
  elements: str
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal, _report
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        dest=dict(type="path"),
        formats=dict(type="list", elements="str", choices=list(_report.FORMATS), default=list(_report.FORMATS)),
        title=dict(type="str"),
        mode=dict(type="raw", default="0600"),
    )


def _mode(value):
    try:
        mode = int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise InputError("mode %r is not an octal file mode such as '0600'" % (value,))
    if not 0 <= mode <= 0o777:
        raise InputError("mode %r is not a file mode between 0000 and 0777" % (value,))
    return mode


def _diff_text(path, data):
    if data is None:
        return ""
    if path.endswith(".csv"):
        return data.decode("utf-8-sig", errors="replace")
    return "%d bytes, sha256 %s\n" % (len(data), hashlib.sha256(data).hexdigest())


def _diff(path, before, after):
    return dict(before_header=path, after_header=path, before=_diff_text(path, before),
                after=_diff_text(path, after))


def run(module):
    params = module.params
    campaign = params["path"]
    dest = params["dest"] or os.path.join(campaign, "report")
    title = params["title"] or "Autopilot campaign %s" % (os.path.basename(os.path.normpath(campaign)) or campaign)
    mode = _mode(params["mode"])
    if not params["formats"]:
        raise InputError("formats is empty: give at least one of %s" % ", ".join(_report.FORMATS))
    if not os.path.exists(_journal.journal_path(campaign)):
        module.warn("no journal at %s: the report is empty" % _journal.journal_path(campaign))
    report = _report.build(campaign, title)
    for warning in report.warnings:
        module.warn(warning)
    rendered, files = _report.render(report, dest, params["formats"])
    to_write, before = _report.plan(rendered)
    out = dict(changed=bool(to_write), summary=report.summary, files=files, written=to_write)
    if module._diff:
        out["diff"] = [_diff(path, before[path], rendered[path]) for path in rendered]
    if to_write and not module.check_mode:
        _report.write(rendered, to_write, dest, mode=mode)
    return out


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        module.exit_json(**run(module))
    except WinfleetError as exc:
        exc.fail(module)


if __name__ == "__main__":
    main()
