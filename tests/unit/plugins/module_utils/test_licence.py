# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The licence check from what an application may read (module_utils/_licence.py): a user's assigned licences,
assigned plans and provisioned plans, named through the tenant's subscribed SKUs or the published plan ids."""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils import _licence as L

E3, INTUNE_SKU = "05e9a617-0261-4cee-bb44-138d3ef5d965", "061f9ace-7d42-4136-88ac-31dc755f143f"
INTUNE, ENTRA = L.KNOWN_PLANS["intune_a"], L.KNOWN_PLANS["aad_premium"]
SKUS = {E3: {"part": "SPE_E3", "plans": {INTUNE: "INTUNE_A", ENTRA: "AAD_PREMIUM"}},
        INTUNE_SKU: {"part": "INTUNE_A", "plans": {INTUNE: "INTUNE_A"}}}


def _user(skus=(), plans=(), provisioned=(), disabled=()):
    return {"assignedLicenses": [{"skuId": s, "disabledPlans": list(disabled)} for s in skus],
            "assignedPlans": [{"servicePlanId": pid, "service": svc, "capabilityStatus": st} for pid, svc, st in plans],
            "provisionedPlans": [{"service": svc, "provisioningStatus": st} for svc, st in provisioned]}


E3_USER = _user([E3], [(INTUNE, "SCO", "Enabled"), (ENTRA, "AADPremiumService", "Enabled")],
                [("SCO", "Success"), ("AADPremiumService", "Success")])


def test_plans_and_skus_by_name_or_id():
    assert L.judge(E3_USER, ["INTUNE_A", "AAD_PREMIUM"], SKUS) == ([], {}, ["SPE_E3"])
    assert L.judge(E3_USER, ["spe_e3", E3.upper()], SKUS)[0] == []
    assert L.judge(E3_USER, ["EMS"], SKUS)[0] == ["EMS"]


def test_without_the_tenants_skus_the_published_plan_ids_still_count():
    assert L.judge(E3_USER, ["INTUNE_A", "AAD_PREMIUM"], None) == ([], {}, [E3])
    assert L.judge(E3_USER, ["SPE_E3"], None)[0] == ["SPE_E3"]  # a SKU's part number needs subscribedSkus


def test_pending_suspended_and_disabled_plans_do_not_count():
    pending = _user([E3], [(INTUNE, "SCO", "Enabled"), (ENTRA, "AADPremiumService", "Enabled")],
                    [("SCO", "PendingInput"), ("AADPremiumService", "Success")])
    assert L.judge(pending, ["INTUNE_A", "AAD_PREMIUM"], SKUS)[:2] == (["INTUNE_A"], {"INTUNE_A": "PendingInput"})
    suspended = _user([E3], [(INTUNE, "SCO", "Suspended")], [("SCO", "Success")])
    assert L.judge(suspended, ["INTUNE_A"], SKUS)[:2] == (["INTUNE_A"], {"INTUNE_A": "Suspended"})
    disabled = _user([E3], [(INTUNE, "SCO", "Enabled")], [("SCO", "Success")], disabled=[INTUNE])
    assert L.judge(disabled, ["INTUNE_A"], SKUS)[:2] == (["INTUNE_A"], {})
    assert L.judge(_user(), ["INTUNE_A"], SKUS) == (["INTUNE_A"], {}, [])
