# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Licence check before a device is handed to its user ("Deliver the device": obtain and apply the
appropriate licences for that user first)."""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError

# Microsoft Intune and Microsoft Entra ID P1 service plans: what Autopilot user-driven deployment needs.
DEFAULT_REQUIRED = ["INTUNE_A", "AAD_PREMIUM"]


def _matches(required, lic):
    """A requirement is met by a SKU (part number or id) or by a provisioned service plan (name or id)."""
    r = required.lower()
    if r in ((lic.get("skuPartNumber") or "").lower(), (lic.get("skuId") or "").lower()):
        return "ok"
    state = None
    for plan in lic.get("servicePlans") or []:
        if r in ((plan.get("servicePlanName") or "").lower(), (plan.get("servicePlanId") or "").lower()):
            if (plan.get("provisioningStatus") or "").lower() == "success":
                return "ok"
            state = plan.get("provisioningStatus") or "unknown"
    return state


def check_user(client, upn, required):
    entry = {"user_principal_name": upn, "found": True, "licensed": False, "missing": [], "not_provisioned": {},
             "licences": []}
    try:
        details = list(client.paged("/users/%s/licenseDetails" % quote(upn, safe="@")))
    except GraphError as exc:
        if exc.status == 404:
            entry.update(found=False, missing=list(required))
            return entry
        raise
    entry["licences"] = sorted(lic.get("skuPartNumber") or lic.get("skuId") for lic in details)
    for req in required:
        states = [_matches(req, lic) for lic in details]
        if "ok" in states:
            continue
        entry["missing"].append(req)
        pending = [s for s in states if s]
        if pending:
            entry["not_provisioned"][req] = pending[0]
    entry["licensed"] = not entry["missing"]
    return entry


def check_users(client, users, required):
    seen = []
    for u in users:
        u = (u or "").strip()
        if u and u.lower() not in (s.lower() for s in seen):
            seen.append(u)
    return [check_user(client, u, required) for u in seen]
