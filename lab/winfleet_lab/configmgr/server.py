# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS front of the ConfigMgr lab: stdlib ``ThreadingHTTPServer`` + ``ssl`` + Windows integrated authentication.

Authentication is what IIS/the SMS Provider's HTTP.sys host does for the AdminService: ``401`` with
``WWW-Authenticate: Negotiate`` and ``WWW-Authenticate: NTLM``, then the NTLM handshake (pyspnego is the acceptor,
as in the WS-Man lab) with channel binding to the TLS certificate (Extended Protection). NTLM authenticates the
*connection*: later requests on the same keep-alive connection carry no header and are still that user's.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import ipaddress
import json
import os
import pathlib
import secrets
import socket
import ssl
import tempfile
import threading
import urllib.parse

import spnego
import spnego.channel_bindings
import spnego.exceptions
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from winfleet_lab.graph.pki import LabPKI

from .service import DELETE, DOMAIN, JSON, READ, ConfigMgrService

# pyspnego's NTLM acceptor reads accounts from the file named by NTLM_USER_FILE when the AUTHENTICATE message
# arrives. The variable is process-wide, so each step sets it for this lab under one lock.
_NTLM_ENV_LOCK = threading.Lock()
UNAUTHORIZED_HTML = (b"<!DOCTYPE html><html><head><title>401 - Unauthorized</title></head><body>"
                     b"<h2>401 - Unauthorized: Access is denied due to invalid credentials.</h2></body></html>")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ntlm = None   # this connection's security context
        self.user = None   # set once the handshake completed

    def log_message(self, fmt, *args):
        if self.server.lab.verbose:
            super().log_message(fmt, *args)

    # ------------------------------------------------------------------------------ responses
    def _send(self, status, body=b"", headers=(), content_type=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")  # headers and body in one write (no Nagle/delayed-ACK stall)
        if body and self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def _challenge(self):
        self.ntlm = None
        self.user = None
        self._send(401, UNAUTHORIZED_HTML, [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")],
                   "text/html")

    # ------------------------------------------------------------------------------ authentication
    def _authenticate(self):
        """The user name, or None after a 401 has been sent."""
        lab = self.server.lab
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        scheme = scheme.lower()
        if scheme not in ("ntlm", "negotiate"):
            if scheme == "" and self.user is not None:
                return self.user  # the connection is authenticated
            lab.count("unauthenticated")
            self._challenge()
            return None
        if self.ntlm is None or self.ntlm.complete:
            cbt = spnego.channel_bindings.GssChannelBindings(
                application_data=b"tls-server-end-point:" + lab.cert_hash)
            self.ntlm = spnego.server(hostname=lab.host, service="http", protocol="negotiate",
                                      channel_bindings=cbt)
            self.user = None
        try:
            with _NTLM_ENV_LOCK:
                os.environ["NTLM_USER_FILE"] = str(lab.user_file)
                out = self.ntlm.step(base64.b64decode(token))
        except (spnego.exceptions.SpnegoError, ValueError) as exc:
            lab.count("auth_failed")
            lab.last_auth_error = "%s: %s" % (type(exc).__name__, exc)
            self._challenge()
            return None
        if not self.ntlm.complete:
            self._send(401, b"", [("WWW-Authenticate", "%s %s" % (scheme.upper() if scheme == "ntlm" else "Negotiate",
                                                                 base64.b64encode(out).decode()))])
            return None
        self.user = self.ntlm.client_principal or ""
        lab.count("auth_ok")
        return self.user

    # ------------------------------------------------------------------------------ one request
    def _serve(self):
        lab = self.server.lab
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        if not path.lower().startswith("/adminservice"):
            self._send(404, b"Not Found", content_type="text/plain")
            return
        user = self._authenticate()
        if user is None:
            return
        path = "/AdminService" + path[len("/AdminService"):]
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        status, body, headers = lab.service.handle(self.command, path, query, user)
        payload = json.dumps(body).encode() if body is not None else b""
        self._send(status, payload, list(headers.items()), JSON if body is not None else None)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class ConfigMgrLab:
    """One emulated SMS Provider with its AdminService.

    ``ConfigMgrLab(directory, host="127.0.40.1").start()``; ``url`` (``https://host:port/AdminService``),
    ``ca_path``, ``username``/``password`` (full administrator: read + delete), ``reader_username``/
    ``reader_password`` (read-only administrator: deletes get 403), ``add_device()``, ``devices()``, ``inject()``,
    ``stop()``.
    """

    def __init__(self, directory=None, host="127.0.40.1", port=0, page_size=1000, verbose=False):
        addr = ipaddress.IPv4Address(host)
        if not addr.is_loopback:
            raise ValueError("refusing to listen on non-loopback address %s" % host)
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="configmgr-lab-")
            directory = self._tmp.name
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.verbose = verbose
        self.pki = LabPKI(self.dir, hosts=[host, "localhost"])
        der = x509.load_pem_x509_certificate(self.pki.cert_path.read_bytes()).public_bytes(Encoding.DER)
        self.cert_hash = hashlib.sha256(der).digest()  # RFC 5929 tls-server-end-point for a SHA-256 signed cert
        self.username = "%s\\cmadmin" % DOMAIN
        self.password = secrets.token_urlsafe(12)
        self.reader_username = "%s\\cmreader" % DOMAIN
        self.reader_password = secrets.token_urlsafe(12)
        self.user_file = self.dir / "ntlm-users.txt"
        self.service = ConfigMgrService(page_size=page_size)
        self.service.add_user(self.username, self.password, (READ, DELETE))
        self.service.add_user(self.reader_username, self.reader_password, (READ,))
        self._write_user_file()
        self.stats = {"unauthenticated": 0, "auth_failed": 0, "auth_ok": 0}
        self.last_auth_error = None
        self._stats_lock = threading.Lock()
        self.httpd = None
        self._thread = None

    def _write_user_file(self):
        lines = []
        for name, entry in self.service.users.items():
            for domain in (DOMAIN, ""):
                lines.append("%s:%s:%s" % (domain, name, entry["password"]))
            lines.append(":%s@%s:%s" % (name, DOMAIN, entry["password"]))
        fd = os.open(str(self.user_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def count(self, key):
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    # ------------------------------------------------------------------------------ properties
    @property
    def url(self):
        return "https://%s:%d/AdminService" % (self.host, self.port)

    @property
    def ca_path(self):
        return str(self.pki.ca_path)

    def connection(self, reader=False):
        """Module options that point the collection at this lab."""
        return {"url": self.url, "ca_path": self.ca_path,
                "username": self.reader_username if reader else self.username,
                "password": self.reader_password if reader else self.password}

    # ------------------------------------------------------------------------------ data (delegated)
    def add_device(self, name, serial_number=None, hardware_hash=None, smbios_guid=None, **kwargs):
        return self.service.add_device(name, serial_number, hardware_hash=hardware_hash, smbios_guid=smbios_guid,
                                       **kwargs)

    def devices(self):
        return self.service.devices()

    def inject(self, status, method=None, match="", count=1, code=None, message=None, retry_after=None):
        self.service.inject(status, method=method, match=match, count=count, code=code, message=message,
                            retry_after=retry_after)

    def add_user(self, name, password, rights=(READ,)):
        self.service.add_user(name, password, rights)
        self._write_user_file()

    # ------------------------------------------------------------------------------ lifecycle
    def start(self):
        self.httpd = _Server((self.host, self.port), _Handler)
        self.port = self.httpd.server_address[1]
        self.httpd.lab = self
        self.service.base_url = "https://%s:%d" % (self.host, self.port)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.pki.cert_path), str(self.pki.key_path))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="configmgr-lab", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
