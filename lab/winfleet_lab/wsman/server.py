# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's network side: one asyncio loop, one listening socket per device address and port.

Layers, each kept small: HTTP/1.1 keep-alive framing -> authentication (Basic per request when the device allows it,
Negotiate/NTLM per connection with pyspnego as the acceptor speaking for the device, ``ntlm.py``; channel binding over
TLS at the device's CbtHardeningLevel) -> MS-WSMV message encryption -> ``service.handle``.
The device is the *local* address of the accepted socket. Fault behaviours that live on the wire (offline, silent,
dropped mid-response, latency, power off) are applied here.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import functools
import ipaddress
import os
import socket
import ssl
import struct
import tempfile
import threading

import spnego
import spnego.channel_bindings
import spnego.exceptions

from . import certs, ntlm, service, soap

BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENC = "application/HTTP-SPNEGO-session-encrypted"
KRB_ENC = "application/HTTP-Kerberos-session-encrypted"  # what Windows names messages sealed with raw Kerberos
ENC_CONTENT_TYPE = 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % SPNEGO_ENC
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 411: "Length Required",
           500: "Internal Server Error"}
MAX_BODY = 1 << 22


class HttpRequest:
    __slots__ = ("body", "headers", "method", "path")

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


class BadRequest(Exception):
    """A request the HTTP layer answers itself and then closes the connection (``response`` is the bytes)."""

    def __init__(self, response):
        super().__init__("bad request")
        self.response = response


async def read_request(reader, idle_timeout=None, body_timeout=None):
    """One HTTP/1.1 request, or None when the client closed the connection (or stayed idle too long).

    Framing problems become ``BadRequest`` (400 for a head that is too large or a bad Content-Length, 411 for a
    chunked body, a w:EncodingLimit SOAP fault for a body over ``MAX_BODY``): the caller sends the answer and closes.
    """
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle_timeout)
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(http_response(400, b"request head too large", [("Connection", "close")])) from None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest(http_response(411, b"chunked request bodies are not supported", [("Connection", "close")]))
    raw_length = headers.get("content-length") or "0"
    if not raw_length.isdigit() or len(raw_length) > 18:
        raise BadRequest(http_response(400, b"invalid Content-Length", [("Connection", "close")]))
    length = int(raw_length)
    if length > MAX_BODY:
        fault = soap.fault_message(soap.encoding_limit(length, MAX_BODY), "")
        raise BadRequest(http_response(500, fault, [("Content-Type", "application/soap+xml;charset=UTF-8"),
                                                    ("Connection", "close")]))
    try:
        body = await asyncio.wait_for(reader.readexactly(length), body_timeout) if length else b""
    except TimeoutError:
        raise BadRequest(http_response(400, b"request body timed out", [("Connection", "close")])) from None
    return HttpRequest(method, path, headers, body)


def http_response(status, body=b"", headers=()):
    out = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")), "Server: Microsoft-HTTPAPI/2.0",
           "Date: " + email.utils.formatdate(usegmt=True)]
    out += ["%s: %s" % kv for kv in headers]
    out.append("Content-Length: %d" % len(body))
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body  # one write: no Nagle/delayed-ACK stall


# ---------------------------------------------------------------------------------------------- encryption
def unwrap_message(ctx, body):
    """MS-WSMV 2.2.9.1: decrypt every part of a multipart/encrypted body."""
    out = b""
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    for i in range(0, len(parts) - 1, 2):
        length = int(parts[i].split(b"Length=")[1].split(b"\r\n")[0])
        payload = parts[i + 1]
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        payload = payload.split(b"application/octet-stream\r\n", 1)[1]
        sig_len = struct.unpack("<I", payload[:4])[0]
        data = ctx.unwrap_winrm(payload[4:4 + sig_len], payload[4 + sig_len:])
        if len(data) != length:
            raise ValueError("encrypted payload length %d != announced %d" % (len(data), length))
        out += data
    return out


def wrap_message(ctx, data, protocol=SPNEGO_ENC):
    res = ctx.wrap_winrm(data)
    return (BOUNDARY + b"\r\n\tContent-Type: " + protocol.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(data) + res.padding_length).encode()
            + b"\r\n" + BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<I", len(res.header)) + res.header + res.data + BOUNDARY + b"--\r\n")


# ---------------------------------------------------------------------------------------------- auth
class Connection:
    """Per-TCP-connection state: NTLM authenticates the connection, not the request."""

    def __init__(self, lab, host, tls):
        self.lab = lab
        self.host = host
        self.tls = tls
        self.ctx = None
        self.user = None

    def challenge(self):
        """The 401 offers the schemes the device's service allows (winrm/config/service/auth): Basic only when on,
        Kerberos when the device is joined to the lab's domain (it has a key)."""
        offered = [("WWW-Authenticate", "Negotiate")]
        if self.lab.kerberos_credential(self.host) is not None:
            offered.append(("WWW-Authenticate", "Kerberos"))
        if self.host.basic:
            offered.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return http_response(401, headers=offered)

    def authenticate(self, req):
        """(user, extra response headers) or (None, 401 response bytes)."""
        host, events = self.host, self.lab.fleet.events
        scheme, _, token = (req.headers.get("authorization") or "").partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
            except ValueError:
                return None, self.challenge()
            if not host.basic:
                events.record(host, "auth_refused", reason="Basic authentication is disabled (Auth/Basic=false)", user=user)
                return None, self.challenge()
            if not self.tls and not host.allow_unencrypted:
                events.record(host, "auth_refused", reason="Basic over unencrypted HTTP (AllowUnencrypted=false)", user=user)
                return None, self.challenge()
            if _bare(user) != host.username.lower() or password != host.password:
                events.record(host, "auth_failed", scheme="basic", user=user)
                return None, self.challenge()
            self.ctx = None
            return user, []
        if scheme in ("negotiate", "ntlm", "kerberos"):
            # pyspnego reads the accounts from NTLM_USER_FILE (when the acceptor is built and at the AUTHENTICATE
            # message); every step runs on the lab's single loop thread, so pointing it at this device's file here is
            # race-free.
            os.environ["NTLM_USER_FILE"] = self.lab.user_file(host)
            try:
                raw = base64.b64decode(token)
            except ValueError:
                return None, self.challenge()
            if self.ctx is None or self.ctx.complete:
                if not host.ntlm and ntlm.is_ntlm(raw):
                    # "Network security: Restrict NTLM: Incoming NTLM traffic = Deny all accounts": no CHALLENGE
                    events.record(host, "auth_refused", scheme="ntlm", reason="NTLM refused (Restrict NTLM)")
                    self.ctx = None
                    return None, self.challenge()
                if "clock_skew" in host.faults and ntlm.is_kerberos(raw):
                    # the device's clock is off: Windows answers the AP-REQ with a KRB-ERROR (KRB_AP_ERR_SKEW)
                    from .. import kerberos

                    events.record(host, "auth_refused", scheme="kerberos", reason="clock skew (KRB_AP_ERR_SKEW)")
                    realm = (host.domain or "").upper()
                    error = kerberos.krb_error_token(kerberos.KRB_AP_ERR_SKEW, realm, "HTTP", host.ntlm_names.dns_computer)
                    return None, http_response(401, headers=[("WWW-Authenticate", "Negotiate " + base64.b64encode(error).decode())])
                cbt = None
                if self.tls:
                    cbt = spnego.channel_bindings.GssChannelBindings(application_data=b"tls-server-end-point:" + self.lab.certs.cert_hash)
                krb = None
                credential = self.lab.kerberos_credential(host)
                if credential is not None:
                    krb = ntlm.kerberos_acceptor(credential, host.ntlm_names,
                                                 cbt if host.cbt_hardening_level != "None" else None)
                self.ctx = ntlm.acceptor(host.ntlm_names, host.cbt_hardening_level, cbt, ntlm_allowed=host.ntlm,
                                         kerberos=krb)
                self.user = None
            try:
                out = self.ctx.step(raw)
            except (spnego.exceptions.SpnegoError, ValueError, KeyError) as exc:
                # KeyError: a mechanism the device does not offer (pyspnego looks it up among the acceptor's)
                self.ctx = None
                if isinstance(exc, spnego.exceptions.BadBindingsError):
                    events.record(host, "auth_refused", scheme="ntlm", user=_ntlm_user(token),
                                  reason="channel binding (CbtHardeningLevel=%s)" % host.cbt_hardening_level)
                else:
                    events.record(host, "auth_failed", scheme="kerberos" if ntlm.is_kerberos(raw) else "ntlm",
                                  error=type(exc).__name__, detail=str(exc)[:300])
                return None, self.challenge()
            if not self.ctx.complete:
                return None, http_response(401, headers=[("WWW-Authenticate", "%s %s" % (scheme.capitalize(), base64.b64encode(out).decode()))])
            self.user = self.ctx.client_principal
            extra_info = {}
            if self.ctx.negotiated_protocol == "kerberos":  # whether the client delegated its TGT to the device
                extra_info["delegated"] = bool(self.ctx.context_attr & spnego.ContextReq.delegate)
            events.record(host, "auth_ok", scheme=self.ctx.negotiated_protocol, user=self.user, tls=self.tls,
                          **extra_info)
            return self.user, ([("WWW-Authenticate", "Negotiate " + base64.b64encode(out).decode())] if out else [])
        if self.user is not None and self.ctx is not None:
            return self.user, []
        return None, self.challenge()

    def respond(self, req):
        """(response bytes, effect)."""
        if req.method != "POST" or req.path.split("?")[0].rstrip("/").lower() != "/wsman":
            return http_response(404), service.NONE
        user, extra = self.authenticate(req)
        if user is None:
            return extra, service.NONE
        encrypted = req.headers.get("content-type", "").startswith("multipart/encrypted")
        if encrypted:
            if self.ctx is None or not self.ctx.complete:
                return http_response(400), service.NONE
            try:
                payload = unwrap_message(self.ctx, req.body)
            except (spnego.exceptions.SpnegoError, ValueError, IndexError, struct.error):
                return http_response(400), service.NONE
        else:
            if req.body and not self.tls and not self.host.allow_unencrypted:
                self.lab.fleet.events.record(self.host, "auth_refused", reason="unencrypted message over HTTP")
                return self.challenge(), service.NONE
            payload = req.body
        if not payload:  # the clients' empty POST that sets up the security context
            return http_response(200, headers=extra), service.NONE
        reply = service.handle(self.host, payload, user, self.lab.fleet.events)
        body = reply.body
        headers = list(extra)
        if encrypted:
            # the answer is sealed as the request was (Kerberos- or SPNEGO-session-encrypted)
            sealed_as = KRB_ENC if KRB_ENC in req.headers.get("content-type", "") else SPNEGO_ENC
            body = wrap_message(self.ctx, body, sealed_as)
            headers.append(("Content-Type", ENC_CONTENT_TYPE.replace(SPNEGO_ENC, sealed_as)))
        else:
            headers.append(("Content-Type", "application/soap+xml;charset=UTF-8"))
        return http_response(reply.status, body, headers), reply.effect


def _ntlm_user(token):
    try:
        from spnego._ntlm_raw.messages import Authenticate

        auth = Authenticate.unpack(base64.b64decode(token))
        return "%s\\%s" % (auth.domain_name or "", auth.user_name or "")
    except Exception:  # SPNEGO-wrapped or malformed: the event goes without the name
        return None


def _bare(user):
    return user.replace("/", "\\").split("\\")[-1].split("@")[0].lower()


# ---------------------------------------------------------------------------------------------- the lab
class Lab:
    """Serve a ``fleet.Fleet``. ``start()`` runs the loop in a daemon thread and returns once every socket listens.

    ``http_port``/``https_port`` 0 give every device its own ephemeral ports (used by the unit tests); the default is the
    standard 5985/5986 on each device's address.
    """

    def __init__(self, fleet, http_port=5985, https_port=5986, workdir=None, tls=True, idle_timeout=900.0,
                 body_timeout=60.0, keytab=None):
        self.fleet = fleet
        # Kerberos: the keys of the devices' HTTP/<fqdn> service principals, exported from the lab's domain
        # controller (winfleet_lab.kerberos); a joined device with a key there accepts Kerberos
        self.keytab = keytab
        self._kerberos_credentials = {}
        self.idle_timeout = idle_timeout  # a connection with no new request for this long is closed
        self.body_timeout = body_timeout  # a started request must arrive completely within this many seconds
        self.http_port = http_port
        self.https_port = https_port
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="winfleet-wsman-")
            workdir = self._tmp.name
        self.workdir = workdir
        self.tls = tls
        self.certs = None
        self.loop = None
        self._thread = None
        self._servers = {}
        self._conns = {}
        self._user_files = {}
        self._stopping = None
        self._ready = threading.Event()
        self._error = None

    def kerberos_credential(self, host):
        """The device's Kerberos acceptor credential (its HTTP/<fqdn> key from ``keytab``), or None when the lab has
        no keytab, the device is not joined, or the keytab has no key for it."""
        if not self.keytab or not host.domain:
            return None
        fqdn = host.ntlm_names.dns_computer
        if fqdn not in self._kerberos_credentials:
            os.environ.setdefault("KRB5RCACHETYPE", "none")  # no replay cache file in /var/tmp
            self._kerberos_credentials[fqdn] = ntlm.kerberos_credential(self.keytab, host.ntlm_names)
        return self._kerberos_credentials[fqdn]

    @property
    def ca_path(self):
        return self.certs.ca_path if self.certs else None

    def user_file(self, host):
        """This device's NTLM_USER_FILE (pyspnego looks the account up by the domain the client names)."""
        key = (host.username, host.password, host.computer_name, host.workgroup, host.domain)
        path = self._user_files.get(key)
        if path is None:
            names = host.ntlm_names
            # The account under every domain a client may name: none, ".", the computer (the local SAM), the workgroup
            # or the AD domain (clients that take the domain from the CHALLENGE's TargetName send one of these).
            domains = {d.upper(): d for d in ("", ".", host.computer_name, names.nb_domain, "WORKGROUP")}.values()
            path = os.path.join(self.workdir, "ntlm-users-%d.txt" % len(self._user_files))
            lm, nt = self._hashes(host.password)
            with open(path, "w", encoding="utf-8") as fh:
                for domain in domains:
                    account = "%s\\%s" % (domain, host.username) if domain else host.username
                    fh.write("%s:1000:%s:%s:[U          ]:LCT-00000000\n" % (account, lm, nt))
            self._user_files[key] = path
        return path

    @functools.lru_cache(maxsize=64)  # noqa: B019 - a handful of passwords per lab, the lab lives as long as its cache
    def _hashes(self, password):
        """The account's LM and NT hashes (smbpasswd lines, as a SAM keeps them), not its password: pyspnego would
        derive them again at every authentication (the LM hash is DES in pure Python, about 2 ms each), and with one
        file per device (each names its own domains) they are derived once per password."""
        from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

        return lmowfv1(password).hex().upper(), ntowfv1(password).hex().upper()

    # ----------------------------------------------------------------- lifecycle
    def start(self, timeout=60):
        if self.tls:
            self.certs = certs.make_certs(self.workdir, [h.address for h in self.fleet.hosts])
        self._thread = threading.Thread(target=self._run, name="wsman-lab", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the WS-Man lab did not start within %ss" % timeout)
        if self._error:
            raise self._error
        return self

    def repair(self, name, timeout=30):
        """The operator fixed the device: no more faults, the inventory's password, listening if it was offline.
        (The fault-matrix test re-runs the campaign after this: the rest must finish.)"""
        host = self.fleet.by_name[name]
        was_offline = "offline" in host.faults
        host.faults = {}
        host.drops_left = -1
        host.password = self.fleet.password
        if was_offline and not host.powered:
            asyncio.run_coroutine_threadsafe(self._bind_host(host, self._ssl_ctx), self.loop).result(timeout)
        self.fleet.events.record(host, "repaired")
        return host

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._stopping = asyncio.Event()
        try:
            self.loop.run_until_complete(self._bind_all())
        except Exception as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_until_complete(self._stopping.wait())
        self.loop.run_until_complete(self._close_all())
        self.loop.close()

    def stop(self):
        if self.loop is not None and self._thread is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(30)
        self.fleet.events.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ----------------------------------------------------------------- sockets
    async def _bind_all(self):
        ssl_ctx = None
        if self.tls:
            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.load_cert_chain(self.certs.cert_path, self.certs.key_path)
        for host in self.fleet.hosts:
            if not ipaddress.IPv4Address(host.address).is_loopback:
                raise ValueError("refusing to listen on non-loopback address %s" % host.address)
            if "offline" in host.faults:
                host.powered = False
                continue
            await self._bind_host(host, ssl_ctx)
        self._ssl_ctx = ssl_ctx

    async def _bind_host(self, host, ssl_ctx):
        servers = []
        pairs = [(self.http_port, None)] + ([(self.https_port, ssl_ctx)] if ssl_ctx is not None else [])
        for port, tls_ctx in pairs:
            srv = await asyncio.start_server(
                lambda r, w, h=host, t=tls_ctx is not None: self._serve(r, w, h, t),
                host.address, port, ssl=tls_ctx, backlog=128, reuse_address=True)
            bound = srv.sockets[0].getsockname()[1]
            if tls_ctx is None:
                host.http_port = bound
            else:
                host.https_port = bound
            servers.append(srv)
        self._servers[host.address] = servers
        host.powered = True

    async def _close_all(self):
        for host in self.fleet.hosts:
            self._power_off(host, record=False)
        await asyncio.sleep(0)

    def _power_off(self, host, record=True):
        host.powered = False
        for srv in self._servers.pop(host.address, []):
            srv.close()
        for writer in list(self._conns.get(host.address, ())):
            writer.transport.abort()
        if record:
            self.fleet.events.record(host, "powered_off")

    # ----------------------------------------------------------------- one connection
    async def _serve(self, reader, writer, host, tls):
        conns = self._conns.setdefault(host.address, set())
        conns.add(writer)
        events = self.fleet.events
        sock = writer.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if "silent" in host.faults:
                events.record(host, "silent_accept")
                await self._stopping.wait()  # never answer: the client's read timeout fires
                return
            conn = Connection(self, host, tls)
            while host.powered:
                try:
                    req = await read_request(reader, self.idle_timeout, self.body_timeout)
                except BadRequest as bad:
                    events.record(host, "bad_request", status=int(bad.response[9:12]))
                    writer.write(bad.response)
                    await writer.drain()
                    return
                if req is None or not host.powered:
                    return
                if host.latency:
                    await asyncio.sleep(host.latency)
                try:
                    data, effect = conn.respond(req)
                except Exception as exc:  # the lab's own bug: a fault, never a traceback or a dead connection
                    events.record(host, "lab_error", error=type(exc).__name__)
                    data = http_response(500, soap.fault_message(soap.internal_error(type(exc).__name__),
                                                                 host.computer_name),
                                         [("Content-Type", "application/soap+xml;charset=UTF-8")])
                    effect = service.NONE
                if effect == service.DROP_MID_RESPONSE:
                    events.record(host, "dropped_mid_response")
                    writer.write(data[: len(data) // 2])
                    await writer.drain()
                    writer.transport.abort()
                    return
                if effect == service.POWER_OFF_NOW:
                    self._power_off(host)
                    return
                writer.write(data)
                if effect == service.POWER_OFF_AFTER:
                    await writer.drain()
                    self._power_off(host)
                    return
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
                if req.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            return
        finally:
            conns.discard(writer)
            try:
                writer.close()
            except (ConnectionError, RuntimeError, OSError):
                pass
