# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by the integration tests, and how they share a machine under pytest-xdist (``make integration``
runs them with ``-n 2``).

* Every test module runs in one worker: its module-scoped labs listen on fixed addresses (WinRM devices on
  5985/5986 of 127.0.x.y, the ConfigMgr lab on 443 of 127.0.40.x), so two workers could not both start them.
* ONE Samba AD DC for the whole session: it binds the default LDAP ports on 127.0.0.1, so a second one could not
  start. The modules that use it (``SAMBA_MODULES``; a test that uses ``samba_dc`` elsewhere is refused) form one
  work unit together.
* The longest modules are handed out first (``FIRST``), so neither worker is left with a long tail.

(xdist's own ``--dist loadgroup`` cannot do this with pytest 9: it renames ``item._nodeid``, which pytest 9 no longer
reads. ``pytest_xdist_make_scheduler`` is xdist's documented hook for a scheduler of one's own.)
"""

from __future__ import annotations

import pytest

from winfleet_lab import samba

samba_dc = samba.samba_dc

SAMBA_MODULES = ("test_ad_computer.py", "test_cleanup_role.py", "test_kerberos.py", "test_ad_least_privilege.py")
FIRST = ("test_molecule.py", "test_campaign.py", "test_ad_computer.py", "test_cleanup_role.py",
         "test_register_import.py", "test_cleanup_graph.py", "test_profiles_campaign.py", "test_preflight_playbook.py",
         "test_console.py")


def _module(nodeid):
    return nodeid.split("::", 1)[0].rsplit("/", 1)[-1]


def _work_unit(nodeid):
    module = _module(nodeid)
    return "samba" if module in SAMBA_MODULES else nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config, items):
    stray = sorted({_module(i.nodeid) for i in items if "samba_dc" in getattr(i, "fixturenames", ())}
                   - set(SAMBA_MODULES))
    if stray:
        raise pytest.UsageError("tests/integration/conftest.py: add %s to SAMBA_MODULES (it uses samba_dc)"
                                % ", ".join(stray))

    def rank(item):
        module = _module(item.nodeid)
        return FIRST.index(module) if module in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: a module's own order stays


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        """One work unit per module (the Samba modules together), handed out in collection order."""

        def _split_scope(self, nodeid):
            return _work_unit(nodeid)

    config.option.loadscopereorder = False
    return ByModule(config, log)
