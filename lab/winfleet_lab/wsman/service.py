# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The WS-Management service of one device: SOAP in, SOAP out (no I/O here).

Enumerate/Pull/Release over WMI (optimized and paged), Transfer Get (WMI instance, winrm config), Identify, and a WinRS
``cmd`` shell (Create/Command/Send/Receive/Signal/Delete) for the commands the collection runs.
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from xml.parsers import expat
from xml.sax.saxutils import escape

from . import soap, wmi
from .soap import A_ENUM, A_SHELL, A_XFER, NS, q

# What the HTTP layer must do besides sending the answer.
NONE, DROP_MID_RESPONSE, POWER_OFF_NOW, POWER_OFF_AFTER = "none", "drop", "power_off", "power_off_after"


class Reply:
    __slots__ = ("body", "effect", "status")

    def __init__(self, status, body, effect=NONE):
        self.status = status
        self.body = body
        self.effect = effect


def handle(host, payload, user, events):
    """Answer one SOAP request addressed to ``host`` by the authenticated ``user``.

    Whatever the bytes, the answer is a SOAP fault (HTTP 500) or a response: malformed XML, DTDs (entity bombs,
    external entities: refused before anything is expanded), other envelope namespaces, missing headers and values
    the service cannot use never escape as exceptions.
    """
    msg_id = action = ""
    try:
        root = parse(payload)
        if root.tag != q("s", "Envelope"):
            if root.tag.endswith("}Envelope"):
                raise soap.version_mismatch(root.tag[1:].split("}", 1)[0])
            raise soap.invalid_xml("the root element %s is not a SOAP 1.2 Envelope" % root.tag[:200])
        header = root.find(q("s", "Header"))
        body = root.find(q("s", "Body"))
        if body is None:
            raise soap.invalid_xml("the envelope has no SOAP Body")
        if header is None or header.find(q("a", "Action")) is None:
            if body.find("{%s}Identify" % NS["wsmid"]) is not None:
                return Reply(200, _identify())
            raise soap.header_required("WS-Addressing Action")
        msg_id = (header.findtext(q("a", "MessageID")) or "").strip()
        action = (header.findtext(q("a", "Action")) or "").strip()
        uri = (header.findtext(q("w", "ResourceURI")) or "").strip()
        selectors = {s.get("Name"): (s.text or "")
                     for s in header.findall("%s/%s" % (q("w", "SelectorSet"), q("w", "Selector")))}
        ctx = _Request(host, user, events, action, uri, selectors, body)
        try:
            resp_action, resp_body = ctx.dispatch()
        except (ValueError, TypeError) as exc:
            raise soap.bad_value("a value in the request is not valid (%s)" % type(exc).__name__)
    except soap.WSManFault as fault:
        events.record(host, "fault", action=action.rsplit("/", 1)[-1], subcode=fault.subcode,
                      code=fault.code)
        return Reply(500, soap.fault_envelope(fault, msg_id, host.computer_name))
    except Exception as exc:  # the lab's own bug: answer like Windows would, and leave a trace for the tests
        events.record(host, "lab_error", error=type(exc).__name__)
        return Reply(500, soap.fault_envelope(soap.internal_error(type(exc).__name__), msg_id, host.computer_name))
    return Reply(200, soap.envelope(resp_action, msg_id, resp_body), ctx.effect)


class _Refused(Exception):
    pass


def _refuse(*_args):
    raise _Refused()


def parse(payload):
    """The SOAP envelope's root element; a WSManFault for anything that is not plain XML without a DTD."""
    if b"<!" in payload or not payload.lstrip()[:1] == b"<":
        # Only messages that could carry a DTD (or are not UTF-8 XML) pay for the pre-scan.
        scan = expat.ParserCreate()
        scan.StartDoctypeDeclHandler = _refuse
        scan.EntityDeclHandler = _refuse
        scan.ExternalEntityRefHandler = _refuse
        try:
            scan.Parse(payload, True)
        except _Refused:
            raise soap.dtd_refused() from None
        except (expat.ExpatError, ValueError) as exc:
            raise soap.invalid_xml(str(exc)[:200]) from None
    try:
        return ET.fromstring(payload)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise soap.invalid_xml(str(exc)[:200]) from None


def _identify():
    return (
        '<s:Envelope xmlns:s="%s" xmlns:wsmid="%s"><s:Header/><s:Body><wsmid:IdentifyResponse>'
        "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>"
        "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>"
        "<wsmid:ProductVersion>OS: 0.0.0 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>"
        "</wsmid:IdentifyResponse></s:Body></s:Envelope>" % (NS["s"], NS["wsmid"])
    ).encode()


class _Request:
    def __init__(self, host, user, events, action, uri, selectors, body):
        self.host = host
        self.user = user
        self.events = events
        self.action = action
        self.uri = uri
        self.selectors = selectors
        self.body = body
        self.effect = NONE

    def dispatch(self):
        a = self.action
        if self.uri.lower().startswith(soap.URI_PSRP):
            raise soap.psrp_refused(self.uri)  # PowerShell remoting is not emulated: a SOAP fault, never a dropped line
        if a == A_ENUM + "Enumerate":
            return self.enumerate()
        if a == A_ENUM + "Pull":
            return self.pull()
        if a == A_ENUM + "Release":
            self.host.enumerations.pop((self.body.findtext("%s/%s" % (q("n", "Release"), q("n", "EnumerationContext"))) or "").strip(), None)
            return A_ENUM + "ReleaseResponse", ""
        if a == A_XFER + "Get":
            return self.get()
        if self.uri == soap.URI_CMD:
            return self.shell()
        raise soap.action_not_supported(a)

    # ------------------------------------------------------------------ WMI
    def resolve(self, filt):
        """(namespace, class, [instances]) for the ResourceURI + selectors + Filter of this request."""
        uri = self.uri
        if uri.startswith(soap.URI_WMI):
            namespace, _, cls = uri[len(soap.URI_WMI):].rpartition("/")
        elif uri == soap.URI_CIM_ALL or uri.startswith(soap.URI_CIM):
            namespace, cls = self.selectors.get("__cimnamespace", wmi.CIMV2), uri.rpartition("/")[2]
        else:
            raise soap.unknown_resource(uri)
        namespace = namespace.replace("\\", "/").strip("/").lower()
        dialect = filt.get("Dialect", soap.DIALECT_SELECTOR) if filt is not None else None
        query = None
        if dialect == soap.DIALECT_WQL:
            query = wmi.Query((filt.text or "").strip())
            cls = query.cls
        elif dialect is not None and dialect != soap.DIALECT_SELECTOR:
            raise soap.WSManFault(2150858787, "w:FilterDialectRequestedUnavailable", "The requested filter dialect is not supported.")
        if cls == "*":
            raise soap.bad_filter("a WQL filter is required for the '*' resource URI")
        cls, instances = self.instances(namespace, cls)
        if query is not None:
            query.check(cls)
            instances = query.apply(instances)
        elif dialect == soap.DIALECT_SELECTOR:
            want = {s.get("Name").lower(): s.text or "" for s in filt.iter(q("w", "Selector"))}
            instances = [i for i in instances if all(wmi._matches({k.lower(): v for k, v in i.items()}.get(k), v) for k, v in want.items())]
        return namespace, cls, instances

    def instances(self, namespace, cls):
        host, faults = self.host, self.host.faults
        self.events.record(host, "wmi_query", namespace=namespace, cls=cls, user=self.user)
        known = {ns for ns, _ in host.classes}
        if namespace == wmi.DMMAP:
            if "access_denied" in faults:
                raise soap.access_denied_wmi()
            if cls.lower() == "mdm_devdetail_ext01":
                if "too_old" in faults:
                    raise soap.invalid_class(cls)
                if "mi_result_1" in faults:
                    raise soap.general_error()
        for (ns, name), insts in host.classes.items():
            if ns == namespace and name.lower() == cls.lower():
                return name, [dict(i) for i in insts]
        if namespace in known:
            raise soap.invalid_class(cls)
        raise soap.invalid_namespace(namespace)

    def enumerate(self):
        en = self.body.find(q("n", "Enumerate"))
        if en is None:
            raise soap.WSManFault(2150858817, "w:SchemaValidationError", "The Enumerate body is missing.")
        namespace, cls, insts = self.resolve(en.find(q("w", "Filter")))
        items = [wmi.instance_xml(namespace, cls, i) for i in insts]
        if self._should_drop(cls):
            self.effect = DROP_MID_RESPONSE
        ctx = "uuid:" + str(uuid.uuid4()).upper()
        if en.find(q("w", "OptimizeEnumeration")) is not None:
            n = max(1, int(en.findtext(q("w", "MaxElements")) or 1))
            first, rest = items[:n], items[n:]
            if rest:
                self.host.enumerations[ctx] = rest
                return A_ENUM + "EnumerateResponse", (
                    "<n:EnumerateResponse><n:EnumerationContext>%s</n:EnumerationContext><w:Items>%s</w:Items>"
                    "</n:EnumerateResponse>" % (ctx, "".join(first)))
            return A_ENUM + "EnumerateResponse", (
                "<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>%s</w:Items>"
                "<w:EndOfSequence/></n:EnumerateResponse>" % "".join(first))
        self.host.enumerations[ctx] = items
        return A_ENUM + "EnumerateResponse", (
            "<n:EnumerateResponse><n:EnumerationContext>%s</n:EnumerationContext></n:EnumerateResponse>" % ctx)

    def _should_drop(self, cls):
        host = self.host
        if "drop" not in host.faults or cls != "MDM_DevDetail_Ext01" or host.drops_left == 0:
            return False
        if host.drops_left > 0:
            host.drops_left -= 1
        return True

    def pull(self):
        pull = self.body.find(q("n", "Pull"))
        ctx = (pull.findtext(q("n", "EnumerationContext")) if pull is not None else "") or ""
        ctx = ctx.strip()
        n = max(1, int(pull.findtext(q("n", "MaxElements")) or 1))  # Windows: one item per Pull unless asked
        items = self.host.enumerations.get(ctx)
        if items is None:
            raise soap.invalid_context()
        first, rest = items[:n], items[n:]
        if rest:
            self.host.enumerations[ctx] = rest
            return A_ENUM + "PullResponse", (
                "<n:PullResponse><n:EnumerationContext>%s</n:EnumerationContext><n:Items>%s</n:Items></n:PullResponse>"
                % (ctx, "".join(first)))
        del self.host.enumerations[ctx]
        return A_ENUM + "PullResponse", "<n:PullResponse><n:Items>%s</n:Items><n:EndOfSequence/></n:PullResponse>" % "".join(first)

    def get(self):
        if self.uri == soap.URI_CONFIG:
            return A_XFER + "GetResponse", (
                '<cfg:Config xmlns:cfg="%s"><cfg:MaxEnvelopeSizekb>500</cfg:MaxEnvelopeSizekb>'
                "<cfg:MaxTimeoutms>60000</cfg:MaxTimeoutms><cfg:MaxBatchItems>32000</cfg:MaxBatchItems>"
                "</cfg:Config>" % NS["cfg"])
        if self.uri.startswith(soap.URI_WMI) or self.uri.startswith(soap.URI_CIM):
            namespace, cls, insts = self.resolve(None)
            keys = {k.lower(): v for k, v in self.selectors.items() if not k.startswith("__")}
            insts = [i for i in insts if all(wmi._matches({k.lower(): v for k, v in i.items()}.get(k), v) for k, v in keys.items())]
            if not insts:
                raise soap.WSManFault(2150858752, "w:InvalidSelectors", "No instance matches the selectors.")
            return A_XFER + "GetResponse", wmi.instance_xml(namespace, cls, insts[0])
        raise soap.unknown_resource(self.uri)

    # ------------------------------------------------------------------ WinRS cmd shell
    def shell(self):
        host, a = self.host, self.action
        if a == A_XFER + "Create":
            sid = str(uuid.uuid4()).upper()
            host.shells[sid] = {}
            self.events.record(host, "shell_open", shell_id=sid, user=self.user)
            return A_XFER + "CreateResponse", (
                "<x:ResourceCreated><a:Address>http://%s:5985/wsman</a:Address><a:ReferenceParameters>"
                '<w:ResourceURI>%s</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector>'
                "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>%s</rsp:ShellId>"
                "<rsp:ResourceUri>%s</rsp:ResourceUri><rsp:Owner>%s</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP>"
                "<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>"
                "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
                % (host.address, soap.URI_CMD, sid, sid, soap.URI_CMD, escape(self.user or "")))
        sid = (self.selectors.get("ShellId") or "").upper()
        shell = host.shells.get(sid)
        if shell is None:
            raise soap.shell_not_found(self.selectors.get("ShellId"))
        if a == A_XFER + "Delete":
            del host.shells[sid]
            if any(c.get("power_off_on_close") for c in shell.values()):
                self.effect = POWER_OFF_AFTER
            return A_XFER + "DeleteResponse", ""
        if a == A_SHELL + "Command":
            line = self.body.find(q("rsp", "CommandLine"))
            command = (line.findtext(q("rsp", "Command")) or "").strip() if line is not None else ""
            args = [x.text or "" for x in line.findall(q("rsp", "Arguments"))] if line is not None else []
            cid = str(uuid.uuid4()).upper()
            shell[cid] = self.run(command, args)
            return A_SHELL + "CommandResponse", "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>" % cid
        if a == A_SHELL + "Send":
            return A_SHELL + "SendResponse", "<rsp:SendResponse/>"
        if a == A_SHELL + "Signal":
            sig = self.body.find(q("rsp", "Signal"))
            cmd = shell.get(((sig.get("CommandId") if sig is not None else "") or "").upper())
            if cmd is not None:
                cmd["signalled"] = True
            return A_SHELL + "SignalResponse", "<rsp:SignalResponse/>"
        if a == A_SHELL + "Receive":
            desired = self.body.find("%s/%s" % (q("rsp", "Receive"), q("rsp", "DesiredStream")))
            cid = ((desired.get("CommandId") if desired is not None else "") or "").upper()
            cmd = shell.get(cid)
            if cmd is None:
                raise soap.WSManFault(2150858843, "w:InvalidSelectors", "The command %s was not found." % cid)
            if cmd.get("power_off_now"):
                # shutdown /t 0: Windows goes away before it answers; the client sees the connection drop.
                self.effect = POWER_OFF_NOW
                return A_SHELL + "ReceiveResponse", ""
            out, err, rc = cmd["stdout"], cmd["stderr"], cmd["rc"]
            # An empty stream is only its end marker, as Windows sends it: no empty chunk before it.
            streams = "".join(
                (f'<rsp:Stream Name="{name}" CommandId="{cid}">{base64.b64encode(data).decode()}</rsp:Stream>' if data else "")
                + f'<rsp:Stream Name="{name}" CommandId="{cid}" End="true"/>'
                for name, data in (("stdout", out), ("stderr", err)))
            state = ('<rsp:CommandState CommandId="%s" State="%sCommandState/Done"><rsp:ExitCode>%d</rsp:ExitCode>'
                     "</rsp:CommandState>" % (cid, A_SHELL, rc))
            return A_SHELL + "ReceiveResponse", "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state)
        raise soap.action_not_supported(a)

    def run(self, command, args):
        """Canned cmd.exe behaviour for the commands the collection (and Ansible's ``raw``) sends.

        WinRS runs ``cmd /c <rsp:Command> <rsp:Arguments>...`` (WINRS_SKIP_CMD_SHELL=FALSE, the default), so the line
        gets cmd.exe's treatment: a command quoted as a whole runs, and a nested ``cmd /c ...`` runs its command.
        """
        host = self.host
        line = cmd_c(" ".join([command, *args]).strip())
        m = re.match(r"(?is)^powershell(?:\.exe)?\b.*?\s-(?:e|ec|enc|encodedcommand)\s+(\S+)", line)
        if m:
            try:
                line = base64.b64decode(m.group(1)).decode("utf-16-le").strip()
            except ValueError:
                line = ""
        self.events.record(host, "command", command=line, user=self.user)
        low = line.lower()
        # the program as cmd.exe finds it: C:\Windows\System32\HOSTNAME.EXE is hostname
        word = re.sub(r"\.exe$", "", low.split()[0].strip('"').rsplit("\\", 1)[-1]) if low.split() else ""
        if word in ("hostname", "whoami") and len(low.split()) == 1:
            low = word
        result = {"stdout": b"", "stderr": b"", "rc": 0}
        if low in ("hostname", "$env:computername", "[environment]::machinename"):
            result["stdout"] = (host.computer_name + "\r\n").encode()
        elif low == "whoami":
            result["stdout"] = ("%s\\%s\r\n" % (host.computer_name.lower(), (self.user or "").split("\\")[-1])).encode()
        elif low.startswith("echo "):
            result["stdout"] = (line[5:] + "\r\n").encode()
        elif re.match(r"^exit\s+\d+$", low):
            result["rc"] = int(low.split()[1])
        elif re.match(r"^shutdown(\.exe)?\b", low):
            delay = re.search(r"[/-]t\s+(\d+)", low)
            delay = int(delay.group(1)) if delay else 30
            kind = "reboot" if re.search(r"[/-]r\b", low) else "shutdown"
            self.events.record(host, kind, command=line, delay=delay, user=self.user)
            if delay == 0:
                result["power_off_now"] = True
            else:
                result["power_off_on_close"] = True
        elif not line:
            pass  # cmd /c with nothing to run: no output, exit code 0
        else:
            first = line.split()[0]
            result["stderr"] = ("'%s' is not recognized as an internal or external command,\r\n"
                                "operable program or batch file.\r\n" % first).encode()
            result["rc"] = 1
        return result


_CMD_SPECIAL = set("&<>()@^|")
_NESTED_CMD = re.compile(r"(?is)^cmd(?:\.exe)?((?:\s+/(?:[adeqstuvf](?::\S*)?|[a-z]:\S*))*)\s+/[ck](?:\s+(?P<rest>.*)|$)")


def cmd_c(line):
    """What ``cmd /c <line>`` runs (``cmd /?``, "processing quote characters"), nested ``cmd /c`` included.

    If the line starts with a quote, cmd keeps the quotes only when there are exactly two of them, nothing special
    (``&<>()@^|``) between them, whitespace between them, and the quoted text names an executable file; otherwise it
    removes the first quote and the last one: ``"hostname"`` runs ``hostname``.
    """
    for _ in range(8):  # cmd /c cmd /c ... : a few levels are plenty
        line = line.strip()
        if line.startswith('"'):
            close = line.find('"', 1)
            inner = line[1:close] if close > 0 else ""
            keep = (line.count('"') == 2 and close > 0 and not (set(inner) & _CMD_SPECIAL)
                    and any(c.isspace() for c in inner) and re.search(r"(?i)\.(exe|com|bat|cmd)$", inner))
            if not keep:
                last = line.rfind('"')
                line = (line[1:last] + line[last + 1:]) if last > 0 else line[1:]
                line = line.strip()
        m = _NESTED_CMD.match(line)
        if not m:
            return line
        line = m.group("rest") or ""
    return line
