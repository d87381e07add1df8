# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real Active Directory domain controller for tests: Samba 4 on loopback.

    dc = SambaDC(directory)          # host 127.0.0.1
    dc.start()                       # install (root only), provision (from a cached template), start, wait
    dc.add_ou("Fleet"); dc.add_computer("PC-01", ou_dn, serial_number="SN1", bitlocker_children=1)
    ...
    dc.stop()

* The domain LAB.EXAMPLE.TEST is provisioned once into ``.build/samba-template`` (about 5 s, plus the TLS
  certificate samba generates on its first start) and copied per run; every path samba writes is inside the
  run's directory (pid, log, ncalrpc, ntp_signd, winbindd, private, state, cache).
* ``samba -i -M single`` with only the ldap, cldap, kdc and rpc services: one process. It runs in the
  foreground with a pipe as stdin: samba exits by itself when that pipe closes, so it cannot outlive the
  Python process that started it, even one killed with SIGKILL. ``stop()`` also terminates it by PID.
* It binds the default ports (389, 636, 88, 135, 464, 3268, 3269) on loopback only (``interfaces=lo``,
  ``bind interfaces only=yes``); one DC runs at a time on a machine (the pytest fixture is session-scoped).
* Objects are added through the collection's own LDAP client (``plugins/module_utils/_ldap.py``).

CLI for the demo: ``python -m winfleet_lab.samba serve --dir D`` prints the connection values as JSON and runs
until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import datetime
import fcntl
import json
import os
import pathlib
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / ".build" / "samba-template"
TEMPLATE_VERSION = "1"  # bump when the provision options change
TEMPLATE_MAX_AGE = 30 * 86400  # the DC's self-signed certificate lasts two years; stay far from it
REALM = "LAB.EXAMPLE.TEST"
DOMAIN = "LAB"
HOSTNAME = "dc1"
ADMIN_PASSWORD = "Passw0rd!Lab2024"
APT_PACKAGES = ("samba-ad-dc", "samba-ad-provision", "krb5-user")
NEEDED = ("/usr/sbin/samba", "/usr/bin/samba-tool", "/usr/share/samba/setup")
READY_TIMEOUT = 60.0


def samba_missing():
    """The files of a Samba AD DC installation that are missing (empty when it is installed)."""
    return [p for p in NEEDED if not os.path.exists(p)]


def install_samba():
    """apt-get install the DC packages (root only). Returns the apt output; raises on failure."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:  # stale package lists: refresh once
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, check=False)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or samba_missing():
        raise RuntimeError("Installing Samba failed (%s): %s" % (" ".join(cmd), (proc.stdout + proc.stderr)[-3000:]))
    return proc.stdout


def require_samba():
    """Make sure Samba is installed: install it as root, else skip the test LOUDLY."""
    missing = samba_missing()
    if not missing:
        return
    if os.geteuid() == 0:
        install_samba()
        return
    pytest.skip("!!!!! SAMBA AD DC NOT INSTALLED - THE ACTIVE DIRECTORY TESTS DID NOT RUN !!!!! Missing: %s. "
                "Run as root once, or: sudo apt-get install -y --no-install-recommends %s"
                % (", ".join(missing), " ".join(APT_PACKAGES)))


def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGTERM samba when the thread that started it goes away (belt and braces: samba
    also exits when its stdin pipe closes)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_open(host, port):
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _sockets(directory, names):
    """copytree ignore: the unix sockets a stopped samba leaves behind (ldapi)."""
    return [n for n in names if stat.S_ISSOCK(os.lstat(os.path.join(directory, n)).st_mode)]


def _ldap():
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _ldap

    return _ldap


def _provision_options(directory):
    d = str(directory)
    return [
        "interfaces=lo", "bind interfaces only=yes",
        "pid directory=%s/run" % d, "log file=%s/log.%%m" % d,
        "ntp signd socket directory=%s/ntp_signd" % d, "winbindd socket directory=%s/winbindd" % d,
        "server services=ldap, cldap, kdc, rpc", "ncalrpc dir=%s/ncalrpc" % d,
    ]


def _run(cmd, what):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %d): %s" % (what, proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
    return proc


class SambaDC:
    """One Samba AD DC in ``directory``. See the module docstring."""

    realm = REALM
    domain = DOMAIN
    server_name = "%s.%s" % (HOSTNAME, REALM.lower())
    base_dn = ",".join("DC=%s" % part for part in REALM.lower().split("."))
    admin_user = "Administrator@%s" % REALM.lower()
    admin_password = ADMIN_PASSWORD
    ldap_port = 389
    ldaps_port = 636

    def __init__(self, directory, host="127.0.0.1"):
        self.directory = pathlib.Path(directory).resolve()
        self.host = host
        self.proc = None
        self._admin = None
        self._log = None

    # -- paths --------------------------------------------------------------------------------------------------

    @property
    def conf(self):
        return self.directory / "etc" / "smb.conf"

    @property
    def ca_path(self):
        return str(self.directory / "private" / "tls" / "ca.pem")

    @property
    def log_path(self):
        return self.directory / "samba.out"

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def connection(self, **overrides):
        """Module options (the winfleet.autopilot.ldap group) for this DC, LDAPS with validation."""
        conn = {"server": self.host, "port": self.ldaps_port, "tls_mode": "ldaps", "ca_path": self.ca_path,
                "tls_server_name": self.server_name, "username": self.admin_user, "password": self.admin_password,
                "search_base": self.base_dn}
        conn.update(overrides)
        return conn

    # -- provisioning -------------------------------------------------------------------------------------------

    @staticmethod
    def _provision(target):
        target.mkdir(parents=True)
        empty = target / "empty.conf"  # not the system smb.conf: no leftover shares, nothing from /etc
        empty.write_text("")
        cmd = ["samba-tool", "domain", "provision", "-s", str(empty), "--targetdir=%s" % target,
               "--realm=%s" % REALM, "--domain=%s" % DOMAIN, "--server-role=dc", "--dns-backend=NONE",
               "--host-name=%s" % HOSTNAME, "--adminpass=%s" % ADMIN_PASSWORD]
        cmd += ["--option=%s" % opt for opt in _provision_options(target)]
        _run(cmd, "samba-tool domain provision")
        _run(["samba-tool", "domain", "passwordsettings", "set", "--max-pwd-age=0", "-H",
              str(target / "private" / "sam.ldb"), "-s", str(target / "etc" / "smb.conf")],
             "samba-tool domain passwordsettings")

    @classmethod
    def ensure_template(cls):
        """Provision the cached template once (and let samba generate its TLS certificate in it)."""
        TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
        with open(TEMPLATE.parent / "samba-template.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            stamp = TEMPLATE / "template.json"
            if stamp.exists():
                info = json.loads(stamp.read_text())
                if info.get("version") == TEMPLATE_VERSION and time.time() - info.get("created", 0) < TEMPLATE_MAX_AGE:
                    return info
            staging = TEMPLATE.with_name("samba-template.new-%d" % os.getpid())
            shutil.rmtree(staging, ignore_errors=True)
            cls._provision(staging)
            first = cls(staging)
            first._launch()
            try:
                first._wait_ready()  # the first start writes private/tls/{ca,cert,key}.pem
            finally:
                first.stop()
            for leftover in ("samba.out", "run", "ncalrpc", "ntp_signd", "winbindd", "msg.sock", "msg.lock"):
                path = staging / leftover
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                elif path.exists():
                    path.unlink()
            info = {"version": TEMPLATE_VERSION, "created": time.time(), "path": str(staging)}
            (staging / "template.json").write_text(json.dumps(info))
            shutil.rmtree(TEMPLATE, ignore_errors=True)
            os.rename(staging, TEMPLATE)
            return info

    def _copy_template(self):
        info = self.ensure_template()
        if self.directory.exists() and any(self.directory.iterdir()):
            raise RuntimeError("SambaDC directory %s is not empty" % self.directory)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)
        shutil.copytree(TEMPLATE, self.directory, symlinks=True, ignore=_sockets)
        # smb.conf is the only file holding absolute paths.
        text = self.conf.read_text().replace(info["path"], str(self.directory))
        self.conf.write_text(text)

    # -- process ------------------------------------------------------------------------------------------------

    def _launch(self):
        for port in (self.ldap_port, self.ldaps_port):
            if _port_open(self.host, port):
                raise RuntimeError("Port %d on %s is already in use: another domain controller (or LDAP server) is "
                                   "running; only one Samba DC can run on this machine at a time" % (port, self.host))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["samba", "-s", str(self.conf), "-i", "-M", "single", "--debuglevel=1"],
            stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(self.directory),
            preexec_fn=_die_with_parent)  # prctl only: safe between fork and exec
        atexit.register(self.stop)

    def _log_tail(self):
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _wait_ready(self, timeout=READY_TIMEOUT):
        """Poll an LDAPS bind (validated against the DC's CA) until it works or the deadline passes."""
        ldap = _ldap()
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("samba exited with %s before it was ready:\n%s" % (self.proc.returncode,
                                                                                      self._log_tail()))
            if os.path.exists(self.ca_path):
                try:
                    with self.client(timeout=5) as conn:
                        conn.default_naming_context()
                    return
                except ldap.LdapError as exc:
                    last = exc
            time.sleep(0.1)
        raise RuntimeError("samba was not ready (LDAPS bind) within %s s: %s\n%s" % (timeout, last, self._log_tail()))

    def start(self):
        require_samba()
        self._copy_template()
        started = time.monotonic()
        self._launch()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self):
        """Terminate samba by its PID and wait for it."""
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(15)
        with contextlib.suppress(OSError):
            proc.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        with contextlib.suppress(ValueError):
            atexit.unregister(self.stop)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- directory helpers (through the collection's LDAP client) ----------------------------------------------

    def client(self, **overrides):
        """A new, not yet connected LdapClient bound as Administrator over validated LDAPS."""
        ldap = _ldap()
        kw = dict(server=self.host, port=self.ldaps_port, tls_mode="ldaps", ca_path=self.ca_path,
                  tls_server_name=self.server_name, username=self.admin_user, password=self.admin_password)
        kw.update(overrides)
        return ldap.LdapClient(**kw)

    def _conn(self):
        if self._admin is None:
            self._admin = self.client().connect()
        return self._admin

    def add_ou(self, name, parent_dn=None):
        """Create (if needed) ``OU=name`` under ``parent_dn`` (the domain) and return its DN."""
        ldap = _ldap()
        dn = "OU=%s,%s" % (ldap.escape_dn_value(name), parent_dn or self.base_dn)
        try:
            self._conn().add(dn, {"objectClass": ["top", "organizationalUnit"]})
        except ldap.LdapError as exc:
            if exc.result_code != 68:  # entryAlreadyExists
                raise
        return dn

    def add_computer(self, name, ou_dn, serial_number=None, description=None, bitlocker_children=0):
        """Create a computer object (``serialNumber`` may be a list) with ``bitlocker_children`` BitLocker
        recovery objects below it; returns its DN."""
        ldap = _ldap()
        dn = "CN=%s,%s" % (ldap.escape_dn_value(name), ou_dn)
        attrs = {"objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
                 "sAMAccountName": "%s$" % name[:15], "userAccountControl": "4096",
                 "dNSHostName": "%s.%s" % (name.lower(), REALM.lower()), "operatingSystem": "Windows 11 Enterprise"}
        if serial_number:
            attrs["serialNumber"] = serial_number if isinstance(serial_number, (list, tuple)) else [serial_number]
        if description:
            attrs["description"] = description
        conn = self._conn()
        conn.add(dn, attrs)
        for i in range(bitlocker_children):
            recovery_id = uuid.uuid4()
            when = (datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
                    + datetime.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S-00:00")
            password = "-".join("%06d" % ((recovery_id.int >> (k * 16)) % 65536 * 11) for k in range(8))
            conn.add("CN=%s{%s},%s" % (when, str(recovery_id).upper(), dn), {
                "objectClass": ["top", "msFVE-RecoveryInformation"],
                "msFVE-RecoveryPassword": password,
                "msFVE-RecoveryGuid": recovery_id.bytes_le,
            })
        return dn

    def add_user(self, name, password, parent_dn=None):
        """Create an enabled domain user (no group but Domain Users) and return its DN; the password goes over the
        admin's LDAPS connection (``unicodePwd``)."""
        ldap = _ldap()
        dn = "CN=%s,%s" % (ldap.escape_dn_value(name), parent_dn or "CN=Users," + self.base_dn)
        self._conn().add(dn, {"objectClass": ["top", "person", "organizationalPerson", "user"],
                              "sAMAccountName": name, "userPrincipalName": "%s@%s" % (name, REALM.lower()),
                              "unicodePwd": ('"%s"' % password).encode("utf-16-le"), "userAccountControl": "512"})
        return dn

    def sid(self, name):
        """The objectSid of the account ``name`` (sAMAccountName), as ``S-1-5-21-...``."""
        ldap = _ldap()
        entries = self.search("(sAMAccountName=%s)" % ldap.escape_filter_value(name), ["objectSid"])
        raw = entries[0][1]["objectsid"][0]
        count, authority = raw[1], int.from_bytes(raw[2:8], "big")
        subs = [int.from_bytes(raw[8 + 4 * i:12 + 4 * i], "little") for i in range(count)]
        return "S-%d-%d-%s" % (raw[0], authority, "-".join(str(x) for x in subs))

    def grant(self, dn, ace):
        """Add the SDDL ``ace`` to the security descriptor of ``dn`` (samba-tool dsacl, on the DC's own database),
        as an administrator delegates rights on an OU with dsacls."""
        _run(["samba-tool", "dsacl", "set", "-H", str(self.directory / "private" / "sam.ldb"), "-s", str(self.conf),
              "--objectdn=%s" % dn, "--sddl=%s" % ace], "samba-tool dsacl set")

    def search(self, ldap_filter, attributes=("cn",), base=None):
        return self._conn().search(base or self.base_dn, ldap_filter, list(attributes))

    def computer_exists(self, name):
        ldap = _ldap()
        return bool(self.search("(&(objectClass=computer)(cn=%s))" % ldap.escape_filter_value(name)))

    def count(self, ldap_filter, base=None):
        return len(self.search(ldap_filter, base=base))


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory):
    """The session's Samba AD DC (started once, stopped at the end of the session)."""
    require_samba()
    dc = SambaDC(tmp_path_factory.mktemp("samba-dc"))
    dc.start()
    try:
        yield dc
    finally:
        dc.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m winfleet_lab.samba", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a DC until SIGTERM/SIGINT, print its connection values as JSON")
    serve.add_argument("--dir", required=True, help="an empty (or missing) directory for the DC's files")
    serve.add_argument("--host", default="127.0.0.1")
    sub.add_parser("install", help="install the Samba AD DC packages when missing (root; otherwise say so loudly)")
    args = parser.parse_args(argv)
    if args.command == "install":
        missing = samba_missing()
        if not missing:
            print("samba: the AD DC packages are installed")
        elif os.geteuid() != 0:
            print("!!!!! Samba AD DC is not installed (missing %s) and this is not root: the Active Directory tests "
                  "will be SKIPPED. Install it with: apt-get install -y --no-install-recommends %s"
                  % (", ".join(missing), " ".join(APT_PACKAGES)), file=sys.stderr)
        else:
            install_samba()
            print("samba: installed %s" % " ".join(APT_PACKAGES))
        return 0
    if samba_missing():
        if os.geteuid() != 0:
            parser.exit(2, "Samba AD DC is not installed (missing %s); run as root to install it\n"
                        % ", ".join(samba_missing()))
        install_samba()
    dc = SambaDC(args.dir, host=args.host)
    dc.start()
    # Block the stop signals only now (samba, already started, does not inherit the mask) and wait for one.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    try:
        print(json.dumps(dict(dc.connection(), ldap_port=dc.ldap_port, ldaps_port=dc.ldaps_port, pid=dc.pid,
                              server_name=dc.server_name, base_dn=dc.base_dn)), flush=True)
        while dc.proc.poll() is None:
            if signal.sigtimedwait([signal.SIGTERM, signal.SIGINT], 1.0) is not None:
                break
    finally:
        dc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
