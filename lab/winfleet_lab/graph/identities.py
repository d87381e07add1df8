# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Corporate identifiers: ``deviceManagement/importedDeviceIdentities`` (beta only), as Microsoft documents them.

Sources (the lab follows these, not the collection's client):

* the beta resource ``importedDeviceIdentity`` and its result type ``importedDeviceIdentityResult`` (msgraph-metadata
  beta CSDL, vendored in ``schema/beta-excerpt.csdl``; learn.microsoft.com/graph/api/resources/
  intune-enrollment-importeddeviceidentity?view=graph-rest-beta): list, get, delete, and the actions
  ``importDeviceIdentityList`` (parameters ``importedDeviceIdentities``, ``overwriteImportedDeviceIdentities``; 200
  with an ``importedDeviceIdentityResult`` collection, each with ``status``) and ``searchExistingIdentities``
  (parameter ``importedDeviceIdentities``; 200 with the matching ``importedDeviceIdentity`` collection). Permissions:
  ``DeviceManagementServiceConfig.ReadWrite.All`` to import and delete, ``...Read.All`` enough to list and search.
  No v1.0 resource exists.
* memdocs "Add corporate identifiers" (Windows): one identifier per line ``manufacturer,model,serial``, periods
  removed; the type "Manufacturer, model, and serial number (Windows only)"; identifiers apply at enrollment, a new one
  has not contacted the service yet (``notContacted``).
* the shared reference (autopilot-lifecycle.md sections 4 and 6): identifiers whose values hold periods or commas
  are refused.

What the documentation leaves open, the lab chooses and says so: an identifier the service will not take (not three
non-empty values, a period in a value, an empty identifier) and one that already exists while
``overwriteImportedDeviceIdentities`` is false come back with ``status: false`` and are not stored; identifiers are
compared exactly (type and text); the results come back in an order of their own (Graph promises none).
"""

from __future__ import annotations

import uuid

from . import config as C
from .common import GraphFault, Reply, _json_body, iso
from .schema import action_parameters, entity, render, version_schema

PATH = "deviceManagement/importedDeviceIdentities"
WINDOWS_TYPE = "manufacturerModelSerial"


class Identities:
    """Mixin of GraphService: corporate identifiers (``importedDeviceIdentities``)."""

    def _identity_view(self, rec, version, result=None):
        if result is None:
            return render(version, "importedDeviceIdentity",
                          {"@odata.type": "#microsoft.graph.importedDeviceIdentity", **rec})
        return render(version, "importedDeviceIdentityResult",
                      {"@odata.type": "#microsoft.graph.importedDeviceIdentityResult", **rec, "status": result})

    def _identities(self, method, version, rest, query, body, app):
        if version != "beta":
            raise GraphFault(400, "BadRequest", "Resource not found for the segment 'importedDeviceIdentities'.")
        store = self.store.data["identities"]
        if not rest:
            if method == "GET":
                self._require(app, C.SVC_READ, C.SVC_WRITE)
                if "$filter" in query:
                    raise GraphFault(400, "BadRequest", "Filtering is not supported on this entity set.", intune=True)
                items = sorted(store.values(), key=lambda r: (r["_seq"], r["id"]))
                return self._page([self._identity_view(r, version) for r in items], query,
                                  self.cfg.intune_page_size, version, PATH)
            raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)
        if rest == ["importDeviceIdentityList"] and method == "POST":
            self._require(app, C.SVC_WRITE)
            payload = self._identity_payload(body, version, "importDeviceIdentityList")
            overwrite = payload.get("overwriteImportedDeviceIdentities")
            if overwrite is not None and not isinstance(overwrite, bool):
                raise GraphFault(400, "BadRequest", "Cannot convert the literal '%s' to the expected type "
                                 "'Edm.Boolean'." % overwrite)
            results = [self._import_identity(item, bool(overwrite)) for item in payload["importedDeviceIdentities"]]
            if len(results) > 1:
                order = self.rng.sample(range(len(results)), len(results))
                if order == sorted(order):
                    order = order[1:] + order[:1]
                results = [results[i] for i in order]
            return Reply(200, {"@odata.context": self.context(version, "Collection(microsoft.graph."
                                                              "importedDeviceIdentityResult)"),
                               "value": [self._identity_view(rec, version, ok) for rec, ok in results]})
        if rest == ["searchExistingIdentities"] and method == "POST":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            payload = self._identity_payload(body, version, "searchExistingIdentities")
            wanted = {(i.get("importedDeviceIdentityType"), i.get("importedDeviceIdentifier"))
                      for i in payload["importedDeviceIdentities"]}
            found = [r for r in sorted(store.values(), key=lambda r: (r["_seq"], r["id"]))
                     if (r["importedDeviceIdentityType"], r["importedDeviceIdentifier"]) in wanted]
            return Reply(200, {"@odata.context": self.context(version, "Collection(microsoft.graph."
                                                              "importedDeviceIdentity)"),
                               "value": [self._identity_view(r, version) for r in found]})
        if len(rest) == 1:
            rec = store.get(rest[0])
            if method == "GET":
                self._require(app, C.SVC_READ, C.SVC_WRITE)
                if rec is None:
                    raise GraphFault(404, "ResourceNotFound", "Resource not found: importedDeviceIdentity %s"
                                     % rest[0], intune=True)
                return Reply(200, {"@odata.context": self.context(version, PATH, entity=True),
                                   **self._identity_view(rec, version)})
            if method == "DELETE":
                self._require(app, C.SVC_WRITE)
                if rec is None:
                    raise GraphFault(404, "ResourceNotFound", "Resource not found: importedDeviceIdentity %s"
                                     % rest[0], intune=True)
                self.store.delete("identities", rec["id"])
                self.stats["identities_deleted"] += 1
                return Reply(204)
        raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)

    def _identity_payload(self, body, version, action):
        """The action's body as OData reads it: only the action's parameters, an array of importedDeviceIdentity
        objects with that type's properties and a valid importedDeviceIdentityType, before anything is stored."""
        payload = _json_body(body)
        unknown = sorted(set(payload) - set(action_parameters(version, action)))
        if unknown:
            raise GraphFault(400, "BadRequest", "The parameter '%s' in the request payload is not a valid parameter "
                             "for the operation '%s'." % (unknown[0], action))
        items = payload.get("importedDeviceIdentities")
        if not isinstance(items, list):
            raise GraphFault(400, "BadRequest", "The parameter 'importedDeviceIdentities' in the request payload is "
                             "not a valid parameter for the operation '%s'." % action)
        known = set(entity(version, "importedDeviceIdentity")["properties"])
        members = version_schema(version)["enums"]["importedDeviceIdentityType"]["members"]
        for item in items:
            if not isinstance(item, dict):
                raise GraphFault(400, "BadRequest", "An unexpected 'PrimitiveValue' node was found.")
            extra = sorted(k for k in item if k not in known and not k.startswith("@odata."))
            if extra:
                raise GraphFault(400, "BadRequest", "The property '%s' does not exist on type 'microsoft.graph."
                                 "importedDeviceIdentity'. Make sure to only use property names that are defined by "
                                 "the type." % extra[0])
            kind = item.get("importedDeviceIdentityType")
            if kind is not None and kind not in members:
                raise GraphFault(400, "BadRequest", "The value '%s' is not valid for the enum type 'microsoft.graph."
                                 "importedDeviceIdentityType'." % kind)
            ident = item.get("importedDeviceIdentifier")
            if ident is not None and not isinstance(ident, str):
                raise GraphFault(400, "BadRequest", "Cannot convert the literal '%s' to the expected type "
                                 "'Edm.String'." % ident)
        return payload

    @staticmethod
    def identifier_accepted(kind, ident):
        """Whether the service takes an identifier of this type (see the module docstring)."""
        if not ident or not ident.strip():
            return False
        if kind == WINDOWS_TYPE:
            parts = ident.split(",")
            return len(parts) == 3 and all(p.strip() for p in parts) and "." not in ident
        return kind in ("imei", "serialNumber") and "," not in ident

    def _import_identity(self, item, overwrite):
        kind = item.get("importedDeviceIdentityType") or "unknown"
        ident = item.get("importedDeviceIdentifier") or ""
        now = iso()
        echo = {"id": "", "importedDeviceIdentifier": ident, "importedDeviceIdentityType": kind,
                "description": item.get("description"), "createdDateTime": now, "lastModifiedDateTime": now,
                "enrollmentState": "unknown", "platform": "unknown"}
        if not self.identifier_accepted(kind, ident):
            self.stats["identities_refused"] += 1
            return echo, False
        existing = next((r for r in self.store.data["identities"].values()
                         if r["importedDeviceIdentityType"] == kind and r["importedDeviceIdentifier"] == ident), None)
        if existing is not None:
            if not overwrite:
                self.stats["identities_duplicate"] += 1
                return {k: v for k, v in existing.items() if not k.startswith("_")}, False
            existing["description"] = item.get("description")
            existing["lastModifiedDateTime"] = now
            self.store.touch("identities", existing["id"])
            return {k: v for k, v in existing.items() if not k.startswith("_")}, True
        rec = {"id": str(uuid.uuid4()), "importedDeviceIdentifier": ident, "importedDeviceIdentityType": kind,
               "description": item.get("description"), "createdDateTime": now, "lastModifiedDateTime": now,
               "lastContactedDateTime": None, "enrollmentState": "notContacted",
               "platform": "windows" if kind == WINDOWS_TYPE else "unknown", "_seq": self._next_seq()}
        self.store.put("identities", rec["id"], rec)
        self.stats["identities_created"] += 1
        return {k: v for k, v in rec.items() if not k.startswith("_")}, True

    # -- for tests and the demo ---------------------------------------------------------------------------------
    def identities(self):
        """Every stored corporate identifier (as the beta API shows it)."""
        with self.lock:
            return [self._identity_view(r, "beta") for r in sorted(self.store.data["identities"].values(),
                                                                     key=lambda r: (r["_seq"], r["id"]))]
