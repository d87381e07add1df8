# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Windows Autopilot deployment profiles (beta ``deviceManagement/windowsAutopilotDeploymentProfiles``), their group
assignments, and the service's assignment of a profile to each registered device.

What the documentation says and the lab does (shared reference autopilot-lifecycle.md section 1; learn.microsoft.com
autopilot/profiles, graph/api/resources/intune-enrollment-windowsautopilotdeploymentprofileassignment):

* A profile is assigned to Entra groups (``assignments[].target``: ``groupAssignmentTarget`` with ``groupId``,
  ``allDevicesAssignmentTarget``, ``exclusionGroupAssignmentTarget``), almost always dynamic device groups whose
  rule matches the Autopilot device's Entra object by its ``physicalIds`` (``[ZTDID]``, ``[OrderId]`` = group tag,
  ``[PurchaseOrderId]``).
* A registered device starts ``notAssigned``. After the dynamic group processing (``membership_delay``) the device is
  in its groups; if a profile targets one of them the device is ``pending`` until the service assigns it
  (``profile_assignment_delay``): ``assignedInSync``, ``deploymentProfileAssignedDateTime`` set, the Entra object's
  ``enrollmentProfileName`` the profile's name. Several profiles: the oldest one wins (autopilot/profiles, "If a
  device is targeted by more than one profile, the device receives the profile that was created first").
* No profile reaches the device: it stays ``notAssigned`` - the silent failure the issue is about.
* Self-deploying and pre-provisioning profiles need TPM 2.0 with device attestation; a device the lab marks as
  lacking it (``/_lab/hardware``) ends ``failed`` with ``deploymentProfileAssignmentDetailedStatus``
  ``hardwareRequirementsNotMet``.
* A new or changed group, profile, assignment or group tag makes the service look at the devices again (after the
  same delays). Profiles exist in beta only (v1.0 has neither the entity set nor the device's profile status).
"""

from __future__ import annotations

import heapq
import time
import uuid

from . import config as C
from .common import GraphFault, Reply, _json_body, iso
from .schema import entity, render

PROFILES = "deviceManagement/windowsAutopilotDeploymentProfiles"
KINDS = ("azureADWindowsAutopilotDeploymentProfile", "activeDirectoryWindowsAutopilotDeploymentProfile")
GROUP_TARGET = "#microsoft.graph.groupAssignmentTarget"
ALL_DEVICES = "#microsoft.graph.allDevicesAssignmentTarget"
EXCLUDE = "#microsoft.graph.exclusionGroupAssignmentTarget"


def _needs_tpm_attestation(profile):
    """Self-deploying (shared device usage) and pre-provisioning need TPM 2.0 attestation (autopilot/self-deploying,
    autopilot/pre-provision requirements)."""
    oobe = profile.get("outOfBoxExperienceSettings") or {}
    return (oobe.get("deviceUsageType") == "shared" or bool(profile.get("enableWhiteGlove"))
            or bool(profile.get("preprovisioningAllowed")))


class Profiles:
    """Mixin of GraphService: deployment profiles, assignments and the per-device profile processor."""

    # -- state ---------------------------------------------------------------------------------------------
    def _init_profiles(self):
        self._profiling = []  # heap of (due, seq, autopilot id); stale entries are skipped
        meta = self.store.data["meta"]
        if "tpm_less" not in meta:
            self.store.put("meta", "tpm_less", [])
        for dev in self.store.data["autopilot"].values():
            if dev.get("_profile_due"):
                heapq.heappush(self._profiling, (dev["_profile_due"], self._next_seq(), dev["id"]))

    def _profile_schedule(self, dev, step, delay):
        dev["_profile_step"] = step
        dev["_profile_due"] = time.time() + self.cfg.real(delay)
        self.store.touch("autopilot", dev["id"])
        heapq.heappush(self._profiling, (dev["_profile_due"], self._next_seq(), dev["id"]))
        self._wake_processor()

    def _on_registered(self, dev):
        """A new Autopilot device (its Entra object was just created): the group rules look at it next."""
        self._profile_schedule(dev, "membership", self.cfg.membership_delay)

    _on_device_changed = _on_registered  # a new group tag changes the Entra object's [OrderId]

    def _membership_changed(self):
        """A group, a profile or an assignment changed: every device is looked at again."""
        for dev in self.store.data["autopilot"].values():
            if not dev.get("_delete_due"):
                self._profile_schedule(dev, "membership", self.cfg.membership_delay)

    def _profiles_next_due(self):
        return self._profiling[0][0] if getattr(self, "_profiling", None) else None

    def _advance_profiles(self, now, limit=None):
        done = 0
        while self._profiling and self._profiling[0][0] <= now and (limit is None or done < limit):
            due, _seq, dev_id = heapq.heappop(self._profiling)
            dev = self.store.data["autopilot"].get(dev_id)
            if dev is None or dev.get("_profile_due") != due or dev.get("_delete_due"):
                continue
            step = dev.pop("_profile_step", None)
            dev.pop("_profile_due", None)
            (self._membership_step if step == "membership" else self._assign_step)(dev)
            self.store.touch("autopilot", dev_id)
            done += 1

    def _profiles_now(self):
        """Run every scheduled profile step now, and the steps they schedule (tests that decide when it is done)."""
        for _ in range(3):
            self._profiling = [(0, s, i) for (_d, s, i) in self._profiling]
            for _d, _s, i in self._profiling:
                dev = self.store.data["autopilot"].get(i)
                if dev is not None and dev.get("_profile_due"):
                    dev["_profile_due"] = 0
            heapq.heapify(self._profiling)
            self._advance_profiles(time.time())

    # -- the service's work --------------------------------------------------------------------------------
    def _target_profile(self, groups):
        """The profile the service assigns to a device in ``groups``: the oldest one targeting any of them (and
        excluding none of them)."""
        hits = []
        for profile in self.store.data["profiles"].values():
            targets = profile.get("_assignments") or []
            excluded = any(a["target"].get("@odata.type") == EXCLUDE and a["target"].get("groupId") in groups
                           for a in targets)
            reached = any((a["target"].get("@odata.type") == GROUP_TARGET and a["target"].get("groupId") in groups)
                          or a["target"].get("@odata.type") == ALL_DEVICES for a in targets)
            if reached and not excluded:
                hits.append(profile)
        hits.sort(key=lambda p: (p["_created"], p["id"]))
        return hits[0] if hits else None

    def _membership_step(self, dev):
        entra = self.store.data["entra"].get(dev.get("_entra"))
        if entra is None:
            return
        groups = self._groups_of(entra)
        entra["_memberOf"] = sorted(g for g in groups if self.store.data["groups"][g].get("membershipRule"))
        self.store.touch("entra", entra["id"])
        profile = self._target_profile(groups)
        status = dev.get("deploymentProfileAssignmentStatus") or "notAssigned"
        if profile is None:
            dev.pop("_profile_target", None)
            if status != "notAssigned":
                self.stats["profile_unassigned"] += 1
            dev.update({"deploymentProfileAssignmentStatus": "notAssigned",
                        "deploymentProfileAssignmentDetailedStatus": "none", "deploymentProfileAssignedDateTime": None,
                        "_profile": None})
            return
        if profile["id"] == dev.get("_profile") and status.startswith("assigned"):
            return
        dev["_profile_target"] = profile["id"]
        dev["deploymentProfileAssignmentStatus"] = "pending"
        dev["deploymentProfileAssignmentDetailedStatus"] = "none"
        self._profile_schedule(dev, "assign", self.cfg.profile_assignment_delay)

    def _assign_step(self, dev):
        profile = self.store.data["profiles"].get(dev.pop("_profile_target", None) or "")
        if profile is None:  # removed meanwhile: look again
            self._profile_schedule(dev, "membership", 0)
            return
        if _needs_tpm_attestation(profile) and dev["serialNumber"].upper() in self.store.data["meta"]["tpm_less"]:
            dev.update({"deploymentProfileAssignmentStatus": "failed",
                        "deploymentProfileAssignmentDetailedStatus": "hardwareRequirementsNotMet", "_profile": None})
            self.stats["profile_failed"] += 1
            return
        dev.update({"deploymentProfileAssignmentStatus": "assignedInSync",
                    "deploymentProfileAssignmentDetailedStatus": "none",
                    "deploymentProfileAssignedDateTime": iso(), "_profile": profile["id"]})
        entra = self.store.data["entra"].get(dev.get("_entra"))
        if entra is not None:
            entra["enrollmentProfileName"] = profile["displayName"]
            self.store.touch("entra", entra["id"])
        self.stats["profile_assigned"] += 1

    # -- Graph ---------------------------------------------------------------------------------------------
    def _profile_view(self, profile, version, expand=False):
        kind = profile["_kind"]
        body = {"@odata.type": "#microsoft.graph.%s" % kind, **profile}
        out = render(version, "windowsAutopilotDeploymentProfile", body)
        if expand:
            out["assignments"] = [self._assignment_view(a, version) for a in profile.get("_assignments") or []]
        return out

    def _assignment_view(self, assignment, version):
        if entity(version, "windowsAutopilotDeploymentProfileAssignment") is None:
            return dict(assignment)
        return render(version, "windowsAutopilotDeploymentProfileAssignment", assignment)

    def _profiles(self, method, version, rest, query, body, app):
        if version != "beta":
            raise GraphFault(400, "BadRequest", "Resource not found for the segment 'windowsAutopilotDeploymentProfiles'.")
        profiles = self.store.data["profiles"]
        expand = "assignments" in (query.get("$expand") or "")
        if not rest and method == "GET":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            items = sorted(profiles.values(), key=lambda p: (p["_created"], p["id"]))
            return self._page([self._profile_view(p, version, expand) for p in items], query,
                              self.cfg.intune_page_size, version, PROFILES)
        if not rest and method == "POST":
            self._require(app, C.SVC_WRITE)
            payload = _json_body(body)
            kind = (payload.pop("@odata.type", "") or "").rsplit(".", 1)[-1]
            if kind not in KINDS:
                raise GraphFault(400, "BadRequest", "A deployment profile needs @odata.type %s." % " or ".join(
                    "#microsoft.graph.%s" % k for k in KINDS), intune=True)
            known = set(entity(version, "windowsAutopilotDeploymentProfile")["properties"])
            unknown = sorted(set(payload) - known)
            if unknown:
                raise GraphFault(400, "BadRequest", "The property '%s' does not exist on type 'microsoft.graph.%s'."
                                 % (unknown[0], kind))
            profile = self.add_profile(payload.pop("displayName", "") or "", kind=kind, **payload)
            return Reply(201, {"@odata.context": self.context(version, PROFILES, entity=True),
                               **self._profile_view(profiles[profile["id"]], version)})
        profile = profiles.get(rest[0]) if rest else None
        if profile is None:
            raise GraphFault(404, "ResourceNotFound", "Resource not found: windowsAutopilotDeploymentProfile %s"
                             % (rest[0] if rest else ""), intune=True)
        if len(rest) == 1 and method == "GET":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            return Reply(200, {"@odata.context": self.context(version, PROFILES, entity=True),
                               **self._profile_view(profile, version, expand)})
        if len(rest) == 1 and method == "DELETE":
            self._require(app, C.SVC_WRITE)
            if profile.get("_assignments"):
                raise GraphFault(400, "BadRequest", "The profile is assigned to groups; remove its assignments "
                                 "before deleting it.", intune=True)
            self.store.delete("profiles", profile["id"])
            return Reply(204)
        if rest[1:] == ["assignedDevices"] and method == "GET":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            items = sorted((d for d in self.store.data["autopilot"].values() if d.get("_profile") == profile["id"]),
                           key=lambda d: d["_registered"] + d["id"])
            return self._page([self._ap_view(d, version) for d in items], query, self.cfg.intune_page_size, version,
                              "%s('%s')/assignedDevices" % (PROFILES, profile["id"]))
        if rest[1:2] == ["assignments"]:
            return self._profile_assignments(method, version, profile, rest[2:], body, app)
        raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)

    def _profile_assignments(self, method, version, profile, rest, body, app):
        path = "%s('%s')/assignments" % (PROFILES, profile["id"])
        assignments = profile.setdefault("_assignments", [])
        if not rest and method == "GET":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            return self._page([self._assignment_view(a, version) for a in assignments], {}, 1000, version, path)
        if not rest and method == "POST":
            self._require(app, C.SVC_WRITE)
            target = _json_body(body).get("target") or {}
            if target.get("@odata.type") not in (GROUP_TARGET, ALL_DEVICES, EXCLUDE):
                raise GraphFault(400, "BadRequest", "target must be a groupAssignmentTarget, "
                                 "exclusionGroupAssignmentTarget or allDevicesAssignmentTarget.", intune=True)
            return Reply(201, {"@odata.context": self.context(version, path, entity=True),
                               **self._assignment_view(self.assign_profile(profile["id"], target), version)})
        found = next((a for a in assignments if rest and a["id"] == rest[0]), None)
        if found is None:
            raise GraphFault(404, "ResourceNotFound", "Resource not found: assignment", intune=True)
        if method == "GET":
            self._require(app, C.SVC_READ, C.SVC_WRITE)
            return Reply(200, {"@odata.context": self.context(version, path, entity=True),
                               **self._assignment_view(found, version)})
        if method == "DELETE":
            self._require(app, C.SVC_WRITE)
            assignments.remove(found)
            self.store.touch("profiles", profile["id"])
            self._membership_changed()
            return Reply(204)
        raise GraphFault(405, "BadRequest", "No OData route exists that match template", intune=True)

    # -- seeding (Graph POST and lab control) ---------------------------------------------------------------
    def add_profile(self, display_name, kind="azureADWindowsAutopilotDeploymentProfile", self_deploying=False,
                    **props):
        with self.lock:
            now = iso()
            pid = str(uuid.uuid4())
            oobe = {"hidePrivacySettings": True, "hideEULA": True, "userType": "standard",
                    "deviceUsageType": "shared" if self_deploying else "singleUser",
                    "skipKeyboardSelectionPage": True, "hideEscapeLink": True}
            profile = {"id": pid, "displayName": display_name, "description": "", "language": "os-default",
                       "locale": "os-default", "createdDateTime": now, "lastModifiedDateTime": now,
                       "deviceNameTemplate": "", "deviceType": "windowsPc", "enableWhiteGlove": False,
                       "preprovisioningAllowed": False, "extractHardwareHash": False,
                       "hardwareHashExtractionEnabled": False, "roleScopeTagIds": ["0"],
                       "outOfBoxExperienceSettings": oobe, "_kind": kind, "_created": time.time(), "_assignments": []}
            profile.update({k: v for k, v in props.items() if not k.startswith("_")})
            self.store.put("profiles", pid, profile)
            self.store.commit()
            return {"id": pid, "displayName": display_name}

    def assign_profile(self, profile_id, target):
        """Assign a profile: ``target`` is a group id, or a target object (``@odata.type`` + ``groupId``)."""
        with self.lock:
            profile = self.store.data["profiles"][profile_id]
            if isinstance(target, str):
                target = {"@odata.type": GROUP_TARGET, "groupId": target}
            gid = target.get("groupId")
            if gid is not None and gid not in self.store.data["groups"]:
                raise GraphFault(400, "BadRequest", "Group %s does not exist." % gid, intune=True)
            target = dict(target, deviceAndAppManagementAssignmentFilterId=None,
                          deviceAndAppManagementAssignmentFilterType="none")
            assignment = {"id": "%s_%s" % (profile_id, gid or "alldevices"), "target": target, "source": "direct",
                          "sourceId": profile_id}
            profile["_assignments"] = [a for a in profile["_assignments"] if a["id"] != assignment["id"]]
            profile["_assignments"].append(assignment)
            profile["lastModifiedDateTime"] = iso()
            self.store.touch("profiles", profile_id)
            self._membership_changed()
            self.store.commit()
            return assignment

    def mark_tpm_less(self, serials):
        """Devices whose TPM cannot attest (TPM 1.2 or none): self-deploying and pre-provisioning profiles fail."""
        with self.lock:
            marked = sorted(set(self.store.data["meta"]["tpm_less"]) | {s.strip().upper() for s in serials})
            self.store.put("meta", "tpm_less", marked)
            self.store.commit()

    def default_profile(self, group_tag=None, name=None):
        """The usual tenant set-up: a dynamic device group matching ``group_tag`` (or every Autopilot device) and a
        user-driven Entra-join profile assigned to it. Returns ``{"profile", "group"}``."""
        if group_tag:
            rule = '(device.devicePhysicalIds -any (_ -eq "[OrderID]:%s"))' % group_tag.replace('"', '`"')
            group_name = "Autopilot devices %s" % group_tag
        else:
            rule = '(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))'
            group_name = "All Autopilot devices"
        group = self.add_group(group_name, membership_rule=rule)
        profile = self.add_profile(name or "User-driven %s" % (group_tag or "all devices"))
        self.assign_profile(profile["id"], group["id"])
        return {"profile": profile, "group": group}

    def _control_profiles(self, method, what, payload):
        """``/_lab/groups``, ``/_lab/profiles``, ``/_lab/hardware``, ``/_lab/default-profile``; None if not ours."""
        if method != "POST":
            return None
        if what == "groups":
            return Reply(201, self.add_group(payload["displayName"], payload.get("membershipRule"),
                                             payload.get("members", ()), payload.get("description", "")))
        if what == "profiles":
            profile = self.add_profile(payload["displayName"], kind=payload.get("kind", KINDS[0]),
                                       self_deploying=bool(payload.get("selfDeploying")))
            for gid in payload.get("groupIds") or []:
                self.assign_profile(profile["id"], gid)
            if payload.get("allDevices"):
                self.assign_profile(profile["id"], {"@odata.type": ALL_DEVICES})
            return Reply(201, profile)
        if what == "hardware":
            self.mark_tpm_less(payload.get("tpmLessSerials") or [])
            return Reply(204)
        if what == "default-profile":
            return Reply(201, self.default_profile(payload.get("groupTag"), payload.get("displayName")))
        return None
