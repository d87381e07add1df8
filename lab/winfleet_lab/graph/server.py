# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS front of the Graph lab: stdlib ``ThreadingHTTPServer`` + ``ssl`` with the lab's own CA."""

from __future__ import annotations

import http.server
import json
import os
import pathlib
import socket
import ssl
import tempfile
import threading
import urllib.parse
import uuid

from .. import secrets as secret_registry
from . import config as C
from .common import JSON
from .pki import LabPKI, cert_pem, key_pem, make_client_cert, thumbprints
from .service import GraphService

MAX_BODY = 64 * 1024 * 1024  # far above any request the collection sends (an import of 500 hashes is ~2.5 MB)
_ERROR_CODES = {400: "BadRequest", 404: "NotFound", 408: "RequestTimeout", 411: "LengthRequired",
                413: "RequestEntityTooLarge", 414: "RequestUriTooLong", 431: "RequestHeaderFieldsTooLarge",
                500: "InternalServerError", 501: "NotImplemented", 505: "HttpVersionNotSupported"}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "winfleet-graph-lab/1.0"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection.settimeout(self.server.lab.request_timeout)

    def log_message(self, fmt, *args):  # quiet: tests read stats, not logs
        if self.server.lab.verbose:
            super().log_message(fmt, *args)

    def send_error(self, code, message=None, explain=None):
        """Protocol-level errors (bad request line, unknown method, oversized head ...) as Graph JSON, not HTML."""
        self._json_error(code, _ERROR_CODES.get(code, "BadRequest"), message or self.responses.get(code, ("",))[0])

    def _json_error(self, status, code, message, close=True):
        request_id = str(uuid.uuid4())
        payload = json.dumps({"error": {"code": code, "message": message, "innerError": {
            "request-id": request_id, "client-request-id": request_id}}}).encode()
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # an unparsable request line still gets a status line and headers
        if not hasattr(self, "_headers_buffer"):
            self._headers_buffer = []
        try:
            self.send_response(status)
            self.send_header("Content-Type", JSON + "; charset=utf-8")
            self.send_header("request-id", request_id)
            self.send_header("Content-Length", str(len(payload)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(payload)
            self.flush_headers()
        except OSError:
            self.close_connection = True

    def _read_body(self):
        """The request body, or None after an error answer (the connection is then closed)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._json_error(411, "LengthRequired", "Chunked request bodies are not supported; send Content-Length.")
            return None
        raw = (self.headers.get("Content-Length") or "0").strip()
        if not raw.isdigit() or len(raw) > 18:
            self._json_error(400, "BadRequest", "Invalid Content-Length header.")
            return None
        length = int(raw)
        if length > MAX_BODY:
            self._json_error(413, "RequestEntityTooLarge", "The request body of %d bytes is larger than the %d "
                             "bytes the service accepts." % (length, MAX_BODY))
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True  # the client went away mid-body
            return None
        return body

    def _serve(self):
        try:
            self._serve_one()
        except TimeoutError:
            self._json_error(408, "RequestTimeout", "The request did not arrive within %s seconds."
                             % self.server.lab.request_timeout)
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True
        except Exception as exc:  # the lab's own bug: a Graph-shaped 500, never a traceback on stderr
            self.server.lab.errors.append("%s %s: %s: %s" % (self.command, self.path[:200], type(exc).__name__, exc))
            self._json_error(500, "InternalServerError", "The lab failed to process the request (%s)."
                             % type(exc).__name__)

    def _serve_one(self):
        lab = self.server.lab
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        body = self._read_body()
        if body is None:
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = urllib.parse.unquote(split.path)
        if path.startswith("/_lab/") and self.client_address[0] not in ("127.0.0.1", "::1") \
                and not self.client_address[0].startswith("127."):
            self.send_error(403)
            return
        service = lab.service
        if service is None:  # stopping or crashed: drop the connection as a dead server would
            self.close_connection = True
            return
        reply = service.handle(self.command, path, query, headers, body)
        payload = b""
        if reply.body is not None:
            payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if reply.body is not None:
            self.send_header("Content-Type", JSON + "; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        # Headers and body in one write: two small writes on a keep-alive connection meet Nagle and
        # delayed ACKs (40 ms per response).
        self._headers_buffer.append(b"\r\n")
        if payload and self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.flush_headers()

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class GraphLab:
    """One running Graph lab.

    ``GraphLab(state_dir, **config)`` then ``start()`` / ``stop()`` (or use it as a context manager).
    ``url`` is both the Graph base URL and the authority host; ``authority`` is the msal authority.
    """

    def __init__(self, state_dir=None, verbose=False, request_timeout=120.0, **settings):
        self._tmp = None
        self.request_timeout = request_timeout  # an idle keep-alive connection or a stalled request is closed
        self.errors = []  # unexpected exceptions of the service, answered as 500 (tests assert it stays empty)
        if state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="graph-lab-")
            state_dir = self._tmp.name
        self.state_dir = pathlib.Path(state_dir)
        self.cfg = C.LabConfig(**settings)
        self.verbose = verbose
        self.pki = LabPKI(self.state_dir / "pki", hosts=sorted({self.cfg.host, "127.0.0.1", "localhost"},
                                                                key=lambda h: h != self.cfg.host))
        self.service = None
        self.httpd = None
        self._thread = None

    # ------------------------------------------------------------------------------------
    @property
    def ca_path(self):
        return str(self.pki.ca_path)

    @property
    def url(self):
        return "https://%s:%d" % (self.cfg.host, self.port)

    @property
    def authority(self):
        return "%s/%s" % (self.url, self.cfg.tenant_id)

    @property
    def tenant_id(self):
        return self.cfg.tenant_id

    def start(self):
        self.httpd = _Server((self.cfg.host, self.cfg.port), _Handler)
        self.port = self.httpd.server_address[1]
        self.httpd.lab = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.pki.cert_path), str(self.pki.key_path))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.service = GraphService(self.cfg, self.state_dir / "state", base_url=self.url)
        self.service.start_processor()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="graph-lab", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self.service is not None:
            self.service.close()
            self.service = None
        if self._thread is not None:
            self._thread.join(5)

    def crash(self):
        """Stop without the orderly snapshot (the journal is all a restart gets), as a killed process would."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self.service is not None:
            self.service.stop_processor()
            fh = self.service.store._fh
            if fh is not None:
                fh.close()
                self.service.store._fh = None
            self.service = None

    def restart(self, crash=True):
        port = self.port
        (self.crash if crash else self.stop)()
        self.cfg.port = port
        return self.start()

    def cleanup(self):
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # ------------------------------------------------------------------------------------
    def app(self, name="registrar"):
        return self.service.app_by_name(name)

    def add_app(self, name, roles, secret=None):
        return self.service.add_app(name, roles, secret=secret)

    def add_certificate_app(self, name="certapp", roles=None):
        """An app with a certificate credential; writes ``<name>.pem`` (key + certificate) and returns
        ``{"client_id", "pem_path", "key_pem", "cert_pem", "sha1", "sha256"}``."""
        key, cert = make_client_cert("CN=%s" % name)
        cpem = cert_pem(cert).decode()
        secret_registry.register(key_pem(key).decode(), "certificate_key")
        app = self.service.add_app(name, C.ALL_ROLES if roles is None else roles, secret=False, certificate_pem=cpem)
        path = self.state_dir / ("%s.pem" % name)
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem(key) + cert_pem(cert))
        sha1, sha256 = thumbprints(cert)
        return {"client_id": app["client_id"], "pem_path": str(path), "key_pem": key_pem(key).decode(),
                "cert_pem": cpem, "sha1": sha1, "sha256": sha256}

    def connection(self, app="registrar"):
        """Module options that point the collection at this lab."""
        a = self.app(app)
        return {"tenant_id": self.cfg.tenant_id, "client_id": a["client_id"], "client_secret": a["secrets"][0],
                "graph_url": self.url, "authority_url": self.url, "ca_path": self.ca_path}

    def stats(self):
        return self.service.snapshot_stats()

    def write_vars(self, path, app="registrar"):
        """A small YAML vars file with the connection options (lab-only values)."""
        conn = self.connection(app)
        lines = ["# Graph lab connection (lab-only credentials). Use with module_defaults group/winfleet.autopilot.graph"]
        lines += ["graph_lab_%s: %s" % (k, json.dumps(v)) for k, v in conn.items()]
        lines.append("graph_lab: %s" % json.dumps(conn))  # the whole dict, for module_defaults
        path = pathlib.Path(path)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(path, 0o600)
        return path


def free_loopback_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
