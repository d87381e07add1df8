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


# Every documented property of each class the lab serves (Microsoft's class reference, "includes all of the inherited
# properties"): ``SELECT *`` renders all of them, the null ones as ``xsi:nil``, as Windows does.
#   https://learn.microsoft.com/windows/win32/cimwin32prov/win32-bios                  (31)
#   https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystem        (64)
#   https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystemproduct (8)
#   https://learn.microsoft.com/windows/win32/cimwin32prov/win32-operatingsystem       (64)
#   https://learn.microsoft.com/windows/win32/dmwmibridgeprov/mdm-devdetail-ext01      (4)
SCHEMA = {
    "Win32_BIOS": (
        "BiosCharacteristics BIOSVersion BuildNumber Caption CodeSet CurrentLanguage Description "
        "EmbeddedControllerMajorVersion EmbeddedControllerMinorVersion IdentificationCode InstallableLanguages "
        "InstallDate LanguageEdition ListOfLanguages Manufacturer Name OtherTargetOS PrimaryBIOS ReleaseDate "
        "SerialNumber SMBIOSBIOSVersion SMBIOSMajorVersion SMBIOSMinorVersion SMBIOSPresent SoftwareElementID "
        "SoftwareElementState Status SystemBiosMajorVersion SystemBiosMinorVersion TargetOperatingSystem Version"
    ).split(),
    "Win32_ComputerSystem": (
        "AdminPasswordStatus AutomaticManagedPagefile AutomaticResetBootOption AutomaticResetCapability "
        "BootOptionOnLimit BootOptionOnWatchDog BootROMSupported BootupState BootStatus Caption ChassisBootupState "
        "ChassisSKUNumber CreationClassName CurrentTimeZone DaylightInEffect Description DNSHostName Domain DomainRole "
        "EnableDaylightSavingsTime FrontPanelResetStatus HypervisorPresent InfraredSupported InitialLoadInfo "
        "InstallDate KeyboardPasswordStatus LastLoadInfo Manufacturer Model Name NameFormat NetworkServerModeEnabled "
        "NumberOfLogicalProcessors NumberOfProcessors OEMLogoBitmap OEMStringArray PartOfDomain PauseAfterReset "
        "PCSystemType PCSystemTypeEx PowerManagementCapabilities PowerManagementSupported PowerOnPasswordStatus "
        "PowerState PowerSupplyState PrimaryOwnerContact PrimaryOwnerName ResetCapability ResetCount ResetLimit Roles "
        "Status SupportContactDescription SystemFamily SystemSKUNumber SystemStartupDelay SystemStartupOptions "
        "SystemStartupSetting SystemType ThermalState TotalPhysicalMemory UserName WakeUpType Workgroup"
    ).split(),
    "Win32_ComputerSystemProduct": "Caption Description IdentifyingNumber Name SKUNumber Vendor Version UUID".split(),
    "Win32_OperatingSystem": (
        "BootDevice BuildNumber BuildType Caption CodeSet CountryCode CreationClassName CSCreationClassName CSDVersion "
        "CSName CurrentTimeZone DataExecutionPrevention_Available DataExecutionPrevention_32BitApplications "
        "DataExecutionPrevention_Drivers DataExecutionPrevention_SupportPolicy Debug Description Distributed "
        "EncryptionLevel ForegroundApplicationBoost FreePhysicalMemory FreeSpaceInPagingFiles FreeVirtualMemory "
        "InstallDate LargeSystemCache LastBootUpTime LocalDateTime Locale Manufacturer MaxNumberOfProcesses "
        "MaxProcessMemorySize MUILanguages Name NumberOfLicensedUsers NumberOfProcesses NumberOfUsers "
        "OperatingSystemSKU Organization OSArchitecture OSLanguage OSProductSuite OSType OtherTypeDescription "
        "PAEEnabled PlusProductID PlusVersionNumber PortableOperatingSystem Primary ProductType RegisteredUser "
        "SerialNumber ServicePackMajorVersion ServicePackMinorVersion SizeStoredInPagingFiles Status SuiteMask "
        "SystemDevice SystemDirectory SystemDrive TotalSwapSpaceSize TotalVirtualMemorySize TotalVisibleMemorySize "
        "Version WindowsDirectory"
    ).split(),
    "MDM_DevDetail_Ext01": "InstanceID ParentID DeviceHardwareData WLANMACAddress".split(),
}


def _full(cls, values):
    """An instance with every documented property of ``cls``: the given values, null for the rest."""
    unknown = set(values) - set(SCHEMA[cls])
    if unknown:
        raise ValueError("%s has no documented propert%s %s" % (cls, "y" if len(unknown) == 1 else "ies", sorted(unknown)))
    return {name: values.get(name) for name in SCHEMA[cls]}


def class_instances(dev, computer_name, hash_text, build_number, workgroup="WORKGROUP", domain=None):
    """``{(namespace, class): [instance]}`` for one device; instance = dict of every documented property."""
    d = dev
    major, minor, build, _rev = (int(x) for x in d.os_build.split("."))
    build = build_number or build
    bios_date = cim_datetime(datetime.datetime(2023, 3, 14))
    install = cim_datetime(d.captured_at - datetime.timedelta(days=30))
    booted = cim_datetime(d.captured_at - datetime.timedelta(hours=2))
    vm = d.model == "Virtual Machine"
    wlan = None if vm or len(d.mac_addresses) < 2 else d.mac_addresses[1]
    caption = os_caption(build)
    bios_vendor = d.firmware_vendor if vm else d.manufacturer
    bios_version = "%s - 1" % d.manufacturer.split()[0].upper()[:6]
    memory_kb = 16615492
    out = {
        (CIMV2, "Win32_BIOS"): [_full("Win32_BIOS", {
            "BiosCharacteristics": [7, 11, 12, 15, 16, 17, 19, 23, 24, 25, 26, 27, 28, 29, 32, 33, 40, 42, 43],
            "BIOSVersion": [bios_version, "%s 1.14.0" % d.firmware_vendor], "Caption": "1.14.0",
            "CurrentLanguage": "en|US|iso8859-1", "Description": "1.14.0", "EmbeddedControllerMajorVersion": 255,
            "EmbeddedControllerMinorVersion": 255, "InstallableLanguages": 1, "ListOfLanguages": ["en|US|iso8859-1"],
            "Manufacturer": bios_vendor, "Name": "1.14.0", "PrimaryBIOS": True, "ReleaseDate": bios_date,
            "SerialNumber": d.serial, "SMBIOSBIOSVersion": "1.14.0", "SMBIOSMajorVersion": 3, "SMBIOSMinorVersion": 3,
            "SMBIOSPresent": True, "SoftwareElementID": "1.14.0", "SoftwareElementState": 3, "Status": "OK",
            "SystemBiosMajorVersion": 1, "SystemBiosMinorVersion": 14, "TargetOperatingSystem": 0,
            "Version": bios_version,
        })],
        (CIMV2, "Win32_ComputerSystem"): [_full("Win32_ComputerSystem", {
            "AdminPasswordStatus": 3, "AutomaticManagedPagefile": True, "AutomaticResetBootOption": True,
            "AutomaticResetCapability": True, "BootROMSupported": True, "BootupState": "Normal boot",
            "BootStatus": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "Caption": computer_name, "ChassisBootupState": 3,
            "ChassisSKUNumber": "Virtual Machine" if vm else "Notebook", "CreationClassName": "Win32_ComputerSystem",
            "CurrentTimeZone": 60, "DaylightInEffect": False, "Description": "AT/AT COMPATIBLE",
            "DNSHostName": computer_name, "Domain": domain or workgroup, "DomainRole": 1 if domain else 0,
            "EnableDaylightSavingsTime": True, "FrontPanelResetStatus": 3, "HypervisorPresent": vm,
            "InfraredSupported": False, "KeyboardPasswordStatus": 3, "Manufacturer": d.manufacturer, "Model": d.model,
            "Name": computer_name, "NetworkServerModeEnabled": True, "NumberOfLogicalProcessors": 8,
            "NumberOfProcessors": 1, "OEMStringArray": ["www.%s.com" % d.manufacturer.split()[0].lower()],
            "PartOfDomain": bool(domain), "PauseAfterReset": -1, "PCSystemType": 1 if vm else 2,
            "PCSystemTypeEx": 1 if vm else 2, "PowerOnPasswordStatus": 3, "PowerState": 0, "PowerSupplyState": 3,
            "PrimaryOwnerName": "IT", "ResetCapability": 1, "ResetCount": -1, "ResetLimit": -1,
            "Roles": ["LM_Workstation", "LM_Server", "NT"], "Status": "OK", "SystemFamily": d.family,
            "SystemSKUNumber": d.sku, "SystemType": "x64-based PC", "ThermalState": 3,
            "TotalPhysicalMemory": memory_kb * 1024, "UserName": None, "WakeUpType": 6,
            "Workgroup": None if domain else workgroup,
        })],
        (CIMV2, "Win32_ComputerSystemProduct"): [_full("Win32_ComputerSystemProduct", {
            "Caption": "Computer System Product", "Description": "Computer System Product", "IdentifyingNumber": d.serial,
            "Name": d.model, "SKUNumber": None, "UUID": d.uuid, "Vendor": d.manufacturer, "Version": d.family or None,
        })],
        (CIMV2, "Win32_OperatingSystem"): [_full("Win32_OperatingSystem", {
            "BootDevice": "\\Device\\HarddiskVolume1", "BuildNumber": str(build), "BuildType": "Multiprocessor Free",
            "Caption": caption, "CodeSet": "1252", "CountryCode": "1", "CreationClassName": "Win32_OperatingSystem",
            "CSCreationClassName": "Win32_ComputerSystem", "CSName": computer_name, "CurrentTimeZone": 60,
            "DataExecutionPrevention_Available": True, "DataExecutionPrevention_32BitApplications": True,
            "DataExecutionPrevention_Drivers": True, "DataExecutionPrevention_SupportPolicy": 2, "Debug": False,
            "Description": "", "Distributed": False, "EncryptionLevel": 256, "ForegroundApplicationBoost": 2,
            "FreePhysicalMemory": 9206184, "FreeSpaceInPagingFiles": 2621440, "FreeVirtualMemory": 10432512,
            "InstallDate": install, "LastBootUpTime": booted, "LocalDateTime": cim_datetime(d.captured_at),
            "Locale": "0409", "Manufacturer": "Microsoft Corporation", "MaxNumberOfProcesses": 4294967295,
            "MaxProcessMemorySize": 137438953344, "MUILanguages": ["en-US"],
            "Name": "%s|C:\\WINDOWS|\\Device\\Harddisk0\\Partition3" % caption, "NumberOfProcesses": 187,
            "NumberOfUsers": 2, "OperatingSystemSKU": 48, "Organization": "", "OSArchitecture": "64-bit",
            "OSLanguage": 1033, "OSProductSuite": 256, "OSType": 18, "PortableOperatingSystem": False, "Primary": True,
            "ProductType": 1, "RegisteredUser": "IT", "SerialNumber": "00330-80000-00000-AA%03d" % (build % 1000),
            "ServicePackMajorVersion": 0, "ServicePackMinorVersion": 0, "SizeStoredInPagingFiles": 2621440,
            "Status": "OK", "SuiteMask": 272, "SystemDevice": "\\Device\\HarddiskVolume3",
            "SystemDirectory": "C:\\WINDOWS\\system32", "SystemDrive": "C:", "TotalVirtualMemorySize": memory_kb + 2621440,
            "TotalVisibleMemorySize": memory_kb, "Version": "%d.%d.%d" % (major, minor, build),
            "WindowsDirectory": "C:\\WINDOWS",
        })],
        (DMMAP, "MDM_DevDetail_Ext01"): [_full("MDM_DevDetail_Ext01", {
            "DeviceHardwareData": hash_text, "InstanceID": "Ext", "ParentID": "./DevDetail", "WLANMACAddress": wlan,
        })],
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
        self.text = text
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

    def check(self, cls):
        """WMI refuses a query that names a property the class does not have (WBEM_E_INVALID_QUERY)."""
        known = {p.lower() for p in SCHEMA.get(cls, ())}
        if not known:
            return
        for name in list(self.props or ()) + [k for k, _ in self.conds]:
            if name.lower() not in known:
                raise soap.invalid_query(self.text)

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
