# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The one Microsoft Graph client of the collection.

* Authentication: an msal ``ConfidentialClientApplication`` (client secret or certificate), its
  in-memory token cache, ``instance_discovery=False`` so any authority URL (sovereign clouds,
  the lab) works by URL alone.
* Transport: one ``requests.Session`` for msal and Graph; TLS verification with ``ca_path``
  passed on every request (so ``REQUESTS_CA_BUNDLE`` cannot silently replace it).
* Retries: 429/503/504 (and 500/502 for safe methods) with exponential backoff and full
  jitter, honouring ``Retry-After`` (integer or fractional seconds).  A non-idempotent POST is
  never retried blindly after a 5xx or a lost connection: the caller gets a ``GraphError``
  with ``ambiguous=True`` and reconciles (the import code looks for its ``importId``).
* An expired or revoked token (401) drops the cached token and fetches a new one, once.
* Paging follows ``@odata.nextLink`` verbatim, but only on the configured Graph host, so the
  bearer token never leaves it.  ``$batch`` packs up to 20 requests and re-sends the throttled
  ones.
* Errors are ``GraphError`` carrying status, code, the unwrapped (Intune ``_version: 3``)
  message and the request-id; hardware hashes are cut out of any message.
"""

from __future__ import annotations

import json
import random
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError

try:
    import requests

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

try:
    import msal

    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    msal = None
    HAS_MSAL = False
    MSAL_IMPORT_ERROR = traceback.format_exc()

DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
DEFAULT_AUTHORITY_URL = "https://login.microsoftonline.com"
USER_AGENT = "winfleet.autopilot (Ansible collection)"
# The application permissions (app roles) the collection's Graph calls need, named once.
SVC_READ = "DeviceManagementServiceConfig.Read.All"
SVC_WRITE = "DeviceManagementServiceConfig.ReadWrite.All"
MD_READ = "DeviceManagementManagedDevices.Read.All"
MD_WRITE = "DeviceManagementManagedDevices.ReadWrite.All"
DEV_READ = "Device.Read.All"
DEV_WRITE = "Device.ReadWrite.All"
USER_READ = "User.Read.All"
LIC_READ = "LicenseAssignment.Read.All"
GROUP_READ = "Group.Read.All"
MEMBER_WRITE = "GroupMember.ReadWrite.All"

# Shared by every module that talks to Graph; documented in doc_fragments/graph.py.
GRAPH_ARGSPEC = dict(
    tenant_id=dict(type="str", fallback=(env_fallback, ["AZURE_TENANT_ID"])),
    client_id=dict(type="str", fallback=(env_fallback, ["AZURE_CLIENT_ID"])),
    client_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["AZURE_CLIENT_SECRET"])),
    client_certificate_path=dict(type="path", fallback=(env_fallback, ["AZURE_CLIENT_CERTIFICATE_PATH"])),
    client_certificate_password=dict(type="str", no_log=True,
                                     fallback=(env_fallback, ["AZURE_CLIENT_CERTIFICATE_PASSWORD"])),
    graph_url=dict(type="str", default=DEFAULT_GRAPH_URL),
    authority_url=dict(type="str", default=DEFAULT_AUTHORITY_URL, fallback=(env_fallback, ["AZURE_AUTHORITY_HOST"])),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    api_version=dict(type="str", default="beta", choices=["beta", "v1.0"]),
    timeout=dict(type="float", default=60.0),
    backoff_retries=dict(type="int", default=10),
    backoff_delay=dict(type="float", default=2.0),
    backoff_max_delay=dict(type="float", default=60.0),
)

RETRY_ALWAYS = frozenset((429, 503, 504))
RETRY_SAFE = frozenset((500, 502))
SAFE_METHODS = frozenset(("GET", "DELETE", "HEAD", "PUT"))
BATCH_MAX = 20  # requests per $batch: the limit Graph documents (learn.microsoft.com/graph/json-batching)
_HASHLIKE = re.compile(r"[A-Za-z0-9+/]{48,}={0,2}")


def _hash_or_keep(match):
    run = match.group(0)
    if run.endswith("=") or any(ch.isdigit() or ch == "+" for ch in run):
        return "<hardware hash>"
    return run  # a long path such as /beta/deviceManagement/importedWindows...


def redact(text):
    """Cut hardware hashes (long base64 runs) out of a message."""
    if not text:
        return text
    return _HASHLIKE.sub(_hash_or_keep, str(text))


class GraphError(WinfleetError):
    """A Graph call failed. ``status`` is the HTTP status (0 for transport errors)."""

    def __init__(self, msg, status=0, code=None, request_id=None, method=None, path=None, ambiguous=False,
                 detail=None, retry_after=None, raw_detail=None):
        msg = redact(msg)
        details = {"status": status, "error_code": code, "request_id": request_id}
        super().__init__(msg, **details)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.method = method
        self.path = path
        self.ambiguous = ambiguous
        self.detail = redact(detail)
        self.retry_after = retry_after
        # Unredacted service message: for matching (the Edm.Binary literal), never for display.
        self.raw_detail = raw_detail


class GraphAuthError(GraphError):
    """The token service refused (bad secret, unknown app, tenant ...)."""


class GraphPermissionError(GraphError):
    """Graph answered 403: the app lacks an application permission (or admin consent)."""


class GraphResponse:
    __slots__ = ("body", "headers", "request_id", "status")

    def __init__(self, status, body, headers, request_id):
        self.status = status
        self.body = body
        self.headers = headers
        self.request_id = request_id


def check_libs(module):
    """fail_json with missing_required_lib when requests or msal is absent."""
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    if not HAS_MSAL:
        module.fail_json(msg=missing_required_lib("msal"), exception=MSAL_IMPORT_ERROR)


def argument_spec(**extra):
    spec = dict((k, dict(v)) for k, v in GRAPH_ARGSPEC.items())
    spec.update(extra)
    return spec


def parse_retry_after(value):
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None  # an HTTP date: rare on Graph; fall back to backoff
    return max(0.0, seconds)


def unwrap_error(body):
    """(code, message) from a Graph error body, unwrapping Intune's JSON-in-a-string messages."""
    if not isinstance(body, dict):
        return None, None
    err = body.get("error")
    if isinstance(err, str):  # token service style
        return err, body.get("error_description")
    if not isinstance(err, dict):
        return None, None
    code = err.get("code")
    message = err.get("message") or ""
    if isinstance(message, str) and message.lstrip().startswith("{"):
        try:
            inner = json.loads(message)
        except ValueError:
            inner = None
        if isinstance(inner, dict) and inner.get("Message"):
            message = inner["Message"]
            # "<text> - Operation ID (for customer support): ... - Activity ID: ... - Url: ..."
            message = message.split(" - Operation ID", 1)[0].strip()
    return code, message


class _MsalHttp:
    """Hands msal our session, with verify/timeout on every call (env CA bundles cannot override)."""

    def __init__(self, session, verify, timeout, counter):
        self.session = session
        self.verify = verify
        self.timeout = timeout
        self.counter = counter

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("timeout", self.timeout)
        self.counter["identity_requests"] += 1
        return self.session.post(url, params=params, data=data, headers=headers, **kwargs)

    def get(self, url, params=None, headers=None, **kwargs):
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("timeout", self.timeout)
        self.counter["identity_requests"] += 1
        return self.session.get(url, params=params, headers=headers, **kwargs)

    def close(self):
        pass


def load_certificate_credential(path, password=None):
    """msal credential dict from a PEM file with the private key and the certificate (PS256 + x5t#S256),
    or from a PKCS#12 file (``.pfx``/``.p12``)."""
    if path.lower().endswith((".pfx", ".p12")):
        cred = {"private_key_pfx_path": path}
        if password:
            cred["passphrase"] = password
        return cred
    try:
        with open(path, "r", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise GraphAuthError("Cannot read client_certificate_path %s: %s" % (path, exc))
    key = re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", text, re.S)
    cert = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
    if not key or not cert:
        raise GraphAuthError("client_certificate_path %s must hold a PEM private key and its certificate" % path)
    cred = {"private_key": key.group(0), "public_certificate": cert.group(0)}
    if password:
        cred["passphrase"] = password
    return cred


class GraphClient:
    """See the module docstring. ``params`` are the module options of GRAPH_ARGSPEC."""

    def __init__(self, params, warn=None, sleep=time.sleep, clock=time.monotonic, rng=None, session=None):
        if not HAS_REQUESTS or not HAS_MSAL:  # pragma: no cover - modules check first
            raise GraphError("The Graph client needs the 'requests' and 'msal' Python libraries")
        self.params = params
        self.warn = warn or (lambda msg: None)
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.stats = {"requests": 0, "retries": 0, "throttled": 0, "server_errors": 0, "token_requests": 0,
                      "token_refreshes": 0, "identity_requests": 0, "batch_requests": 0, "batched_calls": 0}
        tenant = (params.get("tenant_id") or "").strip()
        client_id = (params.get("client_id") or "").strip()
        if not tenant or not client_id:
            raise GraphAuthError("tenant_id and client_id are required (or set AZURE_TENANT_ID and AZURE_CLIENT_ID)")
        secret = params.get("client_secret")
        cert_path = params.get("client_certificate_path")
        if secret and cert_path:
            raise GraphAuthError("Give either client_secret or client_certificate_path, not both")
        if not secret and not cert_path:
            raise GraphAuthError("client_secret or client_certificate_path is required "
                                 "(or set AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH)")
        self.graph_url = (params.get("graph_url") or DEFAULT_GRAPH_URL).rstrip("/")
        self.authority_url = (params.get("authority_url") or DEFAULT_AUTHORITY_URL).rstrip("/")
        for name, url in (("graph_url", self.graph_url), ("authority_url", self.authority_url)):
            if not url.lower().startswith("https://"):
                raise GraphError("%s must be an https:// URL (got %s)" % (name, url))
        self.api_version = params.get("api_version") or "beta"
        self.timeout = float(params.get("timeout") or 60)
        self.retries = int(params.get("backoff_retries") if params.get("backoff_retries") is not None else 10)
        # 429 is the service pacing us (Retry-After), not a failure: counted apart, with a larger allowance
        self.throttle_retries = 5 * self.retries
        self.delay = float(params.get("backoff_delay") if params.get("backoff_delay") is not None else 2.0)
        self.max_delay = float(params.get("backoff_max_delay") or 60.0)
        if params.get("validate_certs") is False:
            self.verify = False
            self.warn("validate_certs=false: TLS certificates of %s and %s are NOT checked; anyone on the path can "
                      "read the client secret and the tokens" % (self.graph_url, self.authority_url))
            try:
                import urllib3

                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            except ImportError:  # pragma: no cover
                pass
        else:
            self.verify = params.get("ca_path") or True
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.scopes = [self.graph_url + "/.default"]
        if cert_path:
            credential = load_certificate_credential(cert_path, params.get("client_certificate_password"))
        else:
            credential = secret
        try:
            self.app = msal.ConfidentialClientApplication(
                client_id, client_credential=credential, authority="%s/%s" % (self.authority_url, tenant),
                http_client=_MsalHttp(self.session, self.verify, self.timeout, self.stats),
                instance_discovery=False, validate_authority=False, timeout=self.timeout)
        except ValueError as exc:
            raise GraphAuthError("Cannot use authority %s/%s: %s" % (self.authority_url, tenant, exc))
        except requests.RequestException as exc:
            raise GraphAuthError("Cannot reach the token service at %s: %s" % (self.authority_url, exc))
        self._token = None

    # ------------------------------------------------------------------------------------
    # tokens
    def token(self, refresh=False):
        if refresh:
            cache = self.app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
            self.stats["token_refreshes"] += 1
        last = None
        for attempt in range(3):
            try:
                result = self.app.acquire_token_for_client(scopes=self.scopes)
            except requests.RequestException as exc:
                last = GraphAuthError("Cannot reach the token service at %s: %s" % (self.authority_url, exc))
            except ValueError as exc:
                raise GraphAuthError("The token service at %s is not usable: %s" % (self.authority_url, exc))
            except Exception as exc:  # msal.exceptions.MsalServiceError on 5xx
                last = GraphAuthError("The token service failed: %s" % exc)
            else:
                if "access_token" in result:
                    if result.get("token_source") != "cache":
                        self.stats["token_requests"] += 1
                    return result["access_token"]
                desc = (result.get("error_description") or "").split("\r\n")[0].split("\n")[0]
                codes = result.get("error_codes") or []
                raise GraphAuthError(
                    "Token request for client %s in tenant %s failed: %s: %s" % (
                        self.params.get("client_id"), self.params.get("tenant_id"), result.get("error"), desc),
                    status=400, code="AADSTS%s" % codes[0] if codes else result.get("error"),
                    request_id=result.get("correlation_id"))
            self.sleep(self._backoff(attempt, None))
        raise last

    # ------------------------------------------------------------------------------------
    # HTTP
    def url(self, path):
        if path.startswith("https://"):
            if not (path == self.graph_url or path.startswith(self.graph_url + "/")):
                raise GraphError("Refusing to follow a link off the Graph host: %s" % path.split("?")[0])
            return path
        return "%s/%s/%s" % (self.graph_url, self.api_version, path.lstrip("/"))

    def _backoff(self, attempt, retry_after):
        if retry_after is not None:
            return retry_after * (1.0 + 0.1 * self.rng.random())
        cap = min(self.max_delay, self.delay * (2 ** attempt))
        return cap / 2.0 + self.rng.random() * cap / 2.0

    def request(self, method, path, body=None, params=None, headers=None, retry_unsafe=None, expect=None):
        """One Graph call with retries. Returns a GraphResponse; raises GraphError."""
        method = method.upper()
        url = self.url(path)
        safe = method in SAFE_METHODS if retry_unsafe is None else (method in SAFE_METHODS or retry_unsafe)
        refreshed = False
        attempt = 0     # transient failures (5xx, lost connections)
        throttled = 0   # 429s
        short = url[len(self.graph_url):].split("?")[0]
        while True:
            hdrs = {"Authorization": "Bearer " + self.token(), "Accept": "application/json"}
            if headers:
                hdrs.update(headers)
            data = None
            if body is not None:
                data = json.dumps(body)
                hdrs["Content-Type"] = "application/json"
            self.stats["requests"] += 1
            try:
                resp = self.session.request(method, url, params=params, data=data, headers=hdrs, verify=self.verify,
                                            timeout=self.timeout)
            except requests.RequestException as exc:
                if safe and attempt < self.retries:
                    self.stats["retries"] += 1
                    self.sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                raise GraphError("Graph %s %s failed: %s" % (method, short, exc), method=method, path=short,
                                 ambiguous=not safe)
            status = resp.status_code
            rid = resp.headers.get("request-id")
            try:
                payload = resp.json() if resp.content else None
            except ValueError:
                payload = None
            if status < 400 and (expect is None or status in expect):
                return GraphResponse(status, payload, resp.headers, rid)
            code, message = unwrap_error(payload)
            if status == 401 and not refreshed:
                refreshed = True
                self.token(refresh=True)
                continue
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if status == 429:  # the service pacing us: its own count (see throttle_retries)
                self.stats["throttled"] += 1
                if throttled < self.throttle_retries:
                    self.stats["retries"] += 1
                    self.sleep(self._backoff(throttled, retry_after))
                    throttled += 1
                    continue
            else:
                if status >= 500:
                    self.stats["server_errors"] += 1
                if safe and status in RETRY_ALWAYS | RETRY_SAFE and attempt < self.retries:
                    self.stats["retries"] += 1
                    self.sleep(self._backoff(attempt, retry_after))
                    attempt += 1
                    continue
            raise self._error(method, short, status, code, message or resp.reason, rid,
                              ambiguous=status >= 500 and not safe, retry_after=retry_after)

    def _error(self, method, short, status, code, message, rid, ambiguous=False, retry_after=None):
        text = "Graph %s %s failed: HTTP %d %s: %s" % (method, short, status, code or "", message or "")
        if rid:
            text += " (request-id: %s)" % rid
        cls = GraphPermissionError if status == 403 else GraphError
        return cls(text, status=status, code=code, request_id=rid, method=method, path=short, ambiguous=ambiguous,
                   detail=message, retry_after=retry_after, raw_detail=message)

    def get(self, path, params=None, **kw):
        return self.request("GET", path, params=params, **kw).body

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def paged(self, path, params=None):
        """Yield every item of a collection, following @odata.nextLink to the end."""
        page = self.get(path, params=params)
        while True:
            yield from (page or {}).get("value", [])
            link = (page or {}).get("@odata.nextLink")
            if not link:
                return
            page = self.get(link)

    def batch(self, calls, retry_unsafe=False, progress=None):
        """Run ``calls`` through JSON batching (``$batch``), BATCH_MAX (20) per request; returns one GraphResponse
        per call, in the order of ``calls`` (Graph answers in any order: responses are matched by id).

        A call is ``{"method", "url", "body"?, "headers"?, "depends_on"?}``: ``url`` is relative to the version
        (``/deviceManagement/...``); ``depends_on`` lists indexes of earlier calls that must succeed first (sent as
        ``dependsOn`` within one batch request; a call whose dependency failed gets Graph's 424, or the same
        answer made here when the dependency was in an earlier request). The one HTTP policy of ``request`` applies
        per call: 429 is re-sent after the call's own ``Retry-After`` (5 x backoff_retries times), 503/504 for
        safe methods (and every method with ``retry_unsafe``) backoff_retries times, each call with its own
        counts; an inner 401 fetches a new token once. Other inner failures are returned as they are."""
        results = [None] * len(calls)
        todo = list(range(len(calls)))
        failures = [0] * len(calls)    # per call: transient failures (5xx) and 429s, counted apart (see request)
        throttles = [0] * len(calls)
        for i, c in enumerate(calls):
            for d in c.get("depends_on") or ():
                if not 0 <= int(d) < i:
                    raise GraphError("batch call %d may only depend on earlier calls (got %r)" % (i, d))
        refreshed = False
        while todo:
            expired = False
            again = []
            wait = 0.0
            for start in range(0, len(todo), BATCH_MAX):
                chunk = todo[start:start + BATCH_MAX]
                in_chunk = set(chunk)
                reqs = []
                for i in chunk:
                    c = calls[i]
                    deps = [int(d) for d in c.get("depends_on") or ()]
                    earlier = [d for d in deps if d not in in_chunk]
                    if any(results[d] is None for d in earlier):
                        again.append(i)  # its dependency is being re-sent: wait for it
                        continue
                    if any(results[d].status >= 400 for d in earlier):
                        results[i] = _failed_dependency(min(d for d in earlier if results[d].status >= 400))
                        continue
                    r = {"id": str(i), "method": c["method"].upper(), "url": "/" + c["url"].lstrip("/")}
                    hdrs = dict(c.get("headers") or {})
                    if c.get("body") is not None:
                        r["body"] = c["body"]
                        hdrs.setdefault("Content-Type", "application/json")
                    if hdrs:
                        r["headers"] = hdrs
                    same = [str(d) for d in deps if d in in_chunk]
                    if same:
                        r["dependsOn"] = same
                    reqs.append(r)
                if not reqs:
                    continue
                self.stats["batch_requests"] += 1
                self.stats["batched_calls"] += len(reqs)
                out = self.request("POST", "$batch", body={"requests": reqs}, retry_unsafe=True)
                answers = {}
                for item in (out.body or {}).get("responses", []) if isinstance(out.body, dict) else []:
                    if isinstance(item, dict) and str(item.get("id")) in {r["id"] for r in reqs}:
                        answers[int(item["id"])] = item
                resent = set()
                for i in sorted(int(r["id"]) for r in reqs):  # dependencies first (they have lower indexes)
                    item = answers.get(i)
                    safe = calls[i]["method"].upper() in SAFE_METHODS or retry_unsafe
                    if item is None:  # the service left it out: as a lost answer
                        if safe and failures[i] < self.retries:
                            failures[i] += 1
                            wait = max(wait, self._backoff(failures[i] - 1, None))
                            again.append(i)
                            resent.add(i)
                            continue
                        raise GraphError("Graph $batch answered without a response for %s %s" % (
                            calls[i]["method"].upper(), calls[i]["url"].split("?")[0]), status=0,
                            method=calls[i]["method"].upper(), path=calls[i]["url"].split("?")[0], ambiguous=not safe)
                    status = int(item.get("status", 0))
                    hdrs = item.get("headers") or {}
                    if status == 401 and not refreshed:
                        expired = True
                        again.append(i)
                        resent.add(i)
                        continue
                    if status == 424 and any(int(d) in resent for d in calls[i].get("depends_on") or ()):
                        again.append(i)  # not run because its dependency is being re-sent: send it again too
                        resent.add(i)
                        continue
                    # the backoff of each call grows with its own count, not with the rounds of the batch
                    retry = False
                    if status == 429:
                        self.stats["throttled"] += 1
                        retry, delay_index = throttles[i] < self.throttle_retries, throttles[i]
                        throttles[i] += 1
                    elif status in RETRY_ALWAYS and safe:
                        retry, delay_index = failures[i] < self.retries, failures[i]
                        failures[i] += 1
                    if retry:
                        ra = parse_retry_after(hdrs.get("Retry-After") or hdrs.get("retry-after"))
                        wait = max(wait, self._backoff(delay_index, ra))
                        again.append(i)
                        resent.add(i)
                        continue
                    results[i] = GraphResponse(status, item.get("body"), hdrs, hdrs.get("request-id"))
                if progress is not None:  # a _progress.Reporter: calls answered so far
                    progress.update(done=sum(1 for r in results if r is not None))
            if expired:
                refreshed = True
                self.token(refresh=True)
            if again:
                self.stats["retries"] += len(again)
                if wait:
                    self.sleep(wait)
            todo = sorted(set(again))
        return results

    def raise_for(self, call, resp):
        """Raise the GraphError (GraphPermissionError for 403) of a failed batch response."""
        code, message = unwrap_error(resp.body)
        path = call["url"].split("?")[0]
        raise self._error(call["method"].upper(), path if path.startswith("/") else "/" + path, resp.status, code,
                          message, resp.request_id, retry_after=parse_retry_after((resp.headers or {}).get(
                              "Retry-After")))


def _failed_dependency(index):
    return GraphResponse(424, {"error": {"code": "FailedDependency", "message": "not sent: the call it depends on "
                                         "(%d) failed" % index}}, {}, None)


def client_from_module(module):
    """Build the client from a module's params; typed errors surface through the caller's main()."""
    check_libs(module)
    return GraphClient(module.params, warn=module.warn)
