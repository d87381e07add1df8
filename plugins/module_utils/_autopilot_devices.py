# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Registered Windows Autopilot devices in bulk: removal and property updates (``autopilot_device``).

* Lookups: devices named by id are read in ``$batch`` requests (20 per request), by serial number through
  ``_autopilot.find_registered`` (also batched).
* Removal, in the order of Microsoft's current deregistration page (memdocs autopilot/registration-overview,
  "Deregister a device": delete the Intune device first - the caller's step -, then unassign the user, then delete
  the Autopilot record): one ``$batch`` of ``unassignUserFromDevice`` for the devices with an assigned user, then one
  ``$batch`` of ``DELETE windowsAutopilotDeviceIdentities/{id}``, then ONE wait loop for all of them:
  the service removes Autopilot devices asynchronously ("can take a few minutes"), so every ``poll_interval`` the
  devices still there are read again (batched; 404 = gone) until none is left or ``wait_timeout`` passes. The
  service answers a delete of a device that is already gone with 400 "Cannot find device": gone, not removed by
  this run. A device still enrolled in Intune is refused (400): that entry fails, the others go on.
* Updates: ``updateDeviceProperties`` per device whose group tag, user or name differ, all in ``$batch``
  requests (the action sets values, so sending it again is harmless: it may be re-sent after a 5xx), then the
  changed devices are read again.

Every function returns one result per entry, in the entries' order; a failure of one entry (``failed``, ``msg``)
never stops the others. Typed errors that concern the whole run (authentication, a 403) are raised.
"""

from __future__ import annotations

import time

from ansible_collections.winfleet.autopilot.plugins.module_utils import _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    AUTOPILOT,
    NOT_FOUND,
    device_status,
    device_view,
    find_registered,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError, GraphPermissionError

FIELDS = (("group_tag", "groupTag"), ("assigned_user", "userPrincipalName"), ("display_name", "displayName"))
VIEW_KEYS = ("serial_number", "id", "group_tag", "assigned_user", "display_name", "status")


def view(dev):
    v = device_view(dev, device_status(dev))
    return {k: v[k] for k in VIEW_KEYS}


def update_plan(dev, wanted):
    """``(body, before, after)`` of an update: the Graph fields of ``wanted`` (option -> value, None = keep) that
    differ from the registered device ``dev``, and the device's view before and after."""
    body = {}
    for opt, field in FIELDS:
        if wanted.get(opt) is not None and (dev.get(field) or "") != wanted[opt]:
            body[field] = wanted[opt]
    if "userPrincipalName" in body:
        body["addressableUserName"] = body["userPrincipalName"].split("@")[0] if body["userPrincipalName"] else ""
    before = view(dev)
    after = dict(before)
    for opt, field in FIELDS:
        if field in body:
            after[opt] = body[field]
    return body, before, after


def check_entries(entries):
    """Each entry needs ``serial_number`` or ``id`` (non-empty, no wildcard); InputError before any request."""
    out = []
    for n, e in enumerate(entries or []):
        e = dict(e or {})
        for key in ("serial_number", "id"):
            value = e.get(key)
            if value is None:
                continue
            text = str(value).strip()
            if not text or "*" in text:
                raise InputError("Refusing %s %r (entry %d): selectors are exact, non-empty values; nothing was "
                                 "read or changed" % (key, value, n + 1))
            e[key] = text
        if not e.get("serial_number") and not e.get("id"):
            raise InputError("Entry %d has neither serial_number nor id; nothing was read or changed" % (n + 1))
        out.append(e)
    return out


def _raise_global(exc):
    if isinstance(exc, GraphPermissionError) or exc.status == 401:
        raise exc


def find_many(client, entries):
    """The Autopilot device (raw) of each entry, or None."""
    ids = sorted({e["id"] for e in entries if e.get("id")})
    by_id = {}
    if ids:
        calls = [{"method": "GET", "url": "%s/%s" % (AUTOPILOT, i)} for i in ids]
        for call, i, resp in zip(calls, ids, client.batch(calls), strict=True):
            if resp.status == 200:
                by_id[i] = resp.body
            elif resp.status not in (400, 404):  # the service says "Cannot find device" with 404 (and 400)
                client.raise_for(call, resp)
    serials = sorted({e["serial_number"] for e in entries if not e.get("id")})
    by_serial = find_registered(client, serials) if serials else {}
    out = []
    for e in entries:
        dev = by_id.get(e["id"]) if e.get("id") else by_serial.get(e["serial_number"].upper())
        if dev is not None and e.get("id") and e.get("serial_number") and \
                (dev.get("serialNumber") or "").strip().upper() != e["serial_number"].upper():
            dev = {"_mismatch": dev}
        out.append(dev)
    return out


def _result(e):
    return {"serial_number": e.get("serial_number"), "id": e.get("id"), "changed": False, "failed": False,
            "msg": None}


def _mismatch(res, e, dev):
    res.update(failed=True, msg="Serial number guard: Windows Autopilot device %s has serial number %s, not %s; "
                                "nothing was changed" % (e["id"], dev.get("serialNumber"), e["serial_number"]))


def absent_many(client, entries, check_mode=False, wait=True, timeout=600.0, interval=10.0, sleep=time.sleep,
                clock=time.monotonic):
    """Remove the devices of ``entries`` ({serial_number} or {id} with an optional serial_number guard).

    Result per entry: ``serial_number``, ``id``, ``before`` (the device's view, {} when absent), ``changed``,
    ``removed`` (the service finished removing it: true, false while waiting timed out or with wait=false, null
    when there was nothing to remove), ``failed`` and ``msg``."""
    results = []
    found = find_many(client, entries)
    todo = []
    for e, dev in zip(entries, found, strict=True):
        res = _result(e)
        res.update(before={}, removed=None)
        results.append(res)
        if dev is not None and "_mismatch" in dev:
            _mismatch(res, e, dev["_mismatch"])
            continue
        if dev is None:
            continue
        res.update(id=dev["id"], serial_number=dev.get("serialNumber") or res["serial_number"], before=view(dev),
                   changed=True)
        todo.append((res, dev))
    if check_mode or not todo:
        return results
    seen, calls, owners = set(), [], []
    for res, dev in todo:
        if dev["id"] in seen:
            res["changed"] = False  # the same device twice: removed once, for the first entry
            continue
        seen.add(dev["id"])
        calls.append({"method": "DELETE", "url": "%s/%s" % (AUTOPILOT, dev["id"])})
        owners.append(res)
    calls, owners = _unassign_users(client, calls, owners, {dev["id"]: dev for _res, dev in todo})
    pending = {}
    progress = _progress.Reporter("cleanup", "Deleting Windows Autopilot devices", total=len(calls), unit="records")
    for call, res, resp in zip(calls, owners, client.batch(calls, progress=None if wait else progress), strict=True):
        if resp.status < 300:
            res["removed"] = False
            pending[res["id"]] = res
            continue
        try:
            client.raise_for(call, resp)
        except GraphError as exc:
            if exc.status in (400, 404) and "cannot find device" in (exc.detail or "").lower():
                res.update(changed=False, removed=None)  # gone meanwhile (or a retried delete had worked)
                continue
            _raise_global(exc)
            res.update(changed=False, failed=True, msg=exc.msg)
    if wait and pending:
        deadline = clock() + float(timeout)
        while pending:
            ids = sorted(pending)
            calls = [{"method": "GET", "url": "%s/%s" % (AUTOPILOT, i)} for i in ids]
            for call, i, resp in zip(calls, ids, client.batch(calls), strict=True):
                if resp.status in (400, 404):
                    pending.pop(i)["removed"] = True
                elif resp.status >= 300:
                    client.raise_for(call, resp)
            progress.update(done=len(calls) - len(pending))  # removed so far (the service removes them in turn)
            if not pending or clock() + interval > deadline:
                break
            sleep(interval)
        for res in pending.values():
            res.update(failed=True, msg="Windows Autopilot device %s (%s) was not removed within %s seconds; the "
                                        "service removes devices asynchronously, run again later"
                       % (res["serial_number"], res["id"], timeout))
    return results


def _unassign_users(client, calls, owners, devices):
    """Unassign the user of every device about to be deleted that has one (``unassignUserFromDevice``, 20 per
    ``$batch``; the action only clears the assignment, so a re-send is harmless). A device whose user cannot be
    unassigned is not deleted: its entry fails. Returns the delete calls and owners left."""
    todo = [(call, res) for call, res in zip(calls, owners, strict=True)
            if (devices[res["id"]].get("userPrincipalName") or "").strip()]
    if not todo:
        return calls, owners
    actions = [{"method": "POST", "url": "%s/%s/unassignUserFromDevice" % (AUTOPILOT, res["id"])} for _c, res in todo]
    refused = set()
    for action, (_call, res), resp in zip(actions, todo, client.batch(actions, retry_unsafe=True), strict=True):
        if resp.status < 300:
            res["unassigned_user"] = devices[res["id"]].get("userPrincipalName")
            continue
        try:
            client.raise_for(action, resp)
        except GraphError as exc:
            _raise_global(exc)
            res.update(changed=False, failed=True, msg="The user of Windows Autopilot device %s could not be "
                       "unassigned, so it was not deleted: %s" % (res["id"], exc.msg))
            refused.add(res["id"])
    kept = [(c, r) for c, r in zip(calls, owners, strict=True) if r["id"] not in refused]
    return [c for c, _r in kept], [r for _c, r in kept]


def update_many(client, entries, check_mode=False):
    """Set group tag / assigned user / display name of the devices of ``entries`` (each {serial_number|id,
    group_tag?, assigned_user?, display_name?}; an option left out or None is left alone, "" clears it).

    Result per entry: ``serial_number``, ``id``, ``before``, ``device`` (after; in check mode as it would be),
    ``updated`` (the properties changed), ``changed``, ``failed``, ``msg`` and ``status`` (``Device not found``
    for a device that is not registered)."""
    results, todo = [], []
    for e, dev in zip(entries, find_many(client, entries), strict=True):
        res = _result(e)
        res.update(before={}, device={}, updated=[])
        results.append(res)
        if dev is not None and "_mismatch" in dev:
            _mismatch(res, e, dev["_mismatch"])
            continue
        if dev is None:
            res.update(failed=True, status=NOT_FOUND,
                       msg="Device not found: %s is not registered in Windows Autopilot; register it with "
                           "winfleet.autopilot.autopilot_import" % (e.get("id") or e.get("serial_number")))
            continue
        body, before, after = update_plan(dev, e)
        res.update(id=dev["id"], serial_number=dev.get("serialNumber") or res["serial_number"], before=before,
                   device=after, changed=bool(body), updated=[opt for opt, field in FIELDS if field in body])
        if body:
            todo.append((res, body))
    if check_mode or not todo:
        return results
    calls = [{"method": "POST", "url": "%s/%s/updateDeviceProperties" % (AUTOPILOT, res["id"]), "body": body}
             for res, body in todo]
    done = []
    for call, (res, _body), resp in zip(calls, todo, client.batch(calls, retry_unsafe=True), strict=True):
        if resp.status < 300:
            done.append(res)
            continue
        try:
            client.raise_for(call, resp)
        except GraphError as exc:
            _raise_global(exc)
            res.update(changed=False, failed=True, msg=exc.msg, device=res["before"], updated=[])
    if done:
        calls = [{"method": "GET", "url": "%s/%s" % (AUTOPILOT, res["id"])} for res in done]
        for res, resp in zip(done, client.batch(calls), strict=True):
            if resp.status == 200 and resp.body:
                res["device"] = view(resp.body)
    return results
