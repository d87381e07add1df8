# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Autopilot imports and their processor: importedWindowsAutopilotDeviceIdentities (POST, /import, GET, DELETE) and
the service's background work (import processing, Autopilot deletions, sync completion)."""

from __future__ import annotations

import heapq
import threading
import time
import uuid

from . import config as C
from . import hwjudge
from .common import (
    GraphFault,
    Reply,
    _edm_binary_ok,
    _hash_identity,
    _json_body,
    iso,
)
from .hwjudge import judge
from .schema import action_parameters, entity, render

# deviceErrorCode values. 806 and 808 are the real service's; the service does not publish the
# others, so the lab picks its own (docs/graph.md says so).
ERR_ALREADY_ASSIGNED = (806, "ZtdDeviceAlreadyAssigned")
ERR_OTHER_TENANT = (808, "ZtdDeviceAssignedToOtherTenant")
ERR_INVALID_HASH = (810, "InvalidZtdHardwareHash")
ERR_DUPLICATED = (811, "ZtdDeviceDuplicated")
ERR_NOT_FOUND = (812, "ZtdDeviceNotFound")
ERR_STORAGE = (813, "StorageError")


class Imports:
    """Mixin of GraphService: import records and the processor."""

    # -- imported identities ------------------------------------------------------------------
    def _imported_view(self, rec, version):
        return render(version, "importedWindowsAutopilotDeviceIdentity", {"@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity", "id": rec["id"],
                "groupTag": rec.get("groupTag") or "", "serialNumber": rec.get("serialNumber") or "",
                "productKey": rec.get("productKey") or "", "importId": rec.get("importId") or "",
                "hardwareIdentifier": None,
                "state": {"@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
                          **rec["state"]},
                "assignedUserPrincipalName": rec.get("assignedUserPrincipalName") or ""})

    def _imported(self, method, version, rest, query, body, app, request_id):
        path = "deviceManagement/importedWindowsAutopilotDeviceIdentities"
        if not rest:
            if method == "GET":
                self._require(app, C.SVC_READ, C.SVC_WRITE)
                if "$filter" in query:
                    raise GraphFault(400, "BadRequest", "Filtering is not supported on this entity set.", intune=True)
                items = [self._imported_view(r, version) for r in self.store.data["imported"].values()]
                return self._page(items, query, self.cfg.intune_page_size, version, path)
            if method == "POST":
                self._require(app, C.SVC_WRITE)
                payload = _json_body(body)
                recs = self._create_imports([payload], request_id, app, version)
                return Reply(201, self._imported_view(recs[0], version))
        elif rest == ["import"] and method == "POST":
            self._require(app, C.SVC_WRITE)
            payload = _json_body(body)
            items = payload.get("importedWindowsAutopilotDeviceIdentities")
            if not isinstance(items, list):
                raise GraphFault(400, "BadRequest", "The parameter 'importedWindowsAutopilotDeviceIdentities' in the "
                                 "request payload is not a valid parameter for the operation 'import'.")
            unknown = sorted(set(payload) - set(action_parameters(version, "import")))
            if unknown:
                raise GraphFault(400, "BadRequest", "The parameter '%s' in the request payload is not a valid "
                                 "parameter for the operation 'import'." % unknown[0])
            recs = self._create_imports(items, request_id, app, version)
            if self.cfg.import_shuffle and len(recs) > 1:
                # Graph does not promise the records in the order of the request: an order of its own, deterministic
                # per lab seed, and never the request order.
                order = self.rng.sample(range(len(recs)), len(recs))
                if order == sorted(order):
                    order = order[1:] + order[:1]
                recs = [recs[i] for i in order]
            return Reply(200, {"@odata.context": self.context(version, "Collection(microsoft.graph."
                                                              "importedWindowsAutopilotDeviceIdentity)"),
                               "value": [self._imported_view(r, version) for r in recs]})
        elif len(rest) == 1:
            rec = self.store.data["imported"].get(rest[0])
            if method == "GET":
                self._require(app, C.SVC_READ, C.SVC_WRITE)
                if rec is None:
                    raise GraphFault(404, "ResourceNotFound", "Resource not found: importedWindowsAutopilotDevice"
                                     "Identity %s" % rest[0], intune=True)
                return Reply(200, self._imported_view(rec, version))
            if method == "DELETE":
                self._require(app, C.SVC_WRITE)
                if rec is not None:
                    self.store.delete("imported", rec["id"])
                    self.stats["imported_deleted"] += 1
                return Reply(204)
        raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)

    def _create_imports(self, items, request_id, app, version):
        # OData reads the whole payload (properties of the version's entity type, Edm.Binary conversion) before
        # anything is stored.
        known = set(entity(version, "importedWindowsAutopilotDeviceIdentity")["properties"])
        for item in items:
            if not isinstance(item, dict):
                raise GraphFault(400, "BadRequest", "An unexpected 'PrimitiveValue' node was found.")
            unknown = sorted(k for k in item if k not in known and not k.startswith("@odata."))
            if unknown:
                raise GraphFault(400, "BadRequest", "The property '%s' does not exist on type 'microsoft.graph."
                                 "importedWindowsAutopilotDeviceIdentity'. Make sure to only use property names that "
                                 "are defined by the type." % unknown[0])
            hw = item.get("hardwareIdentifier")
            if hw is None or hw == "":
                continue
            if not isinstance(hw, str) or not _edm_binary_ok(hw):
                raise GraphFault(400, "Request_BadRequest",
                                 "Cannot convert the literal '%s' to the expected type 'Edm.Binary'." % hw)
        seen = set()
        out = []
        delay = self.cfg.real(self.cfg.processing_delay)
        now = time.time()
        for item in items:
            hw = item.get("hardwareIdentifier") or ""
            rec_id = str(uuid.uuid4())
            serial = item.get("serialNumber") or ""
            ident = _hash_identity(hw) or "serial:" + serial.upper()
            rec = {"id": rec_id, "groupTag": item.get("groupTag") or "",
                   "serialNumber": serial, "productKey": item.get("productKey") or rec_id,
                   "importId": item.get("importId") or rec_id,
                   "assignedUserPrincipalName": item.get("assignedUserPrincipalName") or "",
                   "state": {"deviceImportStatus": "unknown", "deviceRegistrationId": "", "deviceErrorCode": 0,
                             "deviceErrorName": ""},
                   "_hash": hw, "_due": now + delay, "_seq": self._next_seq(), "_request_id": request_id,
                   "_app": app["name"], "_created": now}
            if ident in seen:
                rec["_dup"] = True
            seen.add(ident)
            self.store.put("imported", rec_id, rec)
            heapq.heappush(self._pending, (rec["_due"], rec["_seq"], rec_id))
            self._wake_processor()
            self.stats["import_records_created"] += 1
            self.created_by_serial[serial.upper()] += 1
            out.append(rec)
        return out

    def process_now(self):
        """Make every pending import and deletion due now (for tests that decide when the service is done)."""
        with self.lock:
            self._process_now()
            self.store.commit()

    def _process_now(self):
        self._pending = [(0, s, i) for (_d, s, i) in self._pending]
        heapq.heapify(self._pending)
        self._deleting = [(0, s, i) for (_d, s, i) in self._deleting]
        heapq.heapify(self._deleting)
        self._advance()
        self._profiles_now()

    # asynchronous work: import processing and Autopilot deletions, applied lazily when due
    def _advance(self, limit=None):
        """Apply the work that is due; ``limit`` bounds the imports processed in one go (the background processor
        releases the lock between slices so requests are answered meanwhile)."""
        now = time.time()
        done = 0
        while self._pending and self._pending[0][0] <= now and (limit is None or done < limit):
            _due, _seq, rec_id = heapq.heappop(self._pending)
            rec = self.store.data["imported"].get(rec_id)
            if rec is not None and rec.get("_due") is not None:
                self._process(rec)
                done += 1
        while self._deleting and self._deleting[0][0] <= now:
            _due, _seq, dev_id = heapq.heappop(self._deleting)
            dev = self.store.data["autopilot"].get(dev_id)
            if dev is not None and dev.get("_delete_due"):
                self._remove_autopilot(dev)
        self._advance_profiles(now, limit)  # deployment profile assignment (profiles.py)
        settings = self.store.data["meta"]["settings"]
        if settings["syncStatus"] == "inProgress" and now >= settings.get("_sync_done", 0):
            settings["syncStatus"] = "completed"
            settings["lastSyncDateTime"] = iso()
            self.store.touch("meta", "settings")

    def _next_due(self):
        dues = [heap[0][0] for heap in (self._pending, self._deleting, self._profiling) if heap]
        settings = self.store.data["meta"].get("settings") or {}
        if settings.get("syncStatus") == "inProgress":
            dues.append(settings.get("_sync_done", 0))
        return min(dues) if dues else None

    def start_processor(self):
        """Do the asynchronous work (import processing, Autopilot deletions, sync) when it falls due, in a thread of
        its own, as the real service does in the background. Requests still apply anything due first, so what a
        client can observe is the same with or without it; the processor only moves the lab's CPU off the path of
        the request that happens to come next."""
        with self.lock:
            if self._processor is None:
                self._processor = threading.Thread(target=self._run_processor, name="graph-lab-processor", daemon=True)
                self._processor.start()

    def _run_processor(self):
        while True:
            with self._work:
                if self._closed:
                    return
                due = self._next_due()
                wait = None if due is None else due - time.time()
                if wait is None or wait > 0:
                    self._work.wait(wait)  # woken early by new work or by stop_processor()
                    continue
                self._advance(limit=50)
                self.store.commit()
                self.cond.notify_all()
            time.sleep(0)  # yield: a request waiting for the lock is answered between slices

    def _wake_processor(self):
        self._work.notify_all()

    def stop_processor(self):
        with self.lock:
            self._closed = True
            self._work.notify_all()
            thread, self._processor = self._processor, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def _process(self, rec):
        hw = rec.pop("_hash", None)
        rec["_due"] = None
        serial = (rec.get("serialNumber") or "").strip()
        verdict = judge(hw or "", serial)
        inner = verdict.serial
        if rec.pop("_dup", False):
            outcome = ERR_DUPLICATED
        elif verdict.problem == hwjudge.INVALID:
            outcome = ERR_INVALID_HASH
        elif verdict.problem == hwjudge.NOT_FOUND:
            outcome = ERR_NOT_FOUND
        elif inner.upper() in self.store.data["foreign"]:
            outcome = ERR_OTHER_TENANT
        elif self._registered(inner):
            outcome = ERR_ALREADY_ASSIGNED
        elif inner.upper() in self.storage_error_serials:
            self.storage_error_serials.discard(inner.upper())
            outcome = ERR_STORAGE
        else:
            outcome = None
        state = rec["state"]
        if outcome is None:
            dev = self._register(rec, verdict)
            state.update({"deviceImportStatus": "complete", "deviceRegistrationId": dev["id"], "deviceErrorCode": 0,
                          "deviceErrorName": "None"})
            self.stats["registered"] += 1
        else:
            state.update({"deviceImportStatus": "error", "deviceRegistrationId": "", "deviceErrorCode": outcome[0],
                          "deviceErrorName": outcome[1]})
            self.stats["import_error_%s" % outcome[1]] += 1
        self.store.touch("imported", rec["id"])

    def _registered(self, serial):
        return any(not self.store.data["autopilot"][i].get("_delete_due")
                   for i in self.serial_index.get(serial.upper(), ()))

    def _register(self, rec, verdict):
        dev_id = str(uuid.uuid4())
        entra_id, entra_device_id = str(uuid.uuid4()), str(uuid.uuid4())
        # The service's own errors call the Autopilot device id the "ztd Id": it is the [ZTDID] value.
        ztdid = dev_id
        now = iso()
        group_tag = rec.get("groupTag") or ""
        dev = {
            "id": dev_id, "deploymentProfileAssignmentStatus": "notAssigned",
            "deploymentProfileAssignmentDetailedStatus": "none", "deploymentProfileAssignedDateTime": None,
            "groupTag": group_tag, "purchaseOrderIdentifier": "", "serialNumber": verdict.serial,
            "productKey": rec.get("productKey") or "", "manufacturer": verdict.manufacturer or "",
            "model": verdict.model or "", "enrollmentState": "notContacted",
            "lastContactedDateTime": "0001-01-01T00:00:00Z", "addressableUserName": "",
            "userPrincipalName": rec.get("assignedUserPrincipalName") or "", "resourceName": "",
            "skuNumber": verdict.sku or "", "systemFamily": verdict.family or "",
            "azureActiveDirectoryDeviceId": entra_device_id, "azureAdDeviceId": entra_device_id,
            "managedDeviceId": "00000000-0000-0000-0000-000000000000", "displayName": "",
            "deviceAccountUpn": "", "deviceAccountPassword": None, "deviceFriendlyName": "",
            "remediationState": "noRemediationRequired", "remediationStateLastModifiedDateTime": now,
            "userlessEnrollmentStatus": "allowed", "_ztdid": ztdid, "_entra": entra_id, "_registered": now,
        }
        self.store.put("autopilot", dev_id, dev)
        self.serial_index[dev["serialNumber"].upper()].add(dev_id)
        physical = ["[ZTDID]:%s" % ztdid]
        if group_tag:
            physical.append("[OrderId]:%s" % group_tag)
        entra = {"id": entra_id, "deviceId": entra_device_id, "displayName": verdict.serial,
                 "operatingSystem": "Windows", "operatingSystemVersion": "", "trustType": None,
                 "accountEnabled": True, "physicalIds": physical, "approximateLastSignInDateTime": None,
                 "registrationDateTime": now, "createdDateTime": now, "enrollmentProfileName": None,
                 "isManaged": False, "onPremisesSyncEnabled": None, "_serial": verdict.serial.upper()}
        self.store.put("entra", entra_id, entra)
        self._on_registered(dev)  # the dynamic groups and the profile assignment look at it (profiles.py)
        return dev

    def _remove_autopilot(self, dev):
        self.store.delete("autopilot", dev["id"])
        self.serial_index.get(dev["serialNumber"].upper(), set()).discard(dev["id"])
        if dev.get("_entra") and dev["_entra"] in self.store.data["entra"]:
            self.store.delete("entra", dev["_entra"])
        self.stats["autopilot_deleted"] += 1
