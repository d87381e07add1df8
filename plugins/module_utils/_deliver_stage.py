# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The deliver stage of a campaign for a whole fleet in one call (``autopilot_device`` with ``journal``):

the journal: the devices registered ─► read them (bulk) ─► ``changes`` ─► ``updateDeviceProperties`` in ``$batch``
    ─► read again (only when something changed) ─► deployment profiles: the tenant's profiles and groups read once,
    each device without a profile explained (``_profiles.explain``), the devices a profile targets waited for
    (``profile_wait_timeout``, a look every ``profile_poll_interval``) ─► the assigned users' licences ─► ``events``
    ─► journal

``changes`` and ``events`` are pure functions, also offered as the ``deliver_changes`` / ``deliver_events`` filters
for playbooks that build their own deliver step; unit tests: tests/unit/plugins/module_utils/test_deliver_stage.py.

* ``changes``: per registered device (``autopilot_device_info`` result), the group tag and the assigned user it
  must get - ``deliver_group_tag`` when set and different; the user ``deliver_assigned_users`` names by serial
  number or by the inventory host the journal's collect event recorded, when different (case-insensitive) - as the
  entries of ONE ``autopilot_device`` task (``devices``, bulk ``updateDeviceProperties`` in ``$batch``).
* ``events``: one event per device, its final state (``autopilot_device_info`` after the updates): ``ok`` with the
  device's status (``Ready for user`` = registered AND a deployment profile assigned, ``Profile pending`` = a
  profile targets it and the service has not assigned it yet: a re-run looks again, ``Active``, ``Inactive``), or
  ``failed`` with ``Device not found``, ``Update failed`` (the service's refusal in ``prerequisites``), ``Registered,
  no profile`` (no profile reaches the device: it would boot into the ordinary Windows setup; the cause in
  ``detail.profile.cause``, e.g. "no deployment profile targets group tag Sales"), ``Profile assignment failed``
  (the service's detailed status in words) or ``Licence missing`` (the user unknown in the tenant, or lacking a
  licence). ``detail`` is ``{group_tag, assigned_user, licence (ok | missing | not needed | not checked),
  prerequisites, profile: {status, detailed_status, assigned, name, cause}}`` (what ``_report`` reads).
"""

from __future__ import annotations

import time

from ansible_collections.winfleet.autopilot.plugins.module_utils import (
    _group_members,
    _journal,
    _names,
    _profiles,
    _progress,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import (
    NO_PROFILE,
    PROFILE_FAILED,
    PROFILE_PENDING,
    READY,
    device_info,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot_devices import check_entries, update_many
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError, GraphPermissionError
from ansible_collections.winfleet.autopilot.plugins.module_utils._licence import check_users
from ansible_collections.winfleet.autopilot.plugins.module_utils._statuses import NOT_FOUND, by_identifier

UPDATE_FAILED = "Update failed"
LICENCE_MISSING = "Licence missing"
FAILED_STATUSES = (NOT_FOUND, UPDATE_FAILED, LICENCE_MISSING, NO_PROFILE, PROFILE_FAILED)


def _key(value):
    return str(value or "").strip().upper()


def _by_device(mapping, serial, host):
    """The value ``mapping`` gives a device, by serial number or by inventory host name (case-insensitive)."""
    exact = {str(k): v for k, v in (mapping or {}).items()}
    folded = {_key(k): v for k, v in exact.items()}
    value = exact.get(serial, folded.get(_key(serial)))
    if value is None and host:
        value = exact.get(host, folded.get(_key(host)))
    return value


def registered(summary):
    """The serials the deliver stage works on: registered in Windows Autopilot as the journal ``summary`` shows it
    (``_journal.summarise``). Devices registered by corporate identifier are not Autopilot devices: left alone."""
    devices = summary.get("devices") or {}
    return [s for s in (summary.get("done") or {}).get("register") or []
            if not by_identifier((devices.get(s) or {}).get("register"))]


def wanted(journal=None, serials=None, assigned_users=None, group_tags=None):
    """``{SERIAL: {serial, host, assigned_user, group_tag}}`` for the registered ``serials`` (as journaled);
    ``group_tag`` is the device's own tag from ``group_tags`` (by serial or host), or None."""
    journal = journal or {}
    users = {str(k): v for k, v in (assigned_users or {}).items()}
    users_ci = {_key(k): v for k, v in users.items()}
    out = {}
    for serial in serials or []:
        collect = ((journal.get("devices") or {}).get(serial) or {}).get("collect") or {}
        host = str((collect.get("detail") or {}).get("host") or "")
        user = users.get(serial, users_ci.get(_key(serial)))
        if user is None and host:
            user = users.get(host, users_ci.get(_key(host)))
        tag = _by_device(group_tags, serial, host)
        out[_key(serial)] = {"serial": serial, "host": host, "assigned_user": str(user or "").strip(),
                             "group_tag": None if tag is None else str(tag).strip()}
    return out


def changes(devices, journal=None, serials=None, group_tag="", assigned_users=None, group_tags=None, names=None):
    """The ``devices`` entries of one ``autopilot_device`` task: ``{serial_number, group_tag?, assigned_user?,
    display_name?}`` for every registered device whose tag, user or computer name must change (properties that stay
    are left out). A device's own tag in ``group_tags`` (by serial or host) comes before the fleet's ``group_tag``;
    ``names`` is ``{SERIAL: computer name}`` (``_names.plan``; names compare ignoring case, as Windows does)."""
    want = wanted(journal, serials, assigned_users, group_tags)
    out = []
    for dev in devices or []:
        if not dev.get("found"):
            continue
        entry = {"serial_number": dev.get("serial_number")}
        own = (want.get(_key(dev.get("serial_number"))) or {}).get("group_tag")
        tag = own if own is not None else group_tag
        if tag and (dev.get("group_tag") or "") != tag:
            entry["group_tag"] = tag
        user = (want.get(_key(dev.get("serial_number"))) or {}).get("assigned_user") or ""
        if user and (dev.get("assigned_user") or "").lower() != user.lower():
            entry["assigned_user"] = user
        name = (names or {}).get(_key(dev.get("serial_number")))
        if name and (dev.get("display_name") or "").lower() != name.lower():
            entry["display_name"] = name
        if len(entry) > 1:
            out.append(entry)
    return out


def refusals(update):
    """``{SERIAL: cause}`` of the devices the update task could not change. A task that failed as a whole (no
    per-device results: authentication, permission) refuses every device it was given."""
    if not isinstance(update, dict) or update.get("skipped") or not update:
        return {}
    per = update.get("results")
    if per is None:
        if not update.get("failed"):
            return {}
        cause = str(update.get("msg") or "update refused")
        given = (update.get("invocation") or {}).get("module_args", {}).get("devices") or []
        return {_key(d.get("serial_number")): cause for d in given if isinstance(d, dict)} or {"*": cause}
    return {_key(r.get("serial_number")): str(r.get("msg") or "update refused") for r in per if r.get("failed")}


def _licence(user, licences):
    """(licence word, prerequisites) of an assigned user."""
    if not user:
        return "not needed", []
    entry = licences.get(user.lower())
    if entry is None:
        return "not checked", []
    if not entry.get("found"):
        return "missing", ["%s does not exist in the tenant" % user]
    if not entry.get("licensed"):
        lacking = list(dict.fromkeys(list(entry.get("missing") or []) + list((entry.get("not_provisioned") or {}).keys())))
        return "missing", ["%s lacks %s" % (user, ", ".join(lacking))]
    return "ok", []


def profile_state(dev, explained=None):
    """``(status, profile detail)`` of a registered device from its profile status and, for a device without a
    profile, ``explained`` = ``(profile name or None, words)`` from ``_profiles.explain``."""
    status = dev.get("status")
    name, words = explained or (dev.get("deployment_profile"), "")
    detail = {"status": dev.get("deployment_profile_status"), "detailed_status":
              dev.get("deployment_profile_detailed_status"), "assigned": dev.get("deployment_profile_assigned"),
              "name": dev.get("deployment_profile") or (name if status == READY else None), "cause": ""}
    if status == NO_PROFILE and explained is not None and name:
        status = PROFILE_PENDING  # a profile targets it: the service has not assigned it yet
    if status == PROFILE_PENDING:
        detail["cause"] = words or "the service has not assigned the deployment profile yet"
        detail["name"] = name
    elif status == NO_PROFILE:
        detail["cause"] = words or "no deployment profile is assigned to the device"
    elif status == PROFILE_FAILED:
        detail["cause"] = _profiles.detailed_words(dev.get("deployment_profile_detailed_status"))
    return status, detail


def events(devices, journal=None, serials=None, assigned_users=None, licences=None, update=None, profiles=None,
           problems=None, names=False, group=None):
    """One journal event per device of ``devices`` (``autopilot_device_info`` after the updates); ``profiles`` is
    ``{SERIAL: (profile name or None, words)}`` for the devices without a profile (``_profiles.explain``).
    ``problems`` is ``{SERIAL: [cause]}`` of what could not be done besides the update (a computer name the rules
    refuse, a group membership not added): the device is ``Update failed`` with those causes. With ``names`` the
    detail carries ``computer_name``; ``group`` (``{"name", "results": {SERIAL: {"member", ...}}}``) adds ``group:
    {name, member}``."""
    want = wanted(journal, serials, assigned_users)
    by_user = {}
    for entry in (licences or {}).get("users") or [] if isinstance(licences, dict) else licences or []:
        by_user[str(entry.get("user_principal_name") or "").lower()] = entry
    refused = refusals(update)
    out = []
    for dev in devices or []:
        key = _key(dev.get("serial_number"))
        user = dev.get("assigned_user") or ""
        licence, prerequisites = _licence(user, by_user)
        status, profile = profile_state(dev, (profiles or {}).get(key))
        if not dev.get("found"):
            status = NOT_FOUND
        elif key in refused or "*" in refused:
            status = UPDATE_FAILED
            prerequisites.append(refused.get(key) or refused["*"])
            prerequisites.extend((problems or {}).get(key) or [])
        elif (problems or {}).get(key):
            status = UPDATE_FAILED
            prerequisites.extend(problems[key])
        elif status in (NO_PROFILE, PROFILE_FAILED):
            pass  # the device would not start Autopilot at all: that comes before its user's licence
        elif licence == "missing":
            status = LICENCE_MISSING
        detail = {"group_tag": dev.get("group_tag") or "", "assigned_user": user, "licence": licence,
                  "prerequisites": prerequisites}
        if dev.get("found"):
            detail["profile"] = profile
            if names:
                detail["computer_name"] = dev.get("display_name") or ""
            if group:
                member = ((group.get("results") or {}).get(key) or {}).get("member")
                detail["group"] = {"name": group.get("name") or "", "member": bool(member)}
        out.append({"serial": (want.get(key) or {}).get("serial") or dev.get("serial_number"),
                    "outcome": "failed" if status in FAILED_STATUSES else "ok", "status": status, "detail": detail})
    return out


class DeliverRun:
    """What one deliver stage did: ``devices`` (final state), ``updates`` (``update_many``'s per-device results),
    ``users`` (licence checks), ``events`` (computed) and ``journal_events`` (appended, or that would be)."""

    def __init__(self):
        self.devices = []
        self.updates = []
        self.users = []
        self.events = []
        self.journal_events = []
        self.warnings = []
        self.profile_looks = []  # [{t, ready, pending, without}] of the wait for profile assignment
        self.group = None  # the fleet's Entra group: {id, name, dynamic, added, members}


def _explain_all(client, devices, out, retagged=()):
    """``{SERIAL: (profile name or None, words)}`` for the registered devices without a profile, and those whose group
    tag this run changed (the service's assignment is the old tag's until it has looked again); the tenant's
    profiles and groups are read once. A device a profile targets is one the service will assign."""
    todo = [d for d in devices if d.get("found") and (d.get("status") in (NO_PROFILE, PROFILE_PENDING)
                                                      or _key(d.get("serial_number")) in retagged)]
    if not todo:
        return {}
    try:
        targets = _profiles.read_targets(client)
    except GraphError as exc:
        out.warnings.append("the deployment profiles could not be read: %s" % exc.msg)
        targets = {"profiles": [], "groups": {}, "error": "the deployment profiles cannot be read (%s)" % exc.msg}
    return {_key(d.get("serial_number")): _profiles.explain(d, targets) for d in todo}


def _waiting(devices, explained):
    """Serials of the devices the service will assign a profile to: pending, or targeted by one."""
    return [d["serial_number"] for d in devices if d.get("found") and (
        d.get("status") == PROFILE_PENDING
        or (d.get("status") == NO_PROFILE and (explained.get(_key(d["serial_number"])) or (None,))[0]))]


def wait_for_profiles(client, devices, explained, timeout, interval, out, sleep=time.sleep, clock=time.monotonic,
                      journal=None):
    """Look again every ``interval`` seconds at the devices a profile targets until each is assigned (or failed) or
    ``timeout`` passes; returns the devices with their latest state. A device still waiting at the end is
    ``Profile pending``: the next run looks at it again."""
    by_key = {_key(d.get("serial_number")): d for d in devices}
    started = clock()
    waiting = _waiting(devices, explained)
    progress = _progress.Reporter("deliver", "Waiting for deployment profiles", total=len(waiting),
                                  journal=journal) if waiting else None
    while waiting and clock() + interval <= started + float(timeout):
        sleep(interval)
        for dev in device_info(client, waiting):
            by_key[_key(dev.get("serial_number"))] = dev
        still = [s for s in waiting if by_key[_key(s)].get("status") in (NO_PROFILE, PROFILE_PENDING)]
        failed = sum(1 for s in waiting if s not in still and by_key[_key(s)].get("status") != READY)
        progress.add(done=len(waiting) - len(still) - failed, failed=failed)
        waiting = still
        out.profile_looks.append({"t": round(clock() - started, 1), "pending": len(waiting),
                                  "ready": sum(1 for d in by_key.values() if d.get("status") == READY)})
    if progress is not None:
        progress.finish()
    return [by_key[_key(d.get("serial_number"))] for d in devices]


def add_to_group(client, group, devices, out, check_mode=False):
    """The fleet's static group: ``({"name", "results": {SERIAL: {added, member, cause}}}, {SERIAL: [cause]})``. A
    group that cannot be used (not found, dynamic, no permission) is every device's cause, not a failed task: the
    devices are journaled ``Update failed`` with it, as for a refused update."""
    registered = [d for d in devices if d.get("found")]
    try:
        view, results = _group_members.ensure(client, group, registered, check_mode)
    except (_group_members.GroupError, GraphError) as exc:
        cause = "not added to the group %s: %s" % (group, exc.msg)
        if isinstance(exc, GraphPermissionError):
            cause += " (the app needs the application permissions %s)" % " and ".join(_group_members.PERMISSIONS)
        out.group = {"id": None, "name": str(group), "added": 0, "members": 0, "error": exc.msg}
        return ({"name": str(group), "results": {}},
                {_key(d.get("serial_number")): [cause] for d in registered})
    out.group = dict(view, added=sum(1 for r in results.values() if r["added"]),
                     members=sum(1 for r in results.values() if r["member"]))
    problems = {k: [r["cause"]] for k, r in results.items() if r["cause"] and not r["member"]}
    return {"name": view["name"], "results": results}, problems


def deliver(client, journal, run=None, group_tag="", assigned_users=None, required_licences=None, check_mode=False,
            profile_wait_timeout=0.0, profile_poll_interval=30.0, sleep=time.sleep, clock=time.monotonic,
            group_tags=None, group=None, computer_name=None, computer_names=None, rng=None):
    """The deliver stage: every device the campaign journal (folder ``journal``) shows as registered gets the fleet's
    group tag and its assigned user; its final state (and its user's licences when ``required_licences`` is a list)
    is journaled as one ``deliver`` event per device. Updates the service refuses become ``Update failed`` events
    (so are all of them when the update fails as a whole, for example for a missing permission). Devices a
    deployment profile targets are waited for up to ``profile_wait_timeout`` seconds. ``computer_name`` (a template,
    ``%SERIAL%`` / ``%RAND:x%``) and ``computer_names`` (by serial or host) name the devices (``displayName``, the
    documented rules of ``_names``); ``group`` (id or display name of a static Entra group) gets the devices as
    members."""
    problems = _names.check_options(computer_name, computer_names)
    if problems:
        raise InputError("Computer names: %s; nothing was read or changed" % "; ".join(problems))
    out = DeliverRun()
    found = _journal.read(journal)
    out.warnings.extend(found.warnings)
    summary = _journal.summarise(found.events)
    serials = registered(summary)
    if not serials:
        return out
    before = device_info(client, serials)
    names, problems = _names.plan(before, computer_name, computer_names, wanted(summary, serials), rng=rng)
    problems = {k: [v] for k, v in problems.items()}
    planned = changes(before, summary, serials, group_tag, assigned_users, group_tags, names=names)
    update = {}
    if planned:
        try:
            out.updates = update_many(client, check_entries(planned), check_mode)
            update = {"results": out.updates}
        except WinfleetError as exc:
            update = {"failed": True, "msg": exc.msg, "invocation": {"module_args": {"devices": planned}}}
    changed = any(r.get("changed") for r in out.updates)
    if changed and check_mode:
        after_by_serial = {_key(r["serial_number"]): r["device"] for r in out.updates if r.get("changed")}
        out.devices = [dict(d, **after_by_serial.get(_key(d.get("serial_number")), {})) for d in before]
    else:
        out.devices = device_info(client, serials) if changed else before
    membership = None
    if group:
        membership, missing = add_to_group(client, group, out.devices, out, check_mode)
        for key, causes in missing.items():
            problems.setdefault(key, []).extend(causes)
    retagged = {_key(e["serial_number"]) for e in planned if "group_tag" in e}
    explained = _explain_all(client, out.devices, out, retagged)
    for dev in out.devices:  # retagged, and no profile reaches the new tag: the service will unassign it
        key = _key(dev.get("serial_number"))
        if key in retagged and key in explained and not explained[key][0] and dev.get("status") in (
                READY, PROFILE_PENDING):
            dev.update(status=NO_PROFILE, deployment_profile=None)
    if profile_wait_timeout and not check_mode:
        out.devices = wait_for_profiles(client, out.devices, explained, profile_wait_timeout, profile_poll_interval,
                                        out, sleep=sleep, clock=clock, journal=journal)
        still = {_key(d.get("serial_number")) for d in out.devices if d.get("status") in (NO_PROFILE, PROFILE_PENDING)}
        explained = {k: v for k, v in explained.items() if k in still}
    out.devices = _profiles.name_profiles(client, out.devices)
    users = [d.get("assigned_user") for d in out.devices if d.get("assigned_user")]
    if users and required_licences is not None:
        out.users = check_users(client, users, required_licences)
    out.events = events(out.devices, summary, serials, assigned_users, {"users": out.users}, update, explained,
                        problems=problems, names=bool(computer_name or computer_names), group=membership)
    new, warned = _journal.append(journal, "deliver", out.events, run=run, check_mode=check_mode)
    out.journal_events.extend(new)
    out.warnings.extend(warned)
    return out
