# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON batching ($batch) and the lab's loopback-only control endpoints (/_lab/...)."""

from __future__ import annotations

import json
import urllib.parse

from .common import (
    JSON,
    GraphFault,
    Reply,
    _batch_order,
    _json_body,
)


class Control:
    """Mixin of GraphService: $batch and lab control."""

    # $batch
    def _batch(self, version, headers, body):
        """JSON batching as learn.microsoft.com/graph/json-batching documents it: at most 20 requests with unique
        ids; each one run (and throttled) on its own, as if sent alone; ``dependsOn`` orders them and a request
        whose dependency failed is not run but answered 424 Failed Dependency; the outer reply is 200 whatever the
        inner statuses; responses carry id, status, headers, body and come back in no particular order."""
        self.stats["batch"] += 1
        payload = _json_body(body)
        reqs = payload.get("requests")
        if not isinstance(reqs, list) or not reqs or not all(isinstance(r, dict) for r in reqs):
            raise GraphFault(400, "BadRequest", "Invalid batch payload format.")
        if len(reqs) > self.cfg.batch_max:
            raise GraphFault(400, "BadRequest", "Number of batch request steps exceeds the maximum of %d."
                             % self.cfg.batch_max)
        ids = [r.get("id") for r in reqs]
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            raise GraphFault(400, "BadRequest", "Batch request ids must be unique and present.")
        order = _batch_order(reqs)
        by_id = {r["id"]: r for r in reqs}
        status = {}
        out = []
        auth = {"authorization": headers.get("authorization", "")}
        for rid in order:
            r = by_id[rid]
            failed = [d for d in r.get("dependsOn") or [] if status.get(d, 0) >= 400]
            if failed:
                status[rid] = 424
                out.append({"id": rid, "status": 424, "headers": {"Content-Type": JSON}, "body": {"error": {
                    "code": "FailedDependency", "message": "The request was not run: the request it depends on (id "
                    "%s) failed." % failed[0]}}})
                continue
            url = r.get("url", "")
            if not isinstance(url, str) or not url or "://" in url:
                status[rid] = 400
                out.append({"id": rid, "status": 400, "headers": {"Content-Type": JSON}, "body": {"error": {
                    "code": "BadRequest", "message": "The url of a batch request must be a relative URL."}}})
                continue
            if "body" in r and "content-type" not in {k.lower() for k in (r.get("headers") or {})}:
                status[rid] = 400
                out.append({"id": rid, "status": 400, "headers": {"Content-Type": JSON}, "body": {"error": {
                    "code": "BadRequest", "message": "Content-Type header is required when a body is present."}}})
                continue
            parsed = urllib.parse.urlsplit(url if url.startswith("/") else "/" + url)
            query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
            inner_body = json.dumps(r["body"]).encode() if "body" in r else b""
            self.lock.release()
            try:
                rep = self.handle(str(r.get("method", "GET")).upper(), "/%s%s" % (version, parsed.path), query,
                                  {**auth, **{k.lower(): v for k, v in (r.get("headers") or {}).items()}},
                                  inner_body, inner=True)
            finally:
                self.lock.acquire()
            status[rid] = rep.status
            hdrs = {k: v for k, v in rep.headers.items() if k in ("Retry-After", "request-id", "client-request-id")}
            if rep.body is not None:
                hdrs["Content-Type"] = JSON
            out.append({"id": rid, "status": rep.status, "headers": hdrs, "body": rep.body})
        if self.cfg.batch_shuffle:
            self.batch_rng.shuffle(out)  # "responses might appear in a different order": clients correlate by id
        return Reply(200, {"responses": out})

    # lab control (loopback only, no auth): seeding, faults, statistics
    def _control(self, method, rest, body, query=None):
        payload = _json_body(body) if body else {}
        query = query or {}
        what = rest[0] if rest else ""
        if what == "stats" and method == "GET":
            return Reply(200, self.snapshot_stats())
        if what == "reset-stats" and method == "POST":
            self.stats.clear()
            self.per_app.clear()
            self.created_by_serial.clear()
            return Reply(204)
        if what == "faults" and method == "POST":
            for rule in payload.get("rules", [payload] if payload else []):
                self.add_fault(rule)
            return Reply(204)
        if what == "faults" and method == "DELETE":
            self.faults.clear()
            return Reply(204)
        if what == "expire-tokens" and method == "POST":
            self.store.put("meta", "clock_offset", self.store.data["meta"]["clock_offset"] + self.cfg.token_lifetime + 1)
            return Reply(204)
        if what == "foreign" and method == "POST":
            for serial in payload.get("serials", []):
                self.store.put("foreign", serial.upper(), payload.get("tenant", "Contoso Refurb Ltd"))
            return Reply(204)
        if what == "storage-errors" and method == "POST":
            self.storage_error_serials.update(s.upper() for s in payload.get("serials", []))
            return Reply(204)
        if what == "users" and method == "POST":
            user = self.add_user(payload["userPrincipalName"], payload.get("licenses", []))
            return Reply(201, user)
        if what == "apps" and method == "POST":
            app = self.add_app(payload["name"], payload.get("roles", []), secret=payload.get("secret"),
                               certificate_pem=payload.get("certificate_pem"))
            return Reply(201, app)
        if what == "enroll" and method == "POST":
            return Reply(201, self.enroll(payload["serialNumber"], payload.get("days_since_sync", 0),
                                          payload.get("userPrincipalName", "")))
        if what == "reused" and method == "POST":
            if not payload.get("serialNumber"):
                raise GraphFault(400, "BadRequest", "serialNumber is required")
            return Reply(201, self.seed_reused(payload["serialNumber"], payload.get("hardwareHash"),
                                               payload.get("join", "entra"), payload.get("userPrincipalName", ""),
                                               group_tag=payload.get("groupTag", ""),
                                               device_name=payload.get("deviceName")))
        if what == "records" and method == "GET":
            if not query.get("serialNumber"):
                raise GraphFault(400, "BadRequest", "serialNumber is required")
            return Reply(200, self.records(query["serialNumber"]))
        if what == "process" and method == "POST":
            self._process_now()
            return Reply(204)
        if what == "state" and method == "GET":
            return Reply(200, {"imported": len(self.store.data["imported"]),
                               "autopilot": sorted(d["serialNumber"] for d in self.store.data["autopilot"].values()),
                               "pending": sum(1 for r in self.store.data["imported"].values() if r.get("_due"))})
        handled = self._control_profiles(method, what, payload)  # groups, profiles, hardware (profiles.py)
        if handled is not None:
            return handled
        raise GraphFault(404, "NotFound", "No such lab control: %s" % "/".join(rest))

    def snapshot_stats(self):
        with self.lock:
            return {"counters": dict(self.stats), "per_app": dict(self.per_app),
                    "created_by_serial_max": max(self.created_by_serial.values(), default=0),
                    "created_by_serial": dict(self.created_by_serial),
                    "autopilot_devices": len(self.store.data["autopilot"]),
                    "imported_records": len(self.store.data["imported"])}
