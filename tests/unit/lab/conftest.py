"""Fixtures for the WS-Man lab's own tests: one in-process lab per module, ephemeral ports (xdist-safe)."""

from __future__ import annotations

import pytest

from winfleet_lab.fixtures_wsman import running_lab

FAULTS = {"pc0002": "bad_password", "pc0003": "access_denied", "pc0004": "too_old", "pc0005": "mi_result_1",
          "pc0006": "silent", "pc0007": "drop", "pc0008": "empty_hash"}


@pytest.fixture(scope="module")
def wsman_lab():
    with running_lab(http_port=0, https_port=0, seed=5, count=9, base_address="127.0.20.1", faults=FAULTS) as lab:
        lab.fleet.by_name["pc0001"].allow_unencrypted = True
        for name in ("pc0000", "pc0001"):  # the Basic cases (Basic is off on Windows until Auth/Basic=true)
            lab.fleet.by_name[name].basic = True
        yield lab
