# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Licence check before a device is handed to its user ("Deliver the device": obtain and apply the
appropriate licences for that user first).

What an application (app-only token) may read: ``GET /users/{id}/licenseDetails`` supports no application
permission at all (learn.microsoft.com/graph/api/user-list-licensedetails: "Application: Not supported"), so the
check reads the user's ``assignedLicenses`` (SKU ids, disabled plans), ``assignedPlans`` (service plan id, service,
capabilityStatus) and ``provisionedPlans`` (service, provisioningStatus) - ``User.Read.All`` - and names SKUs and
plans through the tenant's ``subscribedSkus`` - ``LicenseAssignment.Read.All``. Without that second permission,
plans are still recognised by the service plan ids Microsoft publishes for the default requirements, or by id.

A requirement is met by an assigned SKU (part number such as ``SPE_E3``, or SKU id) or by an assigned service plan
(name such as ``INTUNE_A``, or id) that is not disabled, is ``Enabled``, and whose service is provisioned. A plan whose
service is still being provisioned, or whose capability is suspended, does not count (``not_provisioned``).
"""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError, GraphPermissionError

# Microsoft Intune and Microsoft Entra ID P1 service plans: what Autopilot user-driven deployment needs.
DEFAULT_REQUIRED = ["INTUNE_A", "AAD_PREMIUM"]
# Service plan ids as Microsoft publishes them ("Product names and service plan identifiers for licensing"), for a
# tenant whose subscribedSkus the app may not read.
KNOWN_PLANS = {"intune_a": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "aad_premium": "41781fb2-bc02-4b7c-bd55-b576c07bb09d"}
USER_SELECT = "id,userPrincipalName,assignedLicenses,assignedPlans,provisionedPlans"


def tenant_skus(client):
    """``{skuId: {part, plans: {planId: planName}}}`` of the tenant's subscriptions, or None when the app may not
    read them (no LicenseAssignment.Read.All)."""
    try:
        # a v1.0 resource (the same in beta): read from v1.0 whatever api_version the modules use
        skus = list(client.paged("%s/v1.0/subscribedSkus" % client.graph_url))
    except GraphPermissionError:
        return None
    out = {}
    for sku in skus:
        plans = {(p.get("servicePlanId") or "").lower(): p.get("servicePlanName") or ""
                 for p in sku.get("servicePlans") or []}
        out[(sku.get("skuId") or "").lower()] = {"part": sku.get("skuPartNumber") or "", "plans": plans}
    return out


def _plan_ids(required, skus):
    """The service plan ids a requirement names (its id, or the plans of that name)."""
    r = required.lower()
    ids = {pid for sku in (skus or {}).values() for pid, name in sku["plans"].items() if name.lower() == r}
    if r in KNOWN_PLANS:
        ids.add(KNOWN_PLANS[r])
    if len(r) == 36 and r.count("-") == 4:
        ids.add(r)
    return ids


def judge(user, required, skus):
    """(missing, not_provisioned, licences) of one user record (``GET /users/{id}?$select=`` USER_SELECT)."""
    assigned = [lic for lic in user.get("assignedLicenses") or [] if lic.get("skuId")]
    sku_ids = {lic["skuId"].lower() for lic in assigned}
    disabled = {d.lower() for lic in assigned for d in lic.get("disabledPlans") or []}
    names = sorted((skus or {}).get(i, {}).get("part") or i for i in sku_ids)
    plans = {}
    for plan in user.get("assignedPlans") or []:
        pid = (plan.get("servicePlanId") or "").lower()
        if pid and pid not in disabled:
            plans.setdefault(pid, plan)
    provisioning = {}
    for plan in user.get("provisionedPlans") or []:
        provisioning.setdefault((plan.get("service") or "").lower(), []).append(plan.get("provisioningStatus") or "")
    missing, pending = [], {}
    for req in required:
        r = req.lower()
        if r in sku_ids or any((skus or {}).get(i, {}).get("part", "").lower() == r for i in sku_ids):
            continue
        held = [plans[i] for i in _plan_ids(req, skus) if i in plans]
        ready = [p for p in held if (p.get("capabilityStatus") or "") == "Enabled"
                 and all(s == "Success" for s in provisioning.get((p.get("service") or "").lower(), ["Success"]))]
        if ready:
            continue
        missing.append(req)
        if held:
            plan = held[0]
            states = [s for s in provisioning.get((plan.get("service") or "").lower(), []) if s != "Success"]
            pending[req] = plan.get("capabilityStatus") if plan.get("capabilityStatus") != "Enabled" else (
                states[0] if states else "unknown")
    return missing, pending, names


def check_user(client, upn, required, skus=None):
    entry = {"user_principal_name": upn, "found": True, "licensed": False, "missing": [], "not_provisioned": {},
             "licences": []}
    try:
        user = client.get("/users/%s" % quote(upn, safe="@"), params={"$select": USER_SELECT})
    except GraphError as exc:
        if exc.status == 404:
            entry.update(found=False, missing=list(required))
            return entry
        raise
    entry["missing"], entry["not_provisioned"], entry["licences"] = judge(user or {}, required, skus)
    entry["licensed"] = not entry["missing"]
    return entry


def check_users(client, users, required):
    seen = []
    for u in users:
        u = (u or "").strip()
        if u and u.lower() not in (s.lower() for s in seen):
            seen.append(u)
    if not seen:
        return []
    skus = tenant_skus(client)
    return [check_user(client, u, required, skus) for u in seen]
