# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""A fleet's static Entra group: its registered devices added as members, in bulk and idempotently (what
Get-WindowsAutopilotInfo's ``-AddToGroup`` does one device at a time).

* ``resolve(client, group)``: the group by object id or by display name (exactly one; a name two groups share is
  refused with their ids). A group with dynamic membership cannot take members (Graph refuses with 400): refused
  before anything changes, with what to do.
* The device's Entra object is the one whose ``deviceId`` is the Autopilot identity's
  ``azureActiveDirectoryDeviceId`` (``GET /devices?$filter=deviceId eq '...'``, 20 per ``$batch``); the members
  already there are listed once (``GET /groups/{id}/members?$select=id``).
* ``plan(devices, objects, members)`` (pure): per device ``member`` (nothing to do), ``add`` (its object id) or
  ``failed`` (no Entra object yet, with the cause).
* ``add``: ``POST /groups/{id}/members/$ref`` with ``{"@odata.id": ".../directoryObjects/{id}"}`` per device, 20 per
  ``$batch`` (learn.microsoft.com/graph/api/group-post-members). Graph answers a reference that exists already with
  400 "One or more added object references already exist": a member, not a failure (a re-sent or concurrent add).

Permissions (application): ``GroupMember.ReadWrite.All`` and, for device members, ``Device.ReadWrite.All`` (the
"Add members" page); reading the group by name, ``GroupMember.Read.All`` (covered by the first).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError, GraphPermissionError

PERMISSIONS = ["GroupMember.ReadWrite.All", "Device.ReadWrite.All"]
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
SELECT = "id,displayName,groupTypes,membershipRule"
ALREADY = "already exist"


class GroupError(WinfleetError):
    """The fleet's group cannot take the devices (not found, ambiguous, dynamic)."""


def _view(body):
    dynamic = bool(body.get("membershipRule")) or "DynamicMembership" in (body.get("groupTypes") or [])
    return {"id": body.get("id"), "name": body.get("displayName") or body.get("id"), "dynamic": dynamic}


def resolve(client, group):
    """``{id, name, dynamic}`` of the group named by id or display name; GroupError when there is none, or more
    than one, or it has dynamic membership."""
    text = str(group or "").strip()
    if not text or "*" in text:
        raise GroupError("The fleet's Entra group must be a group id or a display name (got %r)" % (group,))
    if GUID.match(text):
        try:
            found = [_view(client.get("groups/%s" % text.lower(), params={"$select": SELECT}) or {})]
        except GraphError as exc:
            if exc.status != 404:
                raise
            found = []
    else:
        value = text.replace("'", "''")
        found = [_view(g) for g in client.paged("groups", params={"$filter": "displayName eq '%s'" % value,
                                                                  "$select": SELECT})
                 if str(g.get("displayName") or "").lower() == text.lower()]
    if not found:
        raise GroupError("Entra group %s not found: create a security group with assigned membership, or give "
                         "fleet_group the id or exact display name of an existing one" % text)
    if len(found) > 1:
        raise GroupError("%d Entra groups are named %s (%s): give fleet_group the id of the one to use" % (
            len(found), text, ", ".join(sorted(g["id"] for g in found))))
    if found[0]["dynamic"]:
        raise GroupError("Entra group %s has dynamic membership: its rule decides its members, none can be added. "
                         "Give fleet_group a group with assigned membership, or leave it empty and let the rule "
                         "match the group tag" % found[0]["name"])
    return found[0]


def members(client, group_id):
    """Object ids (lower case) of the group's members."""
    return {str(m.get("id") or "").lower() for m in client.paged("groups/%s/members" % group_id,
                                                                 params={"$select": "id"}) if m.get("id")}


def entra_objects(client, device_ids):
    """``{deviceId (lower case): object id}`` of the Entra device objects with these ``deviceId`` values."""
    ids = sorted({str(d).lower() for d in device_ids if d})
    if not ids:
        return {}
    # $batch inner URLs are sent as given: the whole filter percent-encoded (as _graph_devices does)
    calls = [{"method": "GET", "url": "devices?$filter=%s&$select=id,deviceId" % quote(
        "deviceId eq '%s'" % d.replace("'", "''"), safe="")} for d in ids]
    out = {}
    for call, resp in zip(calls, client.batch(calls), strict=True):
        if resp.status >= 300:
            client.raise_for(call, resp)
        for obj in (resp.body or {}).get("value") or []:
            if obj.get("deviceId") and obj.get("id"):
                out[str(obj["deviceId"]).lower()] = obj["id"]
    return out


def _key(value):
    return str(value or "").strip().upper()


def plan(devices, objects, current):
    """``{SERIAL: {"action": "member" | "add" | "failed", "object_id", "cause"}}`` for the registered ``devices``
    (``device_view`` shape), given the Entra objects by deviceId (``entra_objects``) and the members' object ids."""
    current = {str(m).lower() for m in current or ()}
    out = {}
    for dev in devices or []:
        if not dev.get("found"):
            continue
        key = _key(dev.get("serial_number"))
        device_id = str(dev.get("azure_ad_device_id") or "").lower()
        if not device_id.strip("0-"):
            out[key] = {"action": "failed", "object_id": None,
                        "cause": "not added to the group: the Autopilot record has no Entra device id yet (the "
                                 "service creates the Entra object after the import; run again later)"}
            continue
        oid = (objects or {}).get(device_id)
        if not oid:
            out[key] = {"action": "failed", "object_id": None,
                        "cause": "not added to the group: no Entra device object has deviceId %s (yet); run again "
                                 "later" % device_id}
            continue
        out[key] = {"action": "member" if oid.lower() in current else "add", "object_id": oid, "cause": ""}
    return out


def add(client, group_id, planned, check_mode=False):
    """Add the devices ``planned`` as ``add``; returns ``{SERIAL: {"added": bool, "member": bool, "cause"}}`` for
    every planned device. A 403 (permission) is raised: it concerns the whole run."""
    out = {}
    todo = []
    for key, p in sorted(planned.items()):
        out[key] = {"added": False, "member": p["action"] == "member", "cause": p.get("cause") or ""}
        if p["action"] == "add":
            if check_mode:
                out[key].update(added=True, member=True)
            else:
                todo.append(key)
    if not todo:
        return out
    ref = "%s/v1.0/directoryObjects/%s" % (client.graph_url, "%s")
    calls = [{"method": "POST", "url": "groups/%s/members/$ref" % group_id,
              "body": {"@odata.id": ref % planned[key]["object_id"]}} for key in todo]
    for key, call, resp in zip(todo, calls, client.batch(calls, retry_unsafe=True), strict=True):
        if resp.status < 300:
            out[key].update(added=True, member=True)
            continue
        try:
            client.raise_for(call, resp)
        except GraphPermissionError:
            raise
        except GraphError as exc:
            if exc.status == 400 and ALREADY in (exc.raw_detail or exc.detail or ""):
                out[key].update(member=True)  # added meanwhile (a re-sent or concurrent add): it is a member
                continue
            out[key]["cause"] = "not added to the group: %s" % exc.msg
    return out


def ensure(client, group, devices, check_mode=False):
    """The whole step for the registered ``devices``: ``(group view, {SERIAL: {"added", "member", "cause"}})``."""
    found = resolve(client, group)
    registered = [d for d in devices or [] if d.get("found")]
    if not registered:
        return found, {}
    objects = entra_objects(client, [d.get("azure_ad_device_id") for d in registered])
    planned = plan(registered, objects, members(client, found["id"]))
    return found, add(client, found["id"], planned, check_mode)
