# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Read one device's Autopilot record over WS-Man (the work behind ``hardware_hash_info``), and write the
per-device CSV the flash-drive method (Get-WindowsAutopilotInfo -OutputFile) produces."""

from __future__ import annotations

import os
import re

from ansible_collections.winfleet.autopilot.plugins.module_utils import _echo
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, OutputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._files import write_atomic
from ansible_collections.winfleet.autopilot.plugins.module_utils._hwhash import decode
from ansible_collections.winfleet.autopilot.plugins.module_utils._registration import ASCII_RULE
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import (
    EmptyHashError,
    FaultError,
    UnsupportedWindowsError,
    WSManError,
)

MIN_BUILD = 15063  # Windows 10 1703: the first build whose DevDetail CSP has DeviceHardwareData
CIMV2 = "root/cimv2"
DMMAP = "root/cimv2/mdm/dmmap"
Q_OS = "SELECT BuildNumber, Caption, Version FROM Win32_OperatingSystem"
Q_BIOS = "SELECT SerialNumber FROM Win32_BIOS"
Q_CS = "SELECT Manufacturer, Model, Name FROM Win32_ComputerSystem"
Q_CSP = "SELECT UUID FROM Win32_ComputerSystemProduct"
Q_MDM = "SELECT * FROM MDM_DevDetail_Ext01 WHERE InstanceID='Ext' AND ParentID='./DevDetail'"

CSV_ENCODINGS = ("ascii", "utf-16")


def _first(rows, what, client):
    if not rows:
        raise WSManError("%s returned no %s instance" % (client.where, what))
    return rows[0]


def _text(value):
    if isinstance(value, list):
        value = value[0] if value else None
    return value.strip() if isinstance(value, str) else value


def collect(client, group_tag="", assigned_user=""):
    """Everything the collector returns, as a dict. Raises typed ``WSManError`` subclasses."""
    os_row = _first(client.enumerate(Q_OS, CIMV2), "Win32_OperatingSystem", client)
    build_text = _text(os_row.get("BuildNumber")) or ""
    build = int(build_text) if build_text.isdigit() else None
    version = _text(os_row.get("Version"))
    caption = _text(os_row.get("Caption"))

    def too_old():
        return UnsupportedWindowsError(
            "Windows on %s is too old for Autopilot: %s build %s. The hardware hash (MDM_DevDetail_Ext01."
            "DeviceHardwareData) exists from Windows 10 version 1703 (build %d); upgrade the device first."
            % (client.where, caption or "Windows", build_text or "unknown", MIN_BUILD), os_build=version)

    if build is not None and build < MIN_BUILD:
        raise too_old()
    bios = _first(client.enumerate(Q_BIOS, CIMV2), "Win32_BIOS", client)
    cs = _first(client.enumerate(Q_CS, CIMV2), "Win32_ComputerSystem", client)
    csp = _first(client.enumerate(Q_CSP, CIMV2), "Win32_ComputerSystemProduct", client)
    try:
        rows = client.enumerate(Q_MDM, DMMAP)
    except FaultError as exc:
        if exc.details.get("missing"):
            raise too_old()
        raise
    serial = _text(bios.get("SerialNumber")) or ""
    manufacturer = _text(cs.get("Manufacturer")) or ""
    model = _text(cs.get("Model")) or ""
    hash_text = _text(rows[0].get("DeviceHardwareData")) if rows else None
    if not hash_text:
        raise EmptyHashError(
            "%s returned an empty hardware hash (MDM_DevDetail_Ext01.DeviceHardwareData is %s): Windows could not "
            "capture it. Check the TPM and firmware are healthy and that the device is not in audit mode, then retry; "
            "no record was produced." % (client.where, "missing" if not rows else "null"), serial_number=serial)
    report = decode(hash_text, serial_number=serial, manufacturer=manufacturer, model=model)
    summary = report.as_dict(include_hash=False)
    wmi_uuid = (_text(csp.get("UUID")) or "").upper()
    if report.uuid and wmi_uuid and report.uuid.upper() != wmi_uuid:
        summary["warnings"].append("SMBIOS UUID %s inside the hash differs from Win32_ComputerSystemProduct.UUID %s" % (report.uuid, wmi_uuid))
    record = {
        "serial_number": serial,
        "manufacturer": manufacturer,
        "model": model,
        "hardware_hash": report.normalized or hash_text,
        "product_id": "",
        "group_tag": group_tag or "",
        "assigned_user": assigned_user or "",
    }
    device = {
        "computer_name": _text(cs.get("Name")),
        "uuid": wmi_uuid or None,
        "os_build": version,
        "os_caption": caption,
        "build_number": build,
    }
    return {"record": record, "device": device, "hash_summary": summary}


# ------------------------------------------------------------------------------------------------ CSV
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def csv_filename(record, fallback):
    name = _UNSAFE.sub("_", (record.get("serial_number") or "").strip()).strip("._") or _UNSAFE.sub("_", fallback)
    return name + ".csv"


def csv_bytes(record, encoding="ascii"):
    """The Get-WindowsAutopilotInfo file for one device: its header, one row, CRLF, no quotes.

    ``ascii`` is what Intune's import accepts as is; ``utf-16`` is byte-for-byte what Windows PowerShell 5.1's
    ``Out-File`` writes on the flash drive (UTF-16LE with BOM).
    """
    header = ["Device Serial Number", "Windows Product ID", "Hardware Hash"]
    row = [record.get("serial_number") or "", record.get("product_id") or "", record.get("hardware_hash") or ""]
    if record.get("group_tag") or record.get("assigned_user"):
        header.append("Group Tag")
        row.append(record.get("group_tag") or "")
    if record.get("assigned_user"):
        header.append("Assigned User")
        row.append(record.get("assigned_user") or "")
    for col, value in zip(header, row, strict=True):
        if "," in value or '"' in value or "\n" in value or "\r" in value:
            raise InputError("%s %s cannot be written to an Autopilot CSV: commas, quotes and line breaks are not "
                             "allowed (the import rejects quoting)" % (col, _echo.echo(value)))
    text = ",".join(header) + "\r\n" + ",".join(row) + "\r\n"
    if encoding == "utf-16":
        return b"\xff\xfe" + text.encode("utf-16-le")
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise InputError("the record has characters outside printable ASCII (%s). Use csv_encoding=utf-16 to keep "
                         "them (then convert before importing)." % ASCII_RULE)


def write_csv(directory, filename, data, check_mode=False):
    """Write ``data`` atomically; (changed, path). Unchanged content is not rewritten."""
    path = os.path.join(directory, filename)
    try:
        with open(path, "rb") as fh:
            if fh.read() == data:
                return False, path
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise OutputError("cannot read %s: %s" % (path, exc))
    if check_mode:
        return True, path
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise OutputError("cannot write %s: %s" % (path, exc))
    write_atomic({path: data}, [path], [], mode=0o644, fsync=False)
    return True, path
