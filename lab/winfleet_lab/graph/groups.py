# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra groups: static and dynamic device groups, and the membership rule language the Autopilot documentation uses.

Dynamic membership rules (learn.microsoft.com/entra/identity/users/groups-dynamic-membership): expressions
``device.<property> -<operator> "<value>"`` joined by ``-and`` / ``-or`` / ``-not`` (with or without the hyphen),
parentheses, and the multi-valued ``device.devicePhysicalIds -any (_ -<operator> "<value>")`` / ``-all (...)`` the
Autopilot pages show: ``(device.devicePhysicalIds -any (_ -eq "[OrderID]:Sales"))``, ``-any (_ -startsWith
"[ZTDId]")``, ``[PurchaseOrderId]:...``. "String and regex operations aren't case sensitive." Strings are in double
quotes; a backtick escapes a quote. A rule the lab cannot parse is refused when the group is created (400), as the
service refuses an invalid rule.

The lab's own evaluator: no lab file imports the collection's code (the collection has an independent one).
"""

from __future__ import annotations

import re
import time
import uuid

from . import config as C
from .common import _F_EQ, GraphFault, Reply, _json_body, _quote_value, iso
from .schema import entity, render

_TOKEN = re.compile(r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"`]|`.)*")|(?P<op>-[A-Za-z]+)|(?P<name>[A-Za-z_][\w.]*))')
_BOOL = {"and", "or", "not"}
_OPS = {"eq", "ne", "startswith", "notstartswith", "contains", "notcontains", "match", "notmatch", "in", "notin"}


class RuleError(ValueError):
    pass


def _tokens(rule):
    pos, out = 0, []
    while pos < len(rule):
        if rule[pos:].strip() == "":
            break
        m = _TOKEN.match(rule, pos)
        if not m or m.end() == pos:
            raise RuleError("unexpected text at %d: %r" % (pos, rule[pos:pos + 20]))
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "str":
            out.append(("str", re.sub(r"`(.)", r"\1", text[1:-1])))
        elif (kind == "op" and text[1:].lower() in _BOOL | _OPS | {"any", "all"}) or \
                (kind == "name" and text.lower() in _BOOL):
            out.append(("op", text.lstrip("-").lower()))
        elif kind == "op":
            raise RuleError("unknown operator %s" % text)
        elif kind in ("lp", "rp"):
            out.append((kind, text))
        else:
            out.append(("name", text))
    return out


def _compare(op, actual, value):
    a = "" if actual is None else str(actual).lower()
    v = str(value).lower()
    if op == "eq":
        return a == v
    if op == "ne":
        return a != v
    if op in ("startswith", "notstartswith"):
        return a.startswith(v) == (op == "startswith")
    if op in ("contains", "notcontains"):
        return (v in a) == (op == "contains")
    if op in ("match", "notmatch"):
        return bool(re.search(value, "" if actual is None else str(actual), re.I)) == (op == "match")
    raise RuleError("operator -%s" % op)


class _Parser:
    """Recursive descent over the tokens into a predicate ``f(device) -> bool``."""

    def __init__(self, rule):
        self.toks = _tokens(rule)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise RuleError("expected %s, found %r" % (value or kind, tok[1]))
        self.i += 1
        return tok

    def parse(self):
        if not self.toks:
            raise RuleError("empty rule")
        fn = self.expr()
        if self.i != len(self.toks):
            raise RuleError("unexpected %r" % (self.peek()[1],))
        return fn

    def expr(self):
        left = self.term()
        while self.peek() == ("op", "or"):
            self.take()
            right = self.term()
            left = (lambda a, b: lambda d: a(d) or b(d))(left, right)
        return left

    def term(self):
        left = self.factor()
        while self.peek() == ("op", "and"):
            self.take()
            right = self.factor()
            left = (lambda a, b: lambda d: a(d) and b(d))(left, right)
        return left

    def factor(self):
        if self.peek() == ("op", "not"):
            self.take()
            inner = self.factor()
            return lambda d: not inner(d)
        if self.peek()[0] == "lp":
            self.take("lp")
            inner = self.expr()
            self.take("rp")
            return inner
        return self.comparison()

    def comparison(self):
        _kind, name = self.take("name")
        if not name.lower().startswith("device."):
            raise RuleError("only device rules are supported: %s" % name)
        prop = name.split(".", 1)[1]
        _kind, op = self.take("op")
        if op in ("any", "all"):
            self.take("lp")
            self.take("name", "_")
            _kind, inner = self.take("op")
            _kind, value = self.take("str")
            self.take("rp")
            quant = any if op == "any" else all
            return lambda d: quant(_compare(inner, v, value) for v in _values(d, prop))
        if op not in _OPS:
            raise RuleError("operator -%s" % op)
        kind, value = self.peek()
        if kind == "str":
            self.take()
        elif kind == "name" and value.lower() in ("true", "false", "null"):
            self.take()
            value = {"true": "true", "false": "false", "null": ""}[value.lower()]
        else:
            raise RuleError("a value in double quotes expected after -%s" % op)
        if op in ("in", "notin"):
            raise RuleError("-in takes a list; the lab supports single values")
        return lambda d: _compare(op, _value(d, prop), value)


def _values(device, prop):
    prop = "physicalIds" if prop.lower() == "devicephysicalids" else prop  # the rule's name of the property
    key = next((k for k in device if k.lower() == prop.lower()), None)
    value = device.get(key) if key else None
    return value if isinstance(value, list) else []


def _value(device, prop):
    aliases = {"deviceostype": "operatingSystem", "deviceosversion": "operatingSystemVersion"}
    prop = aliases.get(prop.lower(), prop)
    key = next((k for k in device if k.lower() == prop.lower()), None)
    value = device.get(key) if key else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def compile_rule(rule):
    """A predicate over an Entra device object; RuleError when the rule is not one the lab understands."""
    return _Parser(rule or "").parse()


class Groups:
    """Mixin of GraphService: Entra groups (``/groups``) and their members."""

    def _group_view(self, group, version):
        return render(version, "group", {"@odata.type": "#microsoft.graph.group", **group}) \
            if entity(version, "group") else {k: v for k, v in group.items() if not k.startswith("_")}

    def _groups(self, method, version, res, query, body, app):
        groups = self.store.data["groups"]
        if res == ["groups"] and method == "GET":
            self._require_dir(app, *C.GROUP_READERS)
            items = sorted(groups.values(), key=lambda g: g["createdDateTime"] + g["id"])
            flt = query.get("$filter")
            if flt:
                m = _F_EQ.match(flt)
                if not m or m.group(1).lower() not in ("displayname", "id"):
                    raise GraphFault(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause "
                                     "specified for property '%s' of resource 'Group'." % flt.split()[0])
                field = {"displayname": "displayName", "id": "id"}[m.group(1).lower()]
                v = _quote_value(m.group(2)).lower()
                items = [g for g in items if (g.get(field) or "").lower() == v]
            return self._page([self._group_view(g, version) for g in items], query, self.cfg.directory_page_size,
                              version, "groups", max_top=999, skip_supported=False)
        if len(res) < 2 or res[0] != "groups":
            raise GraphFault(400, "Request_BadRequest", "Unsupported segment")
        group = groups.get(res[1])
        if group is None:
            raise GraphFault(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried "
                             "reference-property objects are not present." % res[1])
        if len(res) == 2 and method == "GET":
            self._require_dir(app, *C.GROUP_READERS)
            return Reply(200, {"@odata.context": self.context(version, "groups", entity=True),
                               **self._group_view(group, version)})
        if res[2:] == ["members"] and method == "GET":
            self._require_dir(app, *C.GROUP_READERS)
            members = [self.store.data["entra"][m] for m in self._members(group) if m in self.store.data["entra"]]
            return self._page([{"@odata.type": "#microsoft.graph.device", **render(version, "device", d)}
                               for d in members], query, self.cfg.directory_page_size, version,
                              "directoryObjects", max_top=999, skip_supported=False)
        if res[2:] == ["members", "$ref"] and method == "POST":
            # "Add members" (group-post-members): GroupMember.ReadWrite.All, and for a device member also
            # Device.ReadWrite.All (application permissions)
            self._require_dir(app, C.GROUP_WRITE, C.GROUPS_WRITE, C.DIR_WRITE)
            if "DynamicMembership" in group["groupTypes"]:
                raise GraphFault(400, "Request_BadRequest", "Insufficient privileges to complete the operation: "
                                 "the members of a group with dynamic membership cannot be changed.")
            ref = (_json_body(body).get("@odata.id") or "").rstrip("/").rsplit("/", 1)[-1]
            if ref not in self.store.data["entra"]:
                raise GraphFault(404, "Request_ResourceNotFound", "Resource '%s' does not exist." % ref)
            self._require_dir(app, C.DEV_WRITE)
            if ref in group["_members"]:
                raise GraphFault(400, "Request_BadRequest", "One or more added object references already exist for "
                                 "the following modified properties: 'members'.")
            group["_members"].append(ref)
            self.store.touch("groups", group["id"])
            self._membership_changed()
            return Reply(204)
        raise GraphFault(405, "Request_BadRequest", "Method not allowed")

    def add_group(self, display_name, membership_rule=None, members=(), description=""):
        """A security group: dynamic when ``membership_rule`` is given (refused with 400 when the rule is invalid),
        else static with ``members`` (Entra object ids)."""
        with self.lock:
            if membership_rule:
                try:
                    compile_rule(membership_rule)
                except RuleError as exc:
                    raise GraphFault(400, "Request_BadRequest", "Invalid membershipRule: %s" % exc)
            gid = str(uuid.uuid4())
            group = {"id": gid, "displayName": display_name, "description": description or None,
                     "groupTypes": ["DynamicMembership"] if membership_rule else [],
                     "membershipRule": membership_rule or None,
                     "membershipRuleProcessingState": "On" if membership_rule else None,
                     "securityEnabled": True, "mailEnabled": False,
                     "mailNickname": re.sub(r"[^A-Za-z0-9]", "", display_name)[:64] or gid[:8],
                     "createdDateTime": iso(), "renewedDateTime": iso(), "visibility": None,
                     "_members": list(members), "_created": time.time()}
            self.store.put("groups", gid, group)
            self._membership_changed()
            self.store.commit()
            return {k: v for k, v in group.items() if not k.startswith("_")}

    def _members(self, group):
        """Entra object ids of the group's members: a dynamic group's as its rule was last processed for each device
        (``_memberOf``, set by the profile processor after the membership delay), a static group's as added."""
        if group.get("membershipRule"):
            return [d["id"] for d in self.store.data["entra"].values() if group["id"] in (d.get("_memberOf") or ())]
        return list(group.get("_members") or [])

    def _groups_of(self, entra_obj):
        """Ids of the groups the Entra object is a member of (dynamic rules evaluated now)."""
        out = set()
        for group in self.store.data["groups"].values():
            if group.get("membershipRule"):
                if compile_rule(group["membershipRule"])(entra_obj):
                    out.add(group["id"])
            elif entra_obj["id"] in (group.get("_members") or ()):
                out.add(group["id"])
        return out
