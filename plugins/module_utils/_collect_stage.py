# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The collect stage's journal events for the devices found in hash files (OEM files, ConfigMgr exports,
flash-drive folders). The WinRM reads journal their own events (``_fleet_collect``)."""

from __future__ import annotations

STATUS = "Hash collected"


def winrm_serials(journal_devices):
    """Serials whose latest collect event came from a WinRM read (``campaign_journal_info`` ``devices``)."""
    out = []
    for serial, stages in (journal_devices or {}).items():
        event = (stages or {}).get("collect") or {}
        if (event.get("detail") or {}).get("source") == "winrm":
            out.append(serial)
    return out


def file_events(devices, journal_devices, files_dir):
    """One ``changed`` / "Hash collected" event per device the merge read from the campaign's hash files, except
    those a WinRM read already recorded (a file copy of the same device does not take its place). ``source`` is the
    file's path under ``files_dir`` (``collected/files``), with its line."""
    skip = set(winrm_serials(journal_devices))
    base = files_dir.rstrip("/") + "/"
    out = []
    for dev in devices or ():
        serial = dev.get("serial_number")
        if not serial or serial in skip:
            continue
        source = dev.get("source") or ""
        if source.startswith(base):
            source = source[len(base):]
        out.append({"serial": serial, "outcome": "changed", "status": STATUS,
                    "detail": {"source": source, "host": "", "findings": list(dev.get("warnings") or []),
                               "manufacturer": dev.get("manufacturer"), "model": dev.get("model")}})
    return out
