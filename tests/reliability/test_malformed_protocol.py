"""Malformed protocol input against the labs: each answer is a proper fault, never a hang, a crash or a traceback,
and the lab keeps serving afterwards.

WS-Man lab (127.0.70.1-2): truncated SOAP, not XML, entity bombs and external entities (refused, never expanded),
other envelope namespaces, missing headers and bodies, oversized and stalled bodies, broken framing and broken
Authorization headers - over plain HTTP and HTTPS, with raw sockets. Answers: SOAP 1.2 faults with the WS-Management
subcodes and a WSManFault code (HTTP 500), 400/411 for broken framing, 401 challenges for broken credentials.

Graph lab (127.0.70.20): invalid JSON, wrong content types, oversized and stalled bodies, unknown routes, bad tokens,
broken request lines. Answers: Graph JSON error bodies (``{"error": {"code", "message"}}``) with the right status.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ET

import figures
import pytest

from winfleet_lab.graph import GraphLab
from winfleet_lab.wsman import Fleet, Lab
from winfleet_lab.wsman.soap import NS, URI_CONFIG

TIMEOUT = 10.0
BODY_TIMEOUT = 1.0
S = "{%s}" % NS["s"]
F = "{%s}" % NS["f"]


# ------------------------------------------------------------------------------------------------ raw HTTP
def exchange(address, port, data, tls_ca=None, read=True):
    """Send ``data`` on a fresh connection; return (status, headers, body, seconds). status 0 = closed, no answer."""
    started = time.monotonic()
    sock = socket.create_connection((address, port), timeout=TIMEOUT)
    if tls_ca:
        ctx = ssl.create_default_context(cafile=tls_ca)
        sock = ctx.wrap_socket(sock, server_hostname=address)
    try:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking everything (oversized body)
        if not read:
            return None
        raw = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            raw += chunk
            head, sep, rest = raw.partition(b"\r\n\r\n")
            if sep:
                length = _content_length(head)
                if length is not None and len(rest) >= length:
                    break
    finally:
        sock.close()
    seconds = time.monotonic() - started
    if not raw:
        return 0, {}, b"", seconds
    head, _sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _c, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers, body, seconds


def _content_length(head):
    for line in head.split(b"\r\n")[1:]:
        k, _c, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return int(v.strip())
    return None


def request(method, path, body=b"", headers=(), host="x"):
    out = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    out += ["%s: %s" % kv for kv in headers]
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _v in headers):
        out.append("Content-Length: %d" % len(body))
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body


# ------------------------------------------------------------------------------------------------ WS-Man
@pytest.fixture(scope="module")
def wsman_lab():
    fleet = Fleet.generate(seed=70, count=2, base_address="127.0.70.1", password="Reliab-Wsman-Pass-1")
    for host in fleet.hosts:
        host.allow_unencrypted = True
        host.basic = True  # the malformed requests below authenticate with Basic (off by default on Windows)
    lab = Lab(fleet, http_port=0, https_port=0, idle_timeout=5.0, body_timeout=BODY_TIMEOUT).start()
    try:
        yield lab
    finally:
        lab.stop()


def basic(host):
    return "Basic " + base64.b64encode(("%s:%s" % (host.username, host.password)).encode()).decode()


def soap_headers(host):
    return [("Authorization", basic(host)), ("Content-Type", "application/soap+xml;charset=UTF-8")]


ENVELOPE = ('<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:w="%s"><s:Header><a:To>http://x/wsman</a:To>'
            "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>"
            "<a:MessageID>uuid:0D6C5DCE-1111-2222-3333-444455556666</a:MessageID>"
            "<w:ResourceURI>%s</w:ResourceURI></s:Header><s:Body/></s:Envelope>"
            % (NS["s"], NS["a"], NS["w"], URI_CONFIG))
BOMB = ('<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa">'
        + "".join('<!ENTITY %s "%s">' % (chr(98 + i), ("&%s;" % chr(97 + i)) * 10) for i in range(9))
        + ']><s:Envelope xmlns:s="%s"><s:Header/><s:Body>&j;</s:Body></s:Envelope>' % NS["s"])
XXE = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<s:Envelope xmlns:s="%s"><s:Header/><s:Body>&xxe;</s:Body></s:Envelope>' % NS["s"])
SMALL_ENTITY = ('<!DOCTYPE s:Envelope [<!ENTITY greeting "EXPANDED-ENTITY">]>' + ENVELOPE.replace(
    "<s:Body/>", "<s:Body>&greeting;</s:Body>"))
PULL_BAD = ENVELOPE.replace("transfer/Get", "enumeration/Pull").replace(
    "<s:Body/>", '<s:Body><n:Pull xmlns:n="%s"><n:EnumerationContext>uuid:1</n:EnumerationContext>'
                 "<n:MaxElements>many</n:MaxElements></n:Pull></s:Body>" % NS["n"])

# (name, body, expected HTTP status, expected s:Code/s:Value, expected subcode)
WSMAN_SOAP_CASES = [
    ("truncated SOAP", ENVELOPE[:len(ENVELOPE) // 2], 500, "s:Sender", "w:SchemaValidationError"),
    ("not XML", "hello, this is not XML at all", 500, "s:Sender", "w:SchemaValidationError"),
    ("binary junk", "\x00\x01\x02\xff\xfe junk", 500, "s:Sender", "w:SchemaValidationError"),
    ("billion laughs", BOMB, 500, "s:Sender", "w:SchemaValidationError"),
    ("external entity", XXE, 500, "s:Sender", "w:SchemaValidationError"),
    ("internal entity", SMALL_ENTITY, 500, "s:Sender", "w:SchemaValidationError"),
    ("SOAP 1.1 namespace", ENVELOPE.replace(NS["s"], "http://schemas.xmlsoap.org/soap/envelope/"), 500,
     "s:VersionMismatch", None),
    ("root is not an Envelope", "<Envelope><Body/></Envelope>", 500, "s:Sender", "w:SchemaValidationError"),
    ("no Body", ENVELOPE.replace("<s:Body/>", ""), 500, "s:Sender", "w:SchemaValidationError"),
    ("no Header / Action", '<s:Envelope xmlns:s="%s"><s:Body/></s:Envelope>' % NS["s"], 500, "s:Sender",
     "a:MessageInformationHeaderRequired"),
    ("unknown action", ENVELOPE.replace("transfer/Get", "transfer/Frobnicate"), 500, "s:Sender",
     "a:ActionNotSupported"),
    ("unknown resource", ENVELOPE.replace(URI_CONFIG, "http://example.invalid/nothing"), 500, "s:Sender",
     "w:DestinationUnreachable"),
    ("non-numeric MaxElements", PULL_BAD, 500, "s:Sender", "w:SchemaValidationError"),
    ("unknown encoding", '<?xml version="1.0" encoding="x-bogus-9"?>' + ENVELOPE, 500, "s:Sender",
     "w:SchemaValidationError"),
    ("deep nesting", "<a>" * 50000 + "</a>" * 50000, 500, "s:Sender", "w:SchemaValidationError"),
]


def check_fault(body, code_value, subcode):
    root = ET.fromstring(body)  # noqa: S314 - the lab's own answer, checked for shape
    fault = root.find("%sBody/%sFault" % (S, S))
    assert fault is not None, body[:300]
    assert fault.findtext("%sCode/%sValue" % (S, S)) == code_value
    if subcode:
        assert fault.findtext("%sCode/%sSubcode/%sValue" % (S, S, S)) == subcode
    assert fault.findtext("%sReason/%sText" % (S, S))
    detail = fault.find("%sDetail/%sWSManFault" % (S, F))
    assert detail is not None and detail.get("Code", "").isdigit()
    return fault


def _still_serving(lab, host, tls=False):
    port = host.https_port if tls else host.http_port
    status, _h, body, _s = exchange(host.address, port, request("POST", "/wsman", ENVELOPE.encode(),
                                                                soap_headers(host)),
                                    tls_ca=lab.ca_path if tls else None)
    assert status == 200, body[:300]
    assert b"MaxEnvelopeSizekb" in body


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("name, body, status, code_value, subcode", WSMAN_SOAP_CASES,
                         ids=[c[0] for c in WSMAN_SOAP_CASES])
def test_wsman_malformed_soap_is_a_fault(wsman_lab, capfd, tls, name, body, status, code_value, subcode):
    host = wsman_lab.fleet.hosts[0]
    port = host.https_port if tls else host.http_port
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    got, _h, answer, seconds = exchange(host.address, port, request("POST", "/wsman", data, soap_headers(host)),
                                        tls_ca=wsman_lab.ca_path if tls else None)
    assert got == status, answer[:300]
    assert seconds < 5, "%s took %.1f s" % (name, seconds)
    check_fault(answer, code_value, subcode)
    assert b"EXPANDED-ENTITY" not in answer and b"root:" not in answer and b"aaaaaaaaaa" not in answer
    _still_serving(wsman_lab, host, tls)
    assert not wsman_lab.fleet.events.events("lab_error")
    assert "Traceback" not in capfd.readouterr().err
    figures.add("malformed protocol: WS-Man lab", "SOAP cases answered with a fault (%s)" % ("https" if tls else "http"))


WSMAN_FRAMING_CASES = [
    ("oversized body", lambda h: request("POST", "/wsman", b"<s:Envelope/>",
                                         soap_headers(h) + [("Content-Length", str(50 * 1024 * 1024))]), 500),
    ("Content-Length not a number", lambda h: request("POST", "/wsman", b"", soap_headers(h) + [
        ("Content-Length", "twelve")]), 400),
    ("negative Content-Length", lambda h: request("POST", "/wsman", b"", soap_headers(h) + [
        ("Content-Length", "-5")]), 400),
    ("chunked body", lambda h: request("POST", "/wsman", b"5\r\nhello\r\n0\r\n\r\n", soap_headers(h) + [
        ("Transfer-Encoding", "chunked")]), 411),
    ("head too large", lambda h: request("POST", "/wsman", b"", [("X-Junk", "j" * 100_000)]), 400),
    ("GET instead of POST", lambda h: request("GET", "/wsman", b"", soap_headers(h)), 404),
    ("unknown path", lambda h: request("POST", "/not-wsman", ENVELOPE.encode(), soap_headers(h)), 404),
    ("no Authorization", lambda h: request("POST", "/wsman", ENVELOPE.encode(), []), 401),
    ("Basic not base64", lambda h: request("POST", "/wsman", ENVELOPE.encode(), [("Authorization", "Basic !!!*")]),
     401),
    ("Basic not UTF-8", lambda h: request("POST", "/wsman", ENVELOPE.encode(), [
        ("Authorization", "Basic " + base64.b64encode(b"\xff\xfe:\xc3").decode())]), 401),
    ("Basic without colon", lambda h: request("POST", "/wsman", ENVELOPE.encode(), [
        ("Authorization", "Basic " + base64.b64encode(b"adminonly").decode())]), 401),
    ("Basic wrong password", lambda h: request("POST", "/wsman", ENVELOPE.encode(), [
        ("Authorization", "Basic " + base64.b64encode(b"admin:nope").decode())]), 401),
    ("Negotiate not base64", lambda h: request("POST", "/wsman", b"", [("Authorization", "Negotiate %%%")]), 401),
    ("Negotiate junk token", lambda h: request("POST", "/wsman", b"", [
        ("Authorization", "Negotiate " + base64.b64encode(b"\x60\x82junkjunkjunk" * 8).decode())]), 401),
    ("NTLM junk token", lambda h: request("POST", "/wsman", b"", [
        ("Authorization", "NTLM " + base64.b64encode(b"NTLMSSP\x00\x03\x00\x00\x00" + b"\xff" * 40).decode())]),
     401),
    ("unknown scheme", lambda h: request("POST", "/wsman", b"", [("Authorization", "Bearer abc.def.ghi")]), 401),
    ("encrypted body without a context", lambda h: request("POST", "/wsman", b"--Encrypted Boundary\r\njunk", [
        ("Authorization", basic(h)), ("Content-Type", "multipart/encrypted;protocol=x")]), 400),
]


@pytest.mark.parametrize("name, build, status", WSMAN_FRAMING_CASES, ids=[c[0] for c in WSMAN_FRAMING_CASES])
def test_wsman_broken_framing_and_auth(wsman_lab, capfd, name, build, status):
    host = wsman_lab.fleet.hosts[1]
    got, headers, body, seconds = exchange(host.address, host.http_port, build(host))
    assert got == status, (name, body[:300])
    assert seconds < 5
    if status == 401:
        assert any(v.startswith("Negotiate") for v in headers.get("www-authenticate", []))
    if status == 500:
        check_fault(body, "s:Sender", "w:EncodingLimit")
    _still_serving(wsman_lab, host)
    assert not wsman_lab.fleet.events.events("lab_error")
    assert "Traceback" not in capfd.readouterr().err
    figures.add("malformed protocol: WS-Man lab", "framing/auth cases answered")


def test_wsman_stalled_body_is_closed_not_hung(wsman_lab, capfd):
    host = wsman_lab.fleet.hosts[1]
    started = time.monotonic()
    head = request("POST", "/wsman", b"", soap_headers(host) + [("Content-Length", "1000")])
    status, _h, body, _s = exchange(host.address, host.http_port, head + b"<s:Envel")
    assert status == 400 and b"timed out" in body
    assert time.monotonic() - started < BODY_TIMEOUT + 4
    _still_serving(wsman_lab, host)
    assert "Traceback" not in capfd.readouterr().err
    figures.add("malformed protocol: WS-Man lab", "stalled bodies closed")


# ------------------------------------------------------------------------------------------------ Graph
@pytest.fixture(scope="module")
def graph_lab(tmp_path_factory):
    lab = GraphLab(tmp_path_factory.mktemp("graph-lab"), request_timeout=BODY_TIMEOUT * 2, host="127.0.70.20",
                   time_scale=0.01, processing_delay=20.0, delete_delay=10.0)
    lab.start()
    try:
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture(scope="module")
def token(graph_lab):
    app = graph_lab.app("registrar")
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": app["client_id"],
                                   "client_secret": app["secrets"][0], "scope": graph_lab.url + "/.default"})
    status, _h, body, _s = gx(graph_lab, request("POST", "/%s/oauth2/v2.0/token" % graph_lab.tenant_id, form.encode(),
                                                 [("Content-Type", "application/x-www-form-urlencoded")]))
    assert status == 200, body
    return json.loads(body)["access_token"]


def gx(lab, data):
    return exchange(lab.cfg.host, lab.port, data, tls_ca=lab.ca_path)


IMPORT = "/beta/deviceManagement/importedWindowsAutopilotDeviceIdentities/import"
DEVICES = "/beta/deviceManagement/windowsAutopilotDeviceIdentities"


def auth(token_value):
    return [("Authorization", "Bearer " + token_value)]


# (name, request builder(token, lab), status, Graph error code or None for "any")
GRAPH_CASES = [
    ("invalid JSON", lambda t, lab: request("POST", IMPORT, b'{"importedWindowsAutopilotDeviceIdentities": [',
                                            auth(t) + [("Content-Type", "application/json")]), 400, "BadRequest"),
    ("JSON but not an object", lambda t, lab: request("POST", IMPORT, b"[1, 2, 3]", auth(t) + [
        ("Content-Type", "application/json")]), 400, "BadRequest"),
    ("empty body", lambda t, lab: request("POST", IMPORT, b"", auth(t)), 400, "BadRequest"),
    ("XML content type and body", lambda t, lab: request("POST", IMPORT, b"<import/>", auth(t) + [
        ("Content-Type", "application/xml")]), 400, "BadRequest"),
    ("form content type and body", lambda t, lab: request("POST", IMPORT, b"a=1&b=2", auth(t) + [
        ("Content-Type", "application/x-www-form-urlencoded")]), 400, "BadRequest"),
    ("binary body", lambda t, lab: request("POST", IMPORT, bytes(range(256)) * 4, auth(t) + [
        ("Content-Type", "application/octet-stream")]), 400, "BadRequest"),
    ("oversized body", lambda t, lab: request("POST", IMPORT, b"{", auth(t) + [
        ("Content-Length", str(200 * 1024 * 1024))]), 413, "RequestEntityTooLarge"),
    ("Content-Length not a number", lambda t, lab: request("POST", IMPORT, b"", auth(t) + [
        ("Content-Length", "lots")]), 400, "BadRequest"),
    ("chunked body", lambda t, lab: request("POST", IMPORT, b"2\r\n{}\r\n0\r\n\r\n", auth(t) + [
        ("Transfer-Encoding", "chunked")]), 411, "LengthRequired"),
    ("unknown Graph route", lambda t, lab: request("GET", "/beta/deviceManagement/noSuchThing", b"", auth(t)), 400,
     "BadRequest"),
    ("unknown API version", lambda t, lab: request("GET", "/v9.9/me", b"", auth(t)), 400, "BadRequest"),
    ("root path", lambda t, lab: request("GET", "/", b"", auth(t)), 400, "BadRequest"),
    ("no token", lambda t, lab: request("GET", DEVICES, b"", []), 401, "InvalidAuthenticationToken"),
    ("token not a JWT", lambda t, lab: request("GET", DEVICES, b"", auth("not-a-token")), 401,
     "InvalidAuthenticationToken"),
    ("token with a forged signature", lambda t, lab: request("GET", DEVICES, b"", auth(
        t.rsplit(".", 1)[0] + "." + base64.urlsafe_b64encode(b"forged" * 40).decode().rstrip("="))), 401,
     "InvalidAuthenticationToken"),
    ("Basic instead of Bearer", lambda t, lab: request("GET", DEVICES, b"", [("Authorization", "Basic YTpi")]), 401,
     "InvalidAuthenticationToken"),
    ("token endpoint, junk form", lambda t, lab: request("POST", "/%s/oauth2/v2.0/token" % lab.tenant_id,
                                                         bytes(range(256)), []), 400, None),
    ("token endpoint, JSON body", lambda t, lab: request(
        "POST", "/%s/oauth2/v2.0/token" % lab.tenant_id, b'{"grant_type": "client_credentials"}',
        [("Content-Type", "application/json")]), 400, None),
    ("token endpoint, GET", lambda t, lab: request("GET", "/%s/oauth2/v2.0/token" % lab.tenant_id, b"", []), 404,
     None),
    ("unsupported method", lambda t, lab: request("OPTIONS", DEVICES, b"", auth(t)), 501, "NotImplemented"),
    ("garbage request line", lambda t, lab: b"GARBAGE\r\n\r\n", 400, "BadRequest"),
    ("HTTP/2 request line", lambda t, lab: b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HttpVersionNotSupported"),
]


@pytest.mark.parametrize("name, build, status, code", GRAPH_CASES, ids=[c[0] for c in GRAPH_CASES])
def test_graph_malformed_requests_get_graph_errors(graph_lab, token, capfd, name, build, status, code):
    got, headers, body, seconds = gx(graph_lab, build(token, graph_lab))
    assert got == status, (name, body[:300])
    assert seconds < 5
    assert headers.get("content-type", [""])[0].startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert isinstance(error.get("message") if "message" in error else error, (str, dict))
    if code:
        assert error["code"] == code, error
    else:  # the token service answers OAuth errors: {"error": "...", "error_description": "AADSTS..."}
        assert isinstance(error, str) and json.loads(body)["error_description"].startswith("AADSTS")
    _graph_still_serving(graph_lab, token)
    assert not graph_lab.errors, graph_lab.errors
    assert "Traceback" not in capfd.readouterr().err
    figures.add("malformed protocol: Graph lab", "cases answered with a Graph error")


@pytest.mark.parametrize("items", [
    '[1, "x"]', '[{"serialNumber": 123, "hardwareIdentifier": {"a": 1}}]', '[{"hardwareIdentifier": "!!!"}]',
    '[{"serialNumber": null, "hardwareIdentifier": null, "groupTag": ["x"]}]', '"not a list"',
], ids=["not objects", "wrong types", "not base64", "nulls and lists", "not a list"])
def test_graph_import_with_wrongly_typed_items(graph_lab, token, capfd, items):
    body = ('{"importedWindowsAutopilotDeviceIdentities": %s}' % items).encode()
    got, _h, answer, _s = gx(graph_lab, request("POST", IMPORT, body, auth(token) + [
        ("Content-Type", "application/json")]))
    errors = list(graph_lab.errors)
    graph_lab.errors.clear()
    assert not errors, errors  # the service raised: server.py answered 500 for it
    assert got in (200, 400), answer[:300]
    if got == 400:
        assert json.loads(answer)["error"]["code"] in ("BadRequest", "Request_BadRequest")
    _graph_still_serving(graph_lab, token)
    assert "Traceback" not in capfd.readouterr().err
    figures.add("malformed protocol: Graph lab", "wrongly typed import items answered")


def test_graph_stalled_body_is_closed_not_hung(graph_lab, token, capfd):
    started = time.monotonic()
    head = request("POST", IMPORT, b"", auth(token) + [("Content-Length", "5000")])
    status, _h, body, _s = gx(graph_lab, head + b'{"importedWin')
    assert status == 408 and json.loads(body)["error"]["code"] == "RequestTimeout"
    assert time.monotonic() - started < BODY_TIMEOUT * 2 + 4
    _graph_still_serving(graph_lab, token)
    assert "Traceback" not in capfd.readouterr().err
    figures.add("malformed protocol: Graph lab", "stalled bodies closed")


def _graph_still_serving(lab, token_value):
    status, _h, body, _s = gx(lab, request("GET", DEVICES, b"", auth(token_value)))
    assert status == 200, body[:300]
    assert "value" in json.loads(body)
