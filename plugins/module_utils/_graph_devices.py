# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Stale records of re-used devices in Intune and Microsoft Entra ID: lookup and deletion.

The cleanup contract (every cleanup module follows it):

* selectors identify the records; an empty, whitespace-only or wildcard selector is refused before
  anything is read, so a mistake can never select "everything";
* ``serial_number`` with another selector is a guard: every matched record must carry that serial
  (trimmed, case-insensitive), else the task fails naming the record and both serials and nothing is
  deleted; a record without a serial passes only with ``require_serial_match=false``;
* ``removed`` lists what was (in check mode: would be) deleted; check mode runs the same lookup and
  guards, so it predicts exactly what the real run removes.

Intune managed devices carry ``serialNumber``. Entra device objects carry none, so their serial is
*resolved* through the records that do (see ``resolve_entra``):

1. ``[ZTDID]:<id>`` in ``physicalIds`` names the Windows Autopilot device (the service's own messages call
   the Autopilot device id its "ztd Id"): GET it, its ``serialNumber`` is the object's serial;
2. an Intune managed device whose ``azureADDeviceId`` is the object's ``deviceId`` gives its serial;
3. an Autopilot record of a candidate serial whose ``azureActiveDirectoryDeviceId`` is the ``deviceId``;
4. only for hybrid-joined objects (trustType ``ServerAd``, no ZTDID) and only as a guard: the guard
   serial's Intune managed device has the object's name (``deviceName`` = ``displayName``).

An object none of them claims has no serial (``serial_number: null``).  An object that still belongs to
a live Autopilot record is not deleted without ``force``: Microsoft removes it with the Autopilot record,
and deleting it first orphans the record (ISSUE MicrosoftDocs/memdocs#1435).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ansible_collections.winfleet.autopilot.plugins.module_utils import _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    AUTOPILOT,
    device_info,
    find_registered,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (  # the permissions: the modules' API too
    DEV_READ,
    DEV_WRITE,
    MD_READ,
    MD_WRITE,
    SVC_READ,
    GraphError,
    GraphPermissionError,
    unwrap_error,
)

MANAGED = "/deviceManagement/managedDevices"
DEVICES = "/devices"


JOIN_TYPES = {"azuread": "Entra joined", "serverad": "Hybrid joined", "workplace": "Entra registered"}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NULL_GUID = "00000000-0000-0000-0000-000000000000"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

INTUNE_SELECTORS = ("id", "device_name", "azure_ad_device_id", "serial_number")
ENTRA_SELECTORS = ("id", "device_id", "ztdid", "name", "serial_number")
GUID_SELECTORS = frozenset(("id", "azure_ad_device_id", "device_id", "ztdid"))


class GuardError(WinfleetError):
    """A guard refused the deletion (serial mismatch, Autopilot-owned object). Nothing was deleted."""


# ---------------------------------------------------------------------------------------------
# selectors and the serial guard
def norm_serial(value):
    return (value or "").strip().upper()


def selectors(params, names):
    """The selectors given, validated. Refuses empty, whitespace-only and wildcard values, control
    characters, non-GUID ids, and no selector at all (InputError naming the option)."""
    out = {}
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        text = str(value)
        if not text.strip():
            raise InputError("Refusing an empty selector: %s is %r. Give the exact value of the record to select; "
                             "nothing was read or deleted" % (name, text))
        if "*" in text:
            raise InputError("Refusing a wildcard selector: %s=%r contains '*'. Selectors match one exact value; "
                             "nothing was read or deleted" % (name, text))
        if _CONTROL.search(text):
            raise InputError("%s=%r contains control characters" % (name, text))
        text = text.strip()
        if name in GUID_SELECTORS and not _GUID.match(text):
            raise InputError("%s=%r is not a GUID (for example 1f0e2d3c-4b5a-4678-9abc-def012345678)" % (name, text))
        out[name] = text
    if not out:
        raise InputError("No selector given: set one of %s. The cleanup modules never select every record"
                         % ", ".join(names))
    return out


def check_serial_guard(records, serial, require_match, kind):
    """Fail (GuardError) when a record's serial differs from ``serial``, or is missing and
    ``require_match`` is true. ``kind`` names the records in the message."""
    want = norm_serial(serial)
    for rec in records:
        have = norm_serial(rec.get("serial_number"))
        if have and have != want:
            raise GuardError(
                "Serial number guard: %s %s (%s) has serial number %s, not %s as the task says; nothing was "
                "deleted" % (kind, rec.get("name") or "", rec["id"], rec.get("serial_number"), serial.strip()),
                record=rec, expected_serial=serial.strip(), actual_serial=rec.get("serial_number"), removed=[])
        if not have and require_match:
            raise GuardError(
                "Serial number guard: %s %s (%s) has no serial number to compare with %s%s; nothing was deleted. "
                "Set require_serial_match: false to accept records without one"
                % (kind, rec.get("name") or "", rec["id"], serial.strip(), rec.get("serial_hint") or ""),
                record=rec, expected_serial=serial.strip(), actual_serial=None, removed=[])


def _odata(value):
    return value.replace("'", "''")


# ---------------------------------------------------------------------------------------------
# Graph helpers
def _raise_for(client, method, url, resp):
    code, message = unwrap_error(resp.body)
    raise client._error(method, url.split("?")[0], resp.status, code, message, resp.request_id)


def _batch_get(client, urls, missing=(404,)):
    """GET each url through $batch. Returns, per url, the items of a collection (following nextLink),
    the object itself, or None for a status in ``missing``."""
    if not urls:
        return []
    out = []
    for url, resp in zip(urls, client.batch([{"method": "GET", "url": u} for u in urls])):
        if resp.status in missing:
            out.append(None)
            continue
        if resp.status != 200:
            _raise_for(client, "GET", url, resp)
        body = resp.body or {}
        if "value" in body and isinstance(body["value"], list):
            items = list(body["value"])
            if body.get("@odata.nextLink"):
                items.extend(client.paged(body["@odata.nextLink"]))
            out.append(items)
        else:
            out.append(body)
    return out


def _get_or_none(client, path):
    try:
        return client.get(path)
    except GraphError as exc:
        if exc.status == 404:
            return None
        raise


def permission_for(exc, writes=()):
    """The application permission a refused (403) call needs; ``writes`` names the resources the module
    changes (``managed``, ``devices``), whose ReadWrite permission is named even for a refused read."""
    path = (exc.path or "").lower()
    if "/managedDevices".lower() in path:
        return MD_WRITE if "managed" in writes or exc.method == "DELETE" else MD_READ
    if "/windowsautopilotdeviceidentities" in path:
        return SVC_READ
    if "/devices" in path:
        return DEV_WRITE if "devices" in writes or exc.method == "DELETE" else DEV_READ
    return None


def explain_permission(exc, module_name, required, writes=()):
    """Rewrite a GraphPermissionError so it names the permission (and keeps the service's words)."""
    perm = permission_for(exc, writes) or required[0]
    exc.msg = ("Missing permission: %s needs the application permission %s with admin consent (refused: %s %s). %s"
               % (module_name, perm, exc.method or "", exc.path or "", exc.msg))
    exc.details["required_permissions"] = list(required)
    exc.details["missing_permission"] = perm
    return exc


# ---------------------------------------------------------------------------------------------
# Intune managed devices
def intune_view(md):
    return {
        "id": md.get("id"),
        "name": md.get("deviceName"),
        "serial_number": md.get("serialNumber") or None,
        "azure_ad_device_id": md.get("azureADDeviceId") or None,
        "user_principal_name": md.get("userPrincipalName") or None,
        "operating_system": md.get("operatingSystem"),
        "os_version": md.get("osVersion"),
        "manufacturer": md.get("manufacturer"),
        "model": md.get("model"),
        "enrolled": md.get("enrolledDateTime"),
        "last_sync": md.get("lastSyncDateTime"),
        "management_agent": md.get("managementAgent"),
        "enrollment_type": md.get("deviceEnrollmentType"),
        "join_type": md.get("joinType"),
        "autopilot_enrolled": md.get("autopilotEnrolled"),
        "compliance_state": md.get("complianceState"),
    }


def _intune_by(client, field, value):
    items = client.paged(MANAGED, params={"$filter": "%s eq '%s'" % (field, _odata(value))})
    return [m for m in items if (m.get(field) or "").strip().lower() == value.strip().lower()]


def find_intune(client, sel):
    """Intune managed devices for the selectors (one of id/device_name/azure_ad_device_id, or
    serial_number alone). Returns the views, in a stable order."""
    if "id" in sel:
        md = _get_or_none(client, "%s/%s" % (MANAGED, sel["id"]))
        found = [md] if md else []
    elif "device_name" in sel:
        found = _intune_by(client, "deviceName", sel["device_name"])
    elif "azure_ad_device_id" in sel:
        found = _intune_by(client, "azureADDeviceId", sel["azure_ad_device_id"])
    else:
        found = _intune_by(client, "serialNumber", sel["serial_number"])
    seen = {}
    for md in found:
        seen.setdefault(md["id"], md)
    return sorted((intune_view(m) for m in seen.values()), key=lambda v: ((v["name"] or "").lower(), v["id"]))


def intune_info(client, params):
    sel = selectors(params, INTUNE_SELECTORS)
    records = find_intune(client, sel)
    _mark_serial_match(records, sel)
    return records


def intune_absent(client, params, check_mode=False):
    """Delete the Intune managed devices the selectors match. Returns ``(removed, before)``; a refused guard or a
    failed deletion raises (one device: the historical interface over ``intune_absent_many``)."""
    sel = selectors(params, INTUNE_SELECTORS)
    res = intune_absent_many(client, [sel], check_mode, require_serial_match=params.get("require_serial_match", True))
    return _single(res)


def _single(results):
    res = results[0]
    if res["error"] is not None:
        raise res["error"]
    return res["removed"], res["found"]


def _entry(sel):
    serial = sel.get("serial_number")
    return {"selector": dict(sel), "serial_number": serial, "found": [], "removed": [], "failed": False, "msg": None,
            "error": None}


def _fail_entry(res, exc):
    res.update(failed=True, msg=exc.msg, error=exc, removed=[])


def entries_from(items, names, option_names=None):
    """Validated selector dicts of a list form: ``items`` are dicts (``devices``) or values of one option
    (``option_names``, e.g. ``serial_number`` for ``serial_numbers``). Every entry is checked before anything is
    read, so one bad value refuses the whole task; an empty list selects nothing."""
    out = []
    for i, item in enumerate(items or []):
        params = {option_names: item} if option_names else dict(item or {})
        try:
            sel = selectors(params, names)
        except InputError as exc:
            raise InputError("%s (entry %d of the list)" % (exc.msg, i + 1), **exc.details)
        if option_names is None:
            sel["_require_serial_match"] = params.get("require_serial_match")
        out.append(sel)
    return out


def bulk_entries(params, names):
    """The entries a deleting module's task names, validated before any request, and whether it used the single
    form: the single-device options, or the list forms ``serial_numbers``, ``ids`` and ``devices`` together."""
    if all(params[o] is None for o in ("serial_numbers", "ids", "devices")):
        return [selectors(params, names)], True
    out = entries_from(params["serial_numbers"], names, "serial_number")
    out += entries_from(params["ids"], names, "id")
    out += entries_from(params["devices"], names)
    return out, False


def intune_absent_many(client, entries, check_mode=False, require_serial_match=True):
    """Delete, in bulk, the Intune managed devices of each entry (a selector dict as ``selectors`` returns).

    One ``$batch`` (20 per request) looks every entry up, each entry's serial guard is checked on its own, and one
    more ``$batch`` deletes every record that passed; a record two entries match is deleted once (for the first).
    Returns one result per entry: ``selector``, ``serial_number``, ``found`` (views before), ``removed``,
    ``failed`` and ``msg`` (a refused guard or a refused deletion; the other entries go on), ``error`` (the typed
    exception, for the caller). 404 on delete is "gone meanwhile": not removed by this run, not a failure."""
    results = [_entry({k: v for k, v in e.items() if not k.startswith("_")}) for e in entries]
    urls = []
    for e in entries:
        if "id" in e:
            urls.append("%s/%s" % (MANAGED, e["id"]))
        elif "device_name" in e:
            urls.append(_eq_url(MANAGED, "deviceName", e["device_name"]))
        elif "azure_ad_device_id" in e:
            urls.append(_eq_url(MANAGED, "azureADDeviceId", e["azure_ad_device_id"]))
        else:
            urls.append(_eq_url(MANAGED, "serialNumber", e["serial_number"]))
    for e, res, got in zip(entries, results, _batch_get(client, urls), strict=True):
        if isinstance(got, dict):
            found = [got]
        else:
            field, key = next(((f, k) for k, f in (("device_name", "deviceName"), ("azure_ad_device_id",
                                                   "azureADDeviceId"), ("serial_number", "serialNumber")) if k in e),
                              (None, None))
            found = [m for m in got or [] if field and (m.get(field) or "").strip().lower() == e[key].lower()]
        seen = {}
        for md in found:
            seen.setdefault(md["id"], md)
        res["found"] = sorted((intune_view(m) for m in seen.values()), key=lambda v: ((v["name"] or "").lower(), v["id"]))
        if "serial_number" in e and len([k for k in e if not k.startswith("_")]) > 1:
            need = e.get("_require_serial_match")
            try:
                check_serial_guard(res["found"], e["serial_number"], require_serial_match if need is None else need,
                                   "Intune managed device")
            except GuardError as exc:
                _fail_entry(res, exc)
    _delete_many(client, results, MANAGED, check_mode, _removed_view)
    return results


def _delete_many(client, results, path, check_mode, view):
    """DELETE every record of the entries that did not fail, in $batch requests; per-response status."""
    plan, owner = [], {}
    for n, res in enumerate(results):
        if res["failed"]:
            continue
        for rec in res["found"]:
            if rec["id"] in owner:
                continue
            owner[rec["id"]] = n
            plan.append((n, rec))
    if check_mode:
        for n, rec in plan:
            results[n]["removed"].append(view(rec))
        return
    calls = [{"method": "DELETE", "url": "%s/%s" % (path, rec["id"])} for _n, rec in plan]
    progress = _progress.Reporter("cleanup", "Deleting %s" % path.rsplit("/", 1)[-1], total=len(calls), unit="records")
    for call, (n, rec), resp in zip(calls, plan, client.batch(calls, progress=progress) if calls else [], strict=True):
        res = results[n]
        if resp.status < 300:
            res["removed"].append(view(rec))
        elif resp.status == 404:
            continue  # gone meanwhile (or a retried delete had worked): not removed by this run
        elif not res["failed"]:
            try:
                client.raise_for(call, resp)
            except GraphError as exc:
                res.update(failed=True, msg=exc.msg, error=exc)


def _removed_view(rec, extra=()):
    out = {"id": rec["id"], "name": rec.get("name"), "serial_number": rec.get("serial_number")}
    for key in extra:
        out[key] = rec.get(key)
    return out


def _mark_serial_match(records, sel):
    """Info modules: with serial_number and another selector, tell each record's guard verdict."""
    if "serial_number" in sel and len(sel) > 1:
        want = norm_serial(sel["serial_number"])
        for rec in records:
            have = norm_serial(rec.get("serial_number"))
            rec["serial_match"] = None if not have else have == want


# ---------------------------------------------------------------------------------------------
# Entra devices
def physical_values(obj, tag):
    """Values of ``[tag]:value`` entries of physicalIds, tag matched case-insensitively ([ZTDId] occurs)."""
    prefix = "[%s]:" % tag.lower()
    return [p[len(prefix):] for p in obj.get("physicalIds") or [] if p.lower().startswith(prefix)]


def entra_view(obj):
    trust = obj.get("trustType")
    ztdids = physical_values(obj, "ZTDID")
    orders = physical_values(obj, "OrderId")
    pos = physical_values(obj, "PurchaseOrderId")
    return {
        "id": obj.get("id"),
        "name": obj.get("displayName"),
        "serial_number": None,
        "serial_source": None,
        "device_id": obj.get("deviceId"),
        "trust_type": trust,
        "join_type": JOIN_TYPES.get((trust or "").lower()),
        "ztdid": ztdids[0] if ztdids else None,
        "order_id": orders[0] if orders else None,
        "purchase_order_id": pos[0] if pos else None,
        "autopilot_id": None,
        "managed_device_ids": [],
        "account_enabled": obj.get("accountEnabled"),
        "operating_system": obj.get("operatingSystem"),
        "operating_system_version": obj.get("operatingSystemVersion"),
        "approximate_last_sign_in": obj.get("approximateLastSignInDateTime"),
        "registration_date": obj.get("registrationDateTime"),
        "on_premises_sync_enabled": obj.get("onPremisesSyncEnabled"),
        "is_managed": obj.get("isManaged"),
    }


def _ztdid_filters(ztdid):
    """physicalIds filters for a ZTDID: both spellings of the tag, the value as given and lower-cased
    (the match is repeated case-insensitively on the client side)."""
    out = []
    for tag in ("[ZTDID]", "[ZTDId]"):
        for value in dict.fromkeys((ztdid, ztdid.lower())):
            clause = "physicalIds/any(p:p eq '%s:%s')" % (tag, _odata(value))
            out.append("%s?$filter=%s" % (DEVICES, _quote_filter(clause)))
    return out


def _quote_filter(text):
    # $batch inner URLs are sent as given: percent-encode the whole filter (spaces, quotes, '+', '&', '#').
    return quote(text, safe="")


def _eq_url(path, field, value):
    return "%s?$filter=%s" % (path, _quote_filter("%s eq '%s'" % (field, _odata(value))))


def _managed_by_serials(client, serials):
    """Per serial number (in order), the raw Intune managed devices the service lists for it (one ``$batch`` step)."""
    return _batch_get(client, [_eq_url(MANAGED, "serialNumber", s) for s in serials])


def _entra_by_serials(client, serials, aps=None, mds=None):
    """Per serial number (in order), the raw Entra objects of the device: those whose deviceId an Autopilot record or
    Intune managed device of that serial names, or whose ZTDID is the Autopilot record's. Three ``$batch`` steps for
    any number of serials: the Autopilot records, the Intune devices, the candidate objects; ``aps`` (as
    ``find_registered`` returns them) and ``mds`` (as ``_managed_by_serials``) when the caller has read them."""
    if aps is None:
        aps = find_registered(client, serials) if serials else {}
    if mds is None:
        mds = _managed_by_serials(client, serials)
    plans, urls = [], []
    for serial, items in zip(serials, mds, strict=True):
        ap = aps.get(serial.upper())
        device_ids = {(ap.get("azureActiveDirectoryDeviceId") or ap.get("azureAdDeviceId") or "").lower()} if ap else set()
        device_ids |= {(m.get("azureADDeviceId") or "").lower() for m in items or []
                       if norm_serial(m.get("serialNumber")) == norm_serial(serial)}
        device_ids = sorted(d for d in device_ids if _GUID.match(d) and d != _NULL_GUID)
        mine = [_eq_url(DEVICES, "deviceId", d) for d in device_ids] + (_ztdid_filters(ap["id"]) if ap else [])
        plans.append((device_ids, {ap["id"].lower()} if ap else set(), len(urls), len(urls) + len(mine)))
        urls.extend(mine)
    got = _batch_get(client, urls)
    return [[o for items in got[start:end] for o in items or []
             if (o.get("deviceId") or "").lower() in device_ids or ztd & {v.lower() for v in physical_values(o, "ZTDID")}]
            for device_ids, ztd, start, end in plans]


def find_entra(client, sel):
    """Raw Entra device objects for the selectors (one of id/device_id/ztdid/name, or serial_number alone)."""
    if "id" in sel:
        obj = _get_or_none(client, "%s/%s" % (DEVICES, sel["id"]))
        found = [obj] if obj else []
    elif "device_id" in sel:
        found = [o for o in client.paged(DEVICES, params={"$filter": "deviceId eq '%s'" % _odata(sel["device_id"])})
                 if (o.get("deviceId") or "").lower() == sel["device_id"].lower()]
    elif "ztdid" in sel:
        want = sel["ztdid"].lower()
        found = [o for items in _batch_get(client, _ztdid_filters(sel["ztdid"])) for o in items or []
                 if want in (v.lower() for v in physical_values(o, "ZTDID"))]
    elif "name" in sel:
        found = [o for o in client.paged(DEVICES, params={"$filter": "displayName eq '%s'" % _odata(sel["name"])})
                 if (o.get("displayName") or "").lower() == sel["name"].lower()]
    else:
        found = _entra_by_serials(client, [sel["serial_number"]])[0]
    seen = {}
    for obj in found:
        seen.setdefault(obj["id"], obj)
    return sorted(seen.values(), key=lambda o: ((o.get("displayName") or "").lower(), o["id"]))


def resolve_entra(client, objects, guard_serial=None, guards=None):
    """Views of Entra objects with their serial resolved (see the module docstring) and the live
    Autopilot record that owns each (``autopilot_id``). ``guards`` gives a guard serial per object (bulk
    deletion: each object with its own device's serial); otherwise ``guard_serial`` applies to every object."""
    views = [entra_view(o) for o in objects]
    guards = list(guards) if guards is not None else [guard_serial] * len(views)
    if not views:
        return views
    urls, slots = [], []
    for i, v in enumerate(views):
        if v["ztdid"] and _GUID.match(v["ztdid"]):
            urls.append("%s/%s" % (AUTOPILOT, v["ztdid"]))
            slots.append(("autopilot", i))
        if v["device_id"] and _GUID.match(v["device_id"]):
            urls.append(_eq_url(MANAGED, "azureADDeviceId", v["device_id"]))
            slots.append(("intune", i))
    claims = [[] for _v in views]  # per view: [(serial, source)]
    for (what, i), got in zip(slots, _batch_get(client, urls)):
        if what == "autopilot" and got and got.get("serialNumber"):
            claims[i].append((got["serialNumber"], "autopilot"))
            views[i]["autopilot_id"] = got.get("id")
        elif what == "intune":
            mds = [m for m in got or [] if (m.get("azureADDeviceId") or "").lower() == views[i]["device_id"].lower()]
            views[i]["managed_device_ids"] = sorted(m["id"] for m in mds)
            claims[i].extend((m["serialNumber"], "intune") for m in mds if m.get("serialNumber"))
    # Autopilot records of every candidate serial: their azureActiveDirectoryDeviceId claims the object too
    # (covers an object whose ZTDID could not be looked up).
    candidates = {norm_serial(s) for c in claims for s, src in c if src == "intune"}
    candidates |= {norm_serial(g) for g in guards if g}
    candidates.discard("")
    aps = find_registered(client, sorted(candidates)) if candidates else {}
    for ap in aps.values():
        dev_id = (ap.get("azureActiveDirectoryDeviceId") or ap.get("azureAdDeviceId") or "").lower()
        for i, v in enumerate(views):
            if dev_id and (v["device_id"] or "").lower() == dev_id:
                claims[i].append((ap["serialNumber"], "autopilot"))
                views[i]["autopilot_id"] = views[i]["autopilot_id"] or ap["id"]
    # Name agreement, for hybrid-joined objects nothing else claims, and only as a guard.
    unclaimed = [i for i, v in enumerate(views) if not claims[i] and (v["trust_type"] or "").lower() == "serverad"
                 and not v["ztdid"]]
    wanted = sorted({norm_serial(guards[i]) for i in unclaimed if guards[i]})
    if wanted:
        urls = [_eq_url(MANAGED, "serialNumber", s) for s in wanted]
        by_serial = {}
        for s, items in zip(wanted, _batch_get(client, urls), strict=True):
            by_serial[s] = {(m.get("deviceName") or "").lower(): m for m in items or []
                            if norm_serial(m.get("serialNumber")) == s}
        for i in unclaimed:
            md = by_serial.get(norm_serial(guards[i]), {}).get((views[i]["name"] or "").lower()) if guards[i] else None
            if md is not None:
                claims[i].append((md["serialNumber"], "name"))
    for i, v in enumerate(views):
        serials = [s for s, _src in claims[i]]
        pick = None
        if guards[i]:
            pick = next((c for c in claims[i] if norm_serial(c[0]) == norm_serial(guards[i])), None)
        pick = pick or (claims[i][0] if claims[i] else None)
        if pick:
            v["serial_number"], v["serial_source"] = pick
        if len({norm_serial(s) for s in serials}) > 1:
            v["other_serials"] = sorted({s for s in serials if norm_serial(s) != norm_serial(v["serial_number"])})
        if not pick:
            v["serial_hint"] = (" (no Autopilot record or Intune managed device claims it any more; look it up with "
                                "entra_device_info before deleting those)")
    return views


def _public(view):
    return {k: v for k, v in view.items() if k != "serial_hint"}


def _values(option, values):
    """The distinct values of a list selector (validated like a single one), in the order given."""
    out, seen = [], set()
    for value in values or []:
        text = selectors({option: value}, (option,))[option]
        if text.upper() not in seen:
            seen.add(text.upper())
            out.append(text)
    return out


def intune_info_many(client, serials, mds=None):
    """``intune_info`` for every serial number of a fleet, in ``$batch`` requests of 20 instead of one request per
    device (a fleet's look-up in a few requests, and a throttled one waits once per batch). Records found by several
    serials are returned once. ``mds``: the raw devices per distinct serial, when the caller has read them."""
    order = _values("serial_number", serials)
    if mds is None:
        mds = _managed_by_serials(client, order)
    out, seen = [], set()
    for serial, items in zip(order, mds, strict=True):
        found = {m["id"]: m for m in items or [] if norm_serial(m.get("serialNumber")) == norm_serial(serial)}
        for view in sorted((intune_view(m) for m in found.values()), key=lambda v: ((v["name"] or "").lower(), v["id"])):
            if view["id"] not in seen:
                seen.add(view["id"])
                out.append(view)
    return out


def entra_info_many(client, serials=(), names=(), aps=None, mds=None):
    """``entra_info`` for every serial number and computer name of a fleet in bulk: the Autopilot records and Intune
    devices of every serial (``aps``, ``mds``: already read by the caller), then every candidate Entra object, then
    every object's owner, each step in ``$batch`` requests. Same records, guards and order as one ``entra_info`` per
    value (records found twice are kept once)."""
    serials, names = _values("serial_number", serials), _values("name", names)
    per_value = list(zip(serials, _entra_by_serials(client, serials, aps=aps, mds=mds), strict=True))
    for name, items in zip(names, _batch_get(client, [_eq_url(DEVICES, "displayName", n) for n in names]), strict=True):
        per_value.append((None, [o for o in items or [] if (o.get("displayName") or "").lower() == name.lower()]))
    objects, guards, seen = [], [], set()
    for serial, found in per_value:
        unique = {o["id"]: o for o in found}
        for obj in sorted(unique.values(), key=lambda o: ((o.get("displayName") or "").lower(), o["id"])):
            if obj["id"] not in seen:
                seen.add(obj["id"])
                objects.append(obj)
                guards.append(serial)
    return [_public(v) for v in resolve_entra(client, objects, guards=guards)]


RECORD_SERVICES = ("intune", "autopilot", "entra")


def records_many(client, serials=(), names=(), services=RECORD_SERVICES):
    """A fleet's records in the services of ``services`` (Intune, Windows Autopilot, Microsoft Entra ID), with one
    client and one token: ``{service: [views]}``, each list what the service's own ``*_info`` module returns for
    the same serial numbers (and, for Entra, ``names``): ``intune_info_many``, the Autopilot ``device_info``
    (without import state) and ``entra_info_many``. The Autopilot records and Intune devices are read once: the
    Entra look-up starts from the same raw records."""
    serials = _values("serial_number", serials)
    out = {}
    aps = find_registered(client, serials) if serials and {"autopilot", "entra"} & set(services) else {}
    mds = _managed_by_serials(client, serials) if {"intune", "entra"} & set(services) else None
    if "intune" in services:
        out["intune"] = intune_info_many(client, serials, mds=mds)
    if "autopilot" in services:
        found = device_info(client, serials, include_import_state=False, found=aps) if serials else []
        out["autopilot"] = [dev for dev in found if dev.get("id")]
    if "entra" in services:
        out["entra"] = entra_info_many(client, serials, names, aps=aps, mds=mds)
    return out


def entra_info(client, params):
    sel = selectors(params, ENTRA_SELECTORS)
    guard = sel.get("serial_number") if len(sel) > 1 else None
    views = resolve_entra(client, find_entra(client, sel), guard_serial=guard or sel.get("serial_number"))
    out = [_public(v) for v in views]
    _mark_serial_match(out, sel)
    return out


def entra_absent(client, params, check_mode=False, warn=None):
    """Delete the Entra device objects the selectors match. Returns ``(removed, before)``; a refused guard or a
    failed deletion raises (one device: the historical interface over ``entra_absent_many``)."""
    sel = selectors(params, ENTRA_SELECTORS)
    res = entra_absent_many(client, [sel], check_mode, warn=warn,
                            require_serial_match=params.get("require_serial_match", True), force=params.get("force"))
    return _single(res)


def entra_absent_many(client, entries, check_mode=False, warn=None, require_serial_match=True, force=False):
    """Delete, in bulk, the Entra device objects of each entry (see ``intune_absent_many`` for the result).

    Objects selected by ``id`` are read in one ``$batch``; the other selectors are looked up entry by entry (each
    is itself batched); every object's serial and owner are resolved in one pass, each object against its own
    entry's guard serial. An object still owned by a live Autopilot record fails its entry unless ``force``."""
    warn = warn or (lambda msg: None)
    results = [_entry({k: v for k, v in e.items() if not k.startswith("_")}) for e in entries]
    by_id = [e for e in entries if "id" in e]
    got = dict(zip([e["id"] for e in by_id], _batch_get(client, ["%s/%s" % (DEVICES, e["id"]) for e in by_id]),
                   strict=True))
    found = []
    for e in entries:
        if "id" in e:
            found.append([got[e["id"]]] if got.get(e["id"]) else [])
        else:
            found.append(find_entra(client, {k: v for k, v in e.items() if not k.startswith("_")}))
    objects, guards, slots = [], [], []
    for n, (e, objs) in enumerate(zip(entries, found, strict=True)):
        guard = e.get("serial_number")
        for obj in objs:
            objects.append(obj)
            guards.append(guard)
            slots.append(n)
    views = resolve_entra(client, objects, guards=guards) if objects else []
    for n, v in zip(slots, views, strict=True):
        results[n]["found"].append(v)
    for e, res in zip(entries, results, strict=True):
        res["found"].sort(key=lambda v: ((v["name"] or "").lower(), v["id"]))
        serial = e.get("serial_number")
        try:
            if serial and len([k for k in e if not k.startswith("_")]) > 1:
                need = e.get("_require_serial_match")
                check_serial_guard(res["found"], serial, require_serial_match if need is None else need,
                                   "Entra device")
            owned = [v for v in res["found"] if v["autopilot_id"]]
            if owned and not force:
                v = owned[0]
                raise GuardError(
                    "Entra device %s (%s, deviceId %s) belongs to Windows Autopilot device %s, which still exists. "
                    "Microsoft removes this object together with the Autopilot record; deleting it first leaves an "
                    "orphaned Autopilot record (MicrosoftDocs/memdocs#1435). Delete the Autopilot record with "
                    "winfleet.autopilot.autopilot_device state=absent (after the Intune managed device), or set "
                    "force: true; nothing was deleted" % (v["name"], v["id"], v["device_id"], v["autopilot_id"]),
                    record=_public(v), removed=[])
        except GuardError as exc:
            _fail_entry(res, exc)
            continue
        for v in res["found"]:
            if v["autopilot_id"]:
                warn("force: deleting Entra device %s (%s) although Windows Autopilot device %s still exists; that "
                     "Autopilot record is now orphaned" % (v["name"], v["id"], v["autopilot_id"]))
            if v["on_premises_sync_enabled"]:
                warn("Entra device %s (%s) is synced from Active Directory: it comes back at the next sync unless its "
                     "AD computer object is deleted too" % (v["name"], v["id"]))
    _delete_many(client, results, DEVICES, check_mode,
                 lambda rec: _removed_view(rec, ("device_id", "join_type", "ztdid")))
    for res in results:
        res["found"] = [_public(v) for v in res["found"]]
    return results


__all__ = ["GraphPermissionError", "GuardError", "entra_absent", "entra_absent_many", "entra_info", "entries_from",
           "explain_permission", "intune_absent", "intune_absent_many", "intune_info"]
