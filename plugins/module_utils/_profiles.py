# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Windows Autopilot deployment profiles: which profile reaches a registered device, and why none does.

A registered device without an assigned deployment profile boots into the ordinary Windows setup, not Autopilot.
Profiles are assigned to Entra groups, almost always dynamic device groups whose membership rule matches the
device's Entra object by its ``physicalIds``: ``[ZTDId]:<Autopilot id>``, ``[OrderID]:<group tag>`` and
``[PurchaseOrderId]:<purchase order>`` (learn.microsoft.com/autopilot/enrollment-autopilot; Entra "dynamic
membership rules for groups"). The service takes minutes to hours to evaluate the groups and assign the profile.

* ``evaluate(rule, device)``: this collection's own evaluator of the membership rule language (``-any`` / ``-all``
  over ``devicePhysicalIds``, ``-eq``, ``-ne``, ``-startsWith``, ``-notStartsWith``, ``-contains``,
  ``-notContains``, ``-match``, ``-notMatch``, ``-in`` / ``-notIn`` with ``[...]`` lists, ``-and`` / ``-or`` /
  ``-not`` with or without the hyphen, parentheses). Comparisons ignore case, as Entra's do.
* ``read_targets(client)``: the profiles, their assignments and the assigned groups (rule or static members).
* ``explain(device, targets)``: the profile that reaches a registered device (the oldest, as the service picks) or
  the cause in the user's words: "no deployment profile targets group tag Sales".
"""

from __future__ import annotations

import re

from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError, GraphPermissionError

PROFILES = "deviceManagement/windowsAutopilotDeploymentProfiles"
GROUP_TARGET = "groupassignmenttarget"
ALL_DEVICES = "alldevicesassignmenttarget"
EXCLUDE = "exclusiongroupassignmenttarget"

# deploymentProfileAssignmentStatus (the schema's own spelling of assignedUnkownSyncState) in words
ASSIGNED = ("assignedinsync", "assignedoutofsync", "assignedunkownsyncstate", "assignedunknownsyncstate")
# deploymentProfileAssignmentDetailedStatus in words (windowsAutopilotProfileAssignmentDetailedStatus)
DETAILED_WORDS = {
    "hardwarerequirementsnotmet": "the device does not meet the profile's hardware requirements (self-deploying and "
                                  "pre-provisioning need TPM 2.0 with device attestation)",
    "surfacehubprofilenotsupported": "the profile is a Surface Hub profile, which this device does not support",
    "holohensprofilenotsupported": "the profile is a HoloLens profile, which this device does not support",
    "hololensprofilenotsupported": "the profile is a HoloLens profile, which this device does not support",
    "windowspcprofilenotsupported": "the profile is a Windows PC profile, which this device does not support",
    "surfacehub2sprofilenotsupported": "the profile is a Surface Hub 2S profile, which this device does not support",
}


def is_assigned(status):
    return str(status or "").lower() in ASSIGNED


def detailed_words(detailed):
    key = str(detailed or "").lower()
    if key in ("", "none", "unknownfuturevalue"):
        return "the service gave no reason"
    return "%s (%s)" % (DETAILED_WORDS.get(key, "the service reports %s" % detailed), detailed)


# ---------------------------------------------------------------------------------------------------------------
# The membership rule language
class RuleError(ValueError):
    """A rule this evaluator does not understand."""


_LEX = re.compile(r'\s*(?:(\()|(\))|(\[)|(\])|(,)|"((?:[^"`]|`.)*)"|(-[A-Za-z]+)|([A-Za-z_][A-Za-z0-9_.]*))')
_COMPARE = ("eq", "ne", "startswith", "notstartswith", "contains", "notcontains", "match", "notmatch", "in",
            "notin")


def _lex(rule):
    out, pos, text = [], 0, rule or ""
    while text[pos:].strip():
        m = _LEX.match(text, pos)
        if not m or m.end() == pos:
            raise RuleError("cannot read the rule at character %d: %s" % (pos + 1, text[pos:pos + 24]))
        pos = m.end()
        lp, rp, lb, rb, comma, string, op, word = m.groups()
        if string is not None:
            out.append(("value", re.sub(r"`(.)", r"\1", string)))
        elif op is not None:
            out.append(("op", op[1:].lower()))
        elif word is not None:
            low = word.lower()
            out.append(("op", low) if low in ("and", "or", "not") else
                       ("value", {"true": "true", "false": "false", "null": None}[low])
                       if low in ("true", "false", "null") else ("word", word))
        else:
            out.append(("punct", next(p for p in (lp, rp, lb, rb, comma) if p)))
    return out


def _match(op, actual, value):
    """One comparison, ignoring case. ``value`` is a string or a list (``-in``)."""
    a = "" if actual is None else str(actual)
    al = a.lower()
    if op in ("in", "notin"):
        hit = al in [str(v).lower() for v in value]
        return hit if op == "in" else not hit
    v = "" if value is None else str(value)
    vl = v.lower()
    result = {"eq": al == vl, "ne": al != vl, "startswith": al.startswith(vl), "notstartswith": not al.startswith(vl),
              "contains": vl in al, "notcontains": vl not in al}.get(op)
    if result is None:
        try:
            found = re.search(v, a, re.IGNORECASE) is not None
        except re.error as exc:
            raise RuleError("the regular expression %r is not valid: %s" % (v, exc)) from exc
        result = found if op == "match" else not found
    return result


class _Rule:
    def __init__(self, rule):
        self.tokens = _lex(rule)
        self.pos = 0
        if not self.tokens:
            raise RuleError("the rule is empty")
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise RuleError("unexpected %r" % (self.tokens[self.pos][1],))

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def _next(self, kind=None, value=None):
        tok = self._peek()
        if tok[0] is None or (kind is not None and tok[0] != kind) or (value is not None and tok[1] != value):
            raise RuleError("expected %s, found %s" % (value or kind, tok[1] if tok[0] else "the end of the rule"))
        self.pos += 1
        return tok[1]

    def _or(self):
        node = self._and()
        while self._peek() == ("op", "or"):
            self.pos += 1
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._not()
        while self._peek() == ("op", "and"):
            self.pos += 1
            node = ("and", node, self._not())
        return node

    def _not(self):
        if self._peek() == ("op", "not"):
            self.pos += 1
            return ("not", self._not())
        if self._peek() == ("punct", "("):
            self.pos += 1
            node = self._or()
            self._next("punct", ")")
            return node
        return self._comparison()

    def _value(self):
        if self._peek() == ("punct", "["):
            self.pos += 1
            items = []
            while self._peek() != ("punct", "]"):
                items.append(self._next("value"))
                if self._peek() == ("punct", ","):
                    self.pos += 1
            self.pos += 1
            return items
        return self._next("value")

    def _comparison(self):
        prop = self._next("word")
        if not prop.lower().startswith("device."):
            raise RuleError("%s: only device properties (device.<property>) are understood" % prop)
        prop = prop[len("device."):]
        op = self._next("op")
        if op in ("any", "all"):
            self._next("punct", "(")
            if self._next("word") != "_":
                raise RuleError("-%s takes (_ -<operator> <value>)" % op)
            inner = self._next("op")
            if inner not in _COMPARE:
                raise RuleError("unknown operator -%s" % inner)
            value = self._value()
            self._next("punct", ")")
            return (op, prop, inner, value)
        if op not in _COMPARE:
            raise RuleError("unknown operator -%s" % op)
        return ("cmp", prop, op, self._value())


def parse(rule):
    """The rule as a tree; RuleError when it cannot be read."""
    return _Rule(rule).tree


def _prop(device, name):
    low = name.lower()
    for key, value in device.items():
        if key.lower() == low:
            return value
    return None


def _eval(node, device):
    kind = node[0]
    if kind == "or":
        return _eval(node[1], device) or _eval(node[2], device)
    if kind == "and":
        return _eval(node[1], device) and _eval(node[2], device)
    if kind == "not":
        return not _eval(node[1], device)
    _kind, prop, op, value = node
    if kind in ("any", "all"):
        values = _prop(device, prop) or []
        values = values if isinstance(values, list) else [values]
        check = (_match(op, v, value) for v in values)
        return any(check) if kind == "any" else all(check)
    actual = _prop(device, prop)
    if isinstance(actual, bool):
        actual = "true" if actual else "false"
    return _match(op, actual, value)


def evaluate(rule, device):
    """Whether ``device`` (a dict: ``devicePhysicalIds`` list and any other properties) matches ``rule``."""
    return _eval(parse(rule), device)


def physical_ids(dev):
    """The ``devicePhysicalIds`` Autopilot gives a registered device's Entra object: ``[ZTDId]:<id>``,
    ``[OrderID]:<group tag>``, ``[PurchaseOrderId]:<purchase order>``."""
    out = ["[ZTDId]:%s" % (dev.get("id") or "")]
    if dev.get("group_tag"):
        out.append("[OrderID]:%s" % dev["group_tag"])
    if dev.get("purchase_order_id"):
        out.append("[PurchaseOrderId]:%s" % dev["purchase_order_id"])
    return out


# ---------------------------------------------------------------------------------------------------------------
# The tenant's profiles and groups
def read_targets(client):
    """``{"profiles": [{id, name, created, assignments: [{kind, group_id, group}]}], "groups": {id: {id, name,
    rule, members}}, "error": None | words}``. Groups that cannot be read (no ``Group.Read.All``) leave ``error``
    set and ``groups`` incomplete: the caller then cannot say why no profile reaches a device."""
    out = {"profiles": [], "groups": {}, "error": None}
    profiles = sorted(client.paged(PROFILES), key=lambda p: (p.get("createdDateTime") or "", p.get("id") or ""))
    calls = [{"method": "GET", "url": "%s/%s/assignments" % (PROFILES, p["id"])} for p in profiles]
    group_ids = []
    for call, profile, resp in zip(calls, profiles, client.batch(calls) if calls else [], strict=True):
        if resp.status >= 300:
            client.raise_for(call, resp)
        assignments = []
        for a in (resp.body or {}).get("value") or []:
            target = a.get("target") or {}
            kind = str(target.get("@odata.type") or "").rsplit(".", 1)[-1].lower()
            assignments.append({"kind": kind, "group_id": target.get("groupId")})
            if target.get("groupId") and target["groupId"] not in group_ids:
                group_ids.append(target["groupId"])
        out["profiles"].append({"id": profile.get("id"), "name": profile.get("displayName") or profile.get("id"),
                                "created": profile.get("createdDateTime"), "assignments": assignments})
    calls = [{"method": "GET", "url": "groups/%s?$select=id,displayName,groupTypes,membershipRule" % g}
             for g in group_ids]
    for call, gid, resp in zip(calls, group_ids, client.batch(calls) if calls else [], strict=True):
        if resp.status == 404:
            out["groups"][gid] = {"id": gid, "name": gid, "rule": None, "members": set(), "missing": True}
            continue
        try:
            if resp.status >= 300:
                client.raise_for(call, resp)
        except GraphPermissionError as exc:
            out["error"] = "the groups the profiles are assigned to cannot be read (%s)" % exc.msg
            return out
        body = resp.body or {}
        group = {"id": gid, "name": body.get("displayName") or gid, "rule": body.get("membershipRule") or None,
                 "members": set(), "missing": False}
        if not group["rule"]:
            try:
                group["members"] = {str(m.get("deviceId") or "").lower() for m in
                                    client.paged("groups/%s/members" % gid) if m.get("deviceId")}
            except GraphError as exc:
                out["error"] = "the members of group %s cannot be read (%s)" % (group["name"], exc.msg)
        out["groups"][gid] = group
    return out


def _in_group(group, device):
    if group is None or group.get("missing"):
        return False
    if group.get("rule"):
        try:
            return evaluate(group["rule"], device)
        except RuleError:
            return False
    return str(device.get("deviceId") or "").lower() in group.get("members", set())


def explain(dev, targets):
    """``(profile name or None, words)`` for a registered device (``device_view`` shape): the profile whose groups
    the device is in (the oldest, as the service picks), or why none reaches it, in the user's words."""
    device = {"devicePhysicalIds": physical_ids(dev), "deviceId": dev.get("azure_ad_device_id") or "",
              "displayName": dev.get("serial_number") or "", "deviceOSType": "Windows", "accountEnabled": True}
    groups = targets.get("groups") or {}
    for profile in targets.get("profiles") or []:
        inside = [a for a in profile["assignments"] if a["kind"] == ALL_DEVICES or
                  (a["kind"] == GROUP_TARGET and _in_group(groups.get(a["group_id"]), device))]
        excluded = [a for a in profile["assignments"] if a["kind"] == EXCLUDE and
                    _in_group(groups.get(a["group_id"]), device)]
        if inside and not excluded:
            via = inside[0]
            group = groups.get(via["group_id"]) or {}
            return profile["name"], "profile %s targets the device%s" % (
                _q(profile["name"]), " through group %s" % _q(group.get("name")) if group else " (all devices)")
    if targets.get("error"):
        return None, "no deployment profile is assigned yet, and %s" % targets["error"]
    tag = dev.get("group_tag") or ""
    what = "group tag %s" % tag if tag else "devices without a group tag"
    if not targets.get("profiles"):
        return None, "no deployment profile targets %s: the tenant has no deployment profile" % what
    assigned = [p for p in targets["profiles"] if p["assignments"]]
    if not assigned:
        return None, "no deployment profile targets %s: no profile is assigned to a group" % what
    reached = []
    for profile in assigned:
        for a in profile["assignments"]:
            group = groups.get(a["group_id"]) or {}
            if a["kind"] == GROUP_TARGET and group:
                reached.append("%s -> %s%s" % (_q(profile["name"]), _q(group.get("name")),
                                               " (%s)" % group["rule"] if group.get("rule") else " (static)"))
    reach = "; profiles reach: " + ", ".join(reached[:3]) if reached else ""
    return None, "no deployment profile targets %s%s" % (what, reach)


def name_profiles(client, devices):
    """The name of the profile the service assigned to each device that has one (each profile's
    ``assignedDevices``, one listing per profile)."""
    ready = {d.get("id") for d in devices if d.get("status") == "Ready for user" and d.get("id")}
    if not ready:
        return devices
    names = {}
    try:
        for profile in client.paged(PROFILES):
            for dev in client.paged("%s/%s/assignedDevices" % (PROFILES, profile["id"])):
                if dev.get("id") in ready:
                    names[dev["id"]] = profile.get("displayName")
    except GraphError:
        return devices
    return [dict(d, deployment_profile=names.get(d.get("id"), d.get("deployment_profile"))) for d in devices]


def explain_many(client, devices):
    """``devices`` (``device_view`` shape) with ``deployment_profile_cause`` for those without a profile."""
    todo = [d for d in devices if d.get("found") and d.get("status") in ("Registered, no profile", "Profile pending")]
    if not todo:
        return devices
    targets = read_targets(client)
    causes = {id(d): explain(d, targets)[1] for d in todo}
    return [dict(d, deployment_profile_cause=causes[id(d)]) if id(d) in causes else d for d in devices]


def _q(text):
    return "'%s'" % text
