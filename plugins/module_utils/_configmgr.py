# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The one Configuration Manager client of the collection: the SMS Provider's AdminService (REST/OData).

* Transport: one ``requests.Session`` with ``requests_ntlm.HttpNtlmAuth`` (Windows integrated authentication as
  NTLM, with channel binding to the TLS certificate, which is what IIS Extended Protection checks). requests_ntlm
  is already installed with pywinrm and drives pyspnego, so this adds no dependency.
* TLS is verified by default (``ca_path`` for a private CA, passed on every request so ``REQUESTS_CA_BUNDLE``
  cannot replace it); ``validate_certs=false`` only when asked, with a warning.
* Retries: GET and DELETE (both idempotent) after HTTP 502/503/504 or a lost connection, with exponential backoff
  honouring ``Retry-After``. A DELETE retried after its first attempt went through finds 404: callers treat that as
  "already gone".
* Paging: ``@odata.nextLink`` is followed, only on the AdminService's own host (credentials never leave it).
* Errors: ``ConfigMgrError`` (and subclasses per status) carrying status, OData error code and message.

The lookup (``find_devices``) and the Autopilot hash read (``hash_records``) live here too, shared by
``configmgr_device`` and ``configmgr_device_info``.
"""

from __future__ import annotations

import random
import re
import time
import traceback
import urllib.parse

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.winfleet.autopilot.plugins.module_utils import _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError

try:
    import requests

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

try:
    from requests_ntlm import HttpNtlmAuth

    HAS_REQUESTS_NTLM = True
    REQUESTS_NTLM_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    HttpNtlmAuth = None
    HAS_REQUESTS_NTLM = False
    REQUESTS_NTLM_IMPORT_ERROR = traceback.format_exc()

USER_AGENT = "winfleet.autopilot (Ansible collection)"

# Shared by the ConfigMgr modules; documented in doc_fragments/configmgr.py.
CONFIGMGR_ARGSPEC = dict(
    url=dict(type="str", fallback=(env_fallback, ["WINFLEET_CONFIGMGR_URL"])),
    username=dict(type="str", fallback=(env_fallback, ["WINFLEET_CONFIGMGR_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["WINFLEET_CONFIGMGR_PASSWORD"])),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="float", default=30.0),
)

RETRY_STATUS = frozenset((502, 503, 504))
RETRY_METHODS = frozenset(("GET", "DELETE"))
SYSTEM = "wmi/SMS_R_System"
BIOS = "wmi/SMS_G_System_PC_BIOS"
HASHES = "wmi/SMS_G_System_MDM_DEVDETAIL_EXT01"
FILTER_CHUNK = 20  # values per $filter (keeps URLs short; the provider turns each into WQL)
# '*' and '?' are the console's and PowerShell's wildcards, '%' and '_' WQL's LIKE; refusing '*', '%' and '?' keeps
# a selector from ever meaning "many" (a literal '_' is legal in names, and OData 'eq' never treats it as a wildcard).
WILDCARDS = ("*", "%", "?")
_HASHLIKE = re.compile(r"[A-Za-z0-9+/]{64,}={0,2}")


def redact(text):
    """Cut anything that looks like a hardware hash (a long base64 run) out of a message."""
    if not text:
        return text
    return _HASHLIKE.sub("<hardware hash>", str(text))


class ConfigMgrError(WinfleetError):
    """An AdminService call failed. ``status`` is the HTTP status (0 when no response came back)."""

    def __init__(self, msg, status=0, code=None, method=None, path=None):
        msg = redact(msg)
        super().__init__(msg, status=status, error_code=code)
        self.status = status
        self.code = code
        self.method = method
        self.path = path


class ConfigMgrAuthError(ConfigMgrError):
    """401: the credentials were refused (or NTLM is not offered)."""


class ConfigMgrPermissionError(ConfigMgrError):
    """403: authenticated, but the administrative user lacks a permission (read, or Delete Resource)."""


class ConfigMgrNotFound(ConfigMgrError):
    """404: no such resource (for DELETE: already gone)."""


class ConfigMgrTLSError(ConfigMgrError):
    """The AdminService's certificate is not trusted."""


def check_libs(module):
    """fail_json with missing_required_lib when requests or requests_ntlm is absent."""
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    if not HAS_REQUESTS_NTLM:
        module.fail_json(msg=missing_required_lib("requests-ntlm"), exception=REQUESTS_NTLM_IMPORT_ERROR)


def argument_spec(**extra):
    spec = dict((k, dict(v)) for k, v in CONFIGMGR_ARGSPEC.items())
    spec.update(extra)
    return spec


def normalize_url(url):
    """``https://<SMS Provider>/AdminService`` from what the user gave (a bare ``https://host`` gets the path)."""
    url = (url or "").strip().rstrip("/")
    if not url:
        raise InputError("url is required: the AdminService URL, https://<SMS Provider FQDN>/AdminService "
                         "(or set WINFLEET_CONFIGMGR_URL)")
    split = urllib.parse.urlsplit(url)
    if split.scheme.lower() != "https" or not split.hostname:
        raise InputError("url must be an https:// URL of the AdminService (got %s); the AdminService only "
                         "speaks HTTPS" % url)
    if not split.path:
        url += "/AdminService"
    elif split.path.rstrip("/").lower().endswith("/adminservice/wmi") or split.path.lower().endswith("/v1.0"):
        url = url.rsplit("/", 1)[0]  # someone pasted a route: keep the service root
    return url


def _retry_after(value):
    try:
        return max(0.0, float(str(value).strip()))
    except (TypeError, ValueError):
        return None


def _error_of(resp):
    """(code, message) from an OData error body, else (None, a short text of the body)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        message = err.get("message")
        if isinstance(message, dict):  # OData v3 style {"lang", "value"}
            message = message.get("value")
        return err.get("code"), message
    text = (resp.text or "").strip()
    if text.startswith("<"):
        text = re.sub(r"<[^>]+>", " ", text)
        text = re.sub(r"\s+", " ", text).strip()
    return None, text[:300] or resp.reason


class ConfigMgrClient:
    """See the module docstring. ``params`` are the module options of CONFIGMGR_ARGSPEC."""

    def __init__(self, params, warn=None, sleep=time.sleep, retries=4, backoff=1.0, max_delay=30.0, session=None,
                 rng=None):
        if not HAS_REQUESTS or not HAS_REQUESTS_NTLM:  # pragma: no cover - modules check first
            raise ConfigMgrError("The ConfigMgr client needs the 'requests' and 'requests-ntlm' Python libraries")
        self.warn = warn or (lambda msg: None)
        self.sleep = sleep
        self.retries = retries
        self.backoff = backoff
        self.max_delay = max_delay
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.base = normalize_url(params.get("url"))
        split = urllib.parse.urlsplit(self.base)
        self.origin = "%s://%s" % (split.scheme.lower(), split.netloc.lower())
        self.username = (params.get("username") or "").strip()
        password = params.get("password")
        if not self.username or not password:
            raise InputError("username and password are required: an administrative user of Configuration Manager "
                             "as DOMAIN\\user or user@domain (or set WINFLEET_CONFIGMGR_USERNAME and "
                             "WINFLEET_CONFIGMGR_PASSWORD)")
        if "\\" not in self.username and "@" not in self.username:
            raise InputError("username %r has no domain: give DOMAIN\\user or user@domain.fqdn, as Windows "
                             "integrated authentication needs" % self.username)
        self.timeout = float(params.get("timeout") or 30.0)
        if params.get("validate_certs") is False:
            self.verify = False
            self.warn("validate_certs=false: the TLS certificate of %s is NOT checked; anyone on the path can "
                      "impersonate the SMS Provider" % self.origin)
            try:
                import urllib3

                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            except ImportError:  # pragma: no cover
                pass
        else:
            self.verify = params.get("ca_path") or True
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self.session.auth = HttpNtlmAuth(self.username, password)
        self.session.trust_env = False  # no proxy: the AdminService does not support one, and no env CA bundle
        self.stats = {"requests": 0, "retries": 0}

    # ------------------------------------------------------------------------------------ HTTP
    def url(self, path):
        if path.startswith(("https://", "http://")):
            split = urllib.parse.urlsplit(path)
            if "%s://%s" % (split.scheme.lower(), split.netloc.lower()) != self.origin:
                raise ConfigMgrError("Refusing to follow a link off the AdminService host: %s" % path.split("?")[0])
            return path
        return "%s/%s" % (self.base, path.lstrip("/"))

    def _delay(self, attempt, retry_after):
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        cap = min(self.max_delay, self.backoff * (2 ** attempt))
        return cap / 2.0 + self.rng.random() * cap / 2.0

    def request(self, method, path, params=None):
        """One AdminService call with retries; returns the parsed JSON body (None when empty)."""
        method = method.upper()
        url = self.url(path)
        short = "/" + url[len(self.base):].split("?")[0].lstrip("/") if url.startswith(self.base) else url
        retryable = method in RETRY_METHODS
        attempt = 0
        while True:
            self.stats["requests"] += 1
            try:
                resp = self.session.request(method, url, params=params, verify=self.verify, timeout=self.timeout)
            except requests.exceptions.SSLError as exc:
                raise ConfigMgrTLSError(
                    "TLS certificate of the AdminService at %s is not trusted (%s). Give the CA that issued it in "
                    "ca_path (the site's self-signed certificate, or your PKI's CA)" % (self.origin, _reason(exc)),
                    method=method, path=short)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if retryable and attempt < self.retries:
                    self.stats["retries"] += 1
                    self.sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise ConfigMgrError("AdminService %s %s failed: cannot reach %s: %s" % (
                    method, short, self.origin, _reason(exc)), method=method, path=short)
            except PermissionError as exc:  # requests_ntlm: the server did not answer the NTLM negotiation
                raise ConfigMgrAuthError("AdminService at %s did not complete NTLM authentication for %s: %s" % (
                    self.origin, self.username, exc), status=401, method=method, path=short)
            status = resp.status_code
            if status < 400:
                if not resp.content:
                    return None
                try:
                    return resp.json()
                except ValueError:
                    raise ConfigMgrError("AdminService %s %s returned HTTP %d with a body that is not JSON" % (
                        method, short, status), status=status, method=method, path=short)
            if status in RETRY_STATUS and retryable and attempt < self.retries:
                self.stats["retries"] += 1
                self.sleep(self._delay(attempt, _retry_after(resp.headers.get("Retry-After"))))
                attempt += 1
                continue
            raise self._error(method, short, resp)

    def _error(self, method, short, resp):
        status = resp.status_code
        code, message = _error_of(resp)
        if status == 401:
            return ConfigMgrAuthError(
                "AdminService at %s refused the credentials of %s (HTTP 401). Check the user name (DOMAIN\\user) and "
                "the password; the account must be an administrative user in Configuration Manager"
                % (self.origin, self.username), status=401, code=code, method=method, path=short)
        text = "AdminService %s %s failed: HTTP %d %s: %s" % (method, short, status, code or resp.reason or "",
                                                              message or "")
        cls = {403: ConfigMgrPermissionError, 404: ConfigMgrNotFound}.get(status, ConfigMgrError)
        return cls(text, status=status, code=code, method=method, path=short)

    def get(self, path, params=None):
        return self.request("GET", path, params=params)

    def delete(self, path):
        return self.request("DELETE", path)

    def paged(self, path, params=None):
        """Every item of an entity set (a key lookup's one-element ``value`` or a bare entity alike)."""
        page = self.get(path, params=params)
        while True:
            if isinstance(page, dict) and "value" not in page and page:
                yield {k: v for k, v in page.items() if not k.startswith("@odata.")}
                return
            yield from (page or {}).get("value") or []
            link = (page or {}).get("@odata.nextLink")
            if not link:
                return
            page = self.get(link)

    def close(self):
        self.session.close()


def _reason(exc):
    text = str(exc)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "Max retries exceeded"):
        if marker in text:
            inner = re.search(r"\((Caused by [^)]*\)?)", text)
            return inner.group(1) if inner else text[:300]
    return text[:300]


def client_from_module(module):
    check_libs(module)
    return ConfigMgrClient(module.params, warn=module.warn)


# ---------------------------------------------------------------------------------------------------- lookup
def odata_literal(value):
    """An OData string literal: single quotes doubled."""
    return "'%s'" % str(value).replace("'", "''")


def check_selector(option, value):
    """The trimmed value of a text selector, or InputError for empty, whitespace-only or wildcard values."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        raise InputError("%s is empty (or only whitespace): refusing a selector that could match every device"
                         % option)
    bad = [ch for ch in WILDCARDS if ch in text]
    if bad:
        raise InputError("%s %r contains the wildcard %s: selectors must name devices exactly; nothing was "
                         "looked up or deleted" % (option, text, " ".join(repr(ch) for ch in bad)))
    if any(ord(ch) < 32 for ch in text):
        raise InputError("%s %r contains control characters" % (option, text))
    return text


def check_resource_id(option, value):
    if value is None:
        return None
    try:
        rid = int(value)
    except (TypeError, ValueError):
        raise InputError("%s %r is not a ResourceId (a positive integer)" % (option, value))
    if rid <= 0:
        raise InputError("%s %r is not a ResourceId (a positive integer)" % (option, value))
    return rid


def _get_ci(row, name):
    """A property by name, case-insensitively (WMI names are; the JSON keeps the class's own casing)."""
    if name in row:
        return row[name]
    low = name.lower()
    for key, value in row.items():
        if key.lower() == low:
            return value
    return None


def _or_filter(prop, values, literal):
    return " or ".join("%s eq %s" % (prop, literal(v)) for v in values)


def _chunks(values):
    values = list(values)
    for i in range(0, len(values), FILTER_CHUNK):
        yield values[i:i + FILTER_CHUNK]


def _query(client, path, prop, values, literal=odata_literal, select=None):
    rows = []
    for chunk in _chunks(values):
        params = {"$filter": _or_filter(prop, chunk, literal)}
        if select:
            params["$select"] = select
        rows.extend(client.paged(path, params))
    return rows


def _same(a, b):
    return a is not None and b is not None and str(a).strip().lower() == str(b).strip().lower()


def _latest(rows):
    """ResourceID -> the newest inventory row (highest RevisionID, then TimeStamp) per resource."""
    out = {}
    for row in rows:
        rid = _get_ci(row, "ResourceID")
        if rid is None:
            continue
        key = (_get_ci(row, "RevisionID") or 0, str(_get_ci(row, "TimeStamp") or ""))
        if rid not in out or key >= out[rid][0]:
            out[rid] = (key, row)
    return {rid: row for rid, (_key, row) in out.items()}


def device_view(system, bios_row):
    rid = _get_ci(system, "ResourceId")
    serial = _get_ci(bios_row, "SerialNumber") if bios_row else None
    serial = serial.strip() if isinstance(serial, str) and serial.strip() else None
    return {
        "id": rid,
        "resource_id": rid,
        "name": _get_ci(system, "Name"),
        "serial_number": serial,
        "smbios_guid": _get_ci(system, "SMBIOSGUID"),
        "client": bool(_get_ci(system, "Client")),
        "active": bool(_get_ci(system, "Active")),
        "decommissioned": bool(_get_ci(system, "Decommissioned")),
        "obsolete": bool(_get_ci(system, "Obsolete")),
        "client_version": _get_ci(system, "ClientVersion"),
        "domain": _get_ci(system, "ResourceDomainORWorkgroup"),
        "creation_date": _get_ci(system, "CreationDate"),
    }


def find_devices(client, names=(), serial_numbers=(), resource_ids=(), smbios_guids=(), match="all"):
    """Devices matching every kind of selector given (``match="any"``: any kind) and any value within a kind, sorted
    by ResourceId.

    Selectors must have been checked (``check_selector``/``check_resource_id``). Matching is exact and
    case-insensitive on the client side, whatever the server's ``eq`` does.
    """
    names = [n for n in names if n is not None]
    serial_numbers = [s for s in serial_numbers if s is not None]
    resource_ids = [r for r in resource_ids if r is not None]
    smbios_guids = [g for g in smbios_guids if g is not None]
    if not (names or serial_numbers or resource_ids or smbios_guids):
        raise InputError("No selector given: name, serial_number, resource_id or smbios_guid is required "
                         "(refusing to list or delete every device)")
    systems = {}
    candidate_sets = []
    if resource_ids:
        rows = _query(client, SYSTEM, "ResourceId", resource_ids, literal=str)
        ids = {_get_ci(r, "ResourceId") for r in rows if _get_ci(r, "ResourceId") in set(resource_ids)}
        systems.update({_get_ci(r, "ResourceId"): r for r in rows})
        candidate_sets.append(ids)
    for prop, wanted in (("Name", names), ("SMBIOSGUID", smbios_guids)):
        if wanted:
            rows = _query(client, SYSTEM, prop, wanted)
            ids = {_get_ci(r, "ResourceId") for r in rows if any(_same(_get_ci(r, prop), w) for w in wanted)}
            systems.update({_get_ci(r, "ResourceId"): r for r in rows})
            candidate_sets.append(ids)
    bios = {}
    if serial_numbers:
        rows = _query(client, BIOS, "SerialNumber", serial_numbers)
        latest = _latest(rows)
        ids = {rid for rid, row in latest.items()
               if any(_same(_get_ci(row, "SerialNumber"), s) for s in serial_numbers)}
        bios.update(latest)
        candidate_sets.append(ids)
    combine = set.union if match == "any" else set.intersection
    found = combine(*candidate_sets) if candidate_sets else set()
    if not found:
        return []
    missing = sorted(rid for rid in found if rid not in systems)
    if missing:  # found by serial only: the system resources themselves
        for row in _query(client, SYSTEM, "ResourceId", missing, literal=str):
            systems[_get_ci(row, "ResourceId")] = row
    need_bios = sorted(rid for rid in found if rid not in bios)
    if need_bios:
        bios.update(_latest(_query(client, BIOS, "ResourceID", need_bios, literal=str)))
    return [device_view(systems[rid], bios.get(rid)) for rid in sorted(found) if rid in systems]


def serial_mismatches(devices, serial_number, require_serial_match=True):
    """Messages for the devices that fail the serial-number guard (empty list: all pass)."""
    problems = []
    for dev in devices:
        have = dev.get("serial_number")
        if have is None:
            if require_serial_match:
                problems.append("%s (ResourceId %s) has no serial number in its hardware inventory (expected %s; "
                                "set require_serial_match=false to accept records without one)"
                                % (dev["name"], dev["id"], serial_number))
        elif not _same(have, serial_number):
            problems.append("%s (ResourceId %s) has serial number %s, not %s"
                            % (dev["name"], dev["id"], have, serial_number))
    return problems


def delete_device(client, resource_id):
    """Delete one system resource (with its inventory). True when deleted, False when it was already gone."""
    try:
        client.delete("%s(%d)" % (SYSTEM, int(resource_id)))
    except ConfigMgrNotFound:
        return False
    return True


def hash_records(client, devices):
    """(records, missing): the Autopilot records of ``devices`` from the MDM_DevDetail_Ext01 inventory, in the
    shape ``registration_csv`` takes as ``records``; ``missing`` names the devices without a hash."""
    by_id = {dev["id"]: dev for dev in devices}
    rows = _query(client, HASHES, "ResourceID", sorted(by_id), literal=str,
                  select="ResourceID,RevisionID,TimeStamp,DeviceHardwareData")
    latest = _latest(rows)
    records, missing = [], []
    for rid in sorted(by_id):
        dev = by_id[rid]
        row = latest.get(rid)
        text = (_get_ci(row, "DeviceHardwareData") or "").strip() if row else ""
        if not text:
            missing.append(dev["name"])
            continue
        records.append({"serial_number": dev.get("serial_number") or "", "product_id": "", "hardware_hash": text,
                        "source": "configmgr:%s" % dev["name"]})
    return records, missing


def entries_from(params):
    """The entries of configmgr_device's list forms (``names``, ``serial_numbers``, ``resource_ids``, ``devices``),
    each a dict of checked selectors with ``guard`` (the serial number is a guard, not a selector) and
    ``require_serial_match`` (None: the task's). Everything is checked before any request."""
    raw = [{"name": v} for v in params.get("names") or []]
    raw += [{"serial_number": v} for v in params.get("serial_numbers") or []]
    raw += [{"resource_id": v} for v in params.get("resource_ids") or []]
    raw += [dict(d or {}) for d in params.get("devices") or []]
    out = []
    for n, item in enumerate(raw):
        where = " (entry %d of the list)" % (n + 1)
        try:
            entry = {"name": check_selector("name", item.get("name")),
                     "serial_number": check_selector("serial_number", item.get("serial_number")),
                     "smbios_guid": check_selector("smbios_guid", item.get("smbios_guid")),
                     "resource_id": check_resource_id("resource_id", item.get("resource_id"))}
        except InputError as exc:
            raise InputError(exc.msg + where, **exc.details)
        if all(v is None for v in entry.values()):
            raise InputError("No selector given%s: name, serial_number, resource_id or smbios_guid is required "
                             "(refusing to delete every device)" % where)
        entry["guard"] = entry["serial_number"] is not None and any(
            entry[k] is not None for k in ("name", "smbios_guid", "resource_id"))
        entry["require_serial_match"] = item.get("require_serial_match")
        out.append(entry)
    return out


def delete_many(client, entries, require_serial_match=True, check_mode=False):
    """Delete the devices of every entry in one AdminService session. Result per entry: ``selector``,
    ``serial_number``, ``found``, ``removed``, ``failed``, ``msg``, ``error``. A refused guard or a refused
    delete fails that entry and the others go on; a record already gone (404) is not removed by this run; a record
    two entries match is deleted once. Authentication and permission errors concern the whole run: raised."""
    results, taken = [], set()
    for e in _progress.tracked(entries, "cleanup", "Deleting Configuration Manager devices", "devices"):
        serial = e["serial_number"]
        res = {"selector": {k: e[k] for k in ("name", "serial_number", "smbios_guid", "resource_id")
                            if e[k] is not None},
               "serial_number": serial, "found": [], "removed": [], "failed": False, "msg": None, "error": None}
        results.append(res)
        devices = find_devices(client, names=[e["name"]], serial_numbers=[] if e["guard"] else [serial],
                               resource_ids=[e["resource_id"]], smbios_guids=[e["smbios_guid"]])
        res["found"] = devices
        if e["guard"]:
            need = e["require_serial_match"]
            problems = serial_mismatches(devices, serial, require_serial_match if need is None else need)
            if problems:
                exc = InputError("Serial number guard failed, nothing deleted: %s" % "; ".join(problems),
                                 mismatched=problems)
                res.update(failed=True, msg=exc.msg, error=exc)
                continue
        for dev in devices:
            if dev["id"] in taken:
                continue
            taken.add(dev["id"])
            if check_mode:
                res["removed"].append(dev)
                continue
            try:
                if delete_device(client, dev["id"]):
                    res["removed"].append(dev)
            except (ConfigMgrAuthError, ConfigMgrPermissionError, ConfigMgrTLSError):
                raise
            except ConfigMgrError as exc:
                res.update(failed=True, msg=exc.msg, error=exc)
                break
    return results
