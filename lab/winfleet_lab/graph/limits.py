# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Throttling and fault injection."""

from __future__ import annotations

import collections
import random
import re
import threading
import time

from .common import (
    GraphFault,
)


class Throttle:
    """Sliding-window request counters per (scope, key)."""

    def __init__(self):
        self._events = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def check(self, buckets, now):
        """``buckets`` = [(key, limit, window)]; returns 0 and records when all have room, else seconds to wait."""
        with self._lock:
            wait = 0.0
            for key, limit, window in buckets:
                q = self._events[key]
                while q and q[0] <= now - window:
                    q.popleft()
                if len(q) >= limit:
                    wait = max(wait, q[0] + window - now)
            if wait > 0:
                return wait
            for key, _limit, _window in buckets:
                self._events[key].append(now)
            return 0.0


class Limits:
    """Mixin of GraphService: throttle buckets and injected faults."""

    # throttling
    def _check_throttle(self, method, res, app):
        cfg = self.cfg
        window = cfg.real(cfg.throttle_window)
        now = time.monotonic()
        write = method in ("POST", "PUT", "PATCH", "DELETE")
        tenant = cfg.tenant_id
        if res and res[0] == "deviceManagement":
            # The Intune throttle groups are counted apart (learn.microsoft.com/graph/throttling-limits, "Intune
            # service limits"): managed devices are "Intune devices", Autopilot and its imports "enrollment".
            if len(res) > 1 and res[1] == "managedDevices":
                group, limits = "devices", (cfg.md_read_limit_app, cfg.md_read_limit_tenant, cfg.md_write_limit_app,
                                            cfg.md_write_limit_tenant)
            else:
                group, limits = "enrollment", (cfg.read_limit_app, cfg.read_limit_tenant, cfg.write_limit_app,
                                               cfg.write_limit_tenant)
            buckets = [("%s-any-app:%s" % (group, app["client_id"]), limits[0], window),
                       ("%s-any-tenant:%s" % (group, tenant), limits[1], window)]
            if write:
                buckets += [("%s-write-app:%s" % (group, app["client_id"]), limits[2], window),
                            ("%s-write-tenant:%s" % (group, tenant), limits[3], window)]
            scope = "Intune-%s" % group
        else:
            buckets = [("dir-app:" + app["client_id"], cfg.directory_limit_app, cfg.real(10))]
            scope = "Directory"
        wait = self.throttle.check(buckets, now)
        if wait > 0:
            self.stats["throttled"] += 1
            self.per_app["throttled:" + app["name"]] += 1
            retry = max(wait, 0.001)
            raise GraphFault(429, "TooManyRequests", "Please retry again later.", retry_after=retry,
                             headers={"x-ms-throttle-scope": "%s/%s/%s" % (scope, app["client_id"], tenant)})

    # fault injection
    def add_fault(self, rule):
        """``rule``: status, match (regex on the path), method, times, every, phase (before|after),
        retry_after (service seconds), intune (bool), probability, seed, kind (http|expire_tokens)."""
        rule = dict(rule)
        rule.setdefault("times", 1)
        rule.setdefault("phase", "before")
        rule.setdefault("every", 1)
        rule["_seen"] = 0
        rule["_fired"] = 0
        rule["_rng"] = random.Random(rule.get("seed", 0))
        self.faults.append(rule)
        return rule

    def _take_fault(self, method, path, phase, already=None):
        if already is not None and phase == "after":
            return None
        for rule in self.faults:
            if rule["times"] is not None and rule["_fired"] >= rule["times"]:
                continue
            if rule.get("method") and rule["method"].upper() != method:
                continue
            if rule.get("match") and not re.search(rule["match"], path):
                continue
            kind = rule.get("kind", "http")
            if kind == "expire_tokens":
                if phase != "before":
                    continue
                rule["_seen"] += 1
                if rule["_seen"] > rule.get("after", 0):
                    rule["_fired"] += 1
                    meta = self.store.data["meta"]
                    self.store.put("meta", "clock_offset", meta["clock_offset"] + self.cfg.token_lifetime + 1)
                    self.stats["token_expiry_injected"] += 1
                continue
            if rule["phase"] != phase:
                continue
            rule["_seen"] += 1
            if rule["_seen"] <= rule.get("after", 0):
                continue
            if rule["every"] > 1 and rule["_seen"] % rule["every"]:
                continue
            if "probability" in rule and rule["_rng"].random() >= rule["probability"]:
                continue
            rule["_fired"] += 1
            self.stats["faults_injected"] += 1
            status = int(rule.get("status", 503))
            retry_after = rule.get("retry_after")
            if retry_after is not None:
                retry_after = self.cfg.real(retry_after)
            code = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                    504: "GatewayTimeout", 429: "TooManyRequests"}.get(status, "UnknownError")
            fault = GraphFault(status, code, rule.get("message", "The service is temporarily unavailable. "
                                                      "Please try again later." if status != 500 else
                                                      "An internal server error occurred."),
                               intune=rule.get("intune", status == 500), retry_after=retry_after)
            if phase == "before":
                raise fault
            return fault
        return None
