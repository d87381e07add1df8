# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ConfigMgr lab's data and the AdminService subset it speaks (no network here: ``server.py`` is the wire).

Routes (below ``/AdminService``):

* ``wmi/<Class>`` - WMI classes as OData entity sets, class names case-insensitive (AdminService 2006+):
  ``SMS_R_System`` (discovery data, key ``ResourceId``), ``SMS_G_System_PC_BIOS`` and
  ``SMS_G_System_MDM_DEVDETAIL_EXT01`` (hardware inventory, joined to the system by ``ResourceID``).
  ``$filter`` (``eq ne gt ge lt le``, ``and``/``or``/``not``, parentheses, ``startswith``/``endswith``/``contains``),
  ``$select``, ``$top``, ``$skip``; pages of ``page_size`` with an absolute ``@odata.nextLink``.
* ``wmi/SMS_R_System(<ResourceId>)`` - GET (the WMI route answers a key lookup with a one-element ``value``) and
  DELETE (needs the Delete right; removes the resource with its inventory).
* ``v1.0/Device`` and ``v1.0/Device(<id>)`` - the versioned route's device view (read-only subset).

Errors use the OData JSON error body ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import datetime
import re
import threading
import urllib.parse
import uuid

FIRST_RESOURCE_ID = 16777220  # ConfigMgr system resources start at 0x01000000 (+ a few built-in ones)
SITE_CODE = "LAB"
DOMAIN = "LAB"
JSON = "application/json; odata.metadata=minimal"


class ODataError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _now():
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _stamp(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------------ $filter
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>[(),])|(?P<word>[A-Za-z_][\w.]*))")
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"startswith", "endswith", "contains"}


def _tokens(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODataError(400, "BadRequest", "Syntax error at position %d in '%s'." % (pos, text))
        pos = m.end()
        if m.group("str") is not None:
            out.append(("lit", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            num = m.group("num")
            out.append(("lit", float(num) if "." in num else int(num)))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            word = m.group("word")
            low = word.lower()
            if low in ("true", "false"):
                out.append(("lit", low == "true"))
            elif low == "null":
                out.append(("lit", None))
            else:
                out.append(("word", word))
    return out


class _Parser:
    """Recursive descent over the tokens; returns a predicate ``f(record) -> bool``."""

    def __init__(self, text, props, entity):
        self.toks = _tokens(text)
        self.i = 0
        self.props = {p.lower(): p for p in props}
        self.entity = entity
        self.text = text

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, kind, value=None):
        tok = self.take()
        if tok[0] != kind or (value is not None and tok[1] != value):
            raise ODataError(400, "BadRequest", "Syntax error in the $filter expression '%s'." % self.text)
        return tok

    def parse(self):
        pred = self.or_expr()
        if self.i != len(self.toks):
            raise ODataError(400, "BadRequest", "Syntax error in the $filter expression '%s'." % self.text)
        return pred

    def or_expr(self):
        left = self.and_expr()
        while self.peek()[0] == "word" and str(self.peek()[1]).lower() == "or":
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def and_expr(self):
        left = self.unary()
        while self.peek()[0] == "word" and str(self.peek()[1]).lower() == "and":
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self):
        if self.peek()[0] == "word" and str(self.peek()[1]).lower() == "not":
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        return self.atom()

    def prop(self, word):
        real = self.props.get(word.lower())
        if real is None:
            raise ODataError(400, "BadRequest", "Could not find a property named '%s' on type '%s'." % (word, self.entity))
        return real

    def atom(self):
        kind, value = self.peek()
        if (kind, value) == ("op", "("):
            self.take()
            inner = self.or_expr()
            self.expect("op", ")")
            return inner
        if kind != "word":
            raise ODataError(400, "BadRequest", "Syntax error in the $filter expression '%s'." % self.text)
        self.take()
        if value.lower() in _FUNCS:
            func = value.lower()
            self.expect("op", "(")
            prop = self.prop(self.expect("word")[1])
            self.expect("op", ",")
            lit = self.expect("lit")[1]
            self.expect("op", ")")
            needle = str(lit).lower()

            def fpred(r):
                hay = r.get(prop)
                if hay is None:
                    return False
                hay = str(hay).lower()
                return {"startswith": hay.startswith, "endswith": hay.endswith,
                        "contains": lambda n: n in hay}[func](needle)
            return fpred
        prop = self.prop(value)
        op = self.take()
        if op[0] != "word" or op[1].lower() not in _COMPARE:
            raise ODataError(400, "BadRequest", "Syntax error in the $filter expression '%s'." % self.text)
        lit = self.expect("lit")[1]
        return _compare(prop, op[1].lower(), lit)


def _norm(value):
    # The provider's queries end in SQL Server: its default collation compares strings case-insensitively, and '='
    # ignores trailing spaces (ANSI padding), which matters for BIOS serial numbers some OEMs pad.
    return value.rstrip(" ").lower() if isinstance(value, str) else value


def _compare(prop, op, lit):
    def pred(r):
        have = r.get(prop)
        a, b = _norm(have), _norm(lit)
        if op == "eq":
            return a == b
        if op == "ne":
            return a != b
        if a is None or b is None:
            return False
        try:
            return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
        except TypeError:
            return False
    return pred


def compile_filter(text, props, entity):
    return _Parser(text, props, entity).parse()


# ------------------------------------------------------------------------------------------------ the data
SYSTEM_PROPS = ("ResourceId", "ResourceType", "Name", "NetbiosName", "SMBIOSGUID", "Client", "ClientType",
                "ClientVersion", "Active", "Decommissioned", "Obsolete", "IsVirtualMachine",
                "ResourceDomainORWorkgroup", "ADSiteName", "OperatingSystemNameandVersion", "SMSUniqueIdentifier",
                "CreationDate", "LastLogonUserName", "AgentName", "SMSAssignedSites")
BIOS_PROPS = ("ResourceID", "GroupID", "RevisionID", "TimeStamp", "SerialNumber", "Manufacturer", "Name",
              "SMBIOSBIOSVersion", "ReleaseDate")
MDM_PROPS = ("ResourceID", "GroupID", "RevisionID", "TimeStamp", "DeviceHardwareData", "InstanceID", "ParentID",
             "WLANMACAddress")
DEVICE_PROPS = ("MachineId", "Name", "SMBIOSGUID", "SiteCode", "Domain", "ClientVersion", "IsClient",
                "IsActive", "IsDecommissioned", "IsObsolete", "SerialNumber")
CLASSES = {
    "sms_r_system": ("SMS_R_System", SYSTEM_PROPS),
    "sms_g_system_pc_bios": ("SMS_G_System_PC_BIOS", BIOS_PROPS),
    "sms_g_system_mdm_devdetail_ext01": ("SMS_G_System_MDM_DEVDETAIL_EXT01", MDM_PROPS),
}
READ, DELETE = "read", "delete"


class ConfigMgrService:
    """Devices, users and faults; ``handle()`` answers one authenticated request."""

    def __init__(self, base_url="", page_size=1000):
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.lock = threading.RLock()
        self.systems = {}   # ResourceId -> SMS_R_System instance
        self.bios = {}      # ResourceId -> [SMS_G_System_PC_BIOS instances]
        self.mdm = {}       # ResourceId -> [SMS_G_System_MDM_DEVDETAIL_EXT01 instances]
        self.users = {}     # bare lower-case name -> {"password", "rights"}
        self.faults = []    # [{"method", "match", "status", "count", "delay"}]
        # observer(phase, method, path, status): "request" before the lab acts, "reply" after it acted and before
        # the client sees the answer (the crash tests kill the playbook at an exact point this way).
        self.observers = []
        self.requests = []  # (user, method, path) of every authenticated request, for tests
        self.deleted = []   # ResourceIds deleted through the API
        self._next_id = FIRST_RESOURCE_ID

    # -------------------------------------------------------------------------------- data set-up (Python API)
    def add_user(self, name, password, rights=(READ,)):
        with self.lock:
            self.users[name.split("\\")[-1].lower()] = {"password": password, "rights": set(rights)}

    def add_device(self, name, serial_number=None, hardware_hash=None, smbios_guid=None, client=True, active=True,
                   decommissioned=False, manufacturer="LENOVO", revisions=1):
        """Add a system resource (+ its BIOS and MDM inventory when given); returns its ResourceId."""
        with self.lock:
            rid = self._next_id
            self._next_id += 1
            created = _now() - datetime.timedelta(days=30)
            guid = (smbios_guid or str(uuid.uuid5(uuid.NAMESPACE_DNS, "%s-%d" % (name, rid)))).upper()
            self.systems[rid] = {
                "ResourceId": rid, "ResourceType": 5, "Name": name, "NetbiosName": name.upper(),
                "SMBIOSGUID": guid, "Client": 1 if client else 0, "ClientType": 1 if client else None,
                "ClientVersion": "5.00.9128.1000" if client else None, "Active": 1 if active else 0,
                "Decommissioned": 1 if decommissioned else 0, "Obsolete": 0, "IsVirtualMachine": False,
                "ResourceDomainORWorkgroup": DOMAIN, "ADSiteName": "Default-First-Site-Name",
                "OperatingSystemNameandVersion": "Microsoft Windows NT Workstation 10.0",
                "SMSUniqueIdentifier": "GUID:%s" % str(uuid.uuid5(uuid.NAMESPACE_URL, str(rid))).upper(),
                "CreationDate": _stamp(created), "LastLogonUserName": None,
                "AgentName": ["Heartbeat Discovery"] if client else ["SMS_AD_SYSTEM_DISCOVERY_AGENT"],
                "SMSAssignedSites": [SITE_CODE],
            }
            if serial_number is not None:
                self.bios[rid] = [{
                    "ResourceID": rid, "GroupID": 1, "RevisionID": 1, "TimeStamp": _stamp(created),
                    "SerialNumber": serial_number, "Manufacturer": manufacturer, "Name": "BIOS",
                    "SMBIOSBIOSVersion": "N3AET70W (1.55 )", "ReleaseDate": "2023-01-01T00:00:00Z"}]
            if hardware_hash is not None:
                rows = []
                for rev in range(1, revisions + 1):
                    # Older revisions (if asked for) carry a stale capture: the newest revision is the inventory.
                    text = hardware_hash if rev == revisions else "STALE-REVISION-%d" % rev
                    rows.append({"ResourceID": rid, "GroupID": 1, "RevisionID": rev,
                                 "TimeStamp": _stamp(created + datetime.timedelta(days=rev)),
                                 "DeviceHardwareData": text, "InstanceID": "Ext", "ParentID": "./DevDetail",
                                 "WLANMACAddress": None})
                self.mdm[rid] = rows
            return rid

    def devices(self):
        """What the lab holds, flattened: one dict per system resource."""
        with self.lock:
            out = []
            for rid, sys_ in sorted(self.systems.items()):
                bios = self.bios.get(rid) or []
                mdm = self.mdm.get(rid) or []
                out.append({"resource_id": rid, "name": sys_["Name"], "smbios_guid": sys_["SMBIOSGUID"],
                            "serial_number": bios[-1]["SerialNumber"] if bios else None,
                            "has_hardware_hash": bool(mdm)})
            return out

    def inject(self, status, method=None, match="", count=1, code=None, message=None, retry_after=None):
        """The next ``count`` requests (``method`` if given) whose path contains ``match`` fail with ``status``."""
        with self.lock:
            self.faults.append({"status": status, "method": method and method.upper(), "match": match.lower(),
                                "count": count, "code": code, "message": message, "retry_after": retry_after})

    # -------------------------------------------------------------------------------- one request
    def handle(self, method, path, query, user):
        """(status, body dict or None, headers dict). ``path`` starts with /AdminService."""
        method = method.upper()
        for observer in list(self.observers):
            observer("request", method, path, None)
        answer = self._handle(method, path, query, user)
        for observer in list(self.observers):
            observer("reply", method, path, answer[0])
        return answer

    def _handle(self, method, path, query, user):
        with self.lock:
            self.requests.append((user, method, path))
            fault = self._fault(method, path)
            if fault is not None:
                status, body, headers = self._error(fault["status"], fault["code"] or _default_code(fault["status"]),
                                                    fault["message"] or _default_message(fault["status"]))
                if fault["retry_after"] is not None:
                    headers["Retry-After"] = str(fault["retry_after"])
                return status, body, headers
            try:
                return self._route(method, path, query, user)
            except ODataError as exc:
                return self._error(exc.status, exc.code, exc.message)

    def _fault(self, method, path):
        for fault in self.faults:
            if fault["count"] > 0 and (fault["method"] in (None, method)) and fault["match"] in path.lower():
                fault["count"] -= 1
                return fault
        return None

    @staticmethod
    def _error(status, code, message):
        return status, {"error": {"code": code, "message": message}}, {}

    def _route(self, method, path, query, user):
        rest = path[len("/AdminService"):].strip("/")
        route, _, target = rest.partition("/")
        if not rest:
            return 200, {"@odata.context": self.base_url + "/AdminService/$metadata",
                         "value": [{"name": "wmi", "url": "wmi"}, {"name": "v1.0", "url": "v1.0"}]}, {}
        m = re.fullmatch(r"([A-Za-z0-9_.]+)(?:\((\d+)\))?", target)
        if not m:
            raise ODataError(404, "NotFound", "No HTTP resource was found that matches the request URI '%s'." % path)
        name, key = m.group(1), m.group(2)
        if route.lower() == "wmi":
            return self._wmi(method, name, key and int(key), query, user, path)
        if route.lower() == "v1.0" and name == "Device":  # the versioned route is case-sensitive
            return self._device_route(method, key and int(key), query, user, path)
        raise ODataError(404, "NotFound", "No HTTP resource was found that matches the request URI '%s'." % path)

    def _rights(self, user):
        entry = self.users.get(_bare(user))
        return entry["rights"] if entry else set()

    def _wmi(self, method, name, key, query, user, path):
        cls = CLASSES.get(name.lower())
        if cls is None:
            raise ODataError(404, "NotFound", "Invalid class name '%s'." % name)
        cname, props = cls
        if READ not in self._rights(user):
            raise ODataError(403, "Forbidden", "The user '%s' has no permission to read %s." % (user, cname))
        if method == "DELETE":
            if cname != "SMS_R_System" or key is None:
                raise ODataError(405, "MethodNotAllowed", "The requested resource does not support http method 'DELETE'.")
            if key not in self.systems:
                raise ODataError(404, "NotFound", "SMS_R_System.ResourceId=%d was not found." % key)
            if DELETE not in self._rights(user):
                raise ODataError(403, "Forbidden", "The user '%s' does not have the 'Delete Resource' permission on "
                                 "a collection that contains SMS_R_System.ResourceId=%d." % (user, key))
            del self.systems[key]
            self.bios.pop(key, None)
            self.mdm.pop(key, None)
            self.deleted.append(key)
            return 204, None, {}
        if method != "GET":
            raise ODataError(405, "MethodNotAllowed", "The requested resource does not support http method '%s'." % method)
        rows = self._rows(cname)
        context = "%s/AdminService/wmi/$metadata#%s" % (self.base_url, cname)
        if key is not None:
            if cname != "SMS_R_System":
                raise ODataError(400, "BadRequest", "%s has a composite key; use $filter." % cname)
            if key not in self.systems:
                raise ODataError(404, "NotFound", "SMS_R_System.ResourceId=%d was not found." % key)
            return 200, {"@odata.context": context, "value": [_select(self.systems[key], query, props, cname)]}, {}
        return 200, self._page(rows, query, props, cname, context, path), {}

    def _rows(self, cname):
        if cname == "SMS_R_System":
            return [self.systems[k] for k in sorted(self.systems)]
        store = self.bios if cname == "SMS_G_System_PC_BIOS" else self.mdm
        return [row for k in sorted(store) for row in store[k]]

    def _page(self, rows, query, props, cname, context, path):
        if query.get("$filter"):
            pred = compile_filter(query["$filter"], props, cname)
            rows = [r for r in rows if pred(r)]
        try:
            skip = int(query.get("$skip") or 0)
            top = int(query["$top"]) if query.get("$top") else None
        except ValueError:
            raise ODataError(400, "BadRequest", "$skip and $top must be integers.")
        rows = rows[skip:]
        if top is not None:
            rows = rows[:top]
        body = {"@odata.context": context}
        if len(rows) > self.page_size:
            rest = dict(query)
            rest["$skip"] = str(skip + self.page_size)
            if top is not None:
                rest["$top"] = str(top - self.page_size)
            body["@odata.nextLink"] = "%s%s?%s" % (self.base_url, path, urllib.parse.urlencode(rest))
            rows = rows[:self.page_size]
        body["value"] = [_select(r, query, props, cname) for r in rows]
        return body

    def _device_route(self, method, key, query, user, path):
        if READ not in self._rights(user):
            raise ODataError(403, "Forbidden", "The user '%s' has no permission to read Device." % user)
        if method != "GET":
            raise ODataError(405, "MethodNotAllowed", "The requested resource does not support http method '%s'." % method)
        views = []
        for rid, sys_ in sorted(self.systems.items()):
            bios = self.bios.get(rid) or []
            views.append({"MachineId": rid, "Name": sys_["Name"], "SMBIOSGUID": sys_["SMBIOSGUID"],
                          "SiteCode": SITE_CODE, "Domain": DOMAIN, "ClientVersion": sys_["ClientVersion"],
                          "IsClient": bool(sys_["Client"]), "IsActive": bool(sys_["Active"]),
                          "IsDecommissioned": bool(sys_["Decommissioned"]), "IsObsolete": bool(sys_["Obsolete"]),
                          "SerialNumber": bios[-1]["SerialNumber"] if bios else None})
        context = "%s/AdminService/v1.0/$metadata#Device" % self.base_url
        if key is not None:
            for view in views:
                if view["MachineId"] == key:
                    body = {"@odata.context": context + "/$entity"}
                    body.update(_select(view, query, DEVICE_PROPS, "Device"))
                    return 200, body, {}
            raise ODataError(404, "NotFound", "Device(%d) was not found." % key)
        return 200, self._page(views, query, DEVICE_PROPS, "Device", context, path), {}


def _select(row, query, props, cname):
    sel = query.get("$select")
    if not sel:
        return dict(row)
    lower = {p.lower(): p for p in props}
    out = {}
    for name in sel.split(","):
        real = lower.get(name.strip().lower())
        if real is None:
            raise ODataError(400, "BadRequest", "Could not find a property named '%s' on type '%s'." % (name.strip(), cname))
        out[real] = row.get(real)
    return out


def _bare(user):
    return (user or "").replace("/", "\\").split("\\")[-1].split("@")[0].lower()


def _default_code(status):
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 500: "InternalServerError",
            503: "ServiceUnavailable"}.get(status, str(status))


def _default_message(status):
    if status == 500:
        return ("An error has occurred. Generic failure (WBEM_E_FAILED) while querying the SMS Provider; "
                "see AdminService.log on the SMS Provider.")
    if status == 503:
        return "The SMS Provider is busy (SMS_REST_PROVIDER is restarting)."
    return _default_code(status)
