# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kerberos against a real KDC (the Samba AD DC), through ansible-playbook: collection from lab devices that refuse
NTLM (with a password, and with a keytab), the errors in the user's words, and the AD clean-up over Kerberos.

The lab's devices are computer accounts of LAB.EXAMPLE.TEST with HTTP/<fqdn> SPNs whose keys Samba exported
(winfleet_lab.kerberos); the collector reaches them by address and asks for HTTP/<fqdn> through
ansible_winrm_kerberos_hostname_override. Nothing on the machine changes: KRB5_CONFIG names a generated krb5.conf.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

from winfleet_lab import kerberos
from winfleet_lab.fixtures_wsman import run_playbook
from winfleet_lab.playbook import ansible_env
from winfleet_lab.samba import REALM
from winfleet_lab.wsman.fleet import Fleet
from winfleet_lab.wsman.server import Lab

pytestmark = [pytest.mark.integration, pytest.mark.samba]

HERE = pathlib.Path(__file__).parent
FLEET = HERE / "collect" / "fleet.yml"
AD_PLAYBOOK = HERE / "ad" / "kerberos.yml"
USER = "collector"
PASSWORD = "Kerb-Collect-2026!"
EXPIRED = "expiredpw"


class Domain:
    """The module's lab: KDC, users, joined devices, krb5.conf."""


@pytest.fixture(scope="module")
def domain(samba_dc, tmp_path_factory):
    kerberos.require_kerberos()
    from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos
    from winfleet_lab import secrets

    secrets.register(PASSWORD, "password")
    d = Domain()
    d.dc = samba_dc
    d.work = tmp_path_factory.mktemp("kerberos")
    d.conf = kerberos.write_krb5_conf(d.work / "krb5.conf")
    d.conf_kdc_down = kerberos.write_krb5_conf(d.work / "krb5-kdc-down.conf", kdc="127.0.0.1:1")
    mp = pytest.MonkeyPatch()
    mp.setenv("KRB5_CONFIG", d.conf)
    mp.setenv("KRB5CCNAME", "MEMORY:winfleet-tests")
    d.principal = kerberos.add_user(samba_dc, USER, PASSWORD)
    kerberos.add_user(samba_dc, EXPIRED, PASSWORD, must_change_password=True)
    d.user_keytab = kerberos.export_keytab(samba_dc, d.work / "collector.keytab", d.principal)
    kerberos.register_dc_spns(samba_dc)
    # every device joined to the domain and refusing NTLM ("Restrict NTLM"); pc0003's clock is an hour off
    # (pc0008 still takes NTLM, with another password than the inventory's)
    d.fleet = Fleet.generate(seed=23, count=9, base_address="127.0.10.224", domain=REALM.lower(), ntlm=False,
                             username=d.principal, password=PASSWORD, devices={"pc0008": {"ntlm": True}},
                             faults={"pc0003": "clock_skew", "pc0008": "bad_password"})
    d.keytab = kerberos.join_devices(samba_dc, d.fleet.hosts, d.work / "devices.keytab")
    d.lab = Lab(d.fleet, keytab=d.keytab).start()
    _kerberos.forget()
    try:
        yield d
    finally:
        d.lab.stop()
        mp.undo()
        _kerberos.forget()


def _override(host):
    return {"ansible_winrm_kerberos_hostname_override": kerberos.device_fqdn(host)}


def _inventory(d, name, host_vars, **group):
    hv = {h.name: dict(_override(h), **host_vars.get(h.name, {})) for h in d.fleet.hosts}
    return d.fleet.write_inventory(str(d.work / name), transport="kerberos", host_vars=hv, extra_vars=group,
                                   hosts=[h for h in d.fleet.hosts if h.name in host_vars])


def _collect(d, inventory, env=None, *args):
    results = d.work / ("fleet-%d.json" % len(list(d.work.glob("fleet-*.json"))))
    rc, out, err = run_playbook(FLEET, inventory, "-e", json.dumps({"results_file": str(results), "concurrency": 8}),
                                *args, env=ansible_env(**(env or {})))
    assert rc == 0, (out + err)[-3000:]
    return json.loads(results.read_text())["devices"], out + err


@pytest.fixture(scope="module")
def password_run(domain):
    d = domain
    hosts = d.fleet.by_name
    https = hosts["pc0001"]
    host_vars = {
        "pc0000": {},                                                      # kerberos, HTTP, message encryption
        "pc0001": {"ansible_port": https.https_port, "ansible_winrm_scheme": "https",  # kerberos, HTTPS, CBT,
                   "ansible_winrm_ca_trust_path": d.lab.ca_path, "ansible_winrm_kerberos_delegation": "true"},  # delegation
        "pc0002": {"ansible_winrm_transport": "ntlm"},                     # NTLM where it is refused
        "pc0003": {},                                                      # the device's clock is off
        "pc0004": {"ansible_winrm_kerberos_hostname_override": "nosuchpc.%s" % REALM.lower()},
        "pc0005": {"ansible_user": "%s@%s" % (EXPIRED, REALM)},            # password expired
        "pc0006": {"ansible_user": "%s@WRONG.EXAMPLE.TEST" % USER},         # a realm krb5.conf does not know
        "pc0007": {"ansible_winrm_transport": "negotiate"},                # SPNEGO: Kerberos chosen, NTLM refused
        "pc0008": {"ansible_winrm_transport": "ntlm", "ansible_user": "admin"},  # NTLM rejected by a domain device
    }
    return _collect(d, _inventory(d, "password.ini", host_vars), {"KRB5_CONFIG": d.conf})


def test_collects_with_kerberos_from_a_password_where_ntlm_is_refused(domain, password_run):
    devices, text = password_run
    for name in ("pc0000", "pc0001", "pc0007"):
        assert "record" in devices[name], (name, devices[name])
        assert devices[name]["record"]["serial_number"] == domain.fleet.by_name[name].device.serial
    ok = {e["host"]: e for e in domain.fleet.events.events("auth_ok")}
    assert ok["pc0000"]["scheme"] == "kerberos" and ok["pc0000"]["user"] == domain.principal
    assert ok["pc0001"]["tls"] is True and ok["pc0007"]["scheme"] == "kerberos"
    assert ok["pc0001"]["delegated"] is True and ok["pc0000"]["delegated"] is False
    assert PASSWORD not in text


def test_ntlm_refused_says_to_use_kerberos(password_run, domain):
    devices, _text = password_run
    res = devices["pc0002"]
    assert res["error"] == "ntlm_refused", res
    assert "refuses NTLM" in res["msg"] and "ansible_winrm_transport: kerberos" in res["msg"]
    # a domain device that rejects the NTLM AUTHENTICATE (wrong password, or "Restrict NTLM" at that step)
    rejected = devices["pc0008"]
    assert rejected["error"] == "bad_credentials", rejected
    assert "if the domain restricts NTLM, use Kerberos" in rejected["msg"]
    assert any(e["host"] == "pc0002" and "NTLM refused" in e.get("reason", "")
               for e in domain.fleet.events.events("auth_refused"))


@pytest.mark.parametrize(("host", "kind", "words"), [
    ("pc0003", "clock_skew", "clocks of this controller"),
    ("pc0004", "unknown_service_principal", "no service principal HTTP/nosuchpc.lab.example.test"),
    ("pc0005", "password_expired", "password of %s@%s has expired" % (EXPIRED, REALM)),
    ("pc0006", "wrong_realm", "realm of %s@WRONG.EXAMPLE.TEST" % USER),
])
def test_each_kerberos_error_in_its_own_words(password_run, host, kind, words):
    devices, _text = password_run
    res = devices[host]
    assert res.get("error") == kind, res
    assert words in res["msg"], res["msg"]


@pytest.mark.parametrize("source", ["keytab", "ticket cache"])
def test_collects_with_kerberos_from_a_keytab_or_a_ticket_cache(domain, source):
    d = domain
    inv = _inventory(d, "%s.ini" % source.replace(" ", "-"), {"pc0000": {}, "pc0001": {}}, ansible_password="")
    env = {"KRB5_CONFIG": d.conf}
    if source == "keytab":
        env.update(KRB5_CLIENT_KTNAME=d.user_keytab, KRB5CCNAME="MEMORY:keytab-run")
    else:  # kinit first (here from the keytab), then the playbook finds the ticket in KRB5CCNAME
        env["KRB5CCNAME"] = "FILE:%s" % (d.work / "ccache")
        subprocess.run(["kinit", "-k", "-t", d.user_keytab, d.principal], check=True, env=dict(os.environ, **env))
    devices, _text = _collect(d, inv, env)
    for name in ("pc0000", "pc0001"):
        assert "record" in devices[name], devices[name]


def test_the_per_host_collector_over_kerberos(domain):
    """hardware_hash_info (one host per task, the same connection settings and client) on a device refusing NTLM."""
    d = domain
    results = d.work / "per-host.json"
    inv = _inventory(d, "per-host.ini", {"pc0000": {}, "pc0002": {"ansible_winrm_transport": "ntlm"}})
    rc, out, err = run_playbook(HERE / "collect" / "collect.yml", inv, "-e", "include_hash=false", "-e",
                                "results_file=%s" % results, env=ansible_env(KRB5_CONFIG=d.conf))
    assert rc == 0, (out + err)[-3000:]
    got = json.loads(results.read_text())
    assert got["pc0000"]["record"]["serial_number"] == d.fleet.by_name["pc0000"].device.serial
    assert got["pc0002"]["error"] == "ntlm_refused"


def test_kdc_unreachable(domain):
    d = domain
    inv = _inventory(d, "kdc-down.ini", {"pc0000": {}})
    devices, _text = _collect(d, inv, {"KRB5_CONFIG": d.conf_kdc_down})
    res = devices["pc0000"]
    assert res["error"] == "kdc_unreachable", res
    assert "no Kerberos KDC" in res["msg"]


def _ad_run(d, tmp_path, name, ldap, env):
    from winfleet_lab.playbook import run_playbook as run_json
    from winfleet_lab.playbook import task_results, write_extravars

    ou = d.dc.add_ou("Kerberos Cleanup")
    kerberos.delegate_cleanup(d.dc, ou, USER)  # the collector's account may clean this OU, nothing more
    d.dc.add_computer(name, ou, serial_number="SN-%s" % name, bitlocker_children=1)
    ev = write_extravars(tmp_path, {"ldap": dict(ldap, search_base=ou), "old_name": name, "old_serial": "SN-%s" % name,
                                    "wrong_realm_user": "%s@WRONG.EXAMPLE.TEST" % USER})
    rc, data, out, err = run_json(AD_PLAYBOOK, "-e", ev, env=env)
    assert rc == 0 and data, (out + err)[-3000:]
    return {t: task_results(data, t) for t in [t["task"]["name"] for t in data["plays"][0]["tasks"]]}, out + err


def _kerberos_ldap(d, **more):
    # plain LDAP, signed and sealed; the DC's DNS name for the service principal ldap/dc1.lab.example.test
    return dict({"server": d.dc.host, "port": d.dc.ldap_port, "tls_mode": "none", "auth": "kerberos",
                 "tls_server_name": d.dc.server_name, "username": d.principal}, **more)


@pytest.mark.parametrize("credential", ["password", "keytab"])
def test_ad_cleanup_over_kerberos(domain, tmp_path, credential):
    d = domain
    name = "PC-KRB-%s" % credential.upper()[:3]
    env = {"KRB5_CONFIG": d.conf, "KRB5CCNAME": "MEMORY:ad-%s" % credential}
    if credential == "password":
        ldap = _kerberos_ldap(d, password=PASSWORD)
    else:
        ldap = _kerberos_ldap(d)
        env["KRB5_CLIENT_KTNAME"] = d.user_keytab
    r, text = _ad_run(d, tmp_path, name, ldap, env)
    assert [c["name"] for c in r["Find the old computer"]["computers"]] == [name]
    removed = r["Remove the old computer and its BitLocker recovery information"]
    assert removed["changed"] and [c["name"] for c in removed["removed"]] == [name]
    assert len(removed["removed"][0]["children"]) == 1
    assert not d.dc.computer_exists(name)
    assert r["Remove it again"]["changed"] is False
    wrong = r["Bind with a realm krb5.conf does not know"]
    assert wrong["failed"], wrong
    if credential == "password":
        assert wrong.get("kerberos_error") == "wrong_realm", wrong
        assert "realm of %s@WRONG.EXAMPLE.TEST" % USER in wrong["msg"]
    assert PASSWORD not in text
