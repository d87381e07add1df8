# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Windows fleet lab: emulated Windows devices speaking WS-Management on loopback addresses.

``Fleet`` says which devices exist and how they misbehave, ``Lab`` serves them; ``python -m winfleet_lab.wsman serve``
is the command line (``make lab``).
"""

from __future__ import annotations

from .fleet import FAULTS, EventLog, Fleet, Host
from .server import Lab

__all__ = ["FAULTS", "EventLog", "Fleet", "Host", "Lab"]
