# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The clean-up stage of a campaign, as pure functions (no I/O): which devices, which of the records found belong
to them, the guards, what each deletion step gets, and the journal events. The ``cleanup`` role calls them through
the filters of ``plugins/filter/cleanup_plan.py``; unit tests: tests/unit/plugins/module_utils/test_cleanup_stage.py.

1. ``targets``: the devices given, or every device the journal says was collected; minus those already cleaned
   (a re-run never deletes twice, nor the record the register stage made since) unless ``force``. ``unsafe``
   names the selectors that could match other devices' records (empty, wildcards, filter characters): the role
   refuses the run before anything is read.
2. ``plan``: a record belongs to a device when its serial number is the device's, or, for a record without one,
   when its name is the device's computer name; a record with the device's name and another serial number, or one
   two devices claim, is a conflict that holds the device back. An Entra object still owned by an Autopilot
   identity (``via: autopilot``) goes with that identity (Microsoft's rule) and is not deleted on its own.
3. ``review``: the deletions, the devices held back, one line per device for the operator, and the refusal when
   the plan deletes more than ``max_deletions`` records (checked before the first delete).
4. ``step``: the entries one bulk module gets, in Microsoft's order (Intune -> Autopilot, waiting until gone ->
   Entra -> AD DS -> ConfigMgr), without the devices an earlier step failed for.
5. ``events``: one journal event per device - ``changed`` / ``Cleaned``, ``ok`` / ``Nothing to clean``,
   ``failed`` / ``Records disagree, not cleaned``, ``failed`` / ``Cleanup failed: <cause>``, ``skipped`` /
   ``Dry run: N record(s) would be removed`` (or any given status, e.g. ``Cleanup not enabled``). ``detail`` is
   ``{removed: [{service, id, name}], planned: [records], conflicts?: [...]}`` (what ``_report`` reads).
"""

from __future__ import annotations

import re

SERVICES = ("intune", "autopilot", "entra", "ad", "configmgr")
SERVICE_NAMES = {"intune": "Intune", "autopilot": "Windows Autopilot", "entra": "Microsoft Entra ID", "ad": "AD DS",
                 "configmgr": "Configuration Manager"}
CLEANED = "Cleaned"
NOTHING = "Nothing to clean"
DISAGREE = "Records disagree, not cleaned"
FAILED_PREFIX = "Cleanup failed: "
NOT_ENABLED = "Cleanup not enabled"

_SAFE_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/+-]*$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _norm(value):
    return str(value).strip().upper() if value not in (None, "") else ""


def _text(value):
    return "" if value is None else str(value).strip()


# ---------------------------------------------------------------------------------------------------- 1. targets
def targets(journal=None, devices=None, force=False):
    """The devices to clean: ``devices`` ({serial or serial_number, name}) or, when empty, the devices the journal
    (``campaign_journal_info``'s result) records as collected; those the journal says are cleaned are left out
    unless ``force``. Returns ``[{serial, name}]`` in order."""
    journal = journal or {}
    out = []
    if devices:
        for dev in devices:
            dev = dev or {}
            serial = dev.get("serial") if dev.get("serial") not in (None, "") else dev.get("serial_number")
            out.append({"serial": _text(serial), "name": _text(dev.get("name"))})
    else:
        for serial, stages in (journal.get("devices") or {}).items():
            collect = (stages or {}).get("collect") or {}
            if collect.get("outcome") in ("ok", "changed"):
                out.append({"serial": _text(serial), "name": _text((collect.get("detail") or {}).get("name"))})
    if not force:
        done = {_norm(s) for s in (journal.get("done") or {}).get("cleanup") or []}
        out = [t for t in out if _norm(t["serial"]) not in done]
    return out


def unsafe(devices):
    """Serial numbers and names that could select other devices' records (refused before anything is read)."""
    bad = [d["serial"] or "(empty serial number)" for d in devices if not _SAFE_SERIAL.match(d["serial"] or "")]
    bad += [d["name"] for d in devices if d["name"] and not _SAFE_NAME.match(d["name"])]
    return bad


def selection(journal=None, devices=None, force=False):
    """What the role looks up: ``{devices, serials, names, unsafe, refusal}``."""
    chosen = targets(journal, devices, force)
    bad = unsafe(chosen)
    refusal = None
    if bad:
        refusal = ("Refusing to clean: these serial numbers or computer names are empty or contain wildcard / filter "
                   "characters: %s. Nothing was read or deleted." % ", ".join(bad))
    return {"devices": chosen, "serials": [d["serial"] for d in chosen],
            "names": [d["name"] for d in chosen if d["name"]], "unsafe": bad, "refusal": refusal}


# ---------------------------------------------------------------------------------------------------- 2. plan
def _summary(service, rec):
    out = {"service": service, "id": str(rec.get("id") or ""), "name": rec.get("name") or rec.get("device_name") or
           rec.get("display_name") or "", "serial_number": rec.get("serial_number") or None, "via": None}
    if service == "entra" and rec.get("autopilot_id"):
        out["via"] = "autopilot"  # an Entra-joined object created by Autopilot registration goes with its identity
    if service == "entra":
        out["join_type"] = rec.get("join_type")
    return out


def plan(devices, intune=None, autopilot=None, entra=None, ad=None, configmgr=None):
    """One entry per device, in the order given: ``{serial, name, records, conflicts}`` (records in deletion
    order, each ``{service, id, name, serial_number, via}``; conflicts add ``reason``)."""
    found = {"intune": intune or [], "autopilot": [r for r in (autopilot or []) if r.get("found", True) and r.get("id")],
             "entra": entra or [], "ad": ad or [], "configmgr": configmgr or []}
    entries = []
    by_serial, by_name = {}, {}
    for dev in devices or []:
        entry = {"serial": _text(dev.get("serial")), "name": _text(dev.get("name")), "records": [], "conflicts": []}
        entries.append(entry)
        if entry["serial"]:
            by_serial.setdefault(_norm(entry["serial"]), []).append(entry)
        if entry["name"]:
            by_name.setdefault(_norm(entry["name"]), []).append(entry)
    for service in SERVICES:
        seen = set()
        for rec in found[service]:
            summary = _summary(service, rec)
            key = (service, summary["id"])
            if not summary["id"] or key in seen:
                continue
            seen.add(key)
            serial, name = _norm(summary["serial_number"]), _norm(summary["name"])
            if serial:
                owners = by_serial.get(serial, [])
                for other in by_name.get(name, []) if name else []:
                    if other not in owners:
                        other["conflicts"].append(dict(summary, reason="the record has the device's name but the "
                                                       "serial number %s" % summary["serial_number"]))
            else:
                owners = by_name.get(name, []) if name else []
            if len(owners) > 1:
                for owner in owners:
                    owner["conflicts"].append(dict(summary, reason="the record matches %d devices of the campaign"
                                                   % len(owners)))
            elif owners:
                owners[0]["records"].append(summary)
    return entries


# ---------------------------------------------------------------------------------------------------- 3. review
def deletions(entries):
    """One item per record to delete (``via`` records go with their Autopilot identity; devices with conflicts are
    held back whole), with the device's ``serial``."""
    return [dict(rec, serial=e["serial"]) for e in entries if not e["conflicts"] for rec in e["records"]
            if not rec["via"]]


def review(entries, max_deletions=None):
    """``{count, held, lines, refusal}``: the number of records the run deletes, the devices held back, one line per
    device with records or conflicts, and the refusal when ``count`` exceeds ``max_deletions``."""
    dels = [dict(rec, serial=e["serial"]) for e in entries if not e["conflicts"] for rec in e["records"]]
    held = [e for e in entries if e["conflicts"]]
    lines = []
    for e in entries:
        if not e["records"] and not e["conflicts"]:
            continue
        line = "%s: %s" % (e["serial"], ", ".join(r["service"] for r in e["records"]) or "-")
        if e["conflicts"]:
            line += " - HELD BACK: " + "; ".join(c["reason"] for c in e["conflicts"])
        lines.append(line)
    refusal = None
    if max_deletions is not None and len(dels) > int(max_deletions):
        refusal = ("This run would delete %d records (%s), more than cleanup_max_deletions (%s). Nothing was deleted. "
                   "Check the plan above (or run with cleanup_dry_run) and raise the limit for this run."
                   % (len(dels), ", ".join(e["serial"] for e in entries if e["records"] and not e["conflicts"]),
                      max_deletions))
    return {"count": len(dels), "held": [e["serial"] for e in held], "lines": lines, "refusal": refusal}


# ---------------------------------------------------------------------------------------------------- 4. steps
def _results_of(registered):
    """Per-entry results of a bulk module's registered result (None when the task was skipped)."""
    if not isinstance(registered, dict) or registered.get("skipped"):
        return None
    return registered.get("results")


def failures(entries, done):
    """``{SERIAL: cause}`` of the devices a step failed for. ``done`` maps a service to its task's registered
    result: per-entry failures count for their device; a task that failed as a whole (no per-entry results:
    authentication, permission, connection) fails every device that had records of that service."""
    out = {}
    for service in SERVICES:
        registered = (done or {}).get(service)
        if not isinstance(registered, dict) or registered.get("skipped") or not registered:
            continue
        per = _results_of(registered)
        if per is None:
            if registered.get("failed"):
                for e in entries:
                    if any(r["service"] == service and not r["via"] for r in e["records"]) and not e["conflicts"]:
                        out.setdefault(_norm(e["serial"]), _text(registered.get("msg")) or "%s step failed" % service)
            continue
        for res in per:
            if res.get("failed"):
                out.setdefault(_norm(res.get("serial_number")), _text(res.get("msg")) or "%s step failed" % service)
    return out


_KEYS = {"intune": "id", "autopilot": "id", "entra": "id", "ad": "object_guid", "configmgr": "resource_id"}


def step(entries, service, done=None):
    """The ``devices`` (``computers`` for AD) of the bulk module of ``service``: ``{<id key>, serial_number}`` per
    record of the devices not held back, minus the devices an earlier step (``done``) failed for."""
    failed = failures(entries, done)
    key = _KEYS[service]
    out = []
    for rec in deletions(entries):
        if rec["service"] != service or _norm(rec["serial"]) in failed:
            continue
        value = int(rec["id"]) if service == "configmgr" and str(rec["id"]).isdigit() else rec["id"]
        out.append({key: value, "serial_number": rec["serial"]})
    return out


# ---------------------------------------------------------------------------------------------------- 5. events
def _removed_ids(registered):
    """{(service-independent) record id} the task removed (check mode: would remove)."""
    ids = set()
    for res in _results_of(registered) or []:
        if res.get("failed"):
            continue
        for rec in res.get("removed") if isinstance(res.get("removed"), list) else []:
            if isinstance(rec, dict) and rec.get("id") is not None:
                ids.add(str(rec["id"]).lower())
        if res.get("changed") and res.get("id") and "before" in res:  # autopilot_device: the device itself
            ids.add(str(res["id"]).lower())
    return ids


def events(entries, done=None, dry_run=False, status=None):
    """One journal event per device (see the module docstring). ``status`` (e.g. ``Cleanup not enabled``) records
    every device as skipped with it; ``done`` maps a service to its deletion task's registered result."""
    out = []
    if status:
        return [{"serial": e["serial"], "outcome": "skipped", "status": status, "detail": {"removed": [], "planned": []}}
                for e in entries or []]
    failed = failures(entries, done)
    removed_by = {s: _removed_ids((done or {}).get(s)) for s in SERVICES}
    for e in entries or []:
        if e["conflicts"]:
            out.append({"serial": e["serial"], "outcome": "failed", "status": DISAGREE,
                        "detail": {"removed": [], "planned": [], "conflicts": e["conflicts"]}})
            continue
        if dry_run:
            n = len(e["records"])
            out.append({"serial": e["serial"], "outcome": "skipped",
                        "status": "Dry run: %d record(s) would be removed" % n if n else NOTHING,
                        "detail": {"removed": [], "planned": e["records"]}})
            continue
        removed = [rec for rec in e["records"] if not rec["via"] and rec["id"].lower() in removed_by[rec["service"]]]
        if any(r["service"] == "autopilot" for r in removed):
            removed += [rec for rec in e["records"] if rec["via"] == "autopilot"]
        removed = [{"service": r["service"], "id": r["id"], "name": r["name"]} for r in removed]
        cause = failed.get(_norm(e["serial"]))
        if cause:
            out.append({"serial": e["serial"], "outcome": "failed", "status": FAILED_PREFIX + cause[:300],
                        "detail": {"removed": removed, "planned": e["records"]}})
        elif removed:
            out.append({"serial": e["serial"], "outcome": "changed", "status": CLEANED,
                        "detail": {"removed": removed, "planned": e["records"]}})
        else:
            out.append({"serial": e["serial"], "outcome": "ok", "status": NOTHING,
                        "detail": {"removed": [], "planned": []}})
    return out
