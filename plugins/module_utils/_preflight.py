# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Pre-flight: what a campaign needs, checked before it touches anything (``preflight_info``, playbooks/preflight.yml).

Every check gives *findings*: ``{severity: error | warning, check, message, fix}``. An error stops the campaign
before it starts (the playbook exits non-zero for CI); a warning is worth reading.

* **Token and permissions.** The app's application permissions are the ``roles`` claim of its access token (the JWT
  payload, read without checking the signature: Graph checks it, here it only says what Entra granted - roles appear
  after admin consent). ``needed(...)`` lists the least permissions each enabled stage needs, as
  docs/getting-started.md section 2 documents them; a permission that a held one includes (``X.ReadWrite.All``
  includes ``X.Read.All``; ``Directory.Read.All`` includes the directory reads) counts as held.
* **Deployment profiles.** ``profile_findings``: for each group tag of the fleet, the profile that reaches a device
  carrying it (the tenant's profiles, their assignments and the assigned groups' rules, evaluated by ``_profiles``)
  - or the cause, "no deployment profile targets group tag Sales", and what to do.
* **Licences.** ``licence_findings``: each required SKU or service plan exists among the tenant's ``subscribedSkus``
  (enabled, with free units).
* **Group and names.** The fleet's static group resolves (``_group_members.resolve``); the name template follows the
  documented rules (``_names``).
* **WinRM, AD DS, ConfigMgr.** ``combine`` turns the results of the existing modules the playbook runs
  (``fleet_hardware_hash_info`` on a sample of hosts, ``ad_computer_info``, ``configmgr_device_info``) into findings,
  and puts every finding in one list, errors first.
"""

from __future__ import annotations

import base64
import json

from ansible_collections.winfleet.autopilot.plugins.module_utils import _group_members, _names, _profiles
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import (
    DEV_READ,
    DEV_WRITE,
    GROUP_READ,
    LIC_READ,
    MD_READ,
    MD_WRITE,
    MEMBER_WRITE,
    SVC_READ,
    SVC_WRITE,
    USER_READ,
    GraphAuthError,
    GraphError,
    GraphPermissionError,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._licence import KNOWN_PLANS

# A held permission includes these (Microsoft's permission reference: a ReadWrite permission is a superset of its
# Read one; Directory.Read.All reads users, groups, devices and the organization).
INCLUDES = {
    SVC_WRITE: {SVC_READ},
    MD_WRITE: {MD_READ},
    DEV_WRITE: {DEV_READ},
    "User.ReadWrite.All": {USER_READ},
    "Group.ReadWrite.All": {GROUP_READ, MEMBER_WRITE, "GroupMember.Read.All"},
    MEMBER_WRITE: {"GroupMember.Read.All"},
    GROUP_READ: {"GroupMember.Read.All"},
    "Directory.Read.All": {USER_READ, GROUP_READ, "GroupMember.Read.All", DEV_READ, "Organization.Read.All"},
    "Directory.ReadWrite.All": {"Directory.Read.All", USER_READ, GROUP_READ, "GroupMember.Read.All", DEV_READ,
                                "Organization.Read.All", MEMBER_WRITE},
}
STAGES = ("register", "deliver", "cleanup")


def finding(severity, check, message, fix=""):
    return {"severity": severity, "check": check, "message": message, "fix": fix}


# ---------------------------------------------------------------------------------------------------------------
# The token
def token_claims(token):
    """The payload of a JWT access token (no signature check: only to read what Entra granted)."""
    try:
        payload = str(token).split(".")[1]
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(data.decode("utf-8"))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def granted(roles):
    """Every permission the ``roles`` hold, the ones they include added (case as Microsoft writes them)."""
    out = set()
    todo = [str(r) for r in roles or []]
    while todo:
        role = todo.pop()
        if role in out:
            continue
        out.add(role)
        todo.extend(INCLUDES.get(role, ()))
    return out


def needed(stages=("register", "deliver"), cleanup_dry_run=False, assigned_users=False, required_licences=None,
           group=False):
    """The least permissions of the enabled stages: ``[{"any": [permission, ...], "for", "stage", "severity"}]``
    (any one of ``any`` will do). ``error`` when the stage fails without it, ``warning`` when it only says less."""
    out = []

    def need(perms, why, stage, severity="error"):
        out.append({"any": list(perms) if isinstance(perms, (list, tuple)) else [perms], "for": why, "stage": stage,
                    "severity": severity})

    stages = [s for s in stages or () if s in STAGES]
    if "register" in stages:
        need(SVC_WRITE, "importing the devices (importedWindowsAutopilotDeviceIdentities/import)", "register")
    if "deliver" in stages:
        need(SVC_WRITE, "setting group tag, user and computer name (updateDeviceProperties)", "deliver")
        need(GROUP_READ, "saying why no deployment profile reaches a device (the groups profiles are assigned to)",
             "deliver", "warning")
        if assigned_users and required_licences:
            need(USER_READ, "checking the assigned users' licences", "deliver")
        if required_licences:
            need([LIC_READ, "Organization.Read.All", "Directory.Read.All"], "naming the tenant's SKUs and service "
                 "plans (subscribedSkus)", "deliver", "warning")
        if group:
            need(MEMBER_WRITE, "adding the devices to the fleet's group (groups/{id}/members/$ref)", "deliver")
            need(DEV_WRITE, "adding devices as group members (Graph's 'Add members' page asks Device.ReadWrite.All "
                 "for device members) and finding their Entra objects", "deliver")
    if "cleanup" in stages:
        if cleanup_dry_run:
            need(SVC_READ, "reading the Autopilot records to clean", "cleanup")
            need(MD_READ, "reading the Intune managed devices to clean", "cleanup")
            need(DEV_READ, "reading the Entra device objects to clean", "cleanup")
        else:
            need(SVC_WRITE, "unassigning users and deleting Autopilot records", "cleanup")
            need(MD_WRITE, "deleting stale Intune managed devices", "cleanup")
            need(DEV_WRITE, "deleting stale Entra device objects", "cleanup")
    return out


def permission_findings(roles, needs):
    """``(findings, table)``: a finding per missing permission (merged over stages), and the table of every need
    with ``held``."""
    have = granted(roles)
    table, missing = [], {}
    for n in needs:
        held = any(p in have for p in n["any"])
        table.append(dict(n, held=held))
        if not held:
            entry = missing.setdefault(n["any"][0], {"stages": [], "for": [], "severity": "warning", "any": n["any"]})
            if n["stage"] not in entry["stages"]:
                entry["stages"].append(n["stage"])
            entry["for"].append(n["for"])
            if n["severity"] == "error":
                entry["severity"] = "error"
    findings = []
    for perm, entry in missing.items():
        other = " (or %s)" % " or ".join(entry["any"][1:]) if len(entry["any"]) > 1 else ""
        findings.append(finding(
            entry["severity"], "permissions",
            "the app lacks the application permission %s%s, needed by the %s stage for %s" % (
                perm, other, " and ".join(entry["stages"]), "; ".join(dict.fromkeys(entry["for"]))),
            "Entra admin center > App registrations > the app > API permissions > Add a permission > Microsoft "
            "Graph > Application permissions > %s, then Grant admin consent" % perm))
    return findings, table


# ---------------------------------------------------------------------------------------------------------------
# Deployment profiles
def profile_findings(targets, group_tags):
    """``(findings, reach)``: for each group tag, the profile that reaches a device carrying it, or the cause."""
    findings, reach = [], []
    for tag in dict.fromkeys(str(t or "") for t in group_tags):
        dev = {"id": "00000000-0000-0000-0000-000000000000", "group_tag": tag, "azure_ad_device_id": "",
               "serial_number": ""}
        profile, words = _profiles.explain(dev, targets)
        reach.append({"group_tag": tag, "profile": profile, "words": words})
        if profile:
            continue
        if targets.get("error"):
            findings.append(finding("warning", "profiles", "cannot tell whether a deployment profile reaches group "
                                    "tag %s: %s" % (tag or "(none)", targets["error"]),
                                    "grant the app Group.Read.All so pre-flight and the deliver stage can read the "
                                    "groups the profiles are assigned to"))
            continue
        rule = '(device.devicePhysicalIds -any (_ -eq "[OrderID]:%s"))' % tag if tag else \
            '(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))'
        head, _sep, reached = words.partition("; profiles reach: ")
        findings.append(finding(
            "error", "profiles", "%s: its devices would register but boot into the ordinary Windows setup, not "
            "Autopilot" % head,
            "assign a deployment profile (Intune admin center > Devices > Windows > Enrollment > Deployment profiles) "
            "to a dynamic device group with the rule %s, or give the fleet a group tag a profile reaches%s" % (
                rule, " (profiles now reach: %s)" % reached if reached else "")))
    return findings, reach


def name_findings(profiles, reach):
    """Warnings when the profiles that reach the fleet would not apply its computer names: a hybrid join profile
    (the domain join configuration names the computer) or a profile with its own device name template, which comes
    first on the device (shared reference autopilot-lifecycle.md section 2)."""
    by_name = {p.get("displayName"): p for p in profiles or []}
    out = []
    for name in dict.fromkeys(r["profile"] for r in reach if r.get("profile")):
        profile = by_name.get(name) or {}
        kind = str(profile.get("@odata.type") or "").rsplit(".", 1)[-1]
        if kind == "activeDirectoryWindowsAutopilotDeploymentProfile":
            out.append(finding("warning", "computer names", "profile '%s' is a hybrid join profile: the computer "
                               "name set through Autopilot is not applied (the domain join configuration names the "
                               "computer)" % name, "name hybrid joined devices in the Intune domain join profile, or "
                               "leave fleet_computer_name empty"))
        elif profile.get("deviceNameTemplate"):
            out.append(finding("warning", "computer names", "profile '%s' applies its own device name template %s, "
                               "which comes before fleet_computer_name" % (name, profile["deviceNameTemplate"]),
                               "clear the profile's 'Apply device name template', or leave fleet_computer_name empty"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Licences
def read_skus(client):
    """The tenant's ``subscribedSkus`` (v1.0), or None when the app may not read them."""
    try:
        return list(client.paged("%s/v1.0/subscribedSkus" % client.graph_url))
    except GraphPermissionError:
        return None


def licence_findings(skus, required):
    """``(findings, table)``: each required SKU part number, SKU id, service plan name or id against the tenant's
    subscriptions."""
    findings, table = [], []
    if not required:
        return findings, table
    if skus is None:
        findings.append(finding("warning", "licences", "the tenant's subscriptions (subscribedSkus) cannot be read, so "
                                "pre-flight cannot tell whether %s exist in the tenant" % ", ".join(required),
                                "grant the app LicenseAssignment.Read.All"))
        return findings, table
    for req in required:
        r = str(req).lower()
        hits = []
        for sku in skus:
            plans = {(p.get("servicePlanName") or "").lower(): p for p in sku.get("servicePlans") or []}
            plan_ids = {(p.get("servicePlanId") or "").lower() for p in sku.get("servicePlans") or []}
            if r in (str(sku.get("skuPartNumber") or "").lower(), str(sku.get("skuId") or "").lower()) \
                    or r in plans or r in plan_ids or KNOWN_PLANS.get(r) in plan_ids:
                hits.append(sku)
        enabled = [s for s in hits if (s.get("capabilityStatus") or "Enabled") == "Enabled"]
        free = sum(max(0, int((s.get("prepaidUnits") or {}).get("enabled") or 0) - int(s.get("consumedUnits") or 0))
                   for s in enabled)
        table.append({"licence": req, "skus": sorted(str(s.get("skuPartNumber") or s.get("skuId")) for s in hits),
                      "enabled": bool(enabled), "free_units": free})
        if not hits:
            findings.append(finding("error", "licences", "no subscription of the tenant has %s: the assigned users "
                                    "cannot get it, and their devices would end 'Licence missing'" % req,
                                    "buy a subscription that includes %s (or correct deliver_required_licences)" % req))
        elif not enabled:
            findings.append(finding("error", "licences", "the subscriptions with %s (%s) are not enabled (%s)" % (
                req, ", ".join(table[-1]["skus"]), ", ".join(sorted({str(s.get("capabilityStatus")) for s in hits}))),
                "renew or re-enable the subscription in the Microsoft 365 admin center > Billing"))
        elif free == 0:
            findings.append(finding("warning", "licences", "every unit of the subscriptions with %s (%s) is assigned"
                                    % (req, ", ".join(table[-1]["skus"])),
                                    "buy more units, or free some, before assigning the fleet's users"))
    return findings, table


# ---------------------------------------------------------------------------------------------------------------
# The tenant, in one call
def check_tenant(client, stages=("register", "deliver"), cleanup_dry_run=False, group_tags=(), required_licences=None,
                 assigned_users=False, group=None, computer_name=None, computer_names=None):
    """Everything pre-flight checks in Graph: ``{findings, roles, permissions, profiles, licences, group,
    app}``. Nothing is changed."""
    out = {"findings": [], "roles": [], "permissions": [], "profiles": [], "licences": [], "group": None,
           "app": None}
    stages = list(stages or ())
    for problem in _names.check_options(computer_name, computer_names):
        out["findings"].append(finding("error", "computer names", problem,
                                       "fix fleet_computer_name: at most 15 characters, letters, digits and hyphens, "
                                       "%SERIAL% or %RAND:x%"))
    try:
        token = client.token()
    except GraphAuthError as exc:
        out["findings"].append(finding("error", "token", "no access token: %s" % exc.msg,
                                       "check fleet_graph: tenant_id, client_id and the client secret or certificate "
                                       "of the app registration (Entra admin center > App registrations)"))
        return out
    except GraphError as exc:
        out["findings"].append(finding("error", "token", "the token service cannot be reached: %s" % exc.msg,
                                       "check fleet_graph's authority_url, the proxy and the firewall"))
        return out
    claims = token_claims(token) or {}
    out["app"] = {"app_id": claims.get("appid") or claims.get("azp"), "tenant_id": claims.get("tid"),
                  "expires": claims.get("exp")}
    out["roles"] = sorted(str(r) for r in claims.get("roles") or [])
    if not out["roles"]:
        out["findings"].append(finding("error", "permissions", "the app's access token carries no application "
                                       "permission (no roles claim)",
                                       "add the application permissions the stages need (docs/getting-started.md, "
                                       "section 2) and Grant admin consent"))
    needs = needed(stages, cleanup_dry_run, assigned_users, required_licences, bool(group))
    found, out["permissions"] = permission_findings(out["roles"], needs)
    out["findings"].extend(found)
    have = granted(out["roles"])
    if "deliver" in stages:
        if SVC_READ in have:
            try:
                targets = _profiles.read_targets(client)
            except GraphError as exc:
                out["findings"].append(finding("error", "profiles", "the deployment profiles cannot be read: %s"
                                               % exc.msg, "check the app's DeviceManagementServiceConfig permission "
                                               "and that the tenant has an Intune licence"))
            else:
                found, out["profiles"] = profile_findings(targets, list(group_tags) or [""])
                out["findings"].extend(found)
                if computer_name or computer_names:
                    try:
                        out["findings"].extend(name_findings(list(client.paged(_profiles.PROFILES)),
                                                             out["profiles"]))
                    except GraphError:
                        pass  # the profiles were readable a moment ago; their names' check is a nicety
        if required_licences:
            found, out["licences"] = licence_findings(read_skus(client), list(required_licences))
            out["findings"].extend(found)
        if group:
            try:
                out["group"] = _group_members.resolve(client, group)
            except _group_members.GroupError as exc:
                out["findings"].append(finding("error", "group", exc.msg, "create the group (assigned membership) "
                                               "or correct fleet_group"))
            except GraphPermissionError as exc:
                out["findings"].append(finding("error", "group", "the fleet's group %s cannot be read: %s" % (
                    group, exc.msg), "grant the app GroupMember.ReadWrite.All"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The other services: the results of the existing modules, as findings
def sample(hosts, size):
    """``size`` hosts spread evenly over ``hosts`` (in their order): the first, then every n-th."""
    hosts = list(hosts or [])
    size = max(0, int(size or 0))
    if size >= len(hosts):
        return hosts
    if size == 0:
        return []
    step = len(hosts) / float(size)
    return [hosts[int(i * step)] for i in range(size)]


def _result_msg(result):
    return str((result or {}).get("msg") or "failed").split("\n", maxsplit=1)[0]


def _failed(result, *keys):
    """Whether a registered result is a failure: ``failed``, or (``failed_when: false`` keeps only the message) a
    message without any of the ``keys`` a success returns."""
    if not isinstance(result, dict) or result.get("skipped"):
        return False
    if result.get("failed") or "failed_when_suppressed_exception" in result:
        return True
    return bool(result.get("msg")) and not any(k in result for k in keys)


def winrm_findings(result, max_unreadable_percentage=100):
    """Findings of ``fleet_hardware_hash_info`` on the sample. Every sampled host unreadable, or more of them than
    the campaign would accept, is an error (wrong credentials or a network problem); a few PCs off is a warning."""
    if not isinstance(result, dict) or result.get("skipped"):
        return []
    devices = result.get("devices") or []
    unreadable = result.get("unreadable") or []
    if _failed(result, "devices", "unreadable", "summary") and not devices and not unreadable:
        return [finding("error", "winrm", "the sample of hosts could not be read: %s" % _result_msg(result),
                        "check the fleet's WinRM settings (group_vars/fleet/winrm.yml) and that pywinrm is installed")]
    total = int((result.get("summary") or {}).get("hosts") or 0) or len(devices) or len(unreadable)
    if not total:
        return []
    bad = list(unreadable)  # "<host>: <words> - <message>" per unreadable host
    out = []
    share = 100.0 * len(bad) / total
    if bad and (len(bad) == total or share > float(max_unreadable_percentage)):
        out.append(finding("error", "winrm", "%d of %d sampled hosts cannot be read: %s" % (
            len(bad), total, "; ".join(_unreadable_text(u) for u in bad[:3])),
            "check the WinRM listener (HTTPS 5986), the firewall, the collect account's password and its "
            "administrator rights (docs/getting-started.md sections 4 and 5)"))
    else:
        for u in bad:
            out.append(finding("warning", "winrm", "sampled host %s" % _unreadable_text(u),
                               "switch it on, or fix its WinRM set-up; the campaign reads it again on the next run"))
    return out


def _unreadable_text(item):
    if isinstance(item, dict):
        return "%s: %s" % (item.get("host") or item.get("name") or "?", item.get("msg") or item.get("error") or "")
    return str(item)


def service_findings(result, check, what, fix):
    """A finding when the read-only look-up (``ad_computer_info``, ``configmgr_device_info``) failed."""
    if not _failed(result, "computers", "devices", "records"):
        return []
    return [finding("error", check, "%s: %s" % (what, _result_msg(result)), fix)]


ORDER = {"error": 0, "warning": 1}


def combine(tenant=None, winrm=None, ad=None, configmgr=None, max_unreadable_percentage=100, cleanup=False,
            ldap_configured=True, configmgr_configured=True):
    """Every finding in one list, errors first: the tenant's (``preflight_info``), then WinRM, AD DS, ConfigMgr."""
    out = list((tenant or {}).get("findings") or [])
    if isinstance(tenant, dict) and not tenant.get("findings") and _failed(tenant, "findings"):
        out.append(finding("error", "graph", "the tenant could not be checked: %s" % _result_msg(tenant),
                           "check fleet_graph (docs/getting-started.md section 2)"))
    out += winrm_findings(winrm, max_unreadable_percentage)
    if cleanup and not ldap_configured:
        out.append(finding("warning", "ad", "clean-up is on but no AD DS connection is set (fleet_ldap): stale AD "
                           "computer objects of hybrid-joined devices stay, and Entra Connect syncs them back",
                           "set fleet_ldap (docs/ad.md)"))
    out += service_findings(ad, "ad", "AD DS cannot be searched with the fleet's LDAP settings",
                            "check fleet_ldap: server, port, CA, bind account and password, and fleet_ad_base "
                            "(docs/ad.md)")
    out += service_findings(configmgr, "configmgr", "the ConfigMgr AdminService cannot be read with the fleet's "
                            "settings", "check fleet_configmgr: url, account, password and the account's security "
                            "role (docs/configmgr.md)")
    return sorted(out, key=lambda f: ORDER.get(f.get("severity"), 2))


def summary(findings):
    """One line per finding, and the counts: ``{errors, warnings, lines}``."""
    errors = [f for f in findings if f.get("severity") == "error"]
    warnings = [f for f in findings if f.get("severity") == "warning"]
    lines = []
    for f in findings:
        fix = " - fix: %s" % f["fix"] if f.get("fix") else ""
        lines.append("%s %s: %s%s" % (f["severity"].upper(), f["check"], f["message"], fix))
    return {"errors": len(errors), "warnings": len(warnings), "lines": lines}
