# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Directory objects: Intune managed devices, Entra devices, users and their licences, and the lab's seeding of them
(enrolment, re-used devices, the per-serial record view)."""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.parse
import uuid

from . import config as C
from . import hwjudge
from .common import (
    _F_ANY_EQ,
    _F_ANY_STARTS,
    _F_EQ,
    _F_STARTS,
    GraphFault,
    Reply,
    _quote_value,
    iso,
)
from .schema import load, render


class Directory:
    """Mixin of GraphService: managed devices, Entra devices, users."""

    # -- Intune managed devices ---------------------------------------------------------------
    def _managed(self, method, version, rest, query, app):
        devices = self.store.data["managed"]
        if not rest and method == "GET":
            self._require(app, C.MD_READ, C.MD_WRITE)
            items = list(devices.values())
            flt = query.get("$filter")
            if flt:
                m_eq, m_st = _F_EQ.match(flt), _F_STARTS.match(flt)
                fields = {"serialnumber": "serialNumber", "azureaddeviceid": "azureADDeviceId",
                          "userprincipalname": "userPrincipalName", "devicename": "deviceName"}
                if m_eq and m_eq.group(1).lower() in fields:
                    f, v = fields[m_eq.group(1).lower()], _quote_value(m_eq.group(2))
                    items = [d for d in items if (d.get(f) or "").lower() == v.lower()]
                elif m_st and m_st.group(1).lower() in fields:
                    f, v = fields[m_st.group(1).lower()], _quote_value(m_st.group(2))
                    items = [d for d in items if (d.get(f) or "").lower().startswith(v.lower())]
                else:
                    raise GraphFault(400, "BadRequest", "Invalid filter clause", intune=True)
            return self._page([render(version, "managedDevice", d) for d in items], query, self.cfg.intune_page_size,
                              version, "deviceManagement/managedDevices")
        if len(rest) == 1:
            dev = devices.get(rest[0])
            if method == "GET":
                self._require(app, C.MD_READ, C.MD_WRITE)
                if dev is None:
                    raise GraphFault(404, "ResourceNotFound", "Resource not found", intune=True)
                return Reply(200, {"@odata.context": self.context(version, "deviceManagement/managedDevices",
                                                                  entity=True), **render(version, "managedDevice", dev)})
            if method == "DELETE":
                self._require(app, C.MD_WRITE)
                if dev is None:
                    raise GraphFault(404, "ResourceNotFound", "Resource not found", intune=True)
                self.store.delete("managed", dev["id"])
                for ap in self.store.data["autopilot"].values():
                    if ap.get("managedDeviceId") == dev["id"]:
                        ap["managedDeviceId"] = "00000000-0000-0000-0000-000000000000"
                        self.store.touch("autopilot", ap["id"])
                return Reply(204)
        raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)

    # -- Entra devices ------------------------------------------------------------------------
    def _devices(self, method, version, res, query, app):
        devices = self.store.data["entra"]
        if res == ["devices"] and method == "GET":
            self._require_dir(app, C.DEV_READ, C.DEV_WRITE, C.DIR_READ)
            items = list(devices.values())
            flt = query.get("$filter")
            if flt:
                m_eq, m_any, m_anys = _F_EQ.match(flt), _F_ANY_EQ.match(flt), _F_ANY_STARTS.match(flt)
                if m_eq and m_eq.group(1).lower() in ("deviceid", "displayname", "id"):
                    f = {"deviceid": "deviceId", "displayname": "displayName", "id": "id"}[m_eq.group(1).lower()]
                    v = _quote_value(m_eq.group(2))
                    items = [d for d in items if (d.get(f) or "").lower() == v.lower()]
                elif m_any:
                    v = _quote_value(m_any.group(2)).lower()
                    items = [d for d in items if any(p.lower() == v for p in d["physicalIds"])]
                elif m_anys:
                    v = _quote_value(m_anys.group(2)).lower()
                    items = [d for d in items if any(p.lower().startswith(v) for p in d["physicalIds"])]
                else:
                    raise GraphFault(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause "
                                     "specified for property '%s' of resource 'Device'." % flt.split()[0])
            return self._page([render(version, "device", d) for d in items], query, self.cfg.directory_page_size,
                              version, "devices", max_top=999, skip_supported=False)
        target = None
        if len(res) == 2 and res[0] == "devices":
            target = devices.get(res[1])
            ident = res[1]
        elif len(res) == 1:
            m = re.match(r"^devices\(deviceId='([^']*)'\)$", res[0])
            if not m:
                raise GraphFault(400, "Request_BadRequest", "Invalid object identifier '%s'." % res[0])
            ident = m.group(1)
            target = next((d for d in devices.values() if d["deviceId"] == ident), None)
        else:
            raise GraphFault(400, "Request_BadRequest", "Unsupported segment")
        if method == "GET":
            self._require_dir(app, C.DEV_READ, C.DEV_WRITE, C.DIR_READ)
        elif method == "DELETE":
            self._require_dir(app, C.DEV_WRITE)
        else:
            raise GraphFault(405, "Request_BadRequest", "Method not allowed")
        if target is None:
            raise GraphFault(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried "
                             "reference-property objects are not present." % ident)
        if method == "GET":
            return Reply(200, {"@odata.context": self.context(version, "devices", entity=True),
                               **render(version, "device", target)})
        # Possible through the API although the portal blocks it: the Autopilot record stays behind, orphaned
        # (ISSUE memdocs#1435). The lab keeps the record and counts the orphan.
        if any(d.get("_entra") == target["id"] and not d.get("_delete_due")
               for d in self.store.data["autopilot"].values()):
            self.stats["autopilot_orphaned_by_entra_delete"] += 1
        self.store.delete("entra", target["id"])
        self.stats["entra_deleted"] += 1
        return Reply(204)

    # -- users and licences -------------------------------------------------------------------
    # The service behind each service plan the lab's SKUs carry (assignedPlans/provisionedPlans name the service).
    PLAN_SERVICES = {"INTUNE_A": "SCO", "AAD_PREMIUM": "AADPremiumService", "EXCHANGE_S_ENTERPRISE": "exchange"}

    def _user_licences(self, user):
        """``assignedLicenses``, ``assignedPlans`` and ``provisionedPlans`` of a user, from the licences the lab
        assigned (what an app may read: licenseDetails supports no application permission)."""
        assigned, plans, provisioned = [], [], []
        for lic in user.get("licenses") or []:
            assigned.append({"skuId": lic["skuId"], "disabledPlans": []})
            for plan in lic.get("servicePlans") or []:
                service = self.PLAN_SERVICES.get(plan.get("servicePlanName"), plan.get("servicePlanName"))
                plans.append({"assignedDateTime": "2026-01-05T08:00:00Z", "capabilityStatus": "Enabled",
                              "service": service, "servicePlanId": plan["servicePlanId"]})
                pending = plan.get("provisioningStatus") == "PendingProvisioning"
                provisioned.append({"capabilityStatus": "Enabled", "service": service,
                                    "provisioningStatus": "PendingInput" if pending else "Success"})
        return {"assignedLicenses": assigned, "assignedPlans": plans, "provisionedPlans": provisioned}

    def _users(self, method, version, rest, app, query=None):
        if method != "GET":
            raise GraphFault(405, "Request_BadRequest", "Method not allowed")
        self._require_dir(app, C.USER_READ, C.LIC_READ, C.DIR_READ)
        key = urllib.parse.unquote(rest[0]).lower()
        user = self.store.data["users"].get(key) or next(
            (u for u in self.store.data["users"].values() if u["id"] == key), None)
        if user is None:
            raise GraphFault(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried "
                             "reference-property objects are not present." % rest[0])
        if len(rest) == 1:
            # GET /users/{id} answers a documented default set of properties unless $select asks for others.
            select = [s.strip() for s in ((query or {}).get("$select") or "").split(",") if s.strip()]
            record = dict(user, **self._user_licences(user)) if select else user
            return Reply(200, {"@odata.context": self.context(version, "users", entity=True),
                               **render(version, "user", record, select=select or load()["user_default_properties"])})
        if rest[1:] == ["licenseDetails"]:
            # "Application: Not supported" (learn.microsoft.com/graph/api/user-list-licensedetails): every lab token is
            # an application's, so Graph refuses it as it refuses an app-only token.
            raise GraphFault(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        raise GraphFault(400, "Request_BadRequest", "Unsupported segment")

    def _subscribed_skus(self, method, version, query, app):
        """The tenant's subscriptions: every SKU a lab user holds (``GET /subscribedSkus``; application permission
        LicenseAssignment.Read.All, or Organization.Read.All / Directory.Read.All)."""
        if method != "GET":
            raise GraphFault(405, "Request_BadRequest", "Method not allowed")
        self._require_dir(app, C.LIC_READ, C.ORG_READ, C.DIR_READ)
        skus = {}
        for user in self.store.data["users"].values():
            for lic in user.get("licenses") or []:
                sku = skus.setdefault(lic["skuId"], {
                    "id": "%s_%s" % (self.cfg.tenant_id, lic["skuId"]), "accountId": self.cfg.tenant_id,
                    "accountName": self.cfg.tenant_domain.split(".")[0], "appliesTo": "User",
                    "capabilityStatus": "Enabled", "consumedUnits": 0, "skuId": lic["skuId"],
                    "skuPartNumber": lic["skuPartNumber"],
                    "prepaidUnits": {"enabled": 25, "suspended": 0, "warning": 0, "lockedOut": 0},
                    "servicePlans": [{"servicePlanId": sp["servicePlanId"], "servicePlanName": sp["servicePlanName"],
                                      "provisioningStatus": "Success", "appliesTo": sp.get("appliesTo") or "User"}
                                     for sp in lic.get("servicePlans") or []]})
                sku["consumedUnits"] += 1
        items = [render(version, "subscribedSku", sku) for _k, sku in sorted(skus.items())]
        return self._page(items, query or {}, 100, version, "subscribedSkus", skip_supported=False)

    def seed_default_users(self):
        dom = self.cfg.tenant_domain
        e3 = {"skuId": "05e9a617-0261-4cee-bb44-138d3ef5d965", "skuPartNumber": "SPE_E3",
              "servicePlans": [{"servicePlanId": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "servicePlanName": "INTUNE_A",
                                "provisioningStatus": "Success", "appliesTo": "User"},
                               {"servicePlanId": "41781fb2-bc02-4b7c-bd55-b576c07bb09d", "servicePlanName": "AAD_PREMIUM",
                                "provisioningStatus": "Success", "appliesTo": "User"},
                               {"servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0",
                                "servicePlanName": "EXCHANGE_S_ENTERPRISE", "provisioningStatus": "Success",
                                "appliesTo": "User"}]}
        intune_only = {"skuId": "061f9ace-7d42-4136-88ac-31dc755f143f", "skuPartNumber": "INTUNE_A",
                       "servicePlans": [{"servicePlanId": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
                                         "servicePlanName": "INTUNE_A", "provisioningStatus": "Success",
                                         "appliesTo": "User"}]}
        pending_e3 = json.loads(json.dumps(e3))
        for plan in pending_e3["servicePlans"]:
            if plan["servicePlanName"] == "INTUNE_A":
                plan["provisioningStatus"] = "PendingProvisioning"
        for name, lic in (("alice", [e3]), ("bob", []), ("carol", [intune_only]), ("dave", [pending_e3])):
            self.add_user("%s@%s" % (name, dom), lic)

    def add_user(self, upn, licenses=(), display_name=None):
        user = {"id": str(uuid.uuid4()), "userPrincipalName": upn,
                "displayName": display_name or upn.split("@")[0].title(), "accountEnabled": True,
                "licenses": [dict(lic, id=secrets.token_urlsafe(16)) for lic in licenses]}
        self.store.put("users", upn.lower(), user)
        self.store.commit()
        return user

    def enroll(self, serial, days_since_sync=0, upn=""):
        """Simulate a user's device enrolling in Intune (makes the device Active/Inactive)."""
        ap = next((d for d in self.store.data["autopilot"].values() if d["serialNumber"].upper() == serial.upper()), None)
        now = time.time()
        last = iso(now - days_since_sync * 86400)
        md_id = str(uuid.uuid4())
        managed = {"id": md_id, "deviceName": "DESKTOP-%s" % serial[-7:].upper(), "serialNumber": serial,
                   "operatingSystem": "Windows", "osVersion": "10.0.22631.4460", "userPrincipalName": upn,
                   "azureADDeviceId": ap["azureActiveDirectoryDeviceId"] if ap else str(uuid.uuid4()),
                   "enrolledDateTime": iso(now - (days_since_sync + 1) * 86400), "lastSyncDateTime": last,
                   "managementAgent": "mdm", "deviceEnrollmentType": "windowsAzureADJoin",
                   "deviceRegistrationState": "registered", "complianceState": "compliant",
                   "manufacturer": ap["manufacturer"] if ap else "", "model": ap["model"] if ap else ""}
        self.store.put("managed", md_id, managed)
        if ap is not None:
            ap.update({"enrollmentState": "enrolled", "lastContactedDateTime": last, "managedDeviceId": md_id,
                       "userPrincipalName": ap["userPrincipalName"] or upn})
            self.store.touch("autopilot", ap["id"])
        return managed

    def seed_reused(self, serial, hardware_hash=None, join="entra", upn="", group_tag="", device_name=None,
                    days_since_sync=3):
        """Seed a RE-USED device: the stale records a device leaves behind after a first life in the tenant,
        as the services keep them. Returns ``{"autopilot", "managed", "entra": [...]}``.

        * the Windows Autopilot identity, registered long ago; its Entra object carries ``[ZTDID]:<id>``
          (and ``[OrderId]:<group tag>``); ``azureActiveDirectoryDeviceId`` points at it;
        * the Intune managed device, enrolled through Autopilot and linked both ways (``managedDeviceId``
          on the Autopilot identity, ``azureADDeviceId`` on the managed device);
        * ``join="entra"``: the device joined Entra through the Autopilot object (trustType ``AzureAd``,
          renamed to the computer name); ``join="hybrid"``: a *second* Entra object synced from AD
          (trustType ``ServerAd``, displayName = the computer name) that the managed device points at,
          while the Autopilot object stays as registered (DOC memdocs known-issues "Duplicate device objects").
        """
        with self.lock:
            return self._seed_reused(serial, hardware_hash, join, upn, group_tag, device_name, days_since_sync)

    def _seed_reused(self, serial, hardware_hash, join, upn, group_tag, device_name, days_since_sync):
        if join not in ("entra", "hybrid"):
            raise GraphFault(400, "BadRequest", "join must be entra or hybrid, not %r" % (join,))
        serial = serial.strip()
        if self._registered(serial):
            raise GraphFault(409, "Conflict", "%s is already registered in Windows Autopilot" % serial)
        manufacturer, model, sku, family = "Lab Manufacturer", "Lab Model", "", ""
        if hardware_hash:
            fields, _reason = hwjudge.parse(hardware_hash)
            if fields:
                manufacturer = fields[hwjudge.MANUFACTURER] or manufacturer
                model = fields[hwjudge.MODEL] or model
                sku, family = fields[hwjudge.SKU], fields[hwjudge.FAMILY]
        now = time.time()
        registered = iso(now - 400 * 86400)
        enrolled = iso(now - 380 * 86400)
        last = iso(now - days_since_sync * 86400)
        hybrid = join == "hybrid"
        tail = re.sub(r"[^A-Za-z0-9]", "", serial).upper()
        name = device_name or ("WF-%s" % tail[-8:] if hybrid else "DESKTOP-%s" % tail[-7:])
        dev_id, md_id = str(uuid.uuid4()), str(uuid.uuid4())
        ap_entra_id, ap_device_id = str(uuid.uuid4()), str(uuid.uuid4())
        physical = ["[ZTDID]:%s" % dev_id]
        if group_tag:
            physical.append("[OrderId]:%s" % group_tag)

        def hw_ids():
            return ["[USER-GID]:%s:%d" % (uuid.uuid4(), self.rng.getrandbits(48)),
                    "[GID]:g:%d" % self.rng.getrandbits(48),
                    "[USER-HWID]:%s:%d" % (uuid.uuid4(), self.rng.getrandbits(48)),
                    "[HWID]:h:%d" % self.rng.getrandbits(48)]

        ap_entra = {"id": ap_entra_id, "deviceId": ap_device_id, "displayName": serial, "operatingSystem": "Windows",
                    "operatingSystemVersion": "", "trustType": "AzureAd", "accountEnabled": True,
                    "physicalIds": physical, "approximateLastSignInDateTime": None, "registrationDateTime": registered,
                    "createdDateTime": registered, "enrollmentProfileName": None, "isManaged": False,
                    "onPremisesSyncEnabled": None, "_serial": serial.upper()}
        entra = [ap_entra]
        joined = ap_entra
        if hybrid:
            joined = {"id": str(uuid.uuid4()), "deviceId": str(uuid.uuid4()), "displayName": name,
                      "operatingSystem": "Windows", "operatingSystemVersion": "10.0.22631.4460", "trustType": "ServerAd",
                      "accountEnabled": True, "physicalIds": hw_ids(), "approximateLastSignInDateTime": last,
                      "registrationDateTime": enrolled, "createdDateTime": enrolled, "enrollmentProfileName": None,
                      "isManaged": True, "onPremisesSyncEnabled": True, "_serial": serial.upper()}
            entra.append(joined)
        else:
            ap_entra.update({"displayName": name, "operatingSystemVersion": "10.0.22631.4460", "isManaged": True,
                             "approximateLastSignInDateTime": last, "enrollmentProfileName": "Lab Autopilot profile",
                             "physicalIds": physical + hw_ids()})
        managed = {"id": md_id, "deviceName": name, "serialNumber": serial, "operatingSystem": "Windows",
                   "osVersion": "10.0.22631.4460", "userPrincipalName": upn, "azureADDeviceId": joined["deviceId"],
                   "enrolledDateTime": enrolled, "lastSyncDateTime": last, "managementAgent": "mdm",
                   "deviceEnrollmentType": "windowsAutoEnrollment" if hybrid else "windowsAzureADJoin",
                   "joinType": "hybridAzureADJoined" if hybrid else "azureADJoined", "autopilotEnrolled": True,
                   "deviceRegistrationState": "registered", "complianceState": "compliant",
                   "manufacturer": manufacturer, "model": model}
        dev = {
            "id": dev_id, "deploymentProfileAssignmentStatus": "assignedInSync",
            "deploymentProfileAssignmentDetailedStatus": "none", "deploymentProfileAssignedDateTime": registered,
            "groupTag": group_tag, "purchaseOrderIdentifier": "", "serialNumber": serial, "productKey": "",
            "manufacturer": manufacturer, "model": model, "enrollmentState": "enrolled",
            "lastContactedDateTime": last, "addressableUserName": upn.split("@")[0] if upn else "",
            "userPrincipalName": upn, "resourceName": "", "skuNumber": sku, "systemFamily": family,
            "azureActiveDirectoryDeviceId": ap_device_id, "azureAdDeviceId": ap_device_id, "managedDeviceId": md_id,
            "displayName": "" if hybrid else name, "deviceAccountUpn": "", "deviceAccountPassword": None,
            "deviceFriendlyName": "", "remediationState": "noRemediationRequired",
            "remediationStateLastModifiedDateTime": registered, "userlessEnrollmentStatus": "allowed",
            "_ztdid": dev_id, "_entra": ap_entra_id, "_registered": registered,
        }
        self.store.put("autopilot", dev_id, dev)
        self.serial_index[serial.upper()].add(dev_id)
        for obj in entra:
            self.store.put("entra", obj["id"], obj)
        self.store.put("managed", md_id, managed)
        self.store.commit()
        self.stats["reused_seeded"] += 1
        return {"autopilot": self._ap_view(dev, "beta"), "managed": render("beta", "managedDevice", managed),
                "entra": [render("beta", "device", o) for o in entra]}

    def records(self, serial):
        with self.lock:
            return self._records(serial)

    def _records(self, serial):
        """What exists for ``serial`` in each store (lab bookkeeping: the Entra objects are found through the
        links of the serial's records and through the serial the lab noted when it created them)."""
        key = serial.strip().upper()
        data = self.store.data
        aps = [d for d in data["autopilot"].values() if d["serialNumber"].upper() == key]
        mds = [m for m in data["managed"].values() if (m.get("serialNumber") or "").upper() == key]
        linked = {d.get("azureActiveDirectoryDeviceId") for d in aps} | {m.get("azureADDeviceId") for m in mds}
        objs = [o for o in data["entra"].values() if o.get("_serial") == key or o["deviceId"] in linked]

        def ztdid(obj):
            return next((p.split(":", 1)[1] for p in obj["physicalIds"] if p.lower().startswith("[ztdid]:")), None)

        return {
            "serialNumber": serial,
            "autopilot": [{"id": d["id"], "azureActiveDirectoryDeviceId": d.get("azureActiveDirectoryDeviceId"),
                           "managedDeviceId": d.get("managedDeviceId"), "deleting": bool(d.get("_delete_due")),
                           "entraObjectPresent": d.get("_entra") in data["entra"],
                           "orphaned": d.get("_entra") not in data["entra"]} for d in aps],
            "managed": [{"id": m["id"], "deviceName": m.get("deviceName"), "azureADDeviceId": m.get("azureADDeviceId")}
                        for m in mds],
            "entra": sorted(({"id": o["id"], "deviceId": o["deviceId"], "displayName": o.get("displayName"),
                              "trustType": o.get("trustType"), "ztdid": ztdid(o)} for o in objs),
                            key=lambda o: (o["trustType"] or "", o["id"])),
            "imported": [{"id": r["id"], "status": r["state"]["deviceImportStatus"]}
                         for r in data["imported"].values() if (r.get("serialNumber") or "").upper() == key],
        }
