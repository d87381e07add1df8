# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every part of the Graph lab shares: replies, faults, time stamps, request helpers, $filter forms."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import math
import re

JSON = "application/json"

# deviceErrorCode values. 806 and 808 are the real service's; the service does not publish the
# others, so the lab picks its own (docs/graph.md says so).
ERR_ALREADY_ASSIGNED = (806, "ZtdDeviceAlreadyAssigned")
ERR_OTHER_TENANT = (808, "ZtdDeviceAssignedToOtherTenant")
ERR_INVALID_HASH = (810, "InvalidZtdHardwareHash")
ERR_DUPLICATED = (811, "ZtdDeviceDuplicated")
ERR_NOT_FOUND = (812, "ZtdDeviceNotFound")
ERR_STORAGE = (813, "StorageError")

DATACENTER = '{"ServerInfo":{"DataCenter":"Lab Loopback","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"LAB-GRAPH-1"}}'


def utcnow():
    return datetime.datetime.now(datetime.UTC)


def iso(ts=None):
    dt = utcnow() if ts is None else datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Reply:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class GraphFault(Exception):
    """An error reply. ``intune`` wraps the message the way Intune's front end does."""

    def __init__(self, status, code, message, intune=False, retry_after=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.intune = intune
        self.retry_after = retry_after
        self.headers = headers or {}


class TokenFault(Exception):
    def __init__(self, status, error, aadsts, text):
        super().__init__(text)
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.text = text


def _b64url_decode(text):
    text = text.replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _quote_value(text):
    return text.replace("''", "'")


# ---------------------------------------------------------------------------------------------
# $filter forms the lab understands (everything else is a 400, as the real services do for
# forms they do not support).
_F_CONTAINS = re.compile(r"^\s*contains\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.I)
_F_STARTS = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.I)
_F_EQ = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.I)
_F_ANY_EQ = re.compile(r"^\s*physicalIds/any\(\s*(\w+)\s*:\s*\1\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$", re.I)
_F_ANY_STARTS = re.compile(r"^\s*physicalIds/any\(\s*(\w+)\s*:\s*startswith\(\s*\1\s*,\s*'((?:[^']|'')*)'\s*\)\s*\)\s*$",
                           re.I)

def _entra_view(obj):
    """An Entra device as Graph shows it (without the lab's own bookkeeping keys)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _batch_order(reqs):
    """The order to run a batch's requests in: request order, each after the requests it ``dependsOn``. A
    dependency on an id not in the batch, or a cycle, makes the whole batch a 400."""
    ids = [r["id"] for r in reqs]
    deps = {}
    for r in reqs:
        dep = r.get("dependsOn")
        if dep is None:
            dep = []
        if not isinstance(dep, list) or any(d not in ids or d == r["id"] for d in dep):
            raise GraphFault(400, "BadRequest", "Invalid dependsOn of request %s: it must name other requests of the "
                             "batch." % r["id"])
        deps[r["id"]] = list(dep)
    order, done, visiting = [], set(), set()

    def visit(rid):
        if rid in done:
            return
        if rid in visiting:
            raise GraphFault(400, "BadRequest", "The dependsOn of the batch requests form a cycle.")
        visiting.add(rid)
        for d in deps[rid]:
            visit(d)
        visiting.discard(rid)
        done.add(rid)
        order.append(rid)

    for rid in ids:
        visit(rid)
    return order


def _fmt_seconds(seconds):
    """``Retry-After`` as Graph sends it: a whole number of seconds (delta-seconds, RFC 9110 10.2.3), rounded up so a
    client that waits that long finds room, and at least 1."""
    return str(max(1, math.ceil(seconds - 1e-9)))


def _route_name(res):
    out = []
    for seg in res:
        if re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-", seg, re.I):
            out.append("{id}")
        else:
            out.append(seg)
    return "/".join(out)


def _json_body(body):
    if not body:
        raise GraphFault(400, "BadRequest", "Empty Payload. JSON content expected.")
    try:
        value = json.loads(body)
    except ValueError:
        raise GraphFault(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is "
                         "set and payload is of valid JSON format.")
    if not isinstance(value, dict):
        raise GraphFault(400, "BadRequest", "JSON object expected.")
    return value


def _edm_binary_ok(text):
    """OData Edm.Binary: standard base64 with padding, nothing else."""
    if len(text) % 4:
        return False
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _hash_identity(hw):
    """Two records carry the same device when they carry the same hash (a row pasted twice)."""
    if not hw:
        return None
    return "hw:" + hashlib.sha256(hw.encode()).hexdigest()
