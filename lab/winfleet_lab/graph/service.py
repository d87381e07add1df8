# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab's behaviour, free of HTTP: token service, Graph resources, throttling, faults.

``GraphService.handle()`` takes a parsed request and returns a ``Reply``; ``server.py`` puts it
on the wire and ``$batch`` calls it again for each inner request.  The contract it follows is
docs/graph.md and the Graph reference (section 9 checklist): status codes, bodies and quirks
as the real service shows them (``unknown`` import state, ``None`` error name on success,
400 for ``serialNumber eq``, 200 for DELETE of Autopilot devices, Intune-wrapped errors ...).
"""

from __future__ import annotations

import collections
import heapq
import json
import random
import threading
import time
import urllib.parse
import uuid

from . import config as C
from .autopilot import Autopilot
from .common import (
    DATACENTER,
    GraphFault,
    Reply,
    TokenFault,
    _fmt_seconds,
    _route_name,
    utcnow,
)
from .control import Control
from .directory import Directory
from .groups import Groups
from .identities import Identities
from .identity import TokenService

# deviceErrorCode values: see imports.py
from .imports import (  # noqa: F401
    ERR_ALREADY_ASSIGNED,
    ERR_DUPLICATED,
    ERR_INVALID_HASH,
    ERR_NOT_FOUND,
    ERR_OTHER_TENANT,
    ERR_STORAGE,
    Imports,
)
from .limits import Limits, Throttle
from .profiles import Profiles
from .store import Store


class GraphService(TokenService, Limits, Imports, Autopilot, Identities, Directory, Groups, Profiles, Control):
    """The Graph lab's behaviour, free of HTTP; each responsibility lives in a mixin of its own module."""

    def __init__(self, cfg=None, state_dir=None, base_url=None):
        self.cfg = cfg or C.LabConfig()
        self.base_url = base_url  # set by the server once the port is known
        self.state_dir = state_dir
        self.store = Store(state_dir)
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.throttle = Throttle()
        self.rng = random.Random(self.cfg.seed)
        self.batch_rng = random.Random()  # the order of $batch responses
        self.faults = []
        # observer(phase, method, path, status): "request" before the lab acts on it, "reply" after it acted and
        # before the client sees the answer. The crash tests kill the playbook at an exact point this way.
        self.observers = []
        self.storage_error_serials = set()
        self.created_by_serial = collections.Counter()
        self.stats = collections.Counter()
        self.per_app = collections.Counter()
        self._pending = []  # heap of (due, seq, record id)
        self._deleting = []  # heap of (due, seq, autopilot id)
        self._seq = 0
        # The service's own background work (see start_processor): woken when work is queued or the lab stops.
        self._work = threading.Condition(self.lock)
        self._processor = None
        self._closed = False
        self._init_keys()
        self._init_meta()
        self._rebuild_indexes()
        self._init_profiles()  # deployment profiles (profiles.py): the queue of devices to look at

    def _init_meta(self):
        meta = self.store.data["meta"]
        if "clock_offset" not in meta:
            self.store.put("meta", "clock_offset", 0.0)
        if "settings" not in meta:
            self.store.put("meta", "settings", {"id": str(uuid.uuid4()), "lastSyncDateTime": None,
                                                "lastManualSyncTriggerDateTime": None, "syncStatus": "unknown",
                                                "_last_trigger": 0.0})
        if not self.store.data["apps"]:
            self.add_app("registrar", C.ALL_ROLES)
            self.add_app("reader", [C.SVC_READ, C.MD_READ, C.DEV_READ, C.USER_READ, C.GROUP_READ])
            self.add_app("norights", [])
        if self.cfg.seed_users and not self.store.data["users"]:
            self.seed_default_users()
        self.store.commit()

    def _rebuild_indexes(self):
        self.serial_index = collections.defaultdict(set)  # SERIAL -> autopilot ids
        for dev_id, dev in self.store.data["autopilot"].items():
            self.serial_index[dev["serialNumber"].upper()].add(dev_id)
            if dev.get("_delete_due"):
                heapq.heappush(self._deleting, (dev["_delete_due"], self._next_seq(), dev_id))
        for rec_id, rec in self.store.data["imported"].items():
            if rec.get("_due") is not None:
                heapq.heappush(self._pending, (rec["_due"], rec["_seq"], rec_id))
                self._seq = max(self._seq, rec["_seq"])

    def _next_seq(self):
        self._seq += 1
        return self._seq

    # clocks
    def vnow(self):
        """Service time used for token lifetimes (the lab can jump it forward)."""
        return time.time() + self.store.data["meta"]["clock_offset"]

    # entry point
    def handle(self, method, path, query, headers, body, inner=False):
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        base_headers = {"request-id": request_id, "client-request-id": client_request_id,
                        "x-ms-ags-diagnostic": DATACENTER, "Strict-Transport-Security": "max-age=31536000"}
        for observer in list(self.observers):
            observer("request", method, path, None)
        try:
            with self.lock:
                reply = self._dispatch(method, path, query, headers, body, request_id, inner)
                self.store.commit()
        except GraphFault as fault:
            with self.lock:
                self.store.commit()
            reply = self._fault_reply(fault, request_id, client_request_id)
        except TokenFault as fault:
            reply = self._token_fault_reply(fault)
        reply.headers = {**base_headers, **reply.headers}
        with self.lock:
            self.stats["status_%d" % reply.status] += 1
            self.cond.notify_all()
        for observer in list(self.observers):
            observer("reply", method, path, reply.status)
        return reply

    def wait_for(self, predicate, timeout=30.0):
        """Block until ``predicate(service)`` holds (re-checked after every request). For tests."""
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self), timeout):
                raise TimeoutError("lab condition not reached in %.0f s" % timeout)

    def _fault_reply(self, fault, request_id, client_request_id):
        date = utcnow().strftime("%Y-%m-%dT%H:%M:%S")
        message = fault.message
        if fault.intune:
            message = json.dumps({
                "_version": 3,
                "Message": "%s - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - "
                           "Activity ID: %s - Url: https://fef.lab.manage.microsoft.com/DeviceEnrollmentFE/"
                           "StatelessDeviceEnrollmentFEService/deviceManagement?api-version=5023-06-28"
                           % (fault.message, request_id),
                "CustomApiErrorPhrase": "", "RetryAfter": None, "ErrorSourceService": "", "HttpHeaders": "{}",
            }, indent=2).replace("\n", "\r\n")
        body = {"error": {"code": fault.code, "message": message,
                          "innerError": {"date": date, "request-id": request_id, "client-request-id": client_request_id}}}
        if fault.status == 429:
            body["error"]["innerError"].update({"code": "429", "status": "429", "message": "Please retry after"})
        hdrs = dict(fault.headers)
        if fault.retry_after is not None:
            hdrs["Retry-After"] = _fmt_seconds(fault.retry_after)
        return Reply(fault.status, body, hdrs)

    def _dispatch(self, method, path, query, headers, body, request_id, inner):
        parts = [p for p in path.split("/") if p]
        self.stats["requests"] += 1
        if parts and parts[0] == "_lab":
            self.stats["control"] += 1
            return self._control(method, parts[1:], body, query)
        if len(parts) >= 2 and parts[0].lower() in self._tenant_aliases():
            self.stats["identity"] += 1
            return self._identity(method, parts[1:], query, body)
        if not parts or parts[0] not in ("v1.0", "beta"):
            raise GraphFault(400, "BadRequest", "Invalid version: %s" % (parts[0] if parts else ""))
        self.stats["graph"] += 1
        version = parts[0]
        res = parts[1:]
        if res == ["$batch"] and method == "POST" and not inner:
            self._authenticate(headers)
            return self._batch(version, headers, body)
        self.stats["%s %s" % (method, _route_name(res))] += 1
        self._advance()
        fault = self._take_fault(method, path, "before")
        app = self._authenticate(headers)
        self.per_app[app["name"]] += 1
        self._check_throttle(method, res, app)
        reply = self._graph(method, version, res, query, body, app, request_id)
        after = self._take_fault(method, path, "after", fault)
        if after is not None:
            raise after
        return reply

    # Graph resources
    def _require(self, app, *roles):
        if not app["roles"].intersection(roles):
            self.stats["forbidden"] += 1
            raise GraphFault(403, "Forbidden", "Application is not authorized to perform this operation. Application "
                             "must have one of the following scopes: %s" % ", ".join(roles), intune=True)

    def _require_dir(self, app, *roles):
        if not app["roles"].intersection(roles):
            self.stats["forbidden"] += 1
            raise GraphFault(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    def _graph(self, method, version, res, query, body, app, request_id):
        n = len(res)
        head = res[0] if res else ""
        if head == "deviceManagement" and n >= 2:
            coll = res[1]
            if coll == "importedWindowsAutopilotDeviceIdentities":
                return self._imported(method, version, res[2:], query, body, app, request_id)
            if coll == "windowsAutopilotDeviceIdentities":
                return self._autopilot(method, version, res[2:], query, body, app)
            if coll == "importedDeviceIdentities":  # corporate identifiers: identities.py
                return self._identities(method, version, res[2:], query, body, app)
            if coll == "windowsAutopilotSettings" and version == "beta":
                return self._settings(method, res[2:], app)
            if coll == "windowsAutopilotDeploymentProfiles":  # profiles.py
                return self._profiles(method, version, res[2:], query, body, app)
            if coll == "managedDevices":
                return self._managed(method, version, res[2:], query, app)
        if head == "devices" or head.startswith("devices("):
            return self._devices(method, version, res, query, app)
        if head == "groups":  # groups.py
            return self._groups(method, version, res, query, body, app)
        if head == "users" and n >= 2:
            return self._users(method, version, res[1:], app, query)
        if head == "subscribedSkus" and n == 1:  # directory.py
            return self._subscribed_skus(method, version, query, app)
        raise GraphFault(400, "BadRequest", "Resource not found for the segment '%s'." % (res[-1] if res else ""))

    def context(self, version, path, entity=False):
        """``@odata.context`` as Graph writes it: ``<service root>/$metadata#<entity set path>[/$entity]``."""
        return "%s/%s/$metadata#%s%s" % (self.base_url, version, path, "/$entity" if entity else "")

    def _page(self, items, query, page_size, version, path, max_top=None, skip_supported=True):
        """One page of a collection: ``$top``, ``$skip`` (where the service supports it: Intune does, directory
        objects answer 400), ``$count=true``, and ``@odata.nextLink`` with an opaque ``$skiptoken``."""
        try:
            skip = int(query.get("$skiptoken", "0") or 0)
        except ValueError:
            raise GraphFault(400, "BadRequest", "Invalid $skiptoken")
        if "$skip" in query and "$skiptoken" not in query:
            if not skip_supported:
                raise GraphFault(400, "Request_BadRequest", "'$skip' is not supported by the service.")
            try:
                skip = int(query["$skip"])
            except ValueError:
                raise GraphFault(400, "BadRequest", "Invalid value for $skip")
            if skip < 0:
                raise GraphFault(400, "BadRequest", "Invalid value for $skip")
        size = page_size
        if "$top" in query:
            try:
                top = int(query["$top"])
            except ValueError:
                raise GraphFault(400, "BadRequest", "Invalid value for $top")
            size = max(1, min(top, max_top or page_size))
        page = items[skip:skip + size]
        out = {"@odata.context": self.context(version, path), "value": page}
        if "$count" in query and query["$count"].lower() == "true":
            out["@odata.count"] = len(items)
        if skip + size < len(items):
            q = {k: v for k, v in query.items() if k not in ("$skiptoken", "$skip")}
            q["$skiptoken"] = str(skip + size)
            out["@odata.nextLink"] = "%s/%s/%s?%s" % (self.base_url, version, path,
                                                      urllib.parse.urlencode(q, quote_via=urllib.parse.quote))
        return Reply(200, out)

    def close(self):
        self.stop_processor()
        with self.lock:
            self.store.close()
