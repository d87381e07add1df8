# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""WMI side of the lab: the class shapes a device answers with, the WQL subset, and DSP0227 item rendering."""

from __future__ import annotations

import datetime
import re
from xml.sax.saxutils import escape

from . import soap

CIMV2 = "root/cimv2"
DMMAP = "root/cimv2/mdm/dmmap"


class Datetime(datetime.datetime):
    """Marks a property WinRM renders as ``<cim:Datetime>``."""


def cim_datetime(dt):
    return Datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, tzinfo=datetime.UTC)


def os_caption(build):
    if build >= 22000:
        return "Microsoft Windows 11 Pro"
    if build < 15063:
        return "Microsoft Windows 10 Enterprise 2016 LTSB"
    return "Microsoft Windows 10 Pro"


def class_instances(dev, computer_name, hash_text, build_number):
    """``{(namespace, class): [instance]}`` for one device; instance = ordered dict of properties."""
    d = dev
    major, minor, build, _rev = (int(x) for x in d.os_build.split("."))
    build = build_number or build
    bios_date = cim_datetime(datetime.datetime(2023, 3, 14))
    install = cim_datetime(d.captured_at - datetime.timedelta(days=30))
    wlan = None if d.model == "Virtual Machine" or len(d.mac_addresses) < 2 else d.mac_addresses[1]
    out = {
        (CIMV2, "Win32_BIOS"): [{
            "BIOSVersion": ["%s - 1" % d.manufacturer.split()[0].upper()[:6], "%s 1.14.0" % d.firmware_vendor],
            "Caption": "1.14.0", "Description": "1.14.0", "Manufacturer": d.firmware_vendor if d.model == "Virtual Machine" else d.manufacturer,
            "Name": "1.14.0", "ReleaseDate": bios_date, "SMBIOSBIOSVersion": "1.14.0", "SMBIOSMajorVersion": 3,
            "SMBIOSMinorVersion": 3, "SerialNumber": d.serial, "Status": "OK", "Version": "%s - 1" % d.manufacturer.split()[0].upper()[:6],
        }],
        (CIMV2, "Win32_ComputerSystem"): [{
            "Caption": computer_name, "DNSHostName": computer_name, "Domain": "WORKGROUP", "Manufacturer": d.manufacturer,
            "Model": d.model, "Name": computer_name, "NumberOfLogicalProcessors": 8, "PartOfDomain": False,
            "SystemFamily": d.family, "SystemSKUNumber": d.sku, "SystemType": "x64-based PC",
            "TotalPhysicalMemory": 17014964224, "UserName": None, "Workgroup": "WORKGROUP",
        }],
        (CIMV2, "Win32_ComputerSystemProduct"): [{
            "Caption": "Computer System Product", "Description": "Computer System Product", "IdentifyingNumber": d.serial,
            "Name": d.model, "SKUNumber": None, "UUID": d.uuid, "Vendor": d.manufacturer, "Version": d.family or None,
        }],
        (CIMV2, "Win32_OperatingSystem"): [{
            "BuildNumber": str(build), "BuildType": "Multiprocessor Free", "CSName": computer_name, "Caption": os_caption(build),
            "InstallDate": install, "Locale": "0409", "MUILanguages": ["en-US"], "OSArchitecture": "64-bit", "OSLanguage": 1033,
            "OSType": 18, "ProductType": 1, "SerialNumber": "00330-80000-00000-AA%03d" % (build % 1000),
            "Version": "%d.%d.%d" % (major, minor, build),
        }],
        (DMMAP, "MDM_DevDetail_Ext01"): [{
            "DeviceHardwareData": hash_text, "InstanceID": "Ext", "ParentID": "./DevDetail", "WLANMACAddress": wlan,
        }],
    }
    return out


def _value_xml(name, value):
    if value is None:
        return '<p:%s xsi:nil="true"/>' % name
    if isinstance(value, list):  # arrays repeat the element; an empty array is omitted
        return "".join(_value_xml(name, v) for v in value)
    if isinstance(value, bool):
        return "<p:%s>%s</p:%s>" % (name, "true" if value else "false", name)
    if isinstance(value, Datetime):
        return "<p:%s><cim:Datetime>%s</cim:Datetime></p:%s>" % (name, value.strftime("%Y-%m-%dT%H:%M:%SZ"), name)
    return "<p:%s>%s</p:%s>" % (name, escape(str(value)), name)


def instance_xml(namespace, cls, inst):
    """One item as WinRM renders a WMI instance (``p:`` rebound to the class URI, properties sorted)."""
    uri = "%s%s/%s" % (soap.URI_WMI, namespace, cls)
    props = "".join(_value_xml(k, inst[k]) for k in sorted(inst, key=str.lower))
    return '<p:%s xmlns:p="%s" xmlns:cim="%s" xmlns:xsi="%s" xsi:type="p:%s_Type">%s</p:%s>' % (
        cls, uri, soap.NS["cim"], soap.NS["xsi"], cls, props, cls)


_WQL = re.compile(r"(?is)^\s*select\s+(?P<props>\*|[\w\s,]+?)\s+from\s+(?P<cls>\w+)(?:\s+where\s+(?P<where>.+?))?\s*$")
_COND = re.compile(r"""(?is)^\s*(\w+)\s*=\s*(?:'([^']*)'|"([^"]*)"|(\d+|true|false))\s*$""")


class Query:
    """The WQL subset the collection uses: ``SELECT * | a, b FROM Class [WHERE p = 'v' [AND ...]]``."""

    def __init__(self, text):
        m = _WQL.match(text or "")
        if not m:
            raise soap.bad_filter(text)
        self.cls = m.group("cls")
        props = m.group("props").strip()
        self.props = None if props == "*" else [p.strip() for p in props.split(",") if p.strip()]
        self.conds = []
        where = m.group("where")
        if where:
            for part in re.split(r"(?i)\s+and\s+", where):
                c = _COND.match(part)
                if not c:
                    raise soap.bad_filter(text)
                value = next(g for g in c.groups()[1:] if g is not None)
                self.conds.append((c.group(1).lower(), value))

    def apply(self, instances):
        out = []
        for inst in instances:
            low = {k.lower(): v for k, v in inst.items()}
            if all(_matches(low.get(k), v) for k, v in self.conds):
                if self.props is not None:
                    keep = {p.lower() for p in self.props}
                    inst = {k: v for k, v in inst.items() if k.lower() in keep}
                out.append(inst)
        return out


def _matches(actual, wanted):
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    return actual is not None and str(actual).lower() == wanted.lower()
