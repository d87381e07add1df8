"""Fidelity of the lab with ansible-core's own ``winrm`` connection: ``raw`` across basic/ntlm x http/https."""

from __future__ import annotations

import re

import pytest

from winfleet_lab.fixtures_wsman import run_adhoc, running_lab

pytestmark = pytest.mark.integration

COMBOS = [("basic", "http"), ("ntlm", "http"), ("basic", "https"), ("ntlm", "https")]


@pytest.fixture(scope="module")
def raw_lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("wsman-raw")
    with running_lab(seed=31, count=4, base_address="127.0.10.96") as lab:
        lab.fleet.by_name["pc0000"].allow_unencrypted = True  # basic over plain HTTP needs AllowUnencrypted
        for name in ("pc0000", "pc0002"):  # ... and Basic itself is off on Windows until Auth/Basic=true
            lab.fleet.by_name[name].basic = True
        invs = {}
        for i, (transport, scheme) in enumerate(COMBOS):
            host = lab.fleet.hosts[i]
            invs[(transport, scheme)] = lab.fleet.write_inventory(
                str(work / ("%s-%s.ini" % (transport, scheme))), ca_path=lab.ca_path, transport=transport,
                scheme=scheme, hosts=[host])
        yield lab, invs


@pytest.mark.parametrize(("transport", "scheme"), COMBOS)
def test_raw_over_winrm(raw_lab, transport, scheme):
    lab, invs = raw_lab
    index = COMBOS.index((transport, scheme))
    host = lab.fleet.hosts[index]
    rc, out, err = run_adhoc(invs[(transport, scheme)], "windows", "raw", "hostname")
    assert rc == 0, out + err
    assert re.search(r"%s \| CHANGED \| rc=0 >>\s+%s" % (host.name, host.computer_name), out), out
    cmds = [e["command"] for e in lab.fleet.events.events("command", host=host.name)]
    assert cmds[-1] == "hostname", cmds  # ansible wraps raw in powershell -EncodedCommand; the lab decoded it
    auth = lab.fleet.events.events("auth_ok", host=host.name)
    if transport == "ntlm":
        assert auth and auth[-1]["tls"] is (scheme == "https")


def test_raw_with_a_wrong_password_is_unreachable(raw_lab):
    invs = raw_lab[1]
    rc, out, err = run_adhoc(invs[("ntlm", "http")], "windows", "raw", "hostname", "-e", "ansible_password=nope")
    assert rc != 0 and "UNREACHABLE" in out and "credentials" in out, out + err
