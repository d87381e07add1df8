# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ConfigMgr lab: an HTTPS emulator of a Configuration Manager SMS Provider's AdminService (REST/OData) with
Windows integrated authentication (NTLM with channel binding). See docs/configmgr.md."""

from __future__ import annotations

from .server import ConfigMgrLab
from .service import ConfigMgrService, ODataError

__all__ = ["ConfigMgrLab", "ConfigMgrService", "ODataError"]
