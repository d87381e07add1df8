# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft's published Graph schema for the entities the lab serves (``schema/graph-schema.json``, extracted from
microsoftgraph/msgraph-metadata by tools/graph-schema.py), per API version.

``render()`` shapes a stored record as that version's entity: every property of the version and no other, a
non-nullable property never null. ``check()`` validates a response body against the schema (the schema tests use
it on every Graph answer)."""

from __future__ import annotations

import functools
import json
import pathlib

PATH = pathlib.Path(__file__).with_name("schema") / "graph-schema.json"
ZERO_TIME = "0001-01-01T00:00:00Z"  # what Intune writes for a date it does not have, in non-nullable properties


@functools.lru_cache(maxsize=1)
def load():
    return json.loads(PATH.read_text(encoding="utf-8"))


def version_schema(version):
    return load()["versions"][version]


def entity(version, name):
    return version_schema(version)["entities"].get(name)


def action_parameters(version, action):
    return version_schema(version)["actions"][action]


def _default(version, spec):
    if spec["collection"]:
        return []
    t = spec["type"]
    vs = version_schema(version)
    if t in vs["enums"]:
        members = vs["enums"][t]["members"]
        return "unknown" if "unknown" in members else members[0]
    if t in vs["complex"]:
        return render_complex(version, t, {})
    return {"Edm.Boolean": False, "Edm.DateTimeOffset": ZERO_TIME, "Edm.String": "", "Edm.Guid":
            "00000000-0000-0000-0000-000000000000"}.get(t, 0 if t and t.startswith(("Edm.Int", "Edm.Double")) else "")


def _shape(version, props, record, keep_odata=True):
    out = {k: v for k, v in record.items() if keep_odata and k.startswith("@odata.")}
    for name, spec in props.items():
        value = record.get(name)
        if value is None and not spec["nullable"]:
            value = _default(version, spec)
        elif value is not None and spec["type"] in version_schema(version)["complex"]:
            value = ([render_complex(version, spec["type"], v) for v in value] if spec["collection"]
                     else render_complex(version, spec["type"], value))
        out[name] = value
    return out


def _derived(version, name, record):
    """The complex type a value says it is (``@odata.type`` of a type derived from ``name``, e.g. a
    groupAssignmentTarget where the property is a deviceAndAppManagementAssignmentTarget), else ``name``."""
    given = (record or {}).get("@odata.type") if isinstance(record, dict) else None
    short = given.rsplit(".", 1)[-1] if isinstance(given, str) else None
    return short if short and short in version_schema(version)["complex"] else name


def render_complex(version, name, record):
    name = _derived(version, name, record)
    return _shape(version, version_schema(version)["complex"][name]["properties"], record or {})


def render(version, name, record, select=None):
    """``record`` (the lab's stored object; keys starting with ``_`` are the lab's own) as ``version`` shows entity
    type ``name``. ``select`` limits the properties (GET /users/{id} answers its documented default set)."""
    props = entity(version, name)["properties"]
    if select is not None:
        props = {k: v for k, v in props.items() if k in select}
    return _shape(version, props, {k: v for k, v in record.items() if not k.startswith("_")})


# ---------------------------------------------------------------------------------------------------------------
# validation
_EDM = {"Edm.String": str, "Edm.Guid": str, "Edm.DateTimeOffset": str, "Edm.Binary": str, "Edm.Date": str,
        "Edm.Duration": str, "Edm.TimeOfDay": str, "Edm.Boolean": bool, "Edm.Int32": int, "Edm.Int64": int,
        "Edm.Int16": int, "Edm.Byte": int, "Edm.Double": (int, float), "Edm.Single": (int, float),
        "Edm.Decimal": (int, float)}


def _check_value(version, spec, value, where, errors):
    vs = version_schema(version)
    t = spec["type"]
    if value is None:
        if not spec["nullable"]:
            errors.append("%s: null in a non-nullable property" % where)
        return
    if spec["collection"]:
        if not isinstance(value, list):
            errors.append("%s: a collection expected, got %r" % (where, type(value).__name__))
            return
        for i, item in enumerate(value):
            _check_value(version, dict(spec, collection=False, nullable=False), item, "%s[%d]" % (where, i), errors)
        return
    if t is None:
        errors.append("%s: the lab may only send null for a property whose type the schema extract lacks" % where)
    elif t in vs["enums"]:
        enum = vs["enums"][t]
        members = set(enum["members"])
        given = value.split(",") if enum.get("flags") and isinstance(value, str) else [value]
        bad = [v for v in given if v not in members]
        if bad:
            errors.append("%s: %r is not a member of %s" % (where, value, t))
    elif t in vs["complex"]:
        if not isinstance(value, dict):
            errors.append("%s: an object of %s expected" % (where, t))
        else:
            _check_object(version, vs["complex"][_derived(version, t, value)]["properties"], value, where, errors,
                          full=True)
    elif t in _EDM:
        ok = isinstance(value, _EDM[t]) and not (t.startswith("Edm.Int") and isinstance(value, bool))
        if not ok:
            errors.append("%s: %r is not %s" % (where, value, t))
    else:
        errors.append("%s: unknown type %s" % (where, t))


def _check_object(version, props, obj, where, errors, full=True):
    for key, value in obj.items():
        if key.startswith("@odata."):
            continue
        if key not in props:
            errors.append("%s.%s: not a property in %s" % (where, key, version))
            continue
        _check_value(version, props[key], value, "%s.%s" % (where, key), errors)
    if full:
        missing = [k for k, s in props.items() if not s["nullable"] and k not in obj]
        if missing:
            errors.append("%s: non-nullable properties missing: %s" % (where, ", ".join(sorted(missing))))


def check(version, name, obj, select=None):
    """Errors of ``obj`` as a ``version`` ``name`` entity (empty list: valid). ``select``: the properties a
    projection asked for (only those are required then)."""
    props = entity(version, name)
    if props is None:
        return ["%s has no entity type %s" % (version, name)]
    props = props["properties"]
    errors = []
    if select is None:
        _check_object(version, props, obj, name, errors, full=True)
    else:
        _check_object(version, {k: v for k, v in props.items() if k in select}, obj, name, errors, full=False)
    return errors


_ROUTES = (("deviceManagement/importedWindowsAutopilotDeviceIdentities", "importedWindowsAutopilotDeviceIdentity"),
           ("deviceManagement/windowsAutopilotDeviceIdentities", "windowsAutopilotDeviceIdentity"),
           ("deviceManagement/windowsAutopilotSettings", "windowsAutopilotSettings"),
           ("deviceManagement/importedDeviceIdentities/importDeviceIdentityList", "importedDeviceIdentityResult"),
           ("deviceManagement/importedDeviceIdentities", "importedDeviceIdentity"),
           ("deviceManagement/managedDevices", "managedDevice"),
           ("deviceManagement/windowsAutopilotDeploymentProfiles", "windowsAutopilotDeploymentProfile"),
           ("groups", "group"),
           ("subscribedSkus", "subscribedSku"),
           ("devices", "device"))
# Collections under an entity (issue 16): <entity set>/{id}/<navigation> answers with these entity types.
_NAVIGATIONS = {("deviceManagement/windowsAutopilotDeploymentProfiles", "assignments"):
                "windowsAutopilotDeploymentProfileAssignment",
                ("deviceManagement/windowsAutopilotDeploymentProfiles", "assignedDevices"):
                "windowsAutopilotDeviceIdentity",
                ("groups", "members"): "device"}


def entity_of(path):
    """``(version, entity type, select)`` a Graph path answers with, or None (actions without a body, $batch)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in ("v1.0", "beta"):
        return None
    version, rest = parts[0], "/".join(parts[1:])
    if parts[1] == "users":
        if len(parts) == 3:
            return version, "user", load()["user_default_properties"]
        if len(parts) == 4 and parts[3] == "licenseDetails":
            return version, "licenseDetails", None
        return None
    for prefix, name in _ROUTES:
        if rest == prefix or rest.startswith(prefix + "/") or (prefix == "devices" and rest.startswith("devices(")):
            tail = rest[len(prefix):].strip("/").split("/")
            if len(tail) in (2, 3) and (prefix, tail[1]) in _NAVIGATIONS and tail[-1] != "$ref":
                return version, _NAVIGATIONS[(prefix, tail[1])], None
            if len(tail) >= 2 and tail[-1] not in ("import",):  # a bound action: 204 without a body
                return None
            return version, name, None
    return None


def check_reply(path, status, body, query=None):
    """Schema errors of one Graph answer (an error body or a body-less answer has none); ``query`` is the request's
    (a ``$select`` projection answers only what it asked)."""
    target = entity_of(path)
    if target is None or not isinstance(body, dict) or "error" in body or status >= 400:
        return []
    version, name, select = target
    asked = [p.strip() for p in ((query or {}).get("$select") or "").split(",") if p.strip()]
    select = asked or select
    items = body["value"] if isinstance(body.get("value"), list) else [body]
    errors = []
    for item in items:
        errors += ["%s %s: %s" % (version, path, e) for e in check(version, name, item, select)]
    return errors
