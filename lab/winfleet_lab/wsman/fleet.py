# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet model: which emulated devices exist, what they answer, and how they misbehave.

A fleet is generated from a seed (``hashgen.fleet``) and optionally shaped by a fleet file (YAML or JSON)::

    seed: 7
    count: 12
    base_address: 127.0.9.1       # device i listens on base + i (one address per device, loopback only)
    username: admin
    password: Fleet-Pass-1
    latency_ms: 0                 # injected before every response of every device
    # The WinRM service settings of every device (winrm/config/service), Windows' defaults shown:
    allow_unencrypted: false      # AllowUnencrypted: plain (unsealed) SOAP over HTTP is refused, Basic over HTTP too
    basic: false                  # Auth/Basic: Basic authentication is refused (and not offered in the 401)
    cbt_hardening_level: Relaxed  # Auth/CbtHardeningLevel: None | Relaxed | Strict (HTTPS channel binding)
    workgroup: WORKGROUP          # the workgroup of the devices that are not joined
    domain: null                  # an AD DNS domain (corp.example.test): every device is joined to it
    ntlm: true                    # false: the device refuses NTLM (the domain's "Restrict NTLM" policy): Kerberos only
    devices:                      # per device (inventory name or index): any of the settings above
      pc0002: {cbt_hardening_level: Strict}
      3: {domain: corp.example.test, basic: true}
    faults:                       # by inventory name or index; a name or a {name: parameter} mapping
      pc0003: offline
      4: {slow: 400}
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import threading
import time

from .. import hashgen, secrets
from . import wmi
from .ntlm import DeviceNames, cbt_level

FAULTS = {
    "offline": "nothing listens: connection refused",
    "silent": "the connection is accepted but never answered: the client times out",
    "bad_password": "the device's administrator password differs from the inventory's: HTTP 401",
    "access_denied": "WMI refuses root/cimv2/mdm/dmmap to the user (a UAC-filtered local account)",
    "too_old": "Windows 10 1607 (build 14393): MDM_DevDetail_Ext01 does not exist",
    "empty_hash": "MDM_DevDetail_Ext01 answers with a null DeviceHardwareData",
    "mi_result_1": "the KB5013942 'general error (MI RESULT 1)' on MDM_DevDetail_Ext01",
    "drop": "the connection is dropped in the middle of the MDM_DevDetail_Ext01 response (parameter: how many times, 0 = always)",
    "slow": "latency in ms injected before every response (parameter: ms)",
    "clock_skew": "the device's clock is an hour off: it answers a Kerberos AP-REQ with KRB_AP_ERR_SKEW",
}
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "Fleet-Pass-1"
WRONG_PASSWORD = "Someone-Changed-It-9"
# The per-device WinRM service settings a fleet file (``devices:``) may set, with Windows' defaults.
SERVICE_DEFAULTS = {"allow_unencrypted": False, "basic": False, "cbt_hardening_level": "Relaxed",
                    "workgroup": "WORKGROUP", "domain": None, "ntlm": True}


class EventLog:
    """Who asked what, who was shut down: a thread-safe list, optionally mirrored to a JSON-lines file."""

    def __init__(self, path=None):
        self._lock = threading.Lock()
        self._events = []
        self._cond = threading.Condition(self._lock)
        self._fh = open(path, "a", encoding="utf-8") if path else None
        # Called with every event as it is recorded, in the thread serving the request (before the device answers):
        # the crash tests kill the playbook at an exact point this way.
        self.listeners = []

    def record(self, host, kind, **data):
        ev = {"t": round(time.time(), 3), "host": host.name, "address": host.address, "kind": kind}
        ev.update(data)
        with self._cond:
            self._events.append(ev)
            if self._fh:
                self._fh.write(json.dumps(ev) + "\n")
                self._fh.flush()
            self._cond.notify_all()
        for listener in list(self.listeners):
            listener(ev)
        return ev

    def events(self, kind=None, host=None):
        with self._lock:
            return [e for e in self._events if (kind is None or e["kind"] == kind) and (host is None or e["host"] == host)]

    def wait_for(self, predicate, timeout=10.0):
        """Block until ``predicate(events)`` is true (tests wait on this instead of sleeping)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._events), timeout)

    def close(self):
        if self._fh:
            self._fh.close()
            self._fh = None


@dataclasses.dataclass
class Host:
    """One emulated Windows device."""

    name: str
    address: str
    computer_name: str
    device: hashgen.Device
    hash_text: str | None
    username: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    faults: dict = dataclasses.field(default_factory=dict)
    latency: float = 0.0
    # WinRM service settings (winrm/config/service), Windows' defaults
    allow_unencrypted: bool = False
    basic: bool = False
    cbt_hardening_level: str = "Relaxed"
    workgroup: str = "WORKGROUP"
    domain: str | None = None  # the AD DNS domain when the device is joined
    ntlm: bool = True  # False: NTLM refused ("Restrict NTLM: incoming NTLM traffic = deny all"), Kerberos only
    http_port: int = 5985
    https_port: int = 5986
    powered: bool = True
    classes: dict = dataclasses.field(default_factory=dict)
    enumerations: dict = dataclasses.field(default_factory=dict)
    shells: dict = dataclasses.field(default_factory=dict)
    drops_left: int = -1

    @property
    def os_build(self):
        return int(self.classes[(wmi.CIMV2, "Win32_OperatingSystem")][0]["BuildNumber"])

    @property
    def ntlm_names(self):
        """The names the device's NTLM CHALLENGE carries (its own, never the emulator machine's)."""
        return DeviceNames(self.computer_name, self.workgroup, self.domain)

    def inventory_vars(self):
        return {"ansible_host": self.address, "ansible_port": self.http_port}


def addresses(base, count):
    start = int(ipaddress.IPv4Address(base))
    out = [str(ipaddress.IPv4Address(start + i)) for i in range(count)]
    for a in out:
        if not ipaddress.IPv4Address(a).is_loopback:
            raise ValueError("the lab only listens on 127.0.0.0/8, not on %s" % a)
    return out


def _index_or_name(key, names):
    name = names[int(key)] if isinstance(key, int) or str(key).isdigit() else str(key)
    if name not in names:
        raise ValueError("settings for unknown device %r" % key)
    return name


def _service_settings(fleet_level, devices, names):
    """{name: settings} for every device: Windows' defaults, the fleet's, then the device's own (``devices:``)."""
    base = dict(SERVICE_DEFAULTS)
    base.update({k: v for k, v in fleet_level.items() if v is not None})
    out = {n: dict(base) for n in names}
    for key, spec in (devices or {}).items():
        name = _index_or_name(key, names)
        unknown = set(spec or {}) - set(SERVICE_DEFAULTS)
        if unknown:
            raise ValueError("unknown device setting(s) %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(SERVICE_DEFAULTS)))
        out[name].update(spec or {})
    for settings in out.values():
        settings["cbt_hardening_level"] = cbt_level(settings["cbt_hardening_level"])
        settings["allow_unencrypted"] = bool(settings["allow_unencrypted"])
        settings["basic"] = bool(settings["basic"])
        settings["ntlm"] = bool(settings["ntlm"])
    return out


def _normalize_faults(raw, names):
    out = {}
    for key, spec in (raw or {}).items():
        name = names[int(key)] if isinstance(key, int) or str(key).isdigit() else str(key)
        if name not in names:
            raise ValueError("fault for unknown device %r" % key)
        if isinstance(spec, str):
            spec = {spec: True}
        elif isinstance(spec, list):
            spec = {s: True for s in spec}
        for fault in spec:
            if fault not in FAULTS:
                raise ValueError("unknown fault %r (known: %s)" % (fault, ", ".join(FAULTS)))
        out[name] = dict(spec)
    return out


class Fleet:
    """All devices of one lab, keyed by inventory name and by address."""

    def __init__(self, hosts, events=None, username=DEFAULT_USER, password=DEFAULT_PASSWORD):
        self.username = username
        self.password = password
        self.hosts = list(hosts)
        self.by_name = {h.name: h for h in self.hosts}
        self.by_address = {h.address: h for h in self.hosts}
        self.events = events or EventLog()

    @classmethod
    def generate(cls, seed=7, count=8, base_address="127.0.9.1", faults=None, username=DEFAULT_USER,
                 password=DEFAULT_PASSWORD, latency_ms=0, allow_unencrypted=False, vm_every=17, events=None,
                 name_format="pc%04d", basic=False, cbt_hardening_level="Relaxed", workgroup="WORKGROUP", domain=None,
                 devices=None, ntlm=True):
        """``allow_unencrypted``, ``basic``, ``cbt_hardening_level``, ``workgroup`` and ``domain`` are every
        device's WinRM service settings (Windows' defaults by default); ``devices`` sets them per device."""
        hw = hashgen.fleet(seed, count, vm_every=vm_every)
        addrs = addresses(base_address, count)
        names = [name_format % i for i in range(count)]
        faults = _normalize_faults(faults, names)
        service = _service_settings({"allow_unencrypted": allow_unencrypted, "basic": basic,
                                     "cbt_hardening_level": cbt_hardening_level, "workgroup": workgroup,
                                     "domain": domain, "ntlm": ntlm}, devices, names)
        hosts = []
        secrets.register(password, "password")  # tools/secretscan.py proves it never reaches an artifact
        if any("bad_password" in f for f in faults.values()):
            secrets.register(WRONG_PASSWORD, "password")
        for i, (dev, addr, name) in enumerate(zip(hw, addrs, names, strict=True)):
            f = faults.get(name, {})
            build = None
            if "too_old" in f:
                dev = dataclasses.replace(dev, os_build="10.0.14393.5582")
                build = 14393
            hash_text = None if "empty_hash" in f else hashgen.build_hash(dev)
            computer = "DESKTOP-%s" % (dev.serial.replace("-", "")[-7:].upper().rjust(7, "0"))
            if dev.model == "Virtual Machine":
                computer = "VM-%04d" % i
            host = Host(
                name=name, address=addr, computer_name=computer, device=dev, hash_text=hash_text, username=username,
                password=WRONG_PASSWORD if "bad_password" in f else password, faults=f,
                latency=(latency_ms + (int(f["slow"]) if "slow" in f else 0)) / 1000.0, **service[name],
            )
            host.classes = wmi.class_instances(dev, computer, hash_text, build, workgroup=host.workgroup,
                                               domain=host.domain)
            if "drop" in f:
                n = f["drop"]
                host.drops_left = -1 if n is True or int(n) == 0 else int(n)
            hosts.append(host)
        return cls(hosts, events, username=username, password=password)

    @classmethod
    def from_file(cls, path, events=None, **overrides):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        if path.endswith(".json"):
            spec = json.loads(text)
        else:
            import yaml  # PyYAML ships with ansible-core

            spec = yaml.safe_load(text) or {}
        spec.update({k: v for k, v in overrides.items() if v is not None})
        return cls.generate(events=events, **spec)

    def write_inventory(self, path, ca_path=None, transport="ntlm", scheme="http", group="windows", extra_vars=None,
                        host_vars=None, hosts=None):
        """An INI inventory for the fleet: standard winrm connection variables only."""
        lines = ["[%s]" % group]
        for h in hosts if hosts is not None else self.hosts:
            port = h.https_port if scheme == "https" else h.http_port
            more = "".join(" %s=%s" % kv for kv in (host_vars or {}).get(h.name, {}).items())
            lines.append("%s ansible_host=%s ansible_port=%d%s" % (h.name, h.address, port, more))
        lines += ["", "[%s:vars]" % group, "ansible_connection=winrm", "ansible_user=%s" % self.username,
                  "ansible_password=%s" % self.password, "ansible_winrm_transport=%s" % transport,
                  "ansible_winrm_scheme=%s" % scheme]
        if scheme == "https":
            lines.append("ansible_winrm_server_cert_validation=validate")
            if ca_path:
                lines.append("ansible_winrm_ca_trust_path=%s" % ca_path)
        for k, v in (extra_vars or {}).items():
            lines.append("%s=%s" % (k, v))
        tmp = "%s.tmp%d" % (path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
        return path
