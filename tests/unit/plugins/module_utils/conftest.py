# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by the module_utils tests that run a stage against the in-process Graph lab."""

from __future__ import annotations

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphClient
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_stage import register
from winfleet_lab.fixtures_graph import devices, write_csv


def lab_client(lab):
    """The collection's Graph client on the lab's registrar app, with short back-offs."""
    return GraphClient(dict(lab.connection("registrar"), backoff_delay=0.01, backoff_max_delay=0.1))


@pytest.fixture
def registered(graph_lab, tmp_path):
    """Three devices registered by the register stage (the journal says so), the tenant's profile for every
    Autopilot device assigned: ``(serial numbers, campaign folder)``."""
    rows = devices(5120, 3)
    upload = tmp_path / "campaign" / "upload"
    upload.mkdir(parents=True)
    write_csv(upload / "registration.csv", rows)
    campaign = tmp_path / "campaign"
    register(lab_client(graph_lab), paths=[str(upload)], journal=str(campaign), run="run-1", poll_interval=0.05,
             wait_timeout=30, delete_import_records=False)
    graph_lab.service.default_profile(None)   # the tenant's profile for every Autopilot device (issue 16) ...
    graph_lab.service.process_now()           # ... assigned: the devices are ready for their users
    return [r["serial_number"] for r in rows], campaign
