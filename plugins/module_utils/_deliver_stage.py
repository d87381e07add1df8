# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The deliver stage of a campaign for a whole fleet in one call (``autopilot_device`` with ``journal``):

the journal: the devices registered ─► read them (bulk) ─► ``changes`` ─► ``updateDeviceProperties`` in ``$batch``
    ─► read again (only when something changed) ─► the assigned users' licences ─► ``events`` ─► journal

``changes`` and ``events`` are pure functions, also offered as the ``deliver_changes`` / ``deliver_events`` filters
for playbooks that build their own deliver step; unit tests: tests/unit/plugins/module_utils/test_deliver_stage.py.

* ``changes``: per registered device (``autopilot_device_info`` result), the group tag and the assigned user it
  must get - ``deliver_group_tag`` when set and different; the user ``deliver_assigned_users`` names by serial
  number or by the inventory host the journal's collect event recorded, when different (case-insensitive) - as the
  entries of ONE ``autopilot_device`` task (``devices``, bulk ``updateDeviceProperties`` in ``$batch``).
* ``events``: one event per device, its final state (``autopilot_device_info`` after the updates): ``ok`` with the
  device's status (``Ready for user``, ``Active``, ``Inactive`` ...), or ``failed`` with ``Device not found``,
  ``Update failed`` (the service's refusal in ``prerequisites``) or ``Licence missing`` (the user unknown in the
  tenant, or lacking a licence). ``detail`` is ``{group_tag, assigned_user, licence (ok | missing | not needed |
  not checked), prerequisites}`` (what ``_report`` reads).
"""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot import device_info
from ansible_collections.winfleet.autopilot.plugins.module_utils._autopilot_devices import check_entries, update_many
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._licence import check_users

NOT_FOUND = "Device not found"
UPDATE_FAILED = "Update failed"
LICENCE_MISSING = "Licence missing"
FAILED_STATUSES = (NOT_FOUND, UPDATE_FAILED, LICENCE_MISSING)


def _key(value):
    return str(value or "").strip().upper()


def wanted(journal=None, serials=None, assigned_users=None):
    """``{SERIAL: {serial, host, assigned_user}}`` for the registered ``serials`` (as journaled)."""
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
        out[_key(serial)] = {"serial": serial, "host": host, "assigned_user": str(user or "").strip()}
    return out


def changes(devices, journal=None, serials=None, group_tag="", assigned_users=None):
    """The ``devices`` entries of one ``autopilot_device`` task: ``{serial_number, group_tag?, assigned_user?}``
    for every registered device whose tag or user must change (properties that stay are left out)."""
    want = wanted(journal, serials, assigned_users)
    out = []
    for dev in devices or []:
        if not dev.get("found"):
            continue
        entry = {"serial_number": dev.get("serial_number")}
        if group_tag and (dev.get("group_tag") or "") != group_tag:
            entry["group_tag"] = group_tag
        user = (want.get(_key(dev.get("serial_number"))) or {}).get("assigned_user") or ""
        if user and (dev.get("assigned_user") or "").lower() != user.lower():
            entry["assigned_user"] = user
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


def events(devices, journal=None, serials=None, assigned_users=None, licences=None, update=None):
    """One journal event per device of ``devices`` (``autopilot_device_info`` after the updates)."""
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
        if not dev.get("found"):
            status = NOT_FOUND
        elif key in refused or "*" in refused:
            status = UPDATE_FAILED
            prerequisites.append(refused.get(key) or refused["*"])
        elif licence == "missing":
            status = LICENCE_MISSING
        else:
            status = dev.get("status")
        out.append({"serial": (want.get(key) or {}).get("serial") or dev.get("serial_number"),
                    "outcome": "failed" if status in FAILED_STATUSES else "ok", "status": status,
                    "detail": {"group_tag": dev.get("group_tag") or "", "assigned_user": user, "licence": licence,
                               "prerequisites": prerequisites}})
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


def deliver(client, journal, run=None, group_tag="", assigned_users=None, required_licences=None, check_mode=False):
    """The deliver stage: every device the campaign journal (folder ``journal``) shows as registered gets the fleet's
    group tag and its assigned user; its final state (and its user's licences when ``required_licences`` is a list)
    is journaled as one ``deliver`` event per device. Updates the service refuses become ``Update failed`` events
    (so are all of them when the update fails as a whole, for example for a missing permission)."""
    out = DeliverRun()
    found = _journal.read(journal)
    out.warnings.extend(found.warnings)
    summary = _journal.summarise(found.events)
    serials = list((summary.get("done") or {}).get("register") or [])
    if not serials:
        return out
    before = device_info(client, serials)
    planned = changes(before, summary, serials, group_tag, assigned_users)
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
    users = [d.get("assigned_user") for d in out.devices if d.get("assigned_user")]
    if users and required_licences is not None:
        out.users = check_users(client, users, required_licences)
    out.events = events(out.devices, summary, serials, assigned_users, {"users": out.users}, update)
    new, warned = _journal.append(journal, "deliver", out.events, run=run, check_mode=check_mode)
    out.journal_events.extend(new)
    out.warnings.extend(warned)
    return out
