# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AD rights docs/getting-started.md gives the clean-up account, tried on the real Samba AD DC: an ordinary
domain user with only the two delegated ACEs on the workstation OU finds, dry-runs and deletes a re-used computer with
its BitLocker recovery children there, and is refused (in words) for a computer in another OU."""

from __future__ import annotations

import json
import pathlib

import pytest

from winfleet_lab.playbook import run_playbook, task_results

pytestmark = [pytest.mark.integration, pytest.mark.samba]

PLAYBOOK = pathlib.Path(__file__).parent / "ad" / "least_privilege.yml"
COMPUTER = "bf967a86-0de6-11d0-a285-00aa003049e2"       # schemaIDGUID of the computer class
RECOVERY = "ea715d30-8f53-40d0-bd1e-6109186d782c"       # schemaIDGUID of msFVE-RecoveryInformation
BITLOCKER = "(objectClass=msFVE-RecoveryInformation)"


def test_the_documented_delegation_is_enough_and_no_more(samba_dc, tmp_path):
    dc = samba_dc
    workstations, servers = dc.add_ou("LP-Workstations"), dc.add_ou("LP-Servers")
    dc.add_computer("LP-PC-01", workstations, serial_number="SN-LP-1", bitlocker_children=2)
    dc.add_computer("LP-SRV-01", servers, serial_number="SN-LP-2")
    dc.add_user("svc-lp-cleanup", "Cleanup-Pass-2026!")
    sid = dc.sid("svc-lp-cleanup")
    # docs/getting-started.md, section 6: SD+DT on descendant computers, LC+RP on descendant BitLocker objects
    dc.grant(workstations, "(A;CIIO;SDDT;;%s;%s)" % (COMPUTER, sid))
    dc.grant(workstations, "(A;CIIO;LCRP;;%s;%s)" % (RECOVERY, sid))
    ldap = dict(dc.connection(), username="svc-lp-cleanup@lab.example.test", password="Cleanup-Pass-2026!")
    ldap.pop("search_base", None)
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"ldap": dict(ldap, search_base=dc.base_dn), "names": ["LP-PC-01", "LP-SRV-01"]}))
    extra.chmod(0o600)

    rc, data, out, err = run_playbook(PLAYBOOK, "-e", "@%s" % extra)
    assert data is not None and rc == 0, out[-3000:] + err[-2000:]
    found, dry, real = (task_results(data, n) for n in ("Look the devices up", "Dry run", "Delete"))
    assert sorted(c["name"] for c in found["computers"]) == ["LP-PC-01", "LP-SRV-01"]
    pc = next(c for c in dry["removed"] if c["name"] == "LP-PC-01")
    assert len(pc["children"]) == 2                                   # the dry run sees what the delete will take
    assert not dc.computer_exists("LP-PC-01") and dc.count(BITLOCKER, base=workstations) == 0
    assert dc.computer_exists("LP-SRV-01")                            # no right there: refused, left alone
    assert real["failed"] is True and [c["name"] for c in real["removed"]] == ["LP-PC-01"]
    refused = next(r for r in real["results"] if r.get("failed"))
    assert "insufficient" in refused["msg"].lower() and "LP-SRV-01" in refused["msg"]
