#!/usr/bin/env python3
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerate the Graph lab's schema (lab/winfleet_lab/graph/schema/graph-schema.json) from Microsoft's CSDL.

The source is microsoftgraph/msgraph-metadata: ``schemas/v1.0-Prod.csdl`` and ``schemas/beta-Prod.csdl`` (the
published $metadata of each API version), plus ``schemas/type-mappings/beta-*.json`` (generated from the same CSDL by
that repository's scripts/generate-type-mappings.ps1). For each version the tool writes the structural properties of
every entity type the lab serves (base types flattened: name, EDM type, collection, nullable), the complex types and
enum types those properties reach, and the parameters of the bound actions the lab serves.

    python tools/graph-schema.py --mirror <git dir of msgraph-metadata>       # reads HEAD with git show
    python tools/graph-schema.py --v1 v1.0-Prod.csdl --beta beta-Prod.csdl --mappings type-mappings/

When the full beta CSDL is missing (it is 8 MB; some mirrors leave it out) the tool reads the excerpt next to the JSON
(``beta-excerpt.csdl``: the served beta EntityType elements, verbatim) and takes what the excerpt lacks in this order:
the beta type-mappings (property names, enum members) and the v1.0 CSDL (the EDM type of a property both versions
have). Each type in the output says where it came from (``source``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{http://docs.oasis-open.org/odata/ns/edm}"
HERE = pathlib.Path(__file__).resolve().parent.parent / "lab" / "winfleet_lab" / "graph" / "schema"
OUT = HERE / "graph-schema.json"
EXCERPT = HERE / "beta-excerpt.csdl"

# The entity types the lab serves, and the bound actions (binding type, action name).
ENTITIES = ["windowsAutopilotDeviceIdentity", "importedWindowsAutopilotDeviceIdentity", "windowsAutopilotSettings",
            "managedDevice", "device", "user", "licenseDetails", "importedDeviceIdentity", "importedDeviceIdentityResult"]
# The tenant's subscriptions: the licence check names SKUs and service plans through them.
ENTITIES += ["subscribedSku"]
# Deployment profiles, their assignments and Entra groups (issue 16).
ENTITIES += ["group", "windowsAutopilotDeploymentProfile", "windowsAutopilotDeploymentProfileAssignment"]
# Complex types no property names but values carry (@odata.type): the profile assignment targets (issue 16).
DERIVED = ["groupAssignmentTarget", "allDevicesAssignmentTarget", "exclusionGroupAssignmentTarget"]
ACTIONS = [("windowsAutopilotDeviceIdentity", "updateDeviceProperties"),
           ("windowsAutopilotDeviceIdentity", "assignUserToDevice"),
           ("windowsAutopilotDeviceIdentity", "unassignUserFromDevice"),
           ("importedWindowsAutopilotDeviceIdentity", "import"),
           ("importedDeviceIdentity", "importDeviceIdentityList"),
           ("importedDeviceIdentity", "searchExistingIdentities")]
# Not in v1.0 at all: the lab answers these only under /beta (windowsAutopilotSettings has no v1.0 resource).
BETA_ONLY = {"windowsAutopilotSettings", "importedDeviceIdentity", "importedDeviceIdentityResult"}
# v1.0 has the profile entity types but no entity set that serves them (deviceManagement has no
# windowsAutopilotDeploymentProfiles, the device no deploymentProfileAssignmentStatus): beta only (issue 16).
BETA_ONLY |= {"windowsAutopilotDeploymentProfile", "windowsAutopilotDeploymentProfileAssignment"}
# Types of beta-only properties as the beta API reference documents them (learn.microsoft.com/graph/api/resources/
# intune-enrollment-windowsautopilotdeploymentprofile, -windowsautopilotdeploymentprofileassignment,
# intune-enrollment-outofboxexperiencesettings, intune-enrollment-windowsenrollmentstatusscreensettings ?view=
# graph-rest-beta), used only when the beta CSDL is not at hand: (type, collection, nullable).
BETA_TYPES_DOC = {
    ("windowsAutopilotDeploymentProfile", "enableWhiteGlove"): ("Edm.Boolean", False, False),
    ("windowsAutopilotDeploymentProfile", "extractHardwareHash"): ("Edm.Boolean", False, False),
    ("windowsAutopilotDeploymentProfile", "language"): ("Edm.String", False, True),
    ("windowsAutopilotDeploymentProfile", "outOfBoxExperienceSettings"): ("outOfBoxExperienceSettings", False, True),
    ("windowsAutopilotDeploymentProfile", "enrollmentStatusScreenSettings"):
        ("windowsEnrollmentStatusScreenSettings", False, True),
    ("windowsAutopilotDeploymentProfileAssignment", "target"): ("deviceAndAppManagementAssignmentTarget", False, True),
    ("windowsAutopilotDeploymentProfileAssignment", "source"): ("deviceAndAppManagementAssignmentSource", False, False),
    ("windowsAutopilotDeploymentProfileAssignment", "sourceId"): ("Edm.String", False, True),
    ("outOfBoxExperienceSettings", "hidePrivacySettings"): ("Edm.Boolean", False, False),
    ("outOfBoxExperienceSettings", "hideEULA"): ("Edm.Boolean", False, False),
    ("outOfBoxExperienceSettings", "userType"): ("windowsUserType", False, False),
    ("outOfBoxExperienceSettings", "deviceUsageType"): ("windowsDeviceUsageType", False, False),
    ("outOfBoxExperienceSettings", "skipKeyboardSelectionPage"): ("Edm.Boolean", False, False),
    ("outOfBoxExperienceSettings", "hideEscapeLink"): ("Edm.Boolean", False, False),
    ("windowsEnrollmentStatusScreenSettings", "hideInstallationProgress"): ("Edm.Boolean", False, False),
    ("windowsEnrollmentStatusScreenSettings", "allowDeviceUseBeforeProfileAndAppInstallComplete"):
        ("Edm.Boolean", False, False),
    ("windowsEnrollmentStatusScreenSettings", "blockDeviceSetupRetryByUser"): ("Edm.Boolean", False, False),
    ("windowsEnrollmentStatusScreenSettings", "allowLogCollectionOnInstallFailure"): ("Edm.Boolean", False, False),
    ("windowsEnrollmentStatusScreenSettings", "customErrorMessage"): ("Edm.String", False, True),
    ("windowsEnrollmentStatusScreenSettings", "installProgressTimeoutInMinutes"): ("Edm.Int32", False, False),
    ("windowsEnrollmentStatusScreenSettings", "allowDeviceUseOnInstallFailure"): ("Edm.Boolean", False, False),
    # deviceAndAppManagementAssignmentTarget (beta) and the targets derived from it
    ("*", "deviceAndAppManagementAssignmentFilterId"): ("Edm.String", False, True),
    ("*", "deviceAndAppManagementAssignmentFilterType"): ("deviceAndAppManagementAssignmentFilterType", False, False),
}


def _doc_types(type_name, props):
    """Fill in the types the fallback could not find, from BETA_TYPES_DOC."""
    for prop, spec in props.items():
        doc = BETA_TYPES_DOC.get((type_name, prop)) or BETA_TYPES_DOC.get(("*", prop))
        if spec.get("type") is None and doc is not None:
            props[prop] = {"type": doc[0], "collection": doc[1], "nullable": doc[2]}
    return props
# Beta action parameters as the beta API reference documents them (learn.microsoft.com/graph/api/
# intune-enrollment-windowsautopilotdeviceidentity-updatedeviceproperties?view=graph-rest-beta ...), used only when the
# beta CSDL is not at hand.
BETA_ACTIONS_DOC = {
    "updateDeviceProperties": ["userPrincipalName", "addressableUserName", "groupTag", "displayName",
                               "deviceAccountUpn", "deviceAccountPassword", "deviceFriendlyName"],
    "assignUserToDevice": ["userPrincipalName", "addressableUserName"],
    "unassignUserFromDevice": [],
    "import": ["importedWindowsAutopilotDeviceIdentities"],
    # intune-enrollment-importeddeviceidentity-importdeviceidentitylist / -searchexistingidentities (beta)
    "importDeviceIdentityList": ["importedDeviceIdentities", "overwriteImportedDeviceIdentities"],
    "searchExistingIdentities": ["importedDeviceIdentities"],
}
# GET /users/{id} returns only these unless $select asks for more (learn.microsoft.com/graph/api/user-get, both
# versions: "By default, only a limited set of properties are returned").
USER_DEFAULT = ["businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName"]


def _short(type_name):
    coll = type_name.startswith("Collection(")
    inner = type_name[len("Collection("):-1] if coll else type_name
    for prefix in ("graph.", "microsoft.graph."):
        if inner.startswith(prefix):
            inner = inner[len(prefix):]
    return inner, coll


class Csdl:
    def __init__(self, text):
        root = ET.fromstring(text)  # noqa: S314 - Microsoft's published CSDL or the vendored excerpt
        self.types, self.actions = {}, {}
        for schema in root.iter(NS + "Schema"):
            if schema.get("Namespace") != "microsoft.graph":
                continue
            for el in schema:
                tag = el.tag[len(NS):]
                if tag in ("EntityType", "ComplexType", "EnumType"):
                    self.types[el.get("Name")] = (tag, el)
                elif tag == "Action" and el.get("IsBound") == "true":
                    params = el.findall(NS + "Parameter")
                    binding = _short(params[0].get("Type"))[0] if params else None
                    self.actions[(binding, el.get("Name"))] = [p.get("Name") for p in params[1:]]

    def properties(self, name, base_source=None):
        """Structural properties of ``name`` with its base types flattened (a base type this CSDL lacks is read from
        ``base_source``), or None if the type is absent."""
        if name not in self.types:
            return None
        el = self.types[name][1]
        out = {}
        base = el.get("BaseType")
        if base:
            parent = self.properties(_short(base)[0], base_source)
            if parent is None and base_source is not None:
                parent = base_source.properties(_short(base)[0])
            if parent is None:
                return None
            out.update(parent)
        for p in el.findall(NS + "Property"):
            inner, coll = _short(p.get("Type"))
            out[p.get("Name")] = {"type": inner, "collection": coll, "nullable": p.get("Nullable") != "false"}
        return out

    def enum(self, name):
        if name not in self.types or self.types[name][0] != "EnumType":
            return None
        el = self.types[name][1]
        return {"members": [m.get("Name") for m in el.findall(NS + "Member")], "flags": el.get("IsFlags") == "true"}

    def kind(self, name):
        return self.types[name][0] if name in self.types else None


def extract(version, csdl, fallback=None, mappings=None):
    """The schema of one version. ``fallback`` (the v1.0 Csdl) and ``mappings`` (beta type-mappings) fill what a
    partial ``csdl`` lacks."""
    out = {"entities": {}, "complex": {}, "enums": {}, "actions": {}}
    todo = []

    def named(kind_key, name):
        return (mappings or {}).get(kind_key, {}).get("microsoft.graph", {}).get(name)

    for name in ENTITIES:
        if version == "v1.0" and name in BETA_ONLY:
            continue
        props, source = csdl.properties(name, fallback), "csdl"
        if props is None and fallback is not None:
            names = named("entity", name)
            base = fallback.properties(name) or {}
            if names is None:
                raise SystemExit("%s: entity type %s is in neither the CSDL nor the type-mappings" % (version, name))
            props = {"id": {"type": "Edm.String", "collection": False, "nullable": False}}
            props.update({p: base.get(p, {"type": None, "collection": False, "nullable": True})
                          for p in names["properties"]})
            _doc_types(name, props)
            if name in ("user", "device", "group"):
                props["deletedDateTime"] = {"type": "Edm.DateTimeOffset", "collection": False, "nullable": True}
            source = "type-mappings (names) + v1.0 CSDL (types)"
        if props is None:
            raise SystemExit("%s: entity type %s not found" % (version, name))
        out["entities"][name] = {"source": source, "properties": props}
        todo += [p["type"] for p in props.values() if p["type"] and not p["type"].startswith("Edm.")]
    if "windowsAutopilotDeploymentProfileAssignment" in out["entities"]:
        todo += DERIVED
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        kind = csdl.kind(name)
        if kind == "EnumType":
            out["enums"][name] = dict(csdl.enum(name), source="csdl")
        elif kind == "ComplexType":
            props = csdl.properties(name)
            out["complex"][name] = {"source": "csdl", "properties": props}
            todo += [p["type"] for p in props.values() if p["type"] and not p["type"].startswith("Edm.")]
        elif named("enum", name) is not None:
            out["enums"][name] = {"members": sorted(named("enum", name)), "flags": False, "source": "type-mappings"}
        elif named("complex", name) is not None and fallback is not None:
            base = fallback.properties(name) or {}
            names = list(named("complex", name)["properties"])
            if name in DERIVED:  # the type-mappings list a derived type's own properties; the base's come too
                inherited = (named("complex", "deviceAndAppManagementAssignmentTarget") or {}).get("properties", [])
                names += [p for p in list(base) + list(inherited) if p not in names]
            props = _doc_types(name, {p: base.get(p, {"type": None, "collection": False, "nullable": True})
                                      for p in names})
            out["complex"][name] = {"source": "type-mappings (names) + v1.0 CSDL (types)", "properties": props}
            todo += [p["type"] for p in props.values() if p["type"] and not p["type"].startswith("Edm.")]
        else:
            raise SystemExit("%s: type %s not found" % (version, name))
    for binding, action in ACTIONS:
        if version == "v1.0" and binding in BETA_ONLY:
            continue
        params = csdl.actions.get((binding, action))
        if params is None:
            params = csdl.actions.get(("Collection(%s)" % binding, action))
        if params is None and fallback is not None:
            params = BETA_ACTIONS_DOC[action]
        if params is None:
            raise SystemExit("%s: action %s.%s not found" % (version, binding, action))
        out["actions"][action] = params
    return out


def _git_show(mirror, path):
    try:
        return subprocess.run(["git", "--git-dir", str(mirror), "show", "HEAD:" + path], capture_output=True,
                              check=True).stdout.decode("utf-8")
    except subprocess.CalledProcessError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", help="git directory of microsoftgraph/msgraph-metadata (read at HEAD)")
    ap.add_argument("--v1", help="schemas/v1.0-Prod.csdl")
    ap.add_argument("--beta", help="schemas/beta-Prod.csdl (default: the vendored excerpt)")
    ap.add_argument("--mappings", help="schemas/type-mappings directory (beta-*.json)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    commit = None
    if args.mirror:
        v1_text = _git_show(args.mirror, "schemas/v1.0-Prod.csdl")
        beta_text = _git_show(args.mirror, "schemas/beta-Prod.csdl")
        mappings = {k: json.loads(_git_show(args.mirror, "schemas/type-mappings/beta-%s-types.json" % k) or "{}")
                    for k in ("entity", "complex", "enum")}
        commit = subprocess.run(["git", "--git-dir", args.mirror, "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    else:
        v1_text = pathlib.Path(args.v1).read_text(encoding="utf-8") if args.v1 else None
        beta_text = pathlib.Path(args.beta).read_text(encoding="utf-8") if args.beta else None
        mappings = {}
        if args.mappings:
            for k in ("entity", "complex", "enum"):
                mappings[k] = json.loads((pathlib.Path(args.mappings) / ("beta-%s-types.json" % k)).read_text())
    if not v1_text:
        ap.error("the v1.0 CSDL is required (--mirror or --v1)")
    v1 = Csdl(v1_text)
    full_beta = bool(beta_text)
    beta = Csdl(beta_text if full_beta else EXCERPT.read_text(encoding="utf-8"))
    doc = {
        "generated_by": "tools/graph-schema.py",
        "source": {"repository": "microsoftgraph/msgraph-metadata", "commit": commit,
                   "v1.0": "schemas/v1.0-Prod.csdl",
                   "beta": "schemas/beta-Prod.csdl" if full_beta else
                   "lab/winfleet_lab/graph/schema/beta-excerpt.csdl + schemas/type-mappings/beta-*.json"},
        "user_default_properties": USER_DEFAULT,
        "versions": {"v1.0": extract("v1.0", v1),
                     "beta": extract("beta", beta, None if full_beta else v1, None if full_beta else mappings)},
    }
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    counts = {v: {k: len(doc["versions"][v][k]) for k in ("entities", "complex", "enums")} for v in doc["versions"]}
    print("wrote %s %s" % (args.out, json.dumps(counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
