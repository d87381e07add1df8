# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The outcomes of a device in the portal's words (the Microsoft Managed Desktop registration pages, the seed) and
how two serial numbers compare. Plain constants without imports: the register stage's plan (``_register_plan``),
which a lookup reads on the controller, needs them without the Graph client."""

from __future__ import annotations

# An import that succeeded is "Registered" (the portal's word): the device is in Windows Autopilot. It is "Ready for
# user" only once a deployment profile is assigned too (issue 16; the shared reference autopilot-lifecycle.md
# section 1).
REGISTERED = "Registered"
READY = "Ready for user"
PROFILE_PENDING = "Profile pending"
NO_PROFILE = "Registered, no profile"
PROFILE_FAILED = "Profile assignment failed"
ALREADY = "Device already registered"
NOT_FOUND = "Device not found"
BAD_HASH = "Hardware hash not valid"
OTHER_ORG = "Device claimed by another organization"
UNEXPECTED = "Unexpected error"
PENDING = "Registration pending"
FAILED = "Registration failed"
ACTIVE = "Active"
INACTIVE = "Inactive"

# Refusals a retry cannot change: the register stage does not send these devices again unless asked to.
FINAL_REFUSALS = (OTHER_ORG, BAD_HASH, NOT_FOUND)

# A fleet registered by corporate identifier (manufacturer, model, serial number; no hardware hash): the register
# stage journals these instead. Such a device is not a Windows Autopilot device - it becomes corporate-owned when it
# enrolls -, so the deliver stage leaves it alone and a later hash import still sends it.
CORPID_REGISTERED = "Corporate identifier registered"
CORPID_REFUSED = "Corporate identifier refused"
CORPID_STATUSES = (CORPID_REGISTERED, CORPID_REFUSED)


def by_identifier(event):
    """Whether a register-stage journal event is a corporate identifier's, not a Windows Autopilot registration."""
    return (event or {}).get("status") in CORPID_STATUSES


def serial_key(serial):
    """How two serial numbers are compared: trimmed, case-insensitive. Import records are matched to devices by this
    key, never by their position in an answer (Microsoft does not promise the order of the records /import returns)."""
    return ("" if serial is None else str(serial)).strip().upper()
