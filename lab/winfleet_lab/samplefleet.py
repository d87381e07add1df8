# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a sample fleet's hash files the way real sources produce them.

Used by ``make demo`` (until the labs run the whole campaign), the tests and the
benchmarks.  Every dialect the merge module reads is represented: flash-drive
CSVs from Get-WindowsAutopilotInfo (UTF-16LE with BOM), a Configuration Manager
report export, an OEM Partner Center file and a Managed Desktop file, plus the
damage real files carry (template rows, Excel, truncation, re-captures).
"""

from __future__ import annotations

import dataclasses
import os
import random

from winfleet_lab import hashgen

AUTOPILOT5 = ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Group Tag", "Assigned User")
AUTOPILOT3 = AUTOPILOT5[:3]
PARTNER = ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Manufacturer name", "Device model")
MMD = ("Manufacturer", "Model", "Serial Number", "Hardware Hash")
CONFIGMGR = ("Manufacturer", "Model", "Serial_Number", "HardwareHash")


def write_csv(path, header, rows, encoding="ascii", newline="\r\n", quote=False):
    def fmt(value):
        return '"%s"' % value if quote else value

    text = newline.join([",".join(fmt(h) for h in header)] + [",".join(fmt(v) for v in row) for row in rows]) + newline
    if encoding == "utf-16":
        data = b"\xff\xfe" + text.encode("utf-16-le")
    elif encoding == "utf-8-sig":
        data = text.encode("utf-8-sig")
    else:
        data = text.encode(encoding)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def write_fleet(folder, seed=7, count=40, damage=True):
    """Write ``count`` devices across the four source kinds; return a dict describing the expectations."""
    os.makedirs(folder, exist_ok=True)
    devices = hashgen.fleet(seed, count)
    hashes = {d.serial: hashgen.build_hash(d) for d in devices}
    quarter = max(1, count // 4)
    usb, cm, oem, mmd = devices[:quarter], devices[quarter:2 * quarter], devices[2 * quarter:3 * quarter], devices[3 * quarter:]
    usb_dir = os.path.join(folder, "usb")
    os.makedirs(usb_dir, exist_ok=True)
    for dev in usb:
        # What Get-WindowsAutopilotInfo -OutputFile writes under Windows PowerShell 5.1.
        write_csv(os.path.join(usb_dir, "%s.csv" % dev.serial), AUTOPILOT3, [(dev.serial, "", hashes[dev.serial])],
                  encoding="utf-16")
    write_csv(os.path.join(folder, "configmgr-export.csv"), CONFIGMGR,
              [(d.manufacturer, d.model, d.serial, hashes[d.serial]) for d in cm], encoding="utf-8-sig")
    write_csv(os.path.join(folder, "oem-partner.csv"), PARTNER,
              [(d.serial, "", hashes[d.serial], d.manufacturer, d.model) for d in oem])
    mmd_rows = [(d.manufacturer, d.model, d.serial, hashes[d.serial]) for d in mmd]
    expect = {"devices": {d.serial for d in devices}, "rejected": {}, "duplicates": 0, "conflicts": set()}
    if damage:
        rng = random.Random(seed + 7919)
        # The Managed Desktop template row, never replaced.
        mmd_rows.insert(0, ("SpiralOrbit", "ContosoABC", "000000000000", "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U"))
        expect["rejected"]["000000000000"] = "template"
        # A re-capture of a device (new capture time, same identity): a duplicate, not a conflict.
        again = dataclasses.replace(usb[0], captured_at=usb[0].captured_at.replace(year=2026, month=11, day=15))
        write_csv(os.path.join(usb_dir, "%s-again.csv" % again.serial), AUTOPILOT3,
                  [(again.serial, "", hashgen.build_hash(again))], encoding="utf-16")
        expect["duplicates"] += 1
        # A hash cut short by a copy/paste.
        cut = hashgen.random_device(rng)
        write_csv(os.path.join(usb_dir, "%s.csv" % cut.serial), AUTOPILOT3,
                  [(cut.serial, "", hashgen.build_hash(cut)[:900])], encoding="utf-16")
        expect["rejected"][cut.serial] = "truncated"
        # Excel turned a numeric serial into scientific notation.
        excel = dataclasses.replace(hashgen.random_device(rng), serial="440012345678")
        write_csv(os.path.join(folder, "excel-damaged.csv"), AUTOPILOT3,
                  [("4.40012E+11", "", hashgen.build_hash(excel))])
        expect["rejected"]["4.40012E+11"] = "scientific"
        # Two different machines claiming one serial (a board swap gone wrong).
        twin = dataclasses.replace(oem[0], uuid="00112233-4455-6677-8899-AABBCCDDEEFF", ek_pub=b"\x07" * 256)
        mmd_rows.append((twin.manufacturer, twin.model, twin.serial, hashgen.build_hash(twin)))
        expect["conflicts"].add(oem[0].serial)
        expect["devices"].discard(oem[0].serial)
    write_csv(os.path.join(folder, "mmd-devices.csv"), MMD, mmd_rows)
    return expect
