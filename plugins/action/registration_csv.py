# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of ``winfleet.autopilot.registration_csv``: runs the module in the ansible worker when it runs on the controller
(see plugin_utils/_in_process.py)."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.plugin_utils._in_process import InProcessModuleAction


class ActionModule(InProcessModuleAction):
    pass
