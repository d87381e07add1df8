# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The journal events of the merge stage (``registration_csv`` with ``journal``): computed here, unit-tested
(tests/unit/plugins/module_utils/test_stage_events.py); appended by the module through ``_journal``."""

from __future__ import annotations

import os

IN_UPLOAD_FILE = "In upload file"


def _relative(path, campaign_dir):
    if campaign_dir:
        prefix = os.path.join(campaign_dir, "")
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def merge_events(serials, paths, batch_size, problems, campaign_dir=None, folders=()):
    """One merge event per serial: accepted devices first (``In upload file``, with the file, line and batch of the
    upload file they are in), then rejected rows and conflicts (their reason) whose serial was not accepted from
    another source. A row without a serial is named ``<file>:<line>``. A problem of a whole source folder or pattern
    (``folders``: an empty or missing folder, a pattern that matches nothing) is not a device.

    ``serials`` are the accepted devices in output order, ``paths`` the upload files in batch order, ``problems``
    the merge's ``rejected`` + ``conflicts`` rows.
    """
    size = max(1, int(batch_size))
    by_serial = {}
    for index, serial in enumerate(serials):
        by_serial[serial] = {"serial": serial, "outcome": "ok", "status": IN_UPLOAD_FILE,
                             "detail": {"file": os.path.basename(paths[index // size]), "line": index % size + 2,
                                        "batch": index // size + 1}}
    folders = {os.path.normpath(f) for f in folders}
    for row in problems:
        path = row.get("file") or ""
        key = row.get("serial_number") or "%s:%s" % (os.path.basename(path), row.get("line"))
        if key in by_serial or (path and os.path.normpath(path) in folders):
            continue
        by_serial[key] = {"serial": key, "outcome": "failed", "status": row.get("reason") or "",
                          "detail": {"file": _relative(path, campaign_dir), "line": row.get("line"), "batch": None}}
    return list(by_serial.values())
