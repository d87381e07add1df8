# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures for the ConfigMgr lab. Import them into a test module:
``from winfleet_lab.configmgr.fixtures import configmgr_lab``.

``configmgr_lab`` is one lab per test module (start-up generates RSA keys: share it); each test adds its own devices
under names no other test of the module uses, and the lab stops at the end of the module.
"""

from __future__ import annotations

import contextlib

import pytest

from winfleet_lab import hashgen

from .server import ConfigMgrLab

LAB_HOST = "127.0.40.1"  # 127.0.40.0/24 is the ConfigMgr lab's range


@contextlib.contextmanager
def running_lab(directory, host=LAB_HOST, **kwargs):
    lab = ConfigMgrLab(directory, host=host, **kwargs).start()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def configmgr_lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("configmgr-lab")) as lab:
        yield lab


def add_fleet(lab, seed, count, prefix="PC", with_hash=True):
    """``count`` devices with valid hardware hashes (``hashgen``); returns [{"resource_id", "name", "device",
    "hardware_hash", "serial_number"}]."""
    out = []
    for i, dev in enumerate(hashgen.fleet(seed, count, vm_every=0)):
        name = "%s-%03d" % (prefix, i + 1)
        text = hashgen.build_hash(dev) if with_hash else None
        rid = lab.add_device(name, dev.serial, hardware_hash=text, smbios_guid=dev.uuid)
        out.append({"resource_id": rid, "name": name, "device": dev, "hardware_hash": text,
                    "serial_number": dev.serial})
    return out
