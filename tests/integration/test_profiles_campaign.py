# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ready means ready (issue 16), playbooks/refresh.yml on small lab fleets through ansible-playbook:

* a fleet whose group tag no deployment profile reaches ends "Registered, no profile", with the cause in the user's
  words, in the journal, the report and the JUnit file;
* a fleet whose tag the tenant's profile targets: a run that does not wait leaves it "Profile pending"; once the lab's
  service has assigned the profile (the lab decides: no sleep), a re-run ends "Ready for user" with the profile's
  name, and a third run changes nothing;
* a device without TPM 2.0 attestation under a self-deploying profile ends "Profile assignment failed", in words.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from winfleet_lab.campaign import Campaign

pytestmark = pytest.mark.integration

FLEET = {"fleet_poll_interval": 1, "fleet_wait_timeout": 60, "fleet_profile_poll_interval": 0.5,
         "fleet_assigned_users": {}, "fleet_cleanup_enabled": False}


def _deliver(camp):
    return {serial: stages["deliver"] for serial, stages in camp.latest().items() if "deliver" in stages}


def test_no_profile_reaches_the_fleet_tag(tmp_path):
    camp = Campaign(tmp_path, "127.0.61.1", count=2, seed=1661, overrides=FLEET, profile_group_tag="SALES").start()
    try:
        rc, _data, out, err = camp.run(threshold=100)
        assert rc == 0, out[-3000:] + err[-2000:]
        delivered = _deliver(camp)
        assert len(delivered) == 2
        for ev in delivered.values():
            assert (ev["outcome"], ev["status"]) == ("failed", "Registered, no profile")
            assert ev["detail"]["profile"]["cause"].startswith(
                "no deployment profile targets group tag WINFLEET-LAB; profiles reach: 'User-driven SALES' -> "
                "'Autopilot devices SALES'")
        report = json.loads((camp.dir / "report" / "report.json").read_text())
        assert report["summary"]["by_status"] == {"Registered, no profile": 2}
        cases = ET.parse(camp.dir / "report" / "junit.xml").getroot().iter("testcase")  # noqa: S314 - our own file
        messages = [case.find("failure").get("message") for case in cases]
        assert messages and all(m.startswith("Registered, no profile: no deployment profile targets group tag "
                                             "WINFLEET-LAB") for m in messages)
    finally:
        camp.stop()


def test_pending_profile_completes_on_a_rerun(tmp_path):
    camp = Campaign(tmp_path, "127.0.62.1", count=2, seed=1662, overrides=dict(FLEET, fleet_profile_wait_timeout=0),
                    graph_settings={"membership_delay": 6000.0}).start()  # a minute at the lab's 1:100: no race
    try:
        rc, _data, out, err = camp.run(threshold=0)
        assert rc == 0, out[-3000:] + err[-2000:]                 # pending is not a failure
        assert {ev["status"] for ev in _deliver(camp).values()} == {"Profile pending"}
        report = json.loads((camp.dir / "report" / "report.json").read_text())
        assert report["summary"]["by_status"] == {"Profile pending": 2}

        camp.labs.graph.service.process_now()                      # the service has assigned the profile
        rc, _data, out, err = camp.run(threshold=0)
        assert rc == 0, out[-3000:] + err[-2000:]
        delivered = _deliver(camp)
        assert {(ev["outcome"], ev["status"]) for ev in delivered.values()} == {("ok", "Ready for user")}
        assert {ev["detail"]["profile"]["name"] for ev in delivered.values()} == {"User-driven WINFLEET-LAB"}

        journal = camp.journal.read_bytes()
        rc, _data, out, err = camp.run(threshold=0)
        assert rc == 0 and camp.journal.read_bytes() == journal    # nothing changed, nothing journaled
    finally:
        camp.stop()


def test_a_device_that_fails_the_profiles_hardware_requirements(tmp_path):
    """A self-deploying profile targets the fleet's tag; one device has no TPM 2.0 attestation: the service fails its
    assignment (hardwareRequirementsNotMet) and the campaign says so in words; the other device is ready."""
    camp = Campaign(tmp_path, "127.0.64.1", count=2, seed=1663, overrides=FLEET, profile_group_tag="ELSEWHERE").start()
    try:
        group = camp.labs.control("groups", {
            "displayName": "Kiosks", "membershipRule": '(device.devicePhysicalIds -any (_ -eq "[OrderID]:WINFLEET-LAB"))'})
        camp.labs.control("profiles", {"displayName": "Self-deploying kiosks", "selfDeploying": True,
                                       "groupIds": [group["id"]]})
        tpm_less, healthy = camp.serial("pc0000"), camp.serial("pc0001")
        camp.labs.control("hardware", {"tpmLessSerials": [tpm_less]})
        rc, _data, out, err = camp.run(threshold=100)
        assert rc == 0, out[-3000:] + err[-2000:]
        delivered = _deliver(camp)
        failed = delivered[tpm_less]
        assert (failed["outcome"], failed["status"]) == ("failed", "Profile assignment failed")
        assert failed["detail"]["profile"]["cause"] == (
            "the device does not meet the profile's hardware requirements (self-deploying and pre-provisioning need "
            "TPM 2.0 with device attestation) (hardwareRequirementsNotMet)")
        assert (delivered[healthy]["status"], delivered[healthy]["detail"]["profile"]["name"]) == (
            "Ready for user", "Self-deploying kiosks")
        report = json.loads((camp.dir / "report" / "report.json").read_text())
        assert report["summary"]["by_status"] == {"Profile assignment failed": 1, "Ready for user": 1}
    finally:
        camp.stop()
