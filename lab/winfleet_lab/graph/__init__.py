# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab: an HTTPS emulator of the Entra token service and the Microsoft Graph
endpoints the collection uses (Autopilot import and devices, Intune managed devices, Entra
devices, users' licences). See docs/graph.md."""

from __future__ import annotations

from .config import LabConfig
from .server import GraphLab
from .service import GraphService

__all__ = ["GraphLab", "GraphService", "LabConfig"]
