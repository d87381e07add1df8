# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by the integration tests: ONE Samba AD DC for the whole session (it binds the default LDAP
ports on 127.0.0.1, so a second one could not start)."""

from __future__ import annotations

from winfleet_lab import samba

samba_dc = samba.samba_dc
