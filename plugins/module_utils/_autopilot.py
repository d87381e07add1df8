# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Windows Autopilot registration through Microsoft Graph (logic behind the modules).

Import design (docs/graph.md):

* devices already registered in the tenant are ``ok`` ("Device already registered"), never re-sent;
* the rest go to ``importedWindowsAutopilotDeviceIdentities/import`` in batches, each batch with one
  ``importId`` derived from its content (``winfleet-<digest>``).  That id is the journal: a re-run
  after a crash, a timeout or a lost response finds its own records and waits for them instead of
  importing the devices a second time;
* the wait lists the import records (1000 per page) instead of polling each device;
* only records this module created (its ``importId`` and a serial of this run) are ever deleted.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import time

from ansible_collections.winfleet.autopilot.plugins.module_utils import _echo
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError
from ansible_collections.winfleet.autopilot.plugins.module_utils._statuses import (
    ACTIVE,
    ALREADY,
    BAD_HASH,
    FAILED,
    FINAL_REFUSALS,
    INACTIVE,
    NO_PROFILE,
    NOT_FOUND,
    OTHER_ORG,
    PENDING,
    PROFILE_FAILED,
    PROFILE_PENDING,
    READY,
    REGISTERED,
    UNEXPECTED,
    serial_key,
)

IMPORTED = "/deviceManagement/importedWindowsAutopilotDeviceIdentities"
AUTOPILOT = "/deviceManagement/windowsAutopilotDeviceIdentities"
IMPORT_PREFIX = "winfleet-"
# The outcomes in the portal's words (REGISTERED ... FINAL_REFUSALS) and serial_key live in _statuses.

MESSAGES = {
    REGISTERED: "Registration succeeded: the device is in Windows Autopilot. It is ready to be delivered once a "
                "deployment profile is assigned to it.",
    ALREADY: "This device is already registered to your organization. No further action required.",
    NOT_FOUND: "We couldn't register this device because we could not find a match for the provided manufacturer, "
               "model, or serial number. Confirm these values with your device supplier.",
    BAD_HASH: "The hardware hash you provided for this device was not formatted correctly. Double-check the hardware "
              "hash and then resubmit.",
    OTHER_ORG: "This device has already been claimed by another organization. Check with your device supplier.",
    UNEXPECTED: "Your request could not be automatically processed. Contact Support and provide the Request ID: %s",
    PENDING: "Registration is not done yet. Check back later.",
}

ERROR_NAMES = {
    "ztddevicealreadyassigned": ALREADY,
    "ztddeviceassignedtoothertenant": OTHER_ORG,
    "ztddeviceassignedtoanothertenant": OTHER_ORG,
    "invalidztdhardwarehash": BAD_HASH,
    "ztddevicenotfound": NOT_FOUND,
}
ERROR_CODES = {806: ALREADY, 808: OTHER_ORG}

_EDM_LITERAL = re.compile(r"Cannot convert the literal '(.*)' to the expected type 'Edm.Binary'", re.S)
_TOKEN = re.compile(r"[^\s\-]+")


def prepare(devices, group_tag=None, assigned_user=None):
    """Validate and de-duplicate input. Returns (entries, warnings). Hashes are checked locally for a
    warning only: the service's verdict is what counts."""
    # Imported here: the look-up and deliver modules use this file without the decoder, and each module process
    # compiles what it imports from the AnsiballZ zip.
    from ansible_collections.winfleet.autopilot.plugins.module_utils._hwhash import decode

    entries = []
    warnings = []
    by_serial = {}
    for i, dev in enumerate(devices):
        if dev.get("file"):
            where = "%s line %s" % (dev["file"], dev.get("line"))
        else:
            where = "line %s" % dev["line"] if dev.get("line") else "device %d" % (i + 1)
        serial = (dev.get("serial_number") or "").strip()
        text = dev.get("hardware_hash") or ""
        if not serial:
            raise InputError("%s has no serial number" % where)
        report = decode(text, serial_number=serial)
        key = serial_key(serial)
        if key in by_serial:
            first = by_serial[key]
            if first["_digest"] == hashlib.sha256((report.normalized or text).encode()).hexdigest():
                warnings.append("serial %s appears more than once in the input (%s); imported once" % (serial, where))
            else:
                warnings.append("serial %s appears more than once with different hashes (%s); only the first is used"
                                % (serial, where))
            continue
        entry = {
            "serial_number": serial,
            "hash": report.normalized or text.strip(),
            "product_key": (dev.get("product_id") or dev.get("product_key") or "").strip(),
            "group_tag": dev.get("group_tag") if dev.get("group_tag") not in (None, "") else group_tag,
            "assigned_user": dev.get("assigned_user") if dev.get("assigned_user") not in (None, "") else assigned_user,
            "hash_errors": list(report.errors),
            "hash_warnings": list(report.warnings),
            "_digest": hashlib.sha256((report.normalized or text).encode()).hexdigest(),
        }
        by_serial[key] = entry
        entries.append(entry)
    return entries, warnings


def serial_tokens(serial):
    """The part of a serial to put in contains(): the service refuses hyphens and spaces break it."""
    tokens = _TOKEN.findall(serial.replace("'", ""))
    return max(tokens, key=len) if tokens else serial


def find_registered(client, serials, batch_threshold=100):
    """{SERIAL: autopilot device} for the serials that exist (exact, case-insensitive match)."""
    wanted = {serial_key(s) for s in serials}
    wanted.discard("")
    found = {}
    if not wanted:
        return found
    if len(wanted) <= batch_threshold:
        calls = []
        order = sorted(wanted)
        for s in order:
            calls.append({"method": "GET", "url": "%s?$filter=contains(serialNumber,'%s')"
                                                  % (AUTOPILOT, serial_tokens(s).replace("'", "''"))})
        for serial, resp in zip(order, client.batch(calls), strict=True):
            if resp.status != 200:
                raise client._error("GET", AUTOPILOT, resp.status, *_code_msg(resp), resp.request_id)
            items = list((resp.body or {}).get("value", []))
            link = (resp.body or {}).get("@odata.nextLink")
            if link:
                items.extend(client.paged(link))
            for dev in items:
                if serial_key(dev.get("serialNumber")) == serial:
                    found.setdefault(serial, dev)
        return found
    for dev in client.paged(AUTOPILOT):
        s = serial_key(dev.get("serialNumber"))
        if s in wanted:
            found.setdefault(s, dev)
    return found


def _code_msg(resp):
    from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import unwrap_error

    return unwrap_error(resp.body)


def _same_submission(record, entry):
    """Whether one of our import records is this entry as it would be sent now: the same serial, group tag and
    assigned user (the service does not echo the hardware hash back)."""
    return ((record.get("groupTag") or "") == (entry["group_tag"] or "")
            and (record.get("assignedUserPrincipalName") or "").lower() == (entry["assigned_user"] or "").lower())


def _verdict(res, record_id, state):
    """Put an import record's verdict into a device's result; returns the outcome."""
    out = outcome_of(state, res.get("request_id"))
    name = state.get("deviceErrorName")
    res.update(outcome=out, record_id=record_id, error_code=state.get("deviceErrorCode") or None,
               error_name=name if name not in ("", "None") else None)
    return out


def by_serial(records):
    """``{serial_key: record}`` of import records (the first one of each serial number)."""
    out = {}
    for rec in records:
        if isinstance(rec, dict) and rec.get("id"):
            out.setdefault(serial_key(rec.get("serialNumber")), rec)
    return out


def import_id_for(batch):
    digest = hashlib.sha256()
    for e in batch:
        line = "%s|%s|%s|%s\n" % (e["serial_number"].upper(), e["_digest"], e["group_tag"] or "", e["assigned_user"] or "")
        digest.update(line.encode())
    return IMPORT_PREFIX + digest.hexdigest()[:24]


def outcome_of(state, request_id=None):
    status = (state.get("deviceImportStatus") or "").lower()
    if status == "complete":
        return REGISTERED
    if status in ("unknown", "pending", "partial", ""):
        return PENDING
    name = (state.get("deviceErrorName") or "").lower()
    if name in ERROR_NAMES:
        return ERROR_NAMES[name]
    return ERROR_CODES.get(state.get("deviceErrorCode"), UNEXPECTED)


class Registrar:
    """Runs one import. ``sleep``/``clock`` are injectable for unit tests."""

    def __init__(self, client, batch_size=500, poll_interval=15.0, wait=True, timeout=1800.0,
                 delete_import_records=True, update_existing=False, sleep=time.sleep, clock=time.monotonic,
                 submit_attempts=5, resubmit_refused=False):
        self.client = client
        self.batch_size = max(1, min(int(batch_size), 500))
        self.poll_interval = float(poll_interval)
        self.wait = wait
        self.timeout = float(timeout)
        self.delete_records = delete_import_records
        self.update_existing = update_existing
        self.sleep = sleep
        self.clock = clock
        self.submit_attempts = submit_attempts
        self.resubmit_refused = resubmit_refused
        self.warnings = []
        self.looks = []  # one entry per look at the import records while waiting: {t, ready, pending, failed}

    # ---------------------------------------------------------------------------------------
    def run(self, entries, check_mode=False, submitted_before=(), on_submitted=None, on_verdicts=None):
        """Register ``entries`` (from ``prepare``); returns one result per entry, in order.

        ``submitted_before``: serial keys (``serial_key``) a killed or timed-out run of the same campaign submitted; one
        of them found registered now was registered by that run: ``Registered`` (changed), not ``Device already
        registered``. ``on_submitted(results)`` is called with the results of the devices this run waits for (sent now
        or adopted), once every batch is sent and before waiting; ``on_verdicts(results)`` with every result once the
        verdicts are in and before any import record is deleted - a caller that records them (the campaign journal)
        never loses a verdict to a crash.
        """
        if not entries:
            return []  # nothing to look up either: not a single request
        results = {serial_key(e["serial_number"]): self._result(e) for e in entries}
        before = {serial_key(s) for s in submitted_before}
        existing = find_registered(self.client, [e["serial_number"] for e in entries])
        own = self._own_records(set(results))
        to_submit = []
        tracked = {}  # record id -> entry
        stale = []
        adopted = []  # record ids of earlier refusals reported as this run's verdict
        for e in entries:
            key = serial_key(e["serial_number"])
            res = results[key]
            if key in existing:
                dev = existing[key]
                res.update(outcome=ALREADY, device_id=dev.get("id"), registered_group_tag=dev.get("groupTag"),
                           registered_user=dev.get("userPrincipalName"))
                if key in before:  # registered by this campaign's run that did not live to see it
                    res.update(outcome=REGISTERED, changed=True, resumed=True)
                self._maybe_update(e, dev, res, check_mode)
                stale.extend(r for r in own.get(key, []))
                continue
            records = own.get(key, [])
            live = [r for r in records if outcome_of(r["state"]) in (PENDING, REGISTERED)]
            if live:
                rec = live[-1]
                tracked[rec["id"]] = e
                res.update(import_id=rec.get("importId"), record_id=rec["id"], resumed=True)
                stale.extend(r for r in records if r is not rec)
                continue
            refused = [r for r in records if outcome_of(r["state"]) in FINAL_REFUSALS and _same_submission(r, e)]
            if refused and not self.resubmit_refused:
                # This very device was sent before (a run killed before it saw the answer, or an earlier run) and
                # refused for a reason a retry cannot change: report that verdict, do not import it a second time.
                rec = refused[-1]
                _verdict(res, rec["id"], rec["state"])
                res.update(import_id=rec.get("importId"), resumed=True)
                adopted.append(rec["id"])
                stale.extend(r for r in records if r is not rec)
                continue
            stale.extend(records)
            to_submit.append(e)
        if check_mode:
            for e in to_submit:
                results[serial_key(e["serial_number"])].update(outcome="Would import", changed=True)
            for rec_id, e in tracked.items():
                results[serial_key(e["serial_number"])].update(outcome=PENDING, record_id=rec_id)
            for res in results.values():
                self._finish(res)
                res["failed"] = res["failed"] and res["outcome"] != PENDING
            out = list(results.values())
            if on_verdicts is not None:
                on_verdicts(out)
            return out
        if stale and self.delete_records:
            self._delete_records([r["id"] for r in stale])
        submitted = set()  # record ids this run created: a change even while the service is still processing them
        for start in range(0, len(to_submit), self.batch_size):
            batch = to_submit[start:start + self.batch_size]
            for rec_id, e in self._submit(batch, results).items():
                tracked[rec_id] = e
                submitted.add(rec_id)
                results[serial_key(e["serial_number"])]["record_id"] = rec_id
        if tracked and on_submitted is not None:
            on_submitted([results[serial_key(e["serial_number"])] for e in tracked.values()])
        states = self._wait(tracked, settle=bool(submitted)) if tracked else {}
        finished = list(adopted)
        for rec_id, e in tracked.items():
            res = results[serial_key(e["serial_number"])]
            rec = states.get(rec_id)
            if rec is None:
                res.update(outcome=PENDING, record_id=rec_id, changed=True)
                continue
            st = rec["state"]
            out = _verdict(res, rec_id, st)
            if out == REGISTERED:
                res.update(device_id=st.get("deviceRegistrationId"), changed=True)
            elif out == PENDING and rec_id in submitted:
                res["changed"] = True  # wait=false, or the timeout: imported now, the verdict comes later
            if out != PENDING:
                finished.append(rec_id)
        for res in results.values():
            self._finish(res)
        out = list(results.values())
        if on_verdicts is not None:
            on_verdicts(out)
        if self.delete_records and finished:
            self._delete_records(finished)
            for res in out:
                if res.get("record_id") in finished:
                    res["import_record_deleted"] = True
        return out

    # ---------------------------------------------------------------------------------------
    @staticmethod
    def _result(e):
        return {"serial_number": e["serial_number"], "outcome": None, "message": None, "changed": False,
                "failed": False, "device_id": None, "import_id": None, "record_id": None, "error_code": None,
                "error_name": None, "request_id": None, "group_tag": e["group_tag"], "assigned_user": e["assigned_user"],
                "hash_errors": e["hash_errors"], "hash_warnings": e["hash_warnings"]}

    def _finish(self, res):
        out = res["outcome"]
        if out == UNEXPECTED:
            res["message"] = MESSAGES[UNEXPECTED] % (res.get("request_id") or "unknown")
        else:
            res["message"] = MESSAGES.get(out)
        # Still pending is a failure only when the run waited for the verdict (the timeout expired); with wait=false
        # it is what the caller asked for.
        res["failed"] = out in (NOT_FOUND, BAD_HASH, OTHER_ORG, UNEXPECTED) or (out == PENDING and self.wait)
        res["registered"] = out in (REGISTERED, ALREADY)

    def _maybe_update(self, e, dev, res, check_mode):
        if not self.update_existing:
            return
        body = {}
        if e["group_tag"] is not None and (dev.get("groupTag") or "") != e["group_tag"]:
            body["groupTag"] = e["group_tag"]
        if e["assigned_user"] is not None and (dev.get("userPrincipalName") or "") != e["assigned_user"]:
            body["userPrincipalName"] = e["assigned_user"]
            body["addressableUserName"] = e["assigned_user"].split("@")[0]
        if not body:
            return
        res.update(changed=True, updated=sorted(k for k in body if k != "addressableUserName"))
        if not check_mode:
            self.client.post("%s/%s/updateDeviceProperties" % (AUTOPILOT, dev["id"]), body, retry_unsafe=True)

    def _own_records(self, serials):
        own = {}
        for rec in self.client.paged(IMPORTED):
            if not (rec.get("importId") or "").startswith(IMPORT_PREFIX):
                continue
            key = serial_key(rec.get("serialNumber"))
            if key in serials:
                own.setdefault(key, []).append(rec)
        return own

    def _payload(self, e, import_id):
        item = {"@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
                "serialNumber": e["serial_number"], "hardwareIdentifier": e["hash"], "importId": import_id,
                "productKey": e["product_key"] or "", "groupTag": e["group_tag"] or ""}
        if e["assigned_user"]:
            item["assignedUserPrincipalName"] = e["assigned_user"]
        return item

    def _submit(self, batch, results):
        """POST one batch; returns {record id: entry}. Handles Edm.Binary refusals and lost responses."""
        tracked = {}
        pending = list(batch)
        attempts = 0
        while pending:
            import_id = import_id_for(pending)
            body = {"importedWindowsAutopilotDeviceIdentities": [self._payload(e, import_id) for e in pending]}
            try:
                resp = self.client.post(IMPORTED + "/import", body)
            except GraphError as exc:
                if exc.status == 400 and "Edm.Binary" in (exc.detail or ""):
                    bad = self._edm_culprit(exc, pending)
                    if bad is None:
                        if len(pending) == 1:
                            bad = pending[0]
                        else:  # cannot tell which one: split and try the halves separately
                            half = len(pending) // 2
                            tracked.update(self._submit(pending[:half], results))
                            tracked.update(self._submit(pending[half:], results))
                            return tracked
                    results[serial_key(bad["serial_number"])].update(outcome=BAD_HASH, request_id=exc.request_id,
                                                                     error_name="Edm.Binary")
                    pending = [e for e in pending if e is not bad]
                    continue
                if not exc.ambiguous or attempts >= max(self.submit_attempts, self.client.retries):
                    raise
                # The service may or may not have taken the batch: look before sending it again.
                attempts += 1
                self.warnings.append("import request failed (%s); checking whether the service kept it" % exc.msg)
                self.sleep(self.client._backoff(attempts, exc.retry_after))
                found = by_serial(self._records_with(import_id))
                rest = []
                for e in pending:
                    rec = found.get(serial_key(e["serial_number"]))
                    if rec is not None:
                        tracked[rec["id"]] = e
                        results[serial_key(e["serial_number"])].update(import_id=import_id, request_id=exc.request_id)
                    else:
                        rest.append(e)
                pending = rest
                continue
            # Each record of the answer goes to the device with its serial number: Graph does not promise to answer
            # in the order of the request.
            answered = by_serial((resp.body or {}).get("value") or [])
            missing = []
            for e in pending:
                rec = answered.get(serial_key(e["serial_number"]))
                if rec is None:
                    missing.append(e)
                    continue
                tracked[rec["id"]] = e
                results[serial_key(e["serial_number"])].update(import_id=import_id, request_id=resp.request_id)
            if missing:  # the answer left devices out: the service may still have taken them, look once
                found = by_serial(self._records_with(import_id))
                for e in missing:
                    res = results[serial_key(e["serial_number"])]
                    res.update(import_id=import_id, request_id=resp.request_id)
                    rec = found.get(serial_key(e["serial_number"]))
                    if rec is not None:
                        tracked[rec["id"]] = e
                    else:
                        res["outcome"] = UNEXPECTED
                        self.warnings.append("the import answer holds no record for serial %s and the service kept "
                                             "none (request-id %s)" % (_echo.clip(e["serial_number"], 60),
                                                                       resp.request_id))
            pending = []
        return tracked

    @staticmethod
    def _edm_culprit(exc, pending):
        m = _EDM_LITERAL.search(exc.raw_detail or "")
        if not m:
            return None
        literal = m.group(1)
        for e in pending:
            if e["hash"] == literal:
                return e
        return None

    def _records_with(self, import_id):
        return [r for r in self.client.paged(IMPORTED) if r.get("importId") == import_id]

    def _wait(self, tracked, settle=False):
        """Poll the import records until none of ours is still processing (or the timeout). Each look is counted in
        ``self.looks``. A listed record is ours when both its id and its serial number are those of a device sent.

        With ``settle`` (records this call just created) the first look comes one poll interval after the import:
        the service never has a verdict sooner, and a look at thousands of records costs one listing page per
        thousand."""
        started = self.clock()
        deadline = started + self.timeout
        if settle and self.wait and self.clock() + self.poll_interval <= deadline:
            self.sleep(self.poll_interval)
        latest = {}
        keys = {rec_id: serial_key(e["serial_number"]) for rec_id, e in tracked.items()}
        while True:
            counts = {REGISTERED: 0, PENDING: 0, "failed": 0}
            seen = set()
            for rec in self.client.paged(IMPORTED):
                rec_id = rec.get("id")
                if rec_id in keys and serial_key(rec.get("serialNumber")) == keys[rec_id]:
                    latest[rec_id] = rec
                    seen.add(rec_id)
                    out = outcome_of(rec["state"])
                    counts[REGISTERED if out in (REGISTERED, ALREADY) else out if out == PENDING else "failed"] += 1
            missing = [i for i in tracked if i not in seen]
            for rec_id in missing:  # someone deleted it: the record's verdict is lost, look at the device
                latest.pop(rec_id, None)
            self.looks.append({"t": round(self.clock() - started, 1), "ready": counts[REGISTERED],
                               "pending": len(tracked) - counts[REGISTERED] - counts["failed"], "failed": counts["failed"]})
            if not counts[PENDING] or not self.wait:
                break
            if self.clock() + self.poll_interval > deadline:
                break
            self.sleep(self.poll_interval)
        if missing:
            found = find_registered(self.client, [tracked[i]["serial_number"] for i in missing])
            for rec_id in missing:
                dev = found.get(keys[rec_id])
                if dev is not None:
                    latest[rec_id] = {"id": rec_id, "state": {"deviceImportStatus": "complete",
                                                              "deviceRegistrationId": dev["id"]}}
        return latest

    def _delete_records(self, ids):
        calls = [{"method": "DELETE", "url": "%s/%s" % (IMPORTED, i)} for i in ids]
        for resp in self.client.batch(calls):
            if resp.status >= 400 and resp.status != 404:
                self.warnings.append("could not delete import record (HTTP %d, request-id %s)"
                                     % (resp.status, resp.request_id))


def summarize(results):
    summary = {}
    for res in results:
        summary[res["outcome"]] = summary.get(res["outcome"], 0) + 1
    return summary


# ---------------------------------------------------------------------------------------------
# Device status in the seed's terms
def parse_time(text):
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def profile_status(device):
    """The device's deployment profile state in words: READY (a profile is assigned), PROFILE_PENDING,
    PROFILE_FAILED, NO_PROFILE (``notAssigned``), or REGISTERED when the API version does not say (v1.0 has no
    ``deploymentProfileAssignmentStatus``)."""
    status = str(device.get("deploymentProfileAssignmentStatus") or "").lower()
    if status.startswith("assigned"):
        return READY
    if status == "pending":
        return PROFILE_PENDING
    if status == "failed":
        return PROFILE_FAILED
    if status == "notassigned":
        return NO_PROFILE
    return REGISTERED  # absent (v1.0) or "unknown"


def device_status(device, import_state=None, now=None, inactive_days=7):
    """Registration pending | Registration failed | Ready for user | Profile pending | Registered, no profile |
    Profile assignment failed | Registered | Active | Inactive."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if device is None:
        if import_state is None:
            return NOT_FOUND
        out = outcome_of(import_state)
        if out == PENDING:
            return PENDING
        if out in (REGISTERED, ALREADY):
            return NOT_FOUND  # it was registered once and has been removed since
        return FAILED
    enrolled = (device.get("enrollmentState") or "").lower() == "enrolled"
    managed = (device.get("managedDeviceId") or "").strip("0-") != ""
    if not enrolled and not managed:
        return profile_status(device)
    last = parse_time(device.get("lastContactedDateTime"))
    if last is not None and now - last <= datetime.timedelta(days=inactive_days):
        return ACTIVE
    return INACTIVE


def device_view(dev, status):
    """The public shape of an Autopilot device (module return values)."""
    return {
        "serial_number": dev.get("serialNumber"),
        "found": True,
        "status": status,
        "id": dev.get("id"),
        "group_tag": dev.get("groupTag") or "",
        "purchase_order_id": dev.get("purchaseOrderIdentifier") or "",
        "assigned_user": dev.get("userPrincipalName") or "",
        "display_name": dev.get("displayName") or "",
        "manufacturer": dev.get("manufacturer") or "",
        "model": dev.get("model") or "",
        "enrollment_state": dev.get("enrollmentState"),
        "last_contacted": None if not parse_time(dev.get("lastContactedDateTime")) else dev.get("lastContactedDateTime"),
        "deployment_profile_status": dev.get("deploymentProfileAssignmentStatus"),
        "deployment_profile_detailed_status": dev.get("deploymentProfileAssignmentDetailedStatus"),
        "deployment_profile_assigned": None if not parse_time(dev.get("deploymentProfileAssignedDateTime"))
        else dev.get("deploymentProfileAssignedDateTime"),
        "deployment_profile": None,
        "azure_ad_device_id": dev.get("azureActiveDirectoryDeviceId") or dev.get("azureAdDeviceId"),
        "managed_device_id": None if (dev.get("managedDeviceId") or "").strip("0-") == "" else dev.get("managedDeviceId"),
    }


def device_info(client, serials=None, include_import_state=True, inactive_days=7, now=None, found=None):
    """Devices by serial (exact match on the client side), or every device when ``serials`` is None. ``found``: the
    devices of ``serials`` as ``find_registered`` returns them, when the caller has read them."""
    if serials is None:
        found = {}
        for dev in client.paged(AUTOPILOT):
            found.setdefault((dev.get("serialNumber") or "").upper(), dev)
        order = [found[k].get("serialNumber") for k in found]
    else:
        order = []
        seen = set()
        for s in serials:
            if s.strip() and s.strip().upper() not in seen:
                seen.add(s.strip().upper())
                order.append(s.strip())
        found = dict(found) if found is not None else find_registered(client, order)
    imports = {}
    missing = [s for s in order if s.upper() not in found]
    if include_import_state and missing:
        wanted = {s.upper() for s in missing}
        for rec in client.paged(IMPORTED):
            key = (rec.get("serialNumber") or "").upper()
            if key in wanted:
                imports[key] = rec  # the latest listed wins
        # An import that completed between the two reads: its device exists now. Look once more before calling it
        # removed (found by the crash suite: the device was reported "Device not found" right after registering).
        late = [s for s in missing if s.upper() in imports
                and outcome_of(imports[s.upper()]["state"]) in (REGISTERED, ALREADY)]
        if late:
            found.update(find_registered(client, late))
    out = []
    for s in order:
        dev = found.get(s.upper())
        rec = imports.get(s.upper())
        status = device_status(dev, rec["state"] if rec else None, now=now, inactive_days=inactive_days)
        if dev is not None:
            out.append(device_view(dev, status))
        else:
            entry = {"serial_number": s, "found": False, "status": status, "id": None}
            if rec is not None:
                st = rec["state"]
                entry["import_state"] = {"status": st.get("deviceImportStatus"), "error_code": st.get("deviceErrorCode"),
                                         "error_name": st.get("deviceErrorName"),
                                         "outcome": outcome_of(st)}
            out.append(entry)
    return out


def find_one(client, serial_number=None, device_id=None):
    """One Autopilot device by id or exact serial, or None."""
    if device_id:
        try:
            return client.get("%s/%s" % (AUTOPILOT, device_id))
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
    return find_registered(client, [serial_number]).get(serial_number.upper())


def wait_gone(client, device_id, timeout, interval, sleep=time.sleep, clock=time.monotonic):
    """Wait for an asynchronous Autopilot deletion to finish. True when gone."""
    deadline = clock() + timeout
    while True:
        if find_one(client, device_id=device_id) is None:
            return True
        if clock() + interval > deadline:
            return False
        sleep(interval)
