# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kerberos in the labs: the Samba AD DC (``samba.py``) is the KDC, the WS-Man lab's devices are its computers.

    conf = write_krb5_conf(workdir / "krb5.conf")           # KRB5_CONFIG for the tests and the playbooks they run
    keytab = join_devices(dc, fleet.hosts, workdir / "devices.keytab")   # HTTP/<fqdn> keys of every joined device
    Lab(fleet, keytab=keytab)                               # the devices accept Kerberos with their own keys
    add_user(dc, "collector", password); export_keytab(dc, workdir / "collector.keytab", "collector@LAB.EXAMPLE.TEST")
    register_dc_spns(dc)                                    # ldap/dc1.lab.example.test for the Kerberos LDAP bind

* Nothing on the machine changes: no /etc/krb5.conf, /etc/hosts or DNS entry, no clock change. The generated
  krb5.conf names the KDC by address (127.0.0.1) with ``dns_lookup_kdc``, ``rdns`` and ``dns_canonicalize_hostname``
  off, and keeps tickets in memory; the device names (``desktop-xxxxxxx.lab.example.test``) resolve nowhere: the
  collector connects to the device's address and asks for the ticket of ``HTTP/<fqdn>`` through
  ``ansible_winrm_kerberos_hostname_override``.
* A device is joined as a real domain member is: a computer account ``NAME$`` with ``dNSHostName`` and the SPNs
  ``HOST/<fqdn>``, ``HTTP/<fqdn>`` (and the short names), a random password, its keys exported by
  ``samba-tool domain exportkeytab`` (what an administrator does for a Linux service in a Samba domain).
"""

from __future__ import annotations

import pathlib
import secrets as _random
import subprocess

import pytest

from .samba import REALM

DEVICE_OU = "Lab Devices"


def kerberos_missing():
    """Why pyspnego cannot do Kerberos here (empty when it can)."""
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos

    return _kerberos.missing()


def require_kerberos():
    """Skip the test LOUDLY when the GSSAPI bindings are missing (tools/install-kerberos.sh installs them)."""
    why = kerberos_missing()
    if why:
        pytest.skip("!!!!! KERBEROS BINDINGS MISSING - THE KERBEROS TESTS DID NOT RUN !!!!! Missing %s. Run "
                    "tools/install-kerberos.sh (make sysdeps) as root." % why)


def write_krb5_conf(path, realm=REALM, kdc="127.0.0.1", extra_realms=None):
    """A krb5.conf for the lab's realm (``extra_realms``: {realm: kdc}), used through KRB5_CONFIG only."""
    realms = {realm: kdc}
    realms.update(extra_realms or {})
    lines = [
        "[libdefaults]",
        "    default_realm = %s" % realm,
        "    dns_lookup_kdc = false",
        "    dns_lookup_realm = false",
        "    rdns = false",
        "    dns_canonicalize_hostname = false",
        "    forwardable = true",
        "    udp_preference_limit = 0",  # TCP to the KDC: no UDP retries against a closed port
        "    default_ccache_name = MEMORY:winfleet",  # nothing written to /tmp/krb5cc_<uid>
        "    kdc_timeout = 2",
        "    max_retries = 1",
        "",
        "[realms]",
    ]
    for name, address in realms.items():
        lines += ["    %s = {" % name, "        kdc = %s" % address, "    }"]
    lines += ["", "[domain_realm]", "    .%s = %s" % (realm.lower(), realm), "    %s = %s" % (realm.lower(), realm), ""]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return str(path)


def _samba_tool(dc, *args):
    proc = subprocess.run(["samba-tool", *args, "-s", str(dc.conf)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("samba-tool %s failed: %s" % (" ".join(args[:2]), (proc.stdout + proc.stderr)[-2000:]))
    return proc.stdout


def export_keytab(dc, path, principal=None):
    """``samba-tool domain exportkeytab`` (all keys of the domain without ``principal``); returns the path."""
    args = ["domain", "exportkeytab", str(path)]
    if principal:
        args.append("--principal=%s" % principal)
    _samba_tool(dc, *args)
    return str(path)


def register_dc_spns(dc):
    """The DC's ``ldap/`` service principals (for the Kerberos LDAP bind). A Windows DC, and Samba's
    ``samba_spnupdate`` (its dnsupdate service, which the lab's one-process DC does not run), register them; here
    ``samba-tool spn add`` does, as an administrator would."""
    account = "%s$" % dc.server_name.split(".")[0].upper()
    for spn in ("ldap/%s" % dc.server_name, "ldap/%s" % dc.server_name.split(".")[0].upper(),
                "ldap/%s/%s" % (dc.server_name, REALM.lower())):
        try:
            _samba_tool(dc, "spn", "add", spn, account)
        except RuntimeError as exc:
            if "already" not in str(exc).lower():
                raise
    return dc.server_name


def device_fqdn(host):
    """The device's DNS name as its SPNs carry it: lower case, as MIT Kerberos writes host-based principals."""
    return host.ntlm_names.dns_computer.lower()


def join_devices(dc, hosts, keytab, ou_name=DEVICE_OU):
    """Computer accounts for the joined ``hosts`` (``domain`` = the DC's domain) with their SPNs, and their
    ``HTTP/<fqdn>`` keys in ``keytab``. Returns the keytab path."""
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _ldap

    ou = dc.add_ou(ou_name)
    conn = dc._conn()
    joined = [h for h in hosts if (h.domain or "").lower() == REALM.lower()]
    for host in joined:
        fqdn = device_fqdn(host)
        short = host.computer_name.upper()[:15]
        attrs = {"objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
                 "sAMAccountName": "%s$" % short, "userAccountControl": "4096", "dNSHostName": fqdn,
                 "servicePrincipalName": ["HOST/%s" % fqdn, "HTTP/%s" % fqdn, "HOST/%s" % short, "HTTP/%s" % short],
                 "operatingSystem": "Windows 11 Enterprise",
                 "unicodePwd": ('"%s"' % _random.token_urlsafe(24)).encode("utf-16-le")}
        try:
            conn.add("CN=%s,%s" % (_ldap.escape_dn_value(short), ou), attrs)
        except _ldap.LdapError as exc:
            if exc.result_code != 68:  # already joined by an earlier lab of this DC: its keys are exported below
                raise
    if len(joined) <= BULK_FROM:
        for host in joined:  # what an administrator does for one service: samba-tool exports the SPN's keys
            export_keytab(dc, keytab, "HTTP/%s@%s" % (device_fqdn(host), REALM))
    else:
        _export_bulk(dc, joined, keytab)
    return str(keytab)


BULK_FROM = 16  # more devices than this: one export of the domain's keys (about 0.3 s per samba-tool call otherwise)


def _export_bulk(dc, joined, keytab):
    """One ``exportkeytab`` of every account's keys, then each device's computer-account keys written under its
    ``HTTP/<fqdn>`` name (the keys of a service ticket are the account's, whatever SPN it was asked for)."""
    import krb5

    everything = pathlib.Path(str(keytab) + ".all")
    export_keytab(dc, everything)
    try:
        ctx = krb5.init_context()
        by_account = {"%s$@%s" % (h.computer_name.upper()[:15], REALM): h for h in joined}
        out = krb5.kt_resolve(ctx, ("FILE:%s" % keytab).encode())
        for entry in krb5.kt_resolve(ctx, ("FILE:%s" % everything).encode()):
            host = by_account.get(entry.principal.name.decode())
            if host is not None:
                spn = krb5.parse_name_flags(ctx, ("HTTP/%s@%s" % (device_fqdn(host), REALM)).encode())
                krb5.kt_add_entry(ctx, out, spn, entry.kvno, entry.timestamp, entry.key)
    finally:
        everything.unlink()  # it holds every key of the domain (krbtgt's too)


def add_user(dc, name, password, must_change_password=False):
    """A domain user ``name@REALM`` (Domain Users only); with ``must_change_password`` its password is expired
    (``pwdLastSet`` 0: "User must change password at next logon"). Returns the principal."""
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _ldap

    attrs = {"objectClass": ["top", "person", "organizationalPerson", "user"], "sAMAccountName": name,
             "userPrincipalName": "%s@%s" % (name, REALM.lower()),
             "unicodePwd": ('"%s"' % password).encode("utf-16-le"), "userAccountControl": "512"}
    if must_change_password:
        attrs["pwdLastSet"] = "0"
    try:
        dc._conn().add("CN=%s,CN=Users,%s" % (_ldap.escape_dn_value(name), dc.base_dn), attrs)
    except _ldap.LdapError as exc:
        if exc.result_code != 68:
            raise
    return "%s@%s" % (name, REALM)


# ---------------------------------------------------------------------------------------------- KRB-ERROR tokens
KRB_AP_ERR_SKEW = 37
_KRB5_OID = bytes.fromhex("06092a864886f712010202")  # 1.2.840.113554.1.2.2


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _int(value):
    return _der(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _tagged(n, content):
    return _der(0xA0 + n, content)


def krb_error_token(code, realm, service, host, now=None):
    """A KRB-ERROR (RFC 4120 5.9.1) in its GSS-API framing (RFC 4121 4.1: token id 03 00), as a Windows device
    answers an AP-REQ it cannot accept; ``code`` 37 is KRB_AP_ERR_SKEW: the client's time is too far from the
    device's (the lab's ``clock_skew`` fault: the device's clock is off by an hour)."""
    import datetime

    now = now or datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    sname = _der(0x30, _tagged(0, _int(2)) + _tagged(1, _der(0x30, _der(0x1B, service.encode()) + _der(0x1B, host.encode()))))
    body = _der(0x30, b"".join((
        _tagged(0, _int(5)), _tagged(1, _int(30)),
        _tagged(4, _der(0x18, now.strftime("%Y%m%d%H%M%SZ").encode())), _tagged(5, _int(0)),
        _tagged(6, _int(code)), _tagged(9, _der(0x1B, realm.encode())), _tagged(10, sname))))
    return _der(0x60, _KRB5_OID + b"\x03\x00" + _der(0x7E, body))


def delegate_cleanup(dc, ou_dn, name):
    """Let the user ``name`` delete (tree) and read what is below ``ou_dn``, as an administrator delegates the
    clean-up on an OU (``samba-tool dsacl set`` on the DC's own database; docs/ad.md, least privilege)."""
    raw = dc.search("(sAMAccountName=%s)" % name, ["objectSid"])[0][1]["objectsid"][0]
    subs = [int.from_bytes(raw[8 + 4 * i:12 + 4 * i], "little") for i in range(raw[1])]
    sid = "S-%d-%d-%s" % (raw[0], int.from_bytes(raw[2:8], "big"), "-".join(str(x) for x in subs))
    proc = subprocess.run(["samba-tool", "dsacl", "set", "-H", str(dc.directory / "private" / "sam.ldb"), "-s",
                           str(dc.conf), "--objectdn=%s" % ou_dn, "--sddl=(A;CI;SDDTLCRP;;;%s)" % sid],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("samba-tool dsacl set failed: %s" % (proc.stdout + proc.stderr)[-2000:])
    return sid
