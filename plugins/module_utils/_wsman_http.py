# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""WS-Man over HTTP(S) with NTLM, Kerberos or Negotiate through pyspnego, on one keep-alive ``http.client``
connection per device.

The collector's transport for ``ansible_winrm_transport: ntlm`` (the common case for fleets), ``kerberos`` and
``negotiate`` (domain fleets, where NTLM may be restricted), a drop-in for
pywinrm's ``Transport`` (``send_message``, ``close_session``) so pywinrm's ``Protocol`` (WinRS) works on top of it
and ``_wsman.WSManClient`` maps its errors in one place. What it does on the wire is what Windows expects of any
client ([MS-WSMV] 2.2.9.1, and what pywinrm, pypsrp and curl send):

* the NTLM handshake in the ``Negotiate`` scheme on the connection: NEGOTIATE (-> 401 with the CHALLENGE), then
  AUTHENTICATE with an empty body (-> 200); the connection stays authenticated;
* Kerberos: the AP-REQ in the ``Negotiate`` scheme, answered 200 with the AP-REP (mutual authentication);
* over HTTP, every message sealed and signed as ``multipart/encrypted`` with
  ``protocol="application/HTTP-SPNEGO-session-encrypted"`` (``HTTP-Kerberos-session-encrypted`` for Kerberos;
  ``AllowUnencrypted`` is false by default on Windows);
* over HTTPS, the channel-binding token of the server's certificate (RFC 5929 ``tls-server-end-point``), and no
  message encryption (TLS carries it).

Why not requests (pywinrm's own transport): the collector reads thousands of devices from one controller and its
CPU per device is the limit; requests' per-request work (preparing, merging settings, hooks, adapters) was two
thirds of it (docs/wsman-lab.md). Low-level failures are raised as the ``requests.exceptions`` classes pywinrm's
transport would raise for them, so the error names and words stay those of every other path.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import struct

try:
    import requests.exceptions
    import spnego
    from spnego.channel_bindings import GssChannelBindings
    from winrm.exceptions import InvalidCredentialsError, WinRMTransportError

    HAS_SPNEGO = True
except ImportError:  # pragma: no cover - _wsman reports the missing libraries
    HAS_SPNEGO = False

BOUNDARY = b"--Encrypted Boundary"
PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
CONTENT_TYPE_ENCRYPTED = 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % PROTOCOL
CONTENT_TYPE_SOAP = "application/soap+xml;charset=UTF-8"
USER_AGENT = "Python WinRM client"  # what pywinrm sends: devices' logs and proxies see the same client


def certificate_hash(der):
    """RFC 5929 ``tls-server-end-point``: the certificate hashed with its signature's hash (SHA-256 for MD5/SHA-1)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_der_x509_certificate(der)
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # an algorithm cryptography does not know: no binding, as requests-ntlm does
        return None
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(der)
    return digest.finalize()


def ca_bundle(ca_trust_path):
    """The CA file to validate with: the one given, else requests' choice (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, its
    own bundle), so a fleet that works with pywinrm's transport works here."""
    if ca_trust_path and ca_trust_path != "legacy_requests":
        return ca_trust_path
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            return os.environ[name]
    from requests.certs import where  # certifi's bundle, as requests uses it

    return where()


def seal(context, message, protocol=PROTOCOL):
    """One message as the ``multipart/encrypted`` body Windows expects ([MS-WSMV] 2.2.9.1.1)."""
    wrapped = context.wrap_winrm(message)
    return b"".join((
        BOUNDARY, b"\r\n\tContent-Type: ", protocol.encode(), b"\r\n\tOriginalContent: type=",
        CONTENT_TYPE_SOAP.encode(), b";Length=", str(len(message)).encode(), b"\r\n", BOUNDARY,
        b"\r\n\tContent-Type: application/octet-stream\r\n", struct.pack("<i", len(wrapped.header)), wrapped.header,
        wrapped.data, BOUNDARY, b"--\r\n"))


def unseal(context, body):
    """The plain text of a ``multipart/encrypted`` answer; the length Windows declares is checked."""
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    out = []
    for i in range(0, len(parts) - 1, 2):
        header, payload = parts[i].strip(), parts[i + 1]
        try:
            length = int(header.split(b"Length=")[1].split(b"\r\n")[0])
        except (IndexError, ValueError):
            raise ValueError("an encrypted part without its length")
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[:-len(BOUNDARY + b"--\r\n")]
        payload = payload.split(b"application/octet-stream\r\n", 1)[-1]
        size = struct.unpack("<i", payload[:4])[0]
        text = context.unwrap_winrm(payload[4:4 + size], payload[4 + size:])
        if len(text) != length:
            raise ValueError("the decrypted length (%d) is not the length the device declared (%d)" % (len(text), length))
        out.append(text)
    if not out:
        raise ValueError("an encrypted answer without an encrypted part")
    return b"".join(out)


# A domain-joined device (it offers Kerberos) that rejects an NTLM AUTHENTICATE: a wrong password, or the domain's
# "Restrict NTLM" policy, which Windows may apply at that step
DOMAIN_DEVICE_REJECTED = "the specified credentials were rejected by the server, which offers Kerberos"


class NtlmRefusedError(InvalidCredentialsError if HAS_SPNEGO else Exception):
    """The device answered an NTLM NEGOTIATE without a CHALLENGE while offering Negotiate: it refuses NTLM (the
    domain's "Restrict NTLM" policy), where Kerberos is the way in."""


class KerberosFailure(Exception):
    """Kerberos could not get or use a ticket for the device (``_kerberos.describe`` words it); ``spn`` names the
    service principal asked for."""

    def __init__(self, exc, spn):
        super().__init__(str(exc))
        self.error = exc
        self.spn = spn


class SpnegoTransport:
    """One device's WS-Man endpoint over NTLM, Kerberos or Negotiate (SPNEGO). ``send_message`` takes and returns the
    SOAP text (bytes).

    ``protocol`` ntlm (the password may be pyspnego's ``LM:NT`` hash form), kerberos (raw Kerberos tokens in the
    ``Negotiate`` scheme, as pywinrm and Windows' own clients send them) or negotiate (SPNEGO, Kerberos first).
    Kerberos asks for the ticket of ``<service>/<spn_host>`` (``ansible_winrm_kerberos_hostname_override``, else the
    host), with the password (a TGT obtained once per process, ``_kerberos.credential``) or, without one, the ticket
    cache (``KRB5CCNAME``) or the client keytab (``KRB5_CLIENT_KTNAME``); ``delegate`` forwards the TGT."""

    def __init__(self, host, port, scheme, path, username, password, cert_validation=True, ca_trust_path=None,
                 read_timeout=30, message_encryption="auto", send_cbt=True, protocol="ntlm", spn_host=None,
                 service="HTTP", delegate=False):
        self.host = host
        self.port = port
        self.scheme = scheme
        self.path = path or "/wsman"
        self.endpoint = "%s://%s:%d%s" % (scheme, "[%s]" % host if ":" in host else host, port, self.path)
        self.username = username
        self.password = password
        self.read_timeout = read_timeout
        self.encrypt = message_encryption == "always" or (message_encryption == "auto" and scheme == "http")
        self.send_cbt = send_cbt
        self.protocol = protocol
        self.spn_host = spn_host or host
        self.service = service or "HTTP"
        self.delegate = delegate
        # MS-WSMV 2.2.9.1: the protocol names the mechanism the messages are sealed with
        self.sealed_as = KERBEROS_PROTOCOL if protocol == "kerberos" else PROTOCOL
        self.sealed_type = CONTENT_TYPE_ENCRYPTED.replace(PROTOCOL, self.sealed_as)
        self.ssl_context = None
        if scheme == "https":
            if cert_validation:
                self.ssl_context = ssl.create_default_context(cafile=ca_bundle(ca_trust_path))
            else:
                self.ssl_context = ssl._create_unverified_context()  # noqa: S323 - the inventory asked for it
        self.conn = None
        self.context = None

    @property
    def spn(self):
        return "%s/%s" % (self.service, self.spn_host)

    # pywinrm's Transport API -------------------------------------------------------------------------------------
    def close_session(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.context = None

    def send_message(self, message):
        if isinstance(message, str):
            message = message.encode("utf-8")
        if self.context is None:
            self._authenticate()
        if self.encrypt:
            body, content_type = seal(self.context, message, self.sealed_as), self.sealed_type
        else:
            body, content_type = message, CONTENT_TYPE_SOAP
        status, headers, data = self._post(body, {"Content-Type": content_type})
        text = data
        answer_type = headers.get("content-type") or ""
        if self.encrypt and (PROTOCOL in answer_type or KERBEROS_PROTOCOL in answer_type):
            try:
                text = unseal(self.context, data)
            except Exception as exc:
                raise requests.exceptions.ContentDecodingError("cannot decrypt the answer: %s" % exc)
        if status == 401:
            self.close_session()
            raise InvalidCredentialsError("the specified credentials were rejected by the server")
        if status >= 400:
            raise WinRMTransportError("http", status, text.decode("utf-8", "replace"))
        return text

    # the connection ----------------------------------------------------------------------------------------------
    def _connect(self):
        try:
            if self.ssl_context is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.read_timeout)
            else:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.read_timeout,
                                                   context=self.ssl_context)
            conn.connect()
        except ssl.SSLError as exc:
            raise requests.exceptions.SSLError(exc)
        except (TimeoutError, socket.timeout) as exc:
            raise requests.exceptions.ConnectTimeout(exc)
        except OSError as exc:
            raise requests.exceptions.ConnectionError(exc)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = conn

    def _post(self, body, headers):
        """(status, {lower-case header: value}, body) of one POST on the device's connection."""
        if self.conn is None:
            self._connect()
        headers = dict(headers, **{"Content-Length": str(len(body)), "User-Agent": USER_AGENT,
                                   "Accept-Encoding": "identity"})
        try:
            self.conn.request("POST", self.path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except ssl.SSLError as exc:
            self.close_session()
            raise requests.exceptions.SSLError(exc)
        except (TimeoutError, socket.timeout) as exc:
            self.close_session()
            raise requests.exceptions.ReadTimeout(exc)
        except (http.client.HTTPException, OSError) as exc:
            self.close_session()
            raise requests.exceptions.ConnectionError(exc)
        out = {}
        for name, value in resp.getheaders():  # a header sent twice (WWW-Authenticate: one per scheme) is joined
            name = name.lower()
            out[name] = "%s, %s" % (out[name], value) if name in out else value
        if resp.will_close:
            # NTLM and Kerberos authenticate the connection: a closed one needs a new handshake (and a new context)
            self.conn.close()
            self.conn = None
            if resp.status < 400:
                self.context = None
        return resp.status, out, data

    def _channel_bindings(self):
        if self.ssl_context is None or not self.send_cbt:
            return None
        der = self.conn.sock.getpeercert(binary_form=True)
        digest = certificate_hash(der) if der else None
        return GssChannelBindings(application_data=b"tls-server-end-point:" + digest) if digest else None

    def _new_context(self):
        if self.protocol == "ntlm":
            return spnego.client(self.username, self.password, hostname=self.host, service="HTTP", protocol="ntlm",
                                 channel_bindings=self._channel_bindings())
        from ansible_collections.winfleet.autopilot.plugins.module_utils import _kerberos

        try:
            return _kerberos.client_context(self.username, self.password, self.spn_host, self.service,
                                            protocol=self.protocol, channel_bindings=self._channel_bindings(),
                                            delegate=self.delegate)
        except Exception as exc:  # the KDC's answer (or no credential): worded by _wsman
            self.close_session()
            raise KerberosFailure(exc, self.spn) from exc

    def _step(self, context, token=None):
        try:
            return context.step(token)
        except Exception as exc:
            self.close_session()
            if self.protocol == "ntlm":
                raise
            raise KerberosFailure(exc, self.spn) from exc

    def _authenticate(self):
        """The handshake on a fresh connection; leaves ``self.context`` ready to seal. NTLM: NEGOTIATE (401 with the
        CHALLENGE), AUTHENTICATE (200). Kerberos: AP-REQ (200 with the AP-REP of mutual authentication)."""
        self.close_session()
        self._connect()
        context = self._new_context()
        token = self._step(context)
        first = True
        while True:
            status, headers, data = self._post(b"", {"Authorization": "Negotiate " + base64.b64encode(token).decode(),
                                                     "Content-Type": CONTENT_TYPE_SOAP})
            offered = headers.get("www-authenticate")
            answer = _token(offered)
            if status == 401 and answer is not None and not context.complete:
                if self.conn is None:  # the device closed the connection mid-handshake: it cannot go on
                    raise requests.exceptions.ConnectionError(OSError("the device closed the connection during the "
                                                                      "%s handshake" % self.protocol))
                token = self._step(context, answer)
                first = False
                if token:
                    continue
            if status == 401:
                self.close_session()
                if first and self.protocol == "ntlm":
                    if "negotiate" in (offered or "").lower():
                        raise NtlmRefusedError("the device answered the NTLM NEGOTIATE without a CHALLENGE: it "
                                               "refuses NTLM")
                    raise InvalidCredentialsError("the server offered no NTLM (Negotiate) authentication")
                if self.protocol == "ntlm" and "kerberos" in (offered or "").lower():
                    raise InvalidCredentialsError(DOMAIN_DEVICE_REJECTED)
                raise InvalidCredentialsError("the specified credentials were rejected by the server")
            if status >= 400:
                self.close_session()
                raise WinRMTransportError("http", status, data.decode("utf-8", "replace"))
            if answer is not None and not context.complete:
                self._step(context, answer)  # Kerberos: the AP-REP (mutual authentication)
            if not context.complete:
                self.close_session()
                raise InvalidCredentialsError("the device accepted the %s handshake without completing it (no "
                                              "mutual authentication)" % self.protocol)
            self.context = context
            return


NtlmTransport = SpnegoTransport  # the name of the NTLM-only first version


def _token(header):
    """The NTLM or Kerberos token of a ``WWW-Authenticate: Negotiate <base64>`` header (several schemes may be listed)."""
    for part in (header or "").split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() in ("negotiate", "ntlm", "kerberos"):
            try:
                return base64.b64decode(words[1])
            except ValueError:
                return None
    return None
