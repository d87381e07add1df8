# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Windows Autopilot devices (windowsAutopilotDeviceIdentities and their actions) and windowsAutopilotSettings."""

from __future__ import annotations

import heapq
import time

from . import config as C
from .common import (
    _F_CONTAINS,
    GraphFault,
    Reply,
    _json_body,
    _quote_value,
    iso,
)
from .schema import action_parameters, render


class Autopilot:
    """Mixin of GraphService: registered Autopilot devices."""

    # -- autopilot devices --------------------------------------------------------------------
    def _ap_view(self, dev, version):
        """The device as ``version`` shows it: that version's properties only (schema/graph-schema.json)."""
        return render(version, "windowsAutopilotDeviceIdentity",
                      {"@odata.type": "#microsoft.graph.windowsAutopilotDeviceIdentity", **dev})

    def _autopilot(self, method, version, rest, query, body, app):
        path = "deviceManagement/windowsAutopilotDeviceIdentities"
        devices = self.store.data["autopilot"]
        if not rest and method == "GET":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            items = list(devices.values())
            flt = query.get("$filter")
            if flt:
                m = _F_CONTAINS.match(flt)
                if not m or m.group(1).lower() != "serialnumber":
                    raise GraphFault(400, "BadRequest", "Filter is not supported: '%s'. Use contains(serialNumber,'...')"
                                     % flt, intune=True)
                needle = _quote_value(m.group(2))
                if "-" in needle:  # ISSUE msgraph-sdk-powershell#2464: hyphenated values are refused
                    raise GraphFault(400, "BadRequest", "Invalid filter value '%s'." % needle, intune=True)
                items = [d for d in items if needle.lower() in d["serialNumber"].lower()]
            items.sort(key=lambda d: d["_registered"] + d["id"])
            return self._page([self._ap_view(d, version) for d in items], query, self.cfg.intune_page_size,
                              version, path)
        if len(rest) >= 1:
            dev = devices.get(rest[0])
            if len(rest) == 1 and method == "GET":
                self._require(app, C.SVC_READ, C.SVC_WRITE)
                if dev is None:
                    raise GraphFault(404, "ResourceNotFound", "Cannot find device with ztd Id %s" % rest[0], intune=True)
                return Reply(200, {"@odata.context": self.context(version, path, entity=True),
                                   **self._ap_view(dev, version)})
            if len(rest) == 1 and method == "DELETE":
                self._require(app, C.SVC_WRITE)
                if dev is None:
                    raise GraphFault(400, "BadRequest", "Cannot find device with ztd Id %s and accountId %s to delete"
                                     % (rest[0], self.cfg.tenant_id), intune=True)
                managed = [m for m in self.store.data["managed"].values()
                           if m.get("serialNumber", "").upper() == dev["serialNumber"].upper()]
                if managed:
                    raise GraphFault(400, "BadRequest", "The device with serial number %s is enrolled in Intune "
                                     "(managed device %s). Delete the Intune managed device before deleting the "
                                     "Windows Autopilot device." % (dev["serialNumber"], managed[0]["id"]), intune=True)
                if not dev.get("_delete_due"):
                    dev["_delete_due"] = time.time() + self.cfg.real(self.cfg.delete_delay)
                    self.store.touch("autopilot", dev["id"])
                    heapq.heappush(self._deleting, (dev["_delete_due"], self._next_seq(), dev["id"]))
                    self._wake_processor()
                return Reply(200)
            if len(rest) == 2 and method == "POST":
                self._require(app, C.SVC_WRITE)
                if dev is None:
                    raise GraphFault(404, "ResourceNotFound", "Cannot find device with ztd Id %s" % rest[0], intune=True)
                payload = _json_body(body) if body else {}
                action = rest[1]
                # The action's parameters in this version's schema (v1.0 updateDeviceProperties has no device
                # account parameters).
                allowed = {a: action_parameters(version, a) for a in ("updateDeviceProperties", "assignUserToDevice",
                                                                      "unassignUserFromDevice")}
                if action not in allowed:
                    raise GraphFault(400, "BadRequest", "Resource not found for the segment '%s'." % action)
                unknown = set(payload) - set(allowed[action]) - {"@odata.type"}
                if unknown:
                    raise GraphFault(400, "BadRequest", "The property '%s' does not exist on the action '%s'."
                                     % (sorted(unknown)[0], action))
                if action == "unassignUserFromDevice":
                    payload = {"userPrincipalName": "", "addressableUserName": ""}
                for k, v in payload.items():
                    if k in allowed[action] or action == "unassignUserFromDevice":
                        dev[k] = v if v is not None else ""
                if "groupTag" in payload:
                    entra = self.store.data["entra"].get(dev.get("_entra"))
                    if entra is not None:
                        entra["physicalIds"] = [p for p in entra["physicalIds"] if not p.startswith("[OrderId]:")]
                        if payload["groupTag"]:
                            entra["physicalIds"].append("[OrderId]:%s" % payload["groupTag"])
                        self.store.touch("entra", entra["id"])
                    self._on_device_changed(dev)  # the group rules see the new [OrderId] (profiles.py)
                self.store.touch("autopilot", dev["id"])
                return Reply(204)
        raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)

    def _settings(self, method, rest, app):
        settings = self.store.data["meta"]["settings"]
        if not rest and method == "GET":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            return Reply(200, {"@odata.context": self.context("beta", "deviceManagement/windowsAutopilotSettings",
                                                              entity=True),
                               **render("beta", "windowsAutopilotSettings", settings)})
        if rest == ["sync"] and method == "POST":
            self._require(app, C.SVC_WRITE)
            now = time.time()
            if settings["syncStatus"] == "inProgress":
                raise GraphFault(409, "Conflict", "A sync is already in progress.", intune=True)
            if now - settings.get("_last_trigger", 0) < self.cfg.real(self.cfg.sync_min_interval):
                retry = settings["_last_trigger"] + self.cfg.real(self.cfg.sync_min_interval) - now
                raise GraphFault(429, "TooManyRequests", "Sync was requested less than 10 minutes ago.",
                                 intune=True, retry_after=retry)
            settings.update({"syncStatus": "inProgress", "lastManualSyncTriggerDateTime": iso(),
                             "_last_trigger": now, "_sync_done": now + self.cfg.real(self.cfg.sync_duration)})
            self._wake_processor()
            self.store.touch("meta", "settings")
            return Reply(204)
        raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)
