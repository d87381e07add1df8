# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The one LDAP client of the collection (Active Directory Domain Services), and the AD computer lookup.

* Library: ``sansldap`` (sans-IO LDAP messages by the author of ``pyspnego``, the same stack the
  ``microsoft.ad`` collection uses) for bind/search/extended messages and BER; the socket, TLS,
  framing, paging and the operations sansldap 0.1.0 lacks (delete with controls, add) are here.
* Transport: LDAPS (default, port 636) or StartTLS (389); the certificate is validated against
  ``ca_path`` or the system store and its name checked against ``tls_server_name`` (else ``server``).
  ``validate_certs=False`` only when asked for, with a warning. ``tls_mode=none`` is plain LDAP,
  meant for ``auth=ntlm``, which signs and seals every message (SASL GSS-SPNEGO through pyspnego).
* Bind: simple (over TLS), NTLM or Kerberos (pyspnego, SASL GSS-SPNEGO; Kerberos through ``_kerberos``
  for ``ldap/<tls_server_name>``): over plain LDAP with sign and seal, over TLS with channel binding and
  no SASL security layer, as Windows does.
* Errors: ``LdapError`` with the LDAP result code, its name and the server's diagnostic message,
  plus a hint for the common cases (bad credentials with AD's data code, stronger auth required,
  access denied). Subclasses tell connection and bind failures apart.
"""

from __future__ import annotations

import datetime
import importlib
import re
import socket
import ssl
import struct
import traceback
import uuid

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.winfleet.autopilot.plugins.module_utils import _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, WinfleetError

try:
    import sansldap
    from sansldap.asn1 import ASN1Reader, ASN1Tag, ASN1Writer, TagClass

    HAS_SANSLDAP = True
    SANSLDAP_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised by the sanity import test
    sansldap = None
    HAS_SANSLDAP = False
    SANSLDAP_IMPORT_ERROR = traceback.format_exc()

# pyspnego (NTLM) and cryptography (TLS channel binding) are imported on first use: only auth=ntlm needs them,
# and every module run would otherwise pay for their import.
_LAZY = {}


def _spnego():
    """The pyspnego package (imported once), or None when it is missing (the traceback is kept for the module)."""
    if "spnego" not in _LAZY:
        try:
            lib = importlib.import_module("spnego")
            importlib.import_module("spnego.channel_bindings")
            importlib.import_module("spnego.exceptions")
            _LAZY["spnego"], _LAZY["spnego_error"] = lib, None
        except ImportError:
            _LAZY["spnego"], _LAZY["spnego_error"] = None, traceback.format_exc()
    return _LAZY["spnego"]


def _x509_and_hashes():
    """(cryptography.x509, cryptography.hazmat.primitives.hashes, UnsupportedAlgorithm) or None."""
    try:
        from cryptography import x509
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes
    except ImportError:
        return None
    return x509, hashes, UnsupportedAlgorithm


# Shared by every module that talks LDAP; documented in doc_fragments/ldap.py.
LDAP_ARGSPEC = dict(
    server=dict(type="str", fallback=(env_fallback, ["WINFLEET_LDAP_SERVER"])),
    port=dict(type="int", fallback=(env_fallback, ["WINFLEET_LDAP_PORT"])),
    tls_mode=dict(type="str", default="ldaps", choices=["ldaps", "starttls", "none"],
                  fallback=(env_fallback, ["WINFLEET_LDAP_TLS_MODE"])),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path", fallback=(env_fallback, ["WINFLEET_LDAP_CA_PATH"])),
    tls_server_name=dict(type="str", fallback=(env_fallback, ["WINFLEET_LDAP_TLS_SERVER_NAME"])),
    auth=dict(type="str", default="simple", choices=["simple", "ntlm", "kerberos"],
              fallback=(env_fallback, ["WINFLEET_LDAP_AUTH"])),
    username=dict(type="str", fallback=(env_fallback, ["WINFLEET_LDAP_USERNAME"])),
    password=dict(type="str", no_log=True, fallback=(env_fallback, ["WINFLEET_LDAP_PASSWORD"])),
    search_base=dict(type="str", fallback=(env_fallback, ["WINFLEET_LDAP_SEARCH_BASE"])),
    timeout=dict(type="float", default=30.0),
)

TREE_DELETE_OID = "1.2.840.113556.1.4.805"
START_TLS_OID = "1.3.6.1.4.1.1466.20037"
# Responses sansldap 0.1.0 does not decode: modify (7), add (9), delete (11), modify DN (13).
_OWN_RESPONSES = frozenset((7, 9, 11, 13))
_OWN_ID_BASE = 0x10000000  # our own message ids never meet sansldap's counter (which starts at 1)

RESULT_NAMES = {
    0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded", 4: "sizeLimitExceeded",
    7: "authMethodNotSupported", 8: "strongerAuthRequired", 10: "referral", 11: "adminLimitExceeded",
    12: "unavailableCriticalExtension", 13: "confidentialityRequired", 14: "saslBindInProgress",
    16: "noSuchAttribute", 17: "undefinedAttributeType", 19: "constraintViolation", 20: "attributeOrValueExists",
    21: "invalidAttributeSyntax", 32: "noSuchObject", 34: "invalidDNSyntax", 48: "inappropriateAuthentication",
    49: "invalidCredentials", 50: "insufficientAccessRights", 51: "busy", 52: "unavailable",
    53: "unwillingToPerform", 54: "loopDetect", 64: "namingViolation", 65: "objectClassViolation",
    66: "notAllowedOnNonLeaf", 67: "notAllowedOnRDN", 68: "entryAlreadyExists", 80: "other",
}
# AD's "data <code>" in a failed bind's diagnostic message (AcceptSecurityContext error).
AD_BIND_DATA = {
    "525": "the user does not exist", "52e": "the password is wrong (or the user name)",
    "530": "logon not permitted at this time", "531": "logon not permitted from this workstation",
    "532": "the password has expired", "533": "the account is disabled", "701": "the account has expired",
    "773": "the user must change the password first", "775": "the account is locked out",
}
HINTS = {
    8: "The domain controller requires transport protection for this bind (LDAP signing / 'ldap server require "
       "strong auth'): use tls_mode ldaps or starttls, or auth ntlm or kerberos (signed and sealed; with Samba's "
       "default, over tls_mode none).",
    13: "The domain controller requires an encrypted connection: use tls_mode ldaps or starttls.",
    50: "The bind account lacks the right for this: it needs 'Delete' and 'Delete subtree' (or 'Delete all child "
        "objects' on the OU) on the computer objects in the search base.",
    66: "The object has child objects (BitLocker recovery information, ...); only a tree delete removes it.",
}


class LdapError(WinfleetError):
    """An LDAP operation failed. ``result_code`` is the LDAP result code (None for transport errors)."""

    def __init__(self, msg, result_code=None, server_message=None, operation=None, dn=None):
        name = RESULT_NAMES.get(result_code) if result_code is not None else None
        super().__init__(msg, ldap_result_code=result_code, ldap_result=name, ldap_server_message=server_message)
        self.result_code = result_code
        self.result_name = name
        self.server_message = server_message
        self.operation = operation
        self.dn = dn

    @classmethod
    def from_result(cls, operation, code, server_message, dn=None):
        code = int(code)
        name = RESULT_NAMES.get(code, "result %d" % code)
        msg = "LDAP %s failed: %s (%d)" % (operation, name, code)
        if dn:
            msg += " on %s" % dn
        if server_message:
            msg += ": %s" % server_message.strip().rstrip("\x00").rstrip(".")
        hint = HINTS.get(code)
        if code == 49:
            data = re.search(r"\bdata ([0-9a-f]{3})\b", server_message or "")
            reason = AD_BIND_DATA.get(data.group(1)) if data else None
            hint = "Check username and password%s." % ((" - the domain controller says " + reason) if reason else "")
        if hint:
            msg += ". " + hint
        kind = LdapAuthError if operation == "bind" else cls
        return kind(msg, result_code=code, server_message=server_message, operation=operation, dn=dn)


class LdapConnectionError(LdapError):
    """The server could not be reached, TLS failed or the connection dropped."""


class LdapAuthError(LdapError):
    """The bind was refused."""


class SerialMismatchError(WinfleetError):
    """The serial_number guard refused: a matched computer carries another serial (or none)."""


def check_libs(module, auth="simple"):
    """fail_json with missing_required_lib when sansldap (or pyspnego for NTLM and Kerberos, gssapi/krb5 for
    Kerberos) is absent."""
    if not HAS_SANSLDAP:
        module.fail_json(msg=missing_required_lib("sansldap"), exception=SANSLDAP_IMPORT_ERROR)
    if auth in ("ntlm", "kerberos") and _spnego() is None:
        module.fail_json(msg=missing_required_lib("pyspnego"), exception=_LAZY["spnego_error"])
    if auth == "kerberos":
        from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos

        if not _kerberos.available():
            module.fail_json(msg="auth kerberos needs %s" % _kerberos.missing())


def argument_spec(**extra):
    spec = dict((k, dict(v)) for k, v in LDAP_ARGSPEC.items())
    spec.update(extra)
    return spec


# ---------------------------------------------------------------------------------------------------------------
# Escaping (RFC 4515 filter values, RFC 4514 DN attribute values) and values

_FILTER_SPECIALS = {"\\": "\\5c", "*": "\\2a", "(": "\\28", ")": "\\29", "\x00": "\\00"}


def escape_filter_value(value):
    """Escape a value for an LDAP filter (RFC 4515). Bytes are escaped completely (``\\xx`` per byte)."""
    if isinstance(value, (bytes, bytearray)):
        return "".join("\\%02x" % b for b in bytes(value))
    return "".join(_FILTER_SPECIALS.get(ch, ch) for ch in str(value))


def escape_dn_value(value):
    """Escape an attribute value for use in a DN (RFC 4514)."""
    text = str(value)
    out = []
    for i, ch in enumerate(text):
        if ch in ',+"\\<>;=':
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        elif (i == 0 and ch in " #") or (i == len(text) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def parse_guid(text):
    """A ``uuid.UUID`` from ``{xxxxxxxx-...}`` / ``xxxxxxxx-...`` / 32 hex digits; InputError otherwise."""
    cleaned = str(text).strip().strip("{}")
    try:
        return uuid.UUID(cleaned)
    except ValueError:
        raise InputError("object_guid %r is not a GUID (expected like 8a5c0f5e-1b2d-4c3e-9f00-0123456789ab)" % text)


def guid_from_bytes(raw):
    """objectGUID (16 bytes, mixed endian as AD stores it) as the usual string."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def filetime_to_iso(value):
    """AD's 100-ns intervals since 1601 (lastLogonTimestamp, ...) as ISO 8601 UTC, None for 0/never."""
    try:
        ticks = int(value)
    except (TypeError, ValueError):
        return None
    if ticks <= 0 or ticks >= 0x7FFFFFFFFFFFFFFF:
        return None
    epoch = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
    return (epoch + datetime.timedelta(microseconds=ticks // 10)).strftime("%Y-%m-%dT%H:%M:%SZ")


def generalized_time_to_iso(value):
    """``20261121150912.0Z`` as ``2026-11-21T15:09:12Z`` (unchanged when it does not parse)."""
    m = re.match(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", value or "")
    if not m:
        return value or None
    return "%s-%s-%sT%s:%s:%sZ" % m.groups()


def split_frame(buffer):
    """``(message, rest)``: the first complete BER element (one LDAPMessage) of ``buffer``, or ``(None, buffer)``."""
    if len(buffer) < 2:
        return None, buffer
    first = buffer[1]
    if first < 0x80:
        header, length = 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise LdapConnectionError("The LDAP server sent a malformed message (length of %d octets)" % count)
        if len(buffer) < 2 + count:
            return None, buffer
        header, length = 2 + count, int.from_bytes(bytes(buffer[2:2 + count]), "big")
    total = header + length
    if len(buffer) < total:
        return None, buffer
    return bytes(buffer[:total]), buffer[total:]


# ---------------------------------------------------------------------------------------------------------------
# The client

class LdapClient:
    """A synchronous LDAP connection: ``connect()`` (TLS + bind), ``search``, ``delete``, ``add``, ``close``."""

    def __init__(self, server, port=None, tls_mode="ldaps", validate_certs=True, ca_path=None, tls_server_name=None,
                 auth="simple", username=None, password=None, timeout=30.0, warn=None):
        if not HAS_SANSLDAP:  # pragma: no cover - modules check first
            raise LdapError("The LDAP client needs the 'sansldap' Python library")
        server = (server or "").strip()
        if not server:
            raise InputError("server is required: the domain controller (or domain) to connect to "
                             "(or set WINFLEET_LDAP_SERVER)")
        if tls_mode not in ("ldaps", "starttls", "none"):
            raise InputError("tls_mode must be ldaps, starttls or none, not %r" % tls_mode)
        if auth not in ("simple", "ntlm", "kerberos"):
            raise InputError("auth must be simple, ntlm or kerberos, not %r" % auth)
        if auth != "kerberos" and (not username or password is None or password == ""):
            raise InputError("username and password are required to bind (or set WINFLEET_LDAP_USERNAME and "
                             "WINFLEET_LDAP_PASSWORD); anonymous binds are not used")
        self.server = server
        self.tls_mode = tls_mode
        self.port = port or (636 if tls_mode == "ldaps" else 389)
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.tls_server_name = tls_server_name or server
        self.auth = auth
        self.username = username
        self.password = password
        self.timeout = timeout
        self.warn = warn or (lambda msg: None)
        self._sock = None
        self._proto = None
        self._buffer = bytearray()
        self._sasl_buffer = bytearray()
        self._seal = None
        self._next_id = _OWN_ID_BASE
        self._root_dse = None

    # -- connection -------------------------------------------------------------------------------------------

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    def _where(self):
        return "%s:%d" % (self.server, self.port)

    def _tls_context(self):
        if not self.validate_certs:
            self.warn("validate_certs is false: the LDAP server's certificate is not checked, so the bind password "
                      "could go to anyone who can intercept the connection to %s" % self._where())
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        try:
            return ssl.create_default_context(cafile=self.ca_path)
        except (OSError, ssl.SSLError) as exc:
            raise LdapConnectionError("Cannot load ca_path %s: %s" % (self.ca_path, exc))

    def _wrap_tls(self, sock):
        ctx = self._tls_context()
        try:
            return ctx.wrap_socket(sock, server_hostname=self.tls_server_name)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            reason = exc.verify_message or str(exc)
            hint = ("set tls_server_name to the name in the domain controller's certificate"
                    if "match" in reason.lower() or "mismatch" in reason.lower() else
                    "point ca_path at the CA that issued the domain controller's certificate")
            raise LdapConnectionError("TLS certificate verification of %s (as %s) failed: %s; %s"
                                      % (self._where(), self.tls_server_name, reason, hint))
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise LdapConnectionError("TLS handshake with %s failed: %s" % (self._where(), exc))

    def connect(self):
        try:
            sock = socket.create_connection((self.server, self.port), timeout=self.timeout)
        except OSError as exc:
            raise LdapConnectionError("Cannot connect to LDAP server %s: %s" % (self._where(), exc))
        self._proto = sansldap.LDAPClient()
        self._sock = sock
        try:
            if self.tls_mode == "ldaps":
                self._sock = self._wrap_tls(sock)
            elif self.tls_mode == "starttls":
                self._start_tls()
            elif self.auth == "simple":
                self.warn("tls_mode is none with a simple bind: the password crosses the network in clear text "
                          "(most domain controllers refuse it); use ldaps, starttls or auth ntlm")
            self._bind()
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        if self._sock is not None:
            try:
                if self._proto is not None and self._proto.state != sansldap.SessionState.CLOSED:
                    self._proto.unbind()
                    self._send(self._proto.data_to_send())
            except (OSError, LdapError, sansldap.LDAPError):
                pass
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None

    def _start_tls(self):
        msg_id = self._proto.extended_request(START_TLS_OID)
        self._send(self._proto.data_to_send())
        resp = self._wait_for(msg_id, "StartTLS")
        self._check(resp.result, "StartTLS")
        self._sock = self._wrap_tls(self._sock)

    def _bind(self):
        if self.auth in ("ntlm", "kerberos"):
            self._bind_ntlm()
            return
        msg_id = self._proto.bind_simple(self.username, self.password)
        self._send(self._proto.data_to_send())
        resp = self._wait_for(msg_id, "bind")
        self._check(resp.result, "bind")

    def _channel_bindings(self):
        crypto = _x509_and_hashes()
        if not isinstance(self._sock, ssl.SSLSocket) or crypto is None:
            return None
        x509, hashes, unsupported_algorithm = crypto
        der = self._sock.getpeercert(True)
        if not der:
            return None
        cert = x509.load_der_x509_certificate(der)
        try:
            algorithm = cert.signature_hash_algorithm
        except unsupported_algorithm:  # RFC 5929: an unknown signature hash means SHA-256
            algorithm = None
        if algorithm is None or algorithm.name in ("md5", "sha1"):
            algorithm = hashes.SHA256()
        digest = hashes.Hash(algorithm)
        digest.update(der)
        return _spnego().channel_bindings.GssChannelBindings(
            application_data=b"tls-server-end-point:" + digest.finalize())

    def _bind_ntlm(self):
        spnego = _spnego()
        if spnego is None:  # pragma: no cover - modules check first
            raise LdapError("auth ntlm needs the 'pyspnego' Python library")
        over_tls = isinstance(self._sock, ssl.SSLSocket)
        req = spnego.ContextReq.mutual_auth
        if over_tls:
            # Over TLS, AD refuses a SASL security layer on top: no integrity, channel binding instead.
            req |= spnego.ContextReq.no_integrity
        else:
            req |= (spnego.ContextReq.sequence_detect | spnego.ContextReq.integrity
                    | spnego.ContextReq.confidentiality)
        cbt = self._channel_bindings() if over_tls else None
        if self.auth == "kerberos":
            ctx = self._kerberos_context(over_tls, cbt)
        else:
            ctx = spnego.client(username=self.username, password=self.password, hostname=self.tls_server_name,
                                service="ldap", protocol="ntlm", context_req=req)
        token = None
        try:
            while not ctx.complete:
                out = ctx.step(in_token=token, channel_bindings=cbt)
                if not out:
                    break
                msg_id = self._proto.bind_sasl("GSS-SPNEGO", cred=out)
                self._send(self._proto.data_to_send())
                resp = self._wait_for(msg_id, "bind")
                code = int(resp.result.result_code)
                if code not in (0, 14):
                    self._check(resp.result, "bind")
                token = resp.server_sasl_creds
                if code == 0 and token:
                    ctx.step(in_token=token, channel_bindings=cbt)
                if code == 0:
                    break
        except spnego.exceptions.SpnegoError as exc:
            if self.auth == "kerberos":
                raise self._kerberos_error(exc)
            raise LdapAuthError("NTLM authentication to %s failed: %s" % (self._where(), exc))
        if not over_tls:
            self._seal = ctx

    def _kerberos_context(self, over_tls, cbt):
        """SPNEGO with Kerberos only, for ldap/<tls_server_name>: signed and sealed in plain LDAP; over TLS no SASL
        layer but channel binding, as Windows clients do."""
        from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos

        try:
            return _kerberos.client_context(self.username, self.password, self.tls_server_name, "ldap",
                                            protocol="negotiate", channel_bindings=cbt, wrapping=not over_tls,
                                            ntlm=False)
        except Exception as exc:  # the KDC's answer (or no credential), in words below
            raise self._kerberos_error(exc)

    def _kerberos_error(self, exc):
        from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos

        kind, _words, words = _kerberos.describe(
            exc, user=self.username, spn="ldap/%s" % self.tls_server_name,
            spn_hint="set tls_server_name to the domain controller's DNS name (its SPN ldap/<fqdn>; an IP address "
                     "has none)")
        error = LdapAuthError("Kerberos bind to %s as %r (service principal ldap/%s) failed: %s."
                              % (self._where(), self.username, self.tls_server_name, words))
        error.details["kerberos_error"] = kind
        return error

    # -- message I/O --------------------------------------------------------------------------------------------

    def _send(self, data):
        if not data:
            return
        if self._seal is not None:
            wrapped = self._seal.wrap(data, encrypt=True).data
            data = struct.pack(">I", len(wrapped)) + wrapped
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise LdapConnectionError("Lost the connection to %s while sending: %s" % (self._where(), exc))

    def _recv(self):
        try:
            chunk = self._sock.recv(65536)
        except socket.timeout:
            raise LdapConnectionError("No answer from %s within %s seconds" % (self._where(), self.timeout))
        except OSError as exc:
            raise LdapConnectionError("Lost the connection to %s: %s" % (self._where(), exc))
        if not chunk:
            raise LdapConnectionError("The LDAP server %s closed the connection (it may refuse this kind of bind "
                                      "or require another transport)" % self._where())
        if self._seal is None:
            self._buffer.extend(chunk)
            return
        self._sasl_buffer.extend(chunk)
        while len(self._sasl_buffer) >= 4:
            size = struct.unpack(">I", bytes(self._sasl_buffer[:4]))[0]
            if len(self._sasl_buffer) < 4 + size:
                break
            frame = bytes(self._sasl_buffer[4:4 + size])
            del self._sasl_buffer[:4 + size]
            self._buffer.extend(self._seal.unwrap(frame).data)

    def _next_message(self):
        while True:
            message, rest = split_frame(self._buffer)
            if message is not None:
                self._buffer = bytearray(rest)
                return message
            self._recv()

    def _wait_for(self, msg_id, operation):
        """The sansldap response(s) to ``msg_id``: one message, or for a search every message up to the done."""
        collected = []
        while True:
            raw = self._next_message()
            try:
                messages = self._proto.receive(raw)
            except sansldap.ProtocolError as exc:
                raise LdapConnectionError("LDAP %s: the server %s ended the session: %s"
                                          % (operation, self._where(), exc))
            for msg in messages:
                if msg.message_id != msg_id:
                    continue
                if isinstance(msg, (sansldap.SearchResultEntry, sansldap.SearchResultReference)):
                    collected.append(msg)
                    continue
                if isinstance(msg, sansldap.SearchResultDone):
                    collected.append(msg)
                    return collected
                return msg

    def _own_request(self, operation, tag_number, write_body, controls=(), dn=None):
        """Send a request sansldap cannot build (add, delete), wait for its LDAPResult and check it."""
        msg_id = self._next_id
        self._next_id += 1
        writer = ASN1Writer()
        with writer.push_sequence() as seq:
            seq.write_integer(msg_id)
            write_body(seq)
            if controls:
                with seq.push_sequence(ASN1Tag(TagClass.CONTEXT_SPECIFIC, 0, True)) as ctl_writer:
                    for ctl in controls:
                        ctl.pack(ctl_writer, sansldap.ControlOptions())
        self._send(bytes(writer.get_data()))
        while True:
            raw = self._next_message()
            reader = ASN1Reader(raw).read_sequence(hint="LDAPMessage")
            got_id = reader.read_integer(hint="LDAPMessage.messageID")
            op = reader.peek_header().tag
            if got_id != msg_id or op.tag_number not in _OWN_RESPONSES:
                self._proto.receive(raw)  # a notice of disconnection raises here
                continue
            result = reader.read_sequence(tag=ASN1Tag(TagClass.APPLICATION, op.tag_number, True), hint="LDAPResult")
            code = int(result.read_enumerated(sansldap.LDAPResultCode, hint="LDAPResult.resultCode"))
            result.read_octet_string(hint="LDAPResult.matchedDN")
            message = result.read_octet_string(hint="LDAPResult.diagnosticMessage").decode("utf-8", "replace")
            if code != 0:
                raise LdapError.from_result(operation, code, message, dn=dn)
            return

    @staticmethod
    def _check(result, operation, dn=None):
        if int(result.result_code) != 0:
            raise LdapError.from_result(operation, int(result.result_code), result.diagnostics_message, dn=dn)

    # -- operations ---------------------------------------------------------------------------------------------

    def root_dse(self):
        if self._root_dse is None:
            attributes = ["defaultNamingContext", "supportedControl", "dnsHostName", "serverName"]
            entries = self.search("", "(objectClass=*)", attributes, scope="base", page_size=0)
            self._root_dse = entries[0][1] if entries else {}
        return self._root_dse

    def default_naming_context(self):
        values = self.root_dse().get("defaultnamingcontext") or [b""]
        return values[0].decode("utf-8")

    def search(self, base, ldap_filter, attributes, scope="subtree", page_size=500, controls=None):
        """``[(dn, {attribute_lower: [bytes, ...]}), ...]``; pages through the results (simple paged results)."""
        scopes = {"base": sansldap.SearchScope.BASE, "one": sansldap.SearchScope.ONE_LEVEL,
                  "subtree": sansldap.SearchScope.SUBTREE}
        try:
            parsed = sansldap.LDAPFilter.from_string(ldap_filter)
        except ValueError as exc:
            raise InputError("Invalid LDAP filter %s: %s" % (ldap_filter, exc))
        cookie = b""
        out = []
        while True:
            ctls = list(controls or [])
            if page_size:
                ctls.append(sansldap.PagedResultControl(critical=False, size=page_size, cookie=cookie))
            msg_id = self._proto.search_request(base_object=base, scope=scopes[scope], filter=parsed,
                                                attributes=list(attributes), controls=ctls)
            self._send(self._proto.data_to_send())
            cookie = b""
            for msg in self._wait_for(msg_id, "search"):
                if isinstance(msg, sansldap.SearchResultEntry):
                    attrs = {}
                    for attr in msg.attributes:
                        attrs.setdefault(attr.name.lower(), []).extend(attr.values)
                    out.append((msg.object_name, attrs))
                elif isinstance(msg, sansldap.SearchResultDone):
                    self._check(msg.result, "search", dn=base or "the root DSE")
                    for ctl in msg.controls:
                        if isinstance(ctl, sansldap.PagedResultControl):
                            cookie = ctl.cookie
            if not cookie:
                return out

    def delete(self, dn, tree=False):
        """Delete ``dn``; ``tree=True`` sends the tree-delete control (the object and everything under it)."""
        controls = [sansldap.LDAPControl(TREE_DELETE_OID, True, None)] if tree else []

        def body(writer):
            # DelRequest ::= [APPLICATION 10] LDAPDN  (a primitive OCTET STRING)
            writer.write_octet_string(dn.encode("utf-8"), tag=ASN1Tag(TagClass.APPLICATION, 10, False))

        self._own_request("delete", 10, body, controls, dn=dn)

    def add(self, dn, attributes):
        """Create ``dn`` with ``attributes`` ({name: value or [values]}, str or bytes). The lab uses it; the
        modules never create directory objects."""

        def body(writer):
            with writer.push_sequence(ASN1Tag(TagClass.APPLICATION, 8, True)) as req:
                req.write_octet_string(dn.encode("utf-8"))
                with req.push_sequence() as attr_list:
                    for name, values in attributes.items():
                        if not isinstance(values, (list, tuple)):
                            values = [values]
                        with attr_list.push_sequence() as attr:
                            attr.write_octet_string(name.encode("utf-8"))
                            with attr.push_set() as vals:
                                for v in values:
                                    vals.write_octet_string(v if isinstance(v, bytes) else str(v).encode("utf-8"))

        self._own_request("add", 8, body, dn=dn)


def client_from_params(params, warn=None):
    return LdapClient(params.get("server"), port=params.get("port"), tls_mode=params.get("tls_mode") or "ldaps",
                      validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
                      tls_server_name=params.get("tls_server_name"), auth=params.get("auth") or "simple",
                      username=params.get("username"), password=params.get("password"),
                      timeout=params.get("timeout") or 30.0, warn=warn)


def client_from_module(module):
    """Build (not yet connected) the client from a module's params; typed errors surface through main()."""
    check_libs(module, module.params.get("auth") or "simple")
    return client_from_params(module.params, warn=module.warn)


# ---------------------------------------------------------------------------------------------------------------
# AD computer objects: the lookup shared by ad_computer_info and ad_computer (state=absent)

SELECTORS = (("name", "cn"), ("sam_account_name", "sAMAccountName"), ("serial_number", "serialNumber"),
             ("object_guid", "objectGUID"))
COMPUTER_ATTRIBUTES = ["objectGUID", "cn", "sAMAccountName", "serialNumber", "dNSHostName", "description",
                       "operatingSystem", "operatingSystemVersion", "userAccountControl", "whenCreated",
                       "whenChanged", "lastLogonTimestamp"]
CHILD_ATTRIBUTES = ["objectGUID", "name", "objectClass"]
_METACHARACTERS = re.compile(r"[*()\\\x00]")


def check_selector(option, value):
    """The stripped selector value; InputError for an empty/whitespace value or one with wildcards or LDAP
    filter metacharacters (so a typo never widens the match)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        raise InputError("%s is empty (or only whitespace): refusing to look up computers by it - an empty "
                         "selector must never match everything" % option)
    if _METACHARACTERS.search(text):
        raise InputError("%s %r contains a wildcard or an LDAP filter character (* ( ) \\ NUL): only exact values "
                         "are accepted, so a selector never matches more than the records it names" % (option, text))
    return text


def computer_filter(selectors):
    """The LDAP filter for validated ``selectors`` ({option: value}); values are escaped."""
    parts = ["(objectClass=computer)"]
    for option, attribute in SELECTORS:
        value = selectors.get(option)
        if value is None:
            continue
        if option == "object_guid":
            value = parse_guid(value).bytes_le
        elif option == "sam_account_name" and not value.endswith("$"):
            value += "$"
        elif option == "serial_number":
            # serialNumber's syntax compares case-sensitively in AD: ask for the usual spellings, and
            # find_computers keeps the case-insensitive exact matches.
            variants = sorted(set((value, value.upper(), value.lower())))
            parts.append("(|%s)" % "".join("(serialNumber=%s)" % escape_filter_value(v) for v in variants))
            continue
        parts.append("(%s=%s)" % (attribute, escape_filter_value(value)))
    return "(&%s)" % "".join(parts)


def _first(attrs, name):
    values = attrs.get(name.lower())
    return values[0].decode("utf-8", "replace") if values else None


def computer_view(dn, attrs):
    serials = [v.decode("utf-8", "replace") for v in attrs.get("serialnumber", [])]
    uac = _first(attrs, "userAccountControl")
    guid = attrs.get("objectguid")
    return {
        "id": guid_from_bytes(guid[0]) if guid else None,
        "name": _first(attrs, "cn"),
        "serial_number": serials[0] if serials else None,
        "serial_numbers": serials,
        "distinguished_name": dn,
        "sam_account_name": _first(attrs, "sAMAccountName"),
        "dns_host_name": _first(attrs, "dNSHostName"),
        "description": _first(attrs, "description"),
        "operating_system": _first(attrs, "operatingSystem"),
        "operating_system_version": _first(attrs, "operatingSystemVersion"),
        "enabled": (not int(uac) & 2) if uac and uac.lstrip("-").isdigit() else None,
        "when_created": generalized_time_to_iso(_first(attrs, "whenCreated")),
        "when_changed": generalized_time_to_iso(_first(attrs, "whenChanged")),
        "last_logon": filetime_to_iso(_first(attrs, "lastLogonTimestamp")),
    }


def resolve_selectors(params):
    """Validated selectors from module params, and the serial guard (or None).

    ``serial_number`` alone selects by serial; together with another selector it is a guard instead."""
    selectors = {}
    for option, _attribute in SELECTORS:
        value = check_selector(option, params.get(option))
        if value is not None:
            selectors[option] = value
    if not selectors:
        raise InputError("Give at least one selector: name, sam_account_name, serial_number or object_guid")
    if "object_guid" in selectors:
        parse_guid(selectors["object_guid"])
    guard = None
    if "serial_number" in selectors and len(selectors) > 1:
        guard = selectors.pop("serial_number")
    return selectors, guard


def find_computers(client, search_base, selectors):
    base = (search_base or "").strip() or client.default_naming_context()
    entries = client.search(base, computer_filter(selectors), COMPUTER_ATTRIBUTES)
    computers = [computer_view(dn, attrs) for dn, attrs in entries]
    if selectors.get("serial_number") is not None:
        want = _norm_serial(selectors["serial_number"])
        computers = [c for c in computers if want in [_norm_serial(s) for s in c["serial_numbers"]]]
    return sorted(computers, key=lambda c: (c["name"] or "").lower())


def _norm_serial(value):
    return (value or "").strip().lower()


def check_serial_guard(computers, serial, require_match=True):
    """Raise SerialMismatchError naming every computer whose serial differs (or is missing, when required)."""
    want = _norm_serial(serial)
    problems = []
    mismatched = []
    for comp in computers:
        have = [_norm_serial(s) for s in comp["serial_numbers"] if _norm_serial(s)]
        if not have:
            if require_match:
                problems.append("%s (%s) has no serial number, expected %r (set require_serial_match: false to "
                                "accept records without a serial)" % (comp["name"], comp["distinguished_name"], serial))
                mismatched.append(comp["name"])
        elif want not in have:
            problems.append("%s (%s) has serial number %s, expected %r"
                            % (comp["name"], comp["distinguished_name"],
                               ", ".join(repr(s) for s in comp["serial_numbers"]), serial))
            mismatched.append(comp["name"])
    if problems:
        raise SerialMismatchError("Serial number guard: %s. Nothing was deleted." % "; ".join(problems),
                                  mismatched=mismatched)


def children_of(client, dn):
    """The objects below ``dn`` (BitLocker recovery information, ...), deepest first."""
    escaped = []
    for found, attrs in client.search(dn, "(objectClass=*)", CHILD_ATTRIBUTES, scope="subtree"):
        if found.lower() == dn.lower():
            continue
        classes = [v.decode("utf-8", "replace") for v in attrs.get("objectclass", [])]
        guid = attrs.get("objectguid")
        escaped.append({
            "id": guid_from_bytes(guid[0]) if guid else None,
            "name": _first(attrs, "name"),
            "distinguished_name": found,
            "object_class": classes[-1] if classes else None,
        })
    return sorted(escaped, key=lambda c: (-c["distinguished_name"].count(","), c["distinguished_name"].lower()))


def plan_removal(client, computers):
    """What a tree delete of each computer removes: the computer (id, name, serial, dn) with its children."""
    removed = []
    for comp in computers:
        entry = {k: comp[k] for k in ("id", "name", "serial_number", "serial_numbers", "distinguished_name",
                                      "sam_account_name")}
        entry["children"] = children_of(client, comp["distinguished_name"])
        removed.append(entry)
    return removed


def remove(client, removed):
    """Tree-delete every planned computer; one that vanished meanwhile counts as removed."""
    for entry in removed:
        try:
            client.delete(entry["distinguished_name"], tree=True)
        except LdapError as exc:
            if exc.result_code != 32:  # noSuchObject: gone meanwhile
                raise


def entries_from(params):
    """The entries of ad_computer's list forms (``names``, ``serial_numbers``, ``object_guids``, ``computers``),
    each ``(selectors, guard, require_serial_match or None)``, every value checked before connecting."""
    out = []
    raw = [{"name": v} for v in params.get("names") or []]
    raw += [{"serial_number": v} for v in params.get("serial_numbers") or []]
    raw += [{"object_guid": v} for v in params.get("object_guids") or []]
    raw += [dict(c or {}) for c in params.get("computers") or []]
    for n, item in enumerate(raw):
        try:
            selectors, guard = resolve_selectors(item)
        except InputError as exc:
            raise InputError("%s (entry %d of the list)" % (exc.msg, n + 1), **exc.details)
        out.append((selectors, guard, item.get("require_serial_match")))
    return out


def remove_many(client, search_base, entries, require_serial_match=True, check_mode=False):
    """Tree-delete the computers of every entry over ONE connection. Result per entry: ``selector``,
    ``serial_number`` (guard or selector), ``found``, ``removed`` (with children), ``failed``, ``msg``, ``error``.
    A refused guard fails its entry (nothing of it deleted) and the others go on; a computer two entries match is
    deleted once, for the first. An object already gone (noSuchObject) counts as removed."""
    results, taken = [], set()
    for selectors, guard, need in _progress.tracked(entries, "cleanup", "Deleting AD DS computer objects", "devices"):
        res = {"selector": dict(selectors, **({"serial_number": guard} if guard else {})),
               "serial_number": guard or selectors.get("serial_number"), "found": [], "removed": [], "failed": False,
               "msg": None, "error": None}
        results.append(res)
        computers = find_computers(client, search_base, selectors)
        res["found"] = computers
        if guard is not None:
            try:
                check_serial_guard(computers, guard, require_serial_match if need is None else need)
            except SerialMismatchError as exc:
                res.update(failed=True, msg=exc.msg, error=exc)
                continue
        mine = [c for c in computers if c["id"] not in taken]
        taken.update(c["id"] for c in mine)
        planned = plan_removal(client, mine)
        if check_mode:
            res["removed"] = planned
            continue
        for entry in planned:
            try:
                remove(client, [entry])
            except LdapError as exc:
                if isinstance(exc, (LdapConnectionError, LdapAuthError)):
                    raise
                res.update(failed=True, msg=exc.msg, error=exc)
                break
            res["removed"].append(entry)
    return results
