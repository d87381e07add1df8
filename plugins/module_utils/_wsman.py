# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The collection's one WS-Management client.

Built on pywinrm (``winrm.protocol.Protocol``: Basic, TLS with CA validation, CredSSP when its library is
installed, NTLM and Kerberos through a proxy); NTLM, Kerberos and Negotiate (message encryption over HTTP, channel
binding over HTTPS) go through ``_wsman_http``'s lighter transport on pyspnego (Kerberos: ``_kerberos``). On top of
it:

* WS-Enumeration of WMI classes with a WQL filter (optimized Enumerate, then Pull until EndOfSequence);
* a WinRS ``cmd`` command (used for ``shutdown``);
* faults parsed by namespace URI and local name, never by prefix, and every failure raised as one typed
  ``WSManError`` subclass with a message that says what went wrong and what to do.
"""

from __future__ import annotations

import errno
import functools
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError, causes
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_http import (
    DOMAIN_DEVICE_REJECTED,
    KerberosFailure,
    NtlmRefusedError,
    SpnegoTransport,
)

try:
    import requests
    import requests.exceptions
    from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMOperationTimeoutError, WinRMTransportError
    from winrm.exceptions import WSManFaultError as _PyWinrmFault
    from winrm.protocol import Protocol
    from winrm.transport import Transport

    HAS_WINRM = True
    WINRM_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported through missing_required_lib
    HAS_WINRM = False
    WINRM_IMPORT_ERROR = _exc
    Transport = object

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDR = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_ENUM = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_MSWSMAN = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
URI_WMI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/"
DIALECT_WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
ACTION_ENUMERATE = NS_ENUM + "/Enumerate"
ACTION_PULL = NS_ENUM + "/Pull"
ANONYMOUS = NS_ADDR + "/role/anonymous"

# WMI / WS-Man codes the collection tells apart.
WBEM_E_FAILED = 0x80041001  # "A general error occurred" (MI RESULT 1), e.g. KB5013942 on MDM_DevDetail_Ext01
WBEM_E_ACCESS_DENIED = 0x80041003
WBEM_E_INVALID_NAMESPACE = 0x8004100E
WBEM_E_INVALID_CLASS = 0x80041010
ERROR_ACCESS_DENIED = 5
WSMAN_OPERATION_TIMEOUT = 2150858793

LOCAL_ACCOUNT_HINT = (
    "Use an account in the device's local Administrators group. A local (non-domain) administrator is filtered by "
    "UAC remote restrictions: set HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\\"
    "LocalAccountTokenFilterPolicy = 1 (DWORD) on the device, or use a domain account that is a local administrator."
)


# --------------------------------------------------------------------------------------------- errors
class WSManError(WinfleetError):
    """Base of every failure of a WS-Man exchange. ``kind`` is a stable machine-readable name."""

    kind = "wsman_error"

    def __init__(self, msg, **details):
        details.setdefault("error", self.kind)
        super().__init__(msg, **details)


class ConfigError(WSManError):
    kind = "config"


class UnreachableError(WSManError):
    kind = "unreachable"


class TimedOutError(WSManError):
    kind = "timed_out"


class ConnectionDroppedError(WSManError):
    kind = "connection_dropped"


class CertificateError(WSManError):
    kind = "certificate"


class CredentialsError(WSManError):
    kind = "bad_credentials"


class AccessDeniedError(WSManError):
    kind = "not_administrator"


class NtlmRefused(WSManError):
    kind = "ntlm_refused"


class ClockSkewError(WSManError):
    kind = "clock_skew"


class UnknownServicePrincipalError(WSManError):
    kind = "unknown_service_principal"


class KdcUnreachableError(WSManError):
    kind = "kdc_unreachable"


class WrongRealmError(WSManError):
    kind = "wrong_realm"


class PasswordExpiredError(WSManError):
    kind = "password_expired"


class KerberosError(WSManError):
    kind = "kerberos"


# _kerberos.describe's kinds -> the error raised
KERBEROS_ERRORS = {"clock_skew": ClockSkewError, "unknown_service_principal": UnknownServicePrincipalError,
                   "kdc_unreachable": KdcUnreachableError, "wrong_realm": WrongRealmError,
                   "password_expired": PasswordExpiredError, "bad_credentials": CredentialsError,
                   "no_credentials": CredentialsError, "kerberos": KerberosError}
# ansible_winrm_* settings that only Kerberos reads (NTLM ignores them, as ansible's winrm connection does)
KERBEROS_ONLY = frozenset(("service", "kerberos_hostname_override", "kerberos_delegation"))
NTLM_REFUSED_HINT = (
    "Use Kerberos: ansible_winrm_transport: kerberos with a domain account (user@REALM, the AD domain in upper case) "
    "and the device's DNS name (ansible_host, or ansible_winrm_kerberos_hostname_override), as registered in AD."
)


class UnsupportedWindowsError(WSManError):
    kind = "windows_too_old"


class EmptyHashError(WSManError):
    kind = "hash_empty"


class WMIProviderError(WSManError):
    kind = "wmi_provider_error"


class FaultError(WSManError):
    """Any other SOAP fault; ``fault`` holds the parsed details."""

    kind = "wsman_fault"

    def __init__(self, msg, fault=None, **details):
        self.fault = fault
        if fault is not None:
            details.setdefault("fault", fault.as_dict())
        super().__init__(msg, **details)


# --------------------------------------------------------------------------------------------- faults
def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _ns(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


class Fault:
    """A parsed ``s:Fault``: SOAP code/subcode/reason, the WSManFault code and the MSFT_WmiError detail."""

    __slots__ = ("code", "machine", "reason", "subcode", "wmi_code", "wmi_message", "wsman_code")

    def __init__(self):
        self.code = self.subcode = self.reason = self.wmi_message = self.machine = None
        self.wsman_code = self.wmi_code = None

    @property
    def effective_code(self):
        return self.wmi_code if self.wmi_code is not None else self.wsman_code

    def as_dict(self):
        return {
            "code": self.code, "subcode": self.subcode, "reason": self.reason, "wsman_code": self.wsman_code,
            "wmi_code": ("0x%08X" % self.wmi_code) if self.wmi_code is not None else None, "machine": self.machine,
        }


def _int(text):
    try:
        return int((text or "").strip(), 0)
    except ValueError:
        return None


def parse_fault(xml_text):
    """The ``Fault`` in a SOAP envelope, or None when the text is not a SOAP fault."""
    try:
        # ElementTree resolves no external entities and expat (>= 2.4.1) bounds entity expansion; pywinrm parses the same way
        root = ET.fromstring(xml_text)  # noqa: S314
    except ET.ParseError:
        return None
    fault_el = root.find("{%s}Body/{%s}Fault" % (NS_SOAP, NS_SOAP))
    if fault_el is None:
        return None
    f = Fault()
    code = fault_el.find("{%s}Code" % NS_SOAP)
    if code is not None:
        f.code = _qname_local(code.findtext("{%s}Value" % NS_SOAP))
        f.subcode = _qname_local(code.findtext("{%s}Subcode/{%s}Value" % (NS_SOAP, NS_SOAP)))
    f.reason = (fault_el.findtext("{%s}Reason/{%s}Text" % (NS_SOAP, NS_SOAP)) or "").strip() or None
    detail = fault_el.find("{%s}Detail" % NS_SOAP)
    if detail is not None:
        for el in detail.iter():
            tag = el.tag if isinstance(el.tag, str) else ""
            if tag == "{%s}WSManFault" % NS_FAULT:
                f.wsman_code = _int(el.get("Code"))
                f.machine = el.get("Machine")
                msg = el.findtext("{%s}Message" % NS_FAULT)
                if msg and msg.strip() and not f.reason:
                    f.reason = msg.strip()
            elif _local(tag) == "MSFT_WmiError":
                # MSFT_WmiError's namespace is the class URI; its properties share it.
                ns = _ns(tag)
                f.wmi_code = _int(el.findtext("{%s}error_Code" % ns))
                f.wmi_message = (el.findtext("{%s}Message" % ns) or "").strip() or None
    return f


def _qname_local(text):
    return (text or "").strip().rsplit(":", 1)[-1] or None


# --------------------------------------------------------------------------------------------- instances
def _item_to_dict(item):
    out = {}
    for child in item:
        name = _local(child.tag)
        if child.get("{%s}nil" % NS_XSI) == "true":
            value = None
        elif len(child):
            value = (child[0].text or "").strip()  # cim:Datetime / cim:Date / embedded reference
        else:
            value = child.text or ""
        if name in out:
            prev = out[name]
            out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[name] = value
    return out


# --------------------------------------------------------------------------------------------- warm start
def prewarm():
    """Initialise once what every device read would otherwise initialise for itself.

    ansible forks one worker per host and task from its main process, and the strategy loads each task's action
    class in that main process first, so the action plugin calls this at import time: the workers inherit the warm
    state through fork instead of each paying for it (measured by forking once per device read: about 4.5 ms of CPU
    per device, mostly loading OpenSSL's legacy provider for RC4 and building pyspnego's first NTLM message). Nothing here touches the
    network, the disk or a credential; a failure only means a cold start.
    """
    if not HAS_WINRM:
        return
    try:
        import spnego
        from cryptography.hazmat.primitives.ciphers import Cipher

        try:
            from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
        except ImportError:  # cryptography < 43
            from cryptography.hazmat.primitives.ciphers.algorithms import ARC4
        Cipher(ARC4(b"\0" * 16), mode=None).encryptor().update(b"\0")  # noqa: S304 - NTLM sealing is RC4
        spnego.client("prewarm", "prewarm", hostname="localhost", protocol="ntlm").step()
        with requests.Session() as session:
            session.prepare_request(requests.Request("POST", "http://127.0.0.1:5985/wsman", data=b"<x/>",
                                                     headers={"Content-Type": "application/soap+xml"}))
    except Exception:  # noqa: S110 - warming up is an optimisation; the real read reports real problems
        pass


# --------------------------------------------------------------------------------------------- client
class _Transport(Transport):
    """pywinrm's transport, except that once pywinrm has built the session requests stops re-reading proxy, netrc and
    CA-bundle settings from the environment on every request (a measurable share of the controller CPU per device),
    the NTLM handshake included. The proxy is still honoured: pywinrm resolved it when it built the session."""

    def build_session(self):
        if self.session is not None:
            return self.session
        session = super().build_session()
        session.trust_env = False
        return session

    def setup_encryption(self, session):
        # pywinrm calls this at the end of build_session, after resolving proxies and the CA bundle: the handshake's
        # three requests need the environment no more than the later ones.
        session.trust_env = False
        super().setup_encryption(session)


@functools.lru_cache(maxsize=16)
def _ntlm_hashes(password):
    """``LM:NT`` (hex) of a password: the pass-the-hash form pyspnego (and so requests-ntlm) takes as a password.

    pyspnego derives both hashes again for every NTLM context; the LM hash is DES in pure Python, about 2 ms of CPU
    per device. The hashes are as secret as the password and stay in this process's memory like it. ``None`` when
    pyspnego's hash functions are not where this version expects them: the password is then passed as it is.
    """
    try:
        from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
    except ImportError:  # pragma: no cover - another pyspnego layout: no shortcut
        return None
    return "%s:%s" % (lmowfv1(password).hex(), ntowfv1(password).hex())


class WSManClient:
    """One device. ``label`` names it in messages (inventory name); nothing here logs credentials or data."""

    def __init__(self, host, port=None, scheme=None, path="/wsman", transport=None, username=None, password=None,
                 cert_validation=True, ca_trust_path=None, operation_timeout=20, read_timeout=None,
                 message_encryption="auto", label=None, proxy=None, transport_options=None):
        if not HAS_WINRM:
            raise ConfigError("pywinrm is required on the controller: %s" % WINRM_IMPORT_ERROR)
        if not host:
            raise ConfigError("no address for the device (ansible_host)")
        port = int(port or (5986 if scheme == "https" else 5985))
        scheme = scheme or ("http" if port == 5985 else "https")
        if scheme not in ("http", "https"):
            raise ConfigError("ansible_winrm_scheme must be http or https, not %r" % scheme)
        transport = (transport or ("ssl" if scheme == "https" else "plaintext")).lower()
        if transport in ("basic",):
            transport = "ssl" if scheme == "https" else "plaintext"
        operation_timeout = int(operation_timeout or 20)
        read_timeout = int(read_timeout or operation_timeout + 10)
        if read_timeout <= operation_timeout:
            read_timeout = operation_timeout + 1
        self.host = host
        self.port = port
        self.scheme = scheme
        self.transport = transport
        self.username = username
        self.read_timeout = read_timeout
        self.label = label or host
        netloc = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        self.endpoint = "%s://%s%s" % (scheme, netloc, path or "/wsman")
        self.operation_timeout = operation_timeout
        if transport == "ntlm" and password and ":" not in password:
            password = _ntlm_hashes(password) or password
        options = {
            "username": username, "password": password, "server_cert_validation": "validate" if cert_validation else "ignore",
            "ca_trust_path": ca_trust_path or "legacy_requests", "message_encryption": message_encryption, "proxy": proxy,
        }
        opts = dict(transport_options or {})
        # NTLM without a proxy (the common case), Kerberos and Negotiate: pyspnego on one http.client connection
        # (_wsman_http); through a proxy, NTLM and Kerberos stay with pywinrm's transport (requests)
        spnego_path = proxy is None and (transport in ("kerberos", "negotiate") or (
            transport == "ntlm" and set(opts) <= {"send_cbt"} | KERBEROS_ONLY))
        if transport == "negotiate" and proxy:
            raise ConfigError("ansible_winrm_proxy is not supported with the negotiate transport (%s): use kerberos or "
                              "ntlm" % self.label)
        if spnego_path and transport != "ntlm":
            if not _kerberos.available():
                raise ConfigError("the %s transport needs Kerberos on the controller, and %s is missing" % (
                    transport, _kerberos.missing()))
            unknown = set(opts) - {"send_cbt"} - KERBEROS_ONLY
            if unknown:
                raise ConfigError("%s: ansible_winrm_%s do(es) not apply to the %s transport" % (
                    self.label, ", ansible_winrm_".join(sorted(unknown)), transport))
        try:
            # pywinrm's Protocol builds the WinRS messages (its transport is replaced on the pyspnego path)
            self._protocol = Protocol(self.endpoint, transport="kerberos" if transport == "negotiate" else transport,
                                      read_timeout_sec=read_timeout, operation_timeout_sec=operation_timeout, **options)
            if spnego_path:
                self._protocol.transport = SpnegoTransport(
                    host, port, scheme, path, username, password, cert_validation=cert_validation,
                    ca_trust_path=ca_trust_path, read_timeout=read_timeout, message_encryption=message_encryption,
                    send_cbt=opts.get("send_cbt", True), protocol=transport,
                    spn_host=opts.get("kerberos_hostname_override") or host, service=opts.get("service") or "HTTP",
                    delegate=bool(opts.get("kerberos_delegation")))
            else:
                # transport_options: pywinrm's Kerberos/CredSSP/certificate settings (service, kerberos_delegation, ...)
                self._protocol.transport = _Transport(endpoint=self.endpoint, auth_method=transport,
                                                      read_timeout_sec=read_timeout, **options,
                                                      **(transport_options or {}))
        except (WinRMError, ValueError, TypeError) as exc:
            raise ConfigError("cannot set up WinRM (%s) to %s: %s" % (transport, self.label, exc))

    @property
    def where(self):
        return "%s (%s)" % (self.label, self.endpoint) if self.label != self.host else self.endpoint

    def close(self):
        try:
            self._protocol.transport.close_session()
        except Exception:  # noqa: S110 - closing a broken session must not mask the real error
            pass

    # ---------------------------------------------------------------- transport + error mapping
    def _envelope(self, action, resource_uri, body, message_id):
        return (
            '<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:n="%s" xmlns:w="%s" xmlns:p="%s"><s:Header>'
            "<a:To>%s</a:To><w:ResourceURI s:mustUnderstand=\"true\">%s</w:ResourceURI>"
            '<a:ReplyTo><a:Address s:mustUnderstand="true">%s</a:Address></a:ReplyTo>'
            '<a:Action s:mustUnderstand="true">%s</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
            '<a:MessageID>uuid:%s</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
            '<p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/><w:OperationTimeout>PT%dS</w:OperationTimeout>'
            "</s:Header><s:Body>%s</s:Body></s:Envelope>"
            % (NS_SOAP, NS_ADDR, NS_ENUM, NS_WSMAN, NS_MSWSMAN, escape(self.endpoint), escape(resource_uri), ANONYMOUS,
               action, message_id, self.operation_timeout, body)
        ).encode("utf-8")

    def _send(self, action, resource_uri, body, what):
        message_id = str(uuid.uuid4()).upper()
        payload = self._envelope(action, resource_uri, body, message_id)
        try:
            text = self._protocol.transport.send_message(payload)
        except WinRMTransportError as exc:
            fault = parse_fault(exc.response_text) if exc.response_text else None
            if fault is None:
                raise WSManError("%s answered HTTP %s to %s without a SOAP fault" % (self.where, exc.code, what),
                                 http_status=exc.code)
            raise self.fault_error(fault, what)
        except Exception as exc:
            raise self.transport_error(exc, what)
        try:
            root = ET.fromstring(text)  # noqa: S314 - see parse_fault
        except ET.ParseError as exc:
            raise WSManError("%s sent a response to %s that is not XML: %s" % (self.where, what, exc))
        relates = (root.findtext("{%s}Header/{%s}RelatesTo" % (NS_SOAP, NS_ADDR)) or "").strip()
        if relates and relates.lower() != ("uuid:" + message_id).lower():
            raise WSManError("%s answered %s with a response to another request (RelatesTo %s)" % (self.where, what, relates))
        return root

    def transport_error(self, exc, what):
        """The typed error for an exception raised while talking to the device."""
        if isinstance(exc, WSManError):
            return exc
        if isinstance(exc, KerberosFailure):
            kind, _words, words = _kerberos.describe(exc.error, user=self.username, spn=exc.spn)
            message = "%s: Kerberos to %s as %r failed: %s." % (self.where, exc.spn, self.username, words)
            return KERBEROS_ERRORS[kind](message, spn=exc.spn)
        if isinstance(exc, NtlmRefusedError) or (isinstance(exc, PermissionError) and "NTLM challenge" in str(exc)):
            # ours, or requests-ntlm's (pywinrm's transport, through a proxy) for the same answer
            return NtlmRefused("%s refuses NTLM: it answered the NTLM negotiation without a challenge (the domain "
                               "restricts NTLM: 'Network security: Restrict NTLM'). %s" % (self.where, NTLM_REFUSED_HINT),
                               http_status=401)
        if isinstance(exc, InvalidCredentialsError):
            hint = ""
            if DOMAIN_DEVICE_REJECTED in str(exc):
                hint = " The device is in a domain (it offers Kerberos): if the domain restricts NTLM, %s%s" % (
                    NTLM_REFUSED_HINT[0].lower(), NTLM_REFUSED_HINT[1:])
            return CredentialsError(
                "%s rejected the credentials of %r (HTTP 401, %s): wrong user name or password, or the %s "
                "authentication is disabled on the device (winrm get winrm/config/service/auth).%s"
                % (self.where, self.username, self.transport, self.transport, hint), http_status=401)
        if isinstance(exc, _PyWinrmFault):
            fault = Fault()
            fault.code, fault.subcode, fault.reason = exc.fault_code, _qname_local(exc.fault_subcode), exc.reason
            fault.wsman_code, fault.wmi_code = exc.wsman_fault_code, exc.wmierror_code
            return self.fault_error(fault, what)
        if isinstance(exc, WinRMOperationTimeoutError):
            return TimedOutError("%s did not complete %s within the WS-Man operation timeout (%ss)." % (self.where, what, self.operation_timeout))
        if isinstance(exc, requests.exceptions.SSLError):
            return CertificateError(
                "TLS with %s failed during %s: %s. Set ansible_winrm_ca_trust_path to the CA that issued the device's "
                "WinRM certificate (or ansible_winrm_server_cert_validation=ignore for a lab)." % (self.where, what, _root_cause(exc)))
        if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout)):
            return TimedOutError(
                "%s did not answer %s within %ss (timed out): the device is busy, asleep, or a firewall drops WinRM "
                "traffic. Raise ansible_winrm_read_timeout_sec if it is just slow." % (self.where, what, self.read_timeout),
                timeout=self.read_timeout)
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
            return ConnectionDroppedError("%s dropped the connection in the middle of its answer to %s." % (self.where, what))
        if isinstance(exc, requests.exceptions.ConnectionError):
            cause = _root_cause(exc)
            if _is_refused(exc):
                return UnreachableError(
                    "%s is unreachable (connection refused): the device is off, WinRM is not enabled "
                    "(run 'winrm quickconfig' on it), or port %d is closed." % (self.where, self.port))
            if "timed out" in str(cause).lower():
                return TimedOutError("%s did not accept a connection within %ss (timed out)." % (self.where, self.read_timeout),
                                     timeout=self.read_timeout)
            if _is_unreachable(exc):
                return UnreachableError("%s is unreachable: %s" % (self.where, cause))
            return ConnectionDroppedError(
                "%s dropped the connection during %s before answering completely (%s)." % (self.where, what, cause))
        if isinstance(exc, WinRMError):
            return WSManError("WinRM error from %s during %s: %s" % (self.where, what, exc))
        return exc

    def fault_error(self, fault, what):
        code = fault.effective_code
        reason = fault.wmi_message or fault.reason or "no reason given"
        subcode = fault.subcode or ""
        if code in (WBEM_E_ACCESS_DENIED, ERROR_ACCESS_DENIED) or subcode == "AccessDenied":
            return AccessDeniedError(
                "%r is not an administrator on %s: access denied to %s. %s" % (self.username, self.where, what, LOCAL_ACCOUNT_HINT),
                fault=fault.as_dict())
        if code in (WBEM_E_INVALID_CLASS, WBEM_E_INVALID_NAMESPACE):
            return FaultError("%s has no WMI %s (%s, 0x%08X)." % (self.where, what, reason.strip(), code), fault=fault,
                              missing=True)
        if code == WBEM_E_FAILED:
            return WMIProviderError(
                "the WMI provider on %s failed while reading %s: %s (MI RESULT 1, 0x%08X). On Windows 10 21H2 this is the "
                "known KB5013942 regression; install a later cumulative update and retry."
                % (self.where, what, reason.strip(), code), fault=fault.as_dict())
        return FaultError("%s answered %s with a WS-Man fault: %s (%s%s)." % (
            self.where, what, reason.strip(), subcode or fault.code, (", code %s" % code) if code is not None else ""), fault=fault)

    # ---------------------------------------------------------------- operations
    def enumerate(self, wql, namespace="root/cimv2", max_elements=32000, optimize=True):
        """Every instance matching ``wql`` (a list of dicts: property -> str, None for null, list for arrays)."""
        cls = wql.split(" FROM ", 1)[-1].split()[0] if " FROM " in wql else wql
        what = "%s/%s" % (namespace, cls)
        resource_uri = URI_WMI + namespace.strip("/") + "/*"
        body = (
            "<n:Enumerate>%s<w:Filter Dialect=\"%s\">%s</w:Filter></n:Enumerate>"
            % ("<w:OptimizeEnumeration/><w:MaxElements>%d</w:MaxElements>" % max_elements if optimize else "",
               DIALECT_WQL, escape(wql))
        )
        root = self._send(ACTION_ENUMERATE, resource_uri, body, what)
        out = []
        resp = root.find("{%s}Body/{%s}EnumerateResponse" % (NS_SOAP, NS_ENUM))
        if resp is None:
            raise WSManError("%s answered the enumeration of %s without an EnumerateResponse" % (self.where, what))
        done = self._collect(resp, out)
        context = (resp.findtext("{%s}EnumerationContext" % NS_ENUM) or "").strip()
        pulls = 0
        while not done and context:
            pulls += 1
            if pulls > 10000:
                raise WSManError("%s never ended the enumeration of %s" % (self.where, what))
            body = "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext><n:MaxElements>%d</n:MaxElements></n:Pull>" % (
                escape(context), max_elements)
            root = self._send(ACTION_PULL, resource_uri, body, what)
            resp = root.find("{%s}Body/{%s}PullResponse" % (NS_SOAP, NS_ENUM))
            if resp is None:
                raise WSManError("%s answered a Pull of %s without a PullResponse" % (self.where, what))
            done = self._collect(resp, out)
            context = (resp.findtext("{%s}EnumerationContext" % NS_ENUM) or "").strip()
        return out

    @staticmethod
    def _collect(resp, out):
        for items in (resp.find("{%s}Items" % NS_WSMAN), resp.find("{%s}Items" % NS_ENUM)):
            if items is not None:
                out.extend(_item_to_dict(item) for item in items)
        return resp.find("{%s}EndOfSequence" % NS_WSMAN) is not None or resp.find("{%s}EndOfSequence" % NS_ENUM) is not None

    def run_command(self, command, args=()):
        """Run ``command args`` in a WinRS cmd shell: (rc, stdout, stderr)."""
        what = "the command %r" % " ".join([command, *args])
        p = self._protocol
        try:
            shell_id = p.open_shell(codepage=65001)
            try:
                command_id = p.run_command(shell_id, command, list(args))
                out, err, rc = p.get_command_output(shell_id, command_id)
                p.cleanup_command(shell_id, command_id)
            finally:
                try:
                    p.close_shell(shell_id)
                except Exception:  # noqa: S110 - the device may be gone (shutdown); the command's result stands
                    pass
        except WinRMTransportError as exc:
            fault = parse_fault(exc.response_text) if exc.response_text else None
            if fault is None:
                raise WSManError("%s answered HTTP %s to %s" % (self.where, exc.code, what), http_status=exc.code)
            raise self.fault_error(fault, what)
        except Exception as exc:
            raise self.transport_error(exc, what)
        return rc, out, err


def _root_cause(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__ or (exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None)
        reason = getattr(exc, "reason", None)
        if isinstance(reason, BaseException):
            nxt = reason
        if nxt is None:
            return exc
        exc = nxt
    return exc


def _chain(exc):
    return causes(exc, links=("__cause__", "__context__", "reason"), args=True)


def _is_refused(exc):
    for e in _chain(exc):
        if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return True
        if "Connection refused" in str(e) and "NewConnectionError" in type(e).__name__ + str(e):
            return True
    return False


def _is_unreachable(exc):
    for e in _chain(exc):
        if getattr(e, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH) or "Name or service not known" in str(e):
            return True
        if "NewConnectionError" in type(e).__name__ or "NameResolutionError" in type(e).__name__:
            return True
    return False
