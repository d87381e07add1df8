# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""What the register stage reads before it talks to Graph - the upload files (with the merge's reader) and what the
campaign journal says was registered or finally refused - and so what it would send. ``_register_stage`` (in
``autopilot_import``) uses it, and so does the ``register_pending`` lookup, which lets the register role start no
module when nothing is left (a re-run). Light imports only (no Graph client): the lookup runs in ansible's worker."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils import _csvsource, _echo, _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._journal import DONE_OUTCOMES, latest
from ansible_collections.winfleet.autopilot.plugins.module_utils._statuses import (
    FINAL_REFUSALS,
    PENDING,
    by_identifier,
    serial_key,
)

CSV_HEADER = ["Device Serial Number", "Windows Product ID", "Hardware Hash"]
CSV_OPTIONAL = ["Group Tag", "Assigned User"]
AUTOPILOT_FORMAT = "'%s' optionally followed by 'Group Tag' and 'Assigned User'" % ",".join(CSV_HEADER)


def read_upload_files(paths):
    """Devices of the upload files ``paths`` (files, folders - their ``*.csv`` files - and globs), read with the
    merge's reader (every encoding and line end). Returns ``(devices, sources)``. Raises InputError naming the file
    (and line) for a path that matches nothing, an unreadable file or one not in the Autopilot format."""
    files, problems, _skipped = _csvsource.expand_sources(list(paths), pattern=("*.csv",))
    if problems:
        raise InputError("Upload file %s: %s" % (problems[0].path, problems[0].reason), path=problems[0].path)
    devices = []
    sources = []
    for path in files:
        rows = _csvsource.read_source(path)
        info = next(rows)
        found = list(rows)
        if info.problems:
            first = info.problems[0]
            where = " line %d" % first.line if first.line else ""
            raise InputError("Upload file %s%s: %s" % (path, where, first.reason), path=path, line=first.line)
        if not (info.dialect or "").startswith("autopilot-"):
            raise InputError("Upload file %s is not in the Autopilot registration format: its header is %r, the format "
                             "is %s. Merge it with registration_csv format=autopilot."
                             % (path, ",".join(_echo.clip(c, 40) for c in info.columns), AUTOPILOT_FORMAT),
                             path=path)
        width = len(info.columns)
        for line, row, extra in found:
            if any(v.strip() for v in extra):
                raise InputError("Upload file %s line %d: more columns than the header's %d" % (path, line, width),
                                 path=path, line=line)
            devices.append({"serial_number": row[_csvsource.SERIAL].strip(),
                            "product_id": row[_csvsource.PRODUCT_ID].strip(),
                            "hardware_hash": row[_csvsource.HASH].strip(),
                            "group_tag": row[_csvsource.GROUP_TAG].strip() or None,
                            "assigned_user": row[_csvsource.ASSIGNED_USER].strip() or None,
                            "file": path, "line": line})
        sources.append({"path": path, "dialect": info.dialect, "encoding": info.encoding, "rows": info.rows})
    return devices, sources


# Why a device of the upload files is not sent (the keys of ResumePlan.skip's values, counted in the result).
REGISTERED_BEFORE = "registered before"
REFUSED_BEFORE = "refused before"
EXCLUDED = "excluded"


class ResumePlan:
    """What the register stage takes from the journal: ``skip`` ({serial key: reason}) and ``submitted_before`` (the
    serial keys whose latest register status is ``Registration pending``: a run of this campaign sent them and did
    not see the verdict)."""

    def __init__(self, skip=None, submitted_before=None):
        self.skip = dict(skip or {})
        self.submitted_before = set(submitted_before or ())

    def counts(self):
        out = {REGISTERED_BEFORE: 0, REFUSED_BEFORE: 0, EXCLUDED: 0}
        for reason in self.skip.values():
            out[reason] += 1
        return out


def register_resume_plan(events, retry_failed=False, exclude_serials=()):
    """The ResumePlan of a campaign from its journal ``events`` (as ``_journal.read`` returns them): ``resume_plan``
    of their latest events."""
    return resume_plan(latest(events), retry_failed, exclude_serials)


def resume_plan(devices, retry_failed=False, exclude_serials=()):
    """The ResumePlan from the latest events of a campaign's devices (``{serial: {stage: event}}``, as
    ``_journal.latest`` and the ``campaign_journal`` lookup's ``devices`` give them).

    Not sent again: devices whose latest register event is ``ok`` or ``changed``; devices refused for a reason a retry
    cannot change (claimed by another organization, hash not valid, device not found), unless ``retry_failed``;
    ``exclude_serials``. Devices that failed for a passing reason (unexpected error, still pending) are sent again.
    """
    skip = {}
    for serial in exclude_serials or ():
        key = serial_key(serial)
        if key:
            skip[key] = EXCLUDED
    before = set()
    for serial, stages in (devices or {}).items():
        event = stages.get("register")
        if event is None or by_identifier(event):  # registered by identifier: no hash import yet
            continue
        key = serial_key(serial)
        if event.get("outcome") in DONE_OUTCOMES:
            skip.setdefault(key, REGISTERED_BEFORE)
        elif event.get("outcome") == "failed" and event.get("status") in FINAL_REFUSALS and not retry_failed:
            skip.setdefault(key, REFUSED_BEFORE)
        if event.get("status") == PENDING:
            before.add(key)
    return ResumePlan(skip, before)


def pending(campaign_dir, paths, retry_failed=False, exclude_serials=()):
    """``(serials, problem)``: the serial numbers of the upload files ``paths`` that the register stage would send for
    the campaign folder ``campaign_dir`` (not registered, not finally refused unless ``retry_failed``, not excluded),
    in file order, each once. ``problem`` names why the upload files cannot be read (the stage itself then says so;
    the serials are then empty). Reads the files and the journal; changes nothing."""
    try:
        devices, _sources = read_upload_files(paths)
        found = _journal.read(campaign_dir)
    except WinfleetError as exc:
        return [], exc.msg
    plan = resume_plan(latest(found.events), retry_failed, exclude_serials)
    out, seen = [], set()
    for dev in devices:
        key = serial_key(dev["serial_number"])
        if key not in plan.skip and key not in seen:
            seen.add(key)
            out.append(dev["serial_number"])
    return out, None
