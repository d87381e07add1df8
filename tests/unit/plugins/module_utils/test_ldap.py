# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/_ldap.py without a server: escaping, filters, selectors and the serial guard, error mapping,
BER framing, and the client's own messages against an in-memory LDAP peer (sansldap's server session)."""

from __future__ import annotations

import uuid

import pytest
import sansldap
from sansldap.asn1 import ASN1Reader, ASN1Tag, ASN1Writer, TagClass

from ansible_collections.winfleet.autopilot.plugins.module_utils import _ldap
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._ldap import (
    LdapAuthError,
    LdapClient,
    LdapConnectionError,
    LdapError,
    SerialMismatchError,
)

# -- escaping ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "escaped"), [
    ("PC-01", "PC-01"),
    ("a*b", "a\\2ab"),
    ("x)(cn=*", "x\\29\\28cn=\\2a"),
    ("back\\slash", "back\\5cslash"),
    ("nul\x00", "nul\\00"),
    ("Müller", "Müller"),  # RFC 4515 filters are UTF-8: only the specials are escaped
    (b"\x01\xff(", "\\01\\ff\\28"),  # bytes: every octet
])
def test_escape_filter_value(value, escaped):
    assert _ldap.escape_filter_value(value) == escaped


def test_escaped_filter_round_trips_through_the_filter_parser():
    hostile = "*)(objectClass=*))(|(cn=*"
    flt = sansldap.LDAPFilter.from_string("(cn=%s)" % _ldap.escape_filter_value(hostile))
    assert isinstance(flt, sansldap.FilterEquality)
    assert flt.value == hostile.encode()


@pytest.mark.parametrize(("value", "escaped"), [
    ("PC-01", "PC-01"),
    ("Smith, John", "Smith\\, John"),
    ("a+b=c;d<e>f\"g\\h", "a\\+b\\=c\\;d\\<e\\>f\\\"g\\\\h"),
    (" lead", "\\ lead"),
    ("#hash", "\\#hash"),
    ("trail ", "trail\\ "),
    ("mid # dle", "mid # dle"),
])
def test_escape_dn_value(value, escaped):
    assert _ldap.escape_dn_value(value) == escaped


def test_guid_helpers():
    guid = uuid.UUID("8a5c0f5e-1b2d-4c3e-9f00-0123456789ab")
    assert _ldap.parse_guid("{8A5C0F5E-1B2D-4C3E-9F00-0123456789AB}") == guid
    assert _ldap.guid_from_bytes(guid.bytes_le) == str(guid)
    # AD stores the first three fields little-endian: the filter carries bytes_le, not the text order
    assert _ldap.escape_filter_value(guid.bytes_le).startswith("\\5e\\0f\\5c\\8a\\2d\\1b\\3e\\4c\\9f\\00")
    with pytest.raises(InputError, match="not a GUID"):
        _ldap.parse_guid("PC-01")


def test_time_conversions():
    assert _ldap.filetime_to_iso("133801632000000000") == "2025-01-01T00:00:00Z"
    assert _ldap.filetime_to_iso("0") is None
    assert _ldap.filetime_to_iso("9223372036854775807") is None
    assert _ldap.filetime_to_iso(None) is None
    assert _ldap.generalized_time_to_iso("20261121150912.0Z") == "2026-11-21T15:09:12Z"
    assert _ldap.generalized_time_to_iso(None) is None


# -- selectors, filters, guard ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "   ", "\t\n"])
def test_empty_selectors_are_refused(bad):
    with pytest.raises(InputError, match="empty"):
        _ldap.check_selector("name", bad)


@pytest.mark.parametrize("bad", ["PC-*", "*", "a(b", "a)b", "back\\slash", "nul\x00"])
def test_wildcards_and_metacharacters_are_refused(bad):
    with pytest.raises(InputError, match="wildcard or an LDAP filter character"):
        _ldap.check_selector("name", bad)


def test_resolve_selectors():
    assert _ldap.resolve_selectors({"name": " PC-01 "}) == ({"name": "PC-01"}, None)
    # serial alone selects; with another selector it becomes the guard
    assert _ldap.resolve_selectors({"serial_number": "SN1"}) == ({"serial_number": "SN1"}, None)
    assert _ldap.resolve_selectors({"name": "PC-01", "serial_number": " SN1 "}) == ({"name": "PC-01"}, "SN1")
    with pytest.raises(InputError, match="at least one selector"):
        _ldap.resolve_selectors({"name": None, "serial_number": None})
    with pytest.raises(InputError, match="not a GUID"):
        _ldap.resolve_selectors({"object_guid": "nope"})


def test_computer_filter():
    guid = uuid.UUID("8a5c0f5e-1b2d-4c3e-9f00-0123456789ab")
    flt = _ldap.computer_filter({"name": "PC-01", "sam_account_name": "pc-01", "object_guid": str(guid)})
    assert flt == ("(&(objectClass=computer)(cn=PC-01)(sAMAccountName=pc-01$)(objectGUID=%s))"
                   % _ldap.escape_filter_value(guid.bytes_le))
    assert _ldap.computer_filter({"sam_account_name": "PC-01$"}) == "(&(objectClass=computer)(sAMAccountName=PC-01$))"
    serial = _ldap.computer_filter({"serial_number": "Sn-1"})
    assert serial == "(&(objectClass=computer)(|(serialNumber=SN-1)(serialNumber=Sn-1)(serialNumber=sn-1)))"
    for flt in (serial, _ldap.computer_filter({"name": "x"})):
        sansldap.LDAPFilter.from_string(flt)  # parses


def _computer(name, *serials):
    return {"name": name, "distinguished_name": "CN=%s,OU=Fleet,DC=lab" % name, "serial_numbers": list(serials)}


def test_serial_guard():
    _ldap.check_serial_guard([_computer("PC-01", "sn-1 ")], " SN-1")  # trimmed, case-insensitive
    _ldap.check_serial_guard([_computer("PC-01", "OTHER", "SN-1")], "SN-1")  # multi-valued: one value matches
    _ldap.check_serial_guard([], "SN-1")
    with pytest.raises(SerialMismatchError) as exc:
        _ldap.check_serial_guard([_computer("PC-01", "SN-1"), _computer("PC-02", "SN-2")], "SN-1")
    assert "PC-02" in exc.value.msg and "'SN-2'" in exc.value.msg and "'SN-1'" in exc.value.msg
    assert "PC-01 " not in exc.value.msg and "Nothing was deleted" in exc.value.msg
    assert exc.value.details["mismatched"] == ["PC-02"]
    with pytest.raises(SerialMismatchError, match="has no serial number"):
        _ldap.check_serial_guard([_computer("PC-03")], "SN-1")
    _ldap.check_serial_guard([_computer("PC-03")], "SN-1", require_match=False)
    with pytest.raises(SerialMismatchError):  # a differing serial fails even when a serial is not required
        _ldap.check_serial_guard([_computer("PC-02", "SN-2")], "SN-1", require_match=False)


def test_computer_view():
    guid = uuid.uuid4()
    view = _ldap.computer_view("CN=PC-01,OU=Fleet,DC=lab", {
        "objectguid": [guid.bytes_le], "cn": [b"PC-01"], "samaccountname": [b"PC-01$"],
        "serialnumber": [b"SN-1", b"SN-1B"], "useraccountcontrol": [b"4098"],
        "whencreated": [b"20260101120000.0Z"], "lastlogontimestamp": [b"0"]})
    assert view["id"] == str(guid) and view["name"] == "PC-01"
    assert view["serial_number"] == "SN-1" and view["serial_numbers"] == ["SN-1", "SN-1B"]
    assert view["enabled"] is False  # 4098 = WORKSTATION_TRUST_ACCOUNT | ACCOUNTDISABLE
    assert view["when_created"] == "2026-01-01T12:00:00Z" and view["last_logon"] is None
    bare = _ldap.computer_view("CN=X,DC=lab", {})
    assert bare["serial_number"] is None and bare["serial_numbers"] == [] and bare["enabled"] is None


# -- errors -----------------------------------------------------------------------------------------------------


def test_bind_errors_explain_ad_data_codes():
    err = LdapError.from_result("bind", 49, "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext "
                                            "error, data 775, v1db1")
    assert isinstance(err, LdapAuthError)
    assert "invalidCredentials (49)" in err.msg and "locked out" in err.msg
    assert err.details == {"ldap_result_code": 49, "ldap_result": "invalidCredentials",
                           "ldap_server_message": "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext "
                                                  "error, data 775, v1db1"}


@pytest.mark.parametrize(("code", "words"), [
    (8, "tls_mode ldaps or starttls"),
    (50, "Delete subtree"),
    (66, "tree delete"),
    (32, "noSuchObject (32)"),
    (4711, "result 4711"),
])
def test_result_codes_are_named_and_explained(code, words):
    err = LdapError.from_result("delete", code, "server says no.", dn="CN=PC-01,DC=lab")
    assert isinstance(err, LdapError) and not isinstance(err, LdapAuthError)  # only binds are auth errors
    assert err.result_code == code and words in err.msg and "CN=PC-01,DC=lab" in err.msg
    assert "server says no" in err.msg and "no.." not in err.msg


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"server": " "}, "server is required"),
    ({"tls_mode": "tls"}, "tls_mode must be"),
    ({"auth": "sicily"}, "auth must be"),
    ({"password": ""}, "username and password are required"),
    ({"username": None}, "username and password are required"),
])
def test_client_refuses_incomplete_settings(kwargs, words):
    settings = dict(server="dc1.lab.example.test", username="u", password="p")
    settings.update(kwargs)
    with pytest.raises(InputError, match=words):
        LdapClient(**settings)


def test_default_ports():
    assert LdapClient("dc", username="u", password="p").port == 636
    assert LdapClient("dc", tls_mode="starttls", username="u", password="p").port == 389
    assert LdapClient("dc", tls_mode="none", username="u", password="p", port=1389).port == 1389


def test_connection_refused_is_a_connection_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LdapConnectionError, match="Cannot connect to LDAP server 127.0.0.1:%d" % port):
        LdapClient("127.0.0.1", port=port, username="u", password="p", timeout=5).connect()


# -- framing and messages ---------------------------------------------------------------------------------------


def test_split_frame():
    short = bytes([0x30, 0x03, 1, 2, 3])
    assert _ldap.split_frame(short + b"\x30") == (short, b"\x30")
    assert _ldap.split_frame(short[:4]) == (None, short[:4])
    long_form = bytes([0x30, 0x82, 0x01, 0x00]) + bytes(256)
    assert _ldap.split_frame(long_form + b"x") == (long_form, b"x")
    assert _ldap.split_frame(long_form[:3]) == (None, long_form[:3])
    with pytest.raises(LdapConnectionError, match="malformed"):
        _ldap.split_frame(bytes([0x30, 0x85, 1, 1, 1, 1, 1]))


def _result(msg_id, op, code, text=""):
    """An LDAPResult response ([APPLICATION op]) the way a server encodes it."""
    writer = ASN1Writer()
    with writer.push_sequence() as seq:
        seq.write_integer(msg_id)
        with seq.push_sequence(ASN1Tag(TagClass.APPLICATION, op, True)) as res:
            res.write_enumerated(sansldap.LDAPResultCode(code))
            res.write_octet_string(b"")
            res.write_octet_string(text.encode())
    return bytes(writer.get_data())


class FakePeer:
    """A socket whose other end is an in-memory LDAP server: sansldap's server session for search/bind, and
    hand-made results for delete/add. ``entries`` are served ``page`` at a time with a paging cookie."""

    def __init__(self, entries=(), page=2, delete_code=0):
        self.server = sansldap.LDAPServer()
        self.entries = list(entries)
        self.page = page
        self.delete_code = delete_code
        self.inbox = bytearray()
        self.requests = []
        self.raw = []

    def sendall(self, data):
        self.raw.append(bytes(data))
        reader = ASN1Reader(data).read_sequence()
        msg_id = reader.read_integer()
        op = reader.peek_header().tag.tag_number
        if op in (8, 10):
            self.requests.append((op, msg_id))
            self.inbox.extend(_result(msg_id, op + 1, self.delete_code if op == 10 else 0, "refused."))
            return
        for msg in self.server.receive(data):
            self.requests.append(msg)
            if isinstance(msg, sansldap.SearchRequest):
                paged = [c for c in msg.controls if isinstance(c, sansldap.PagedResultControl)]
                start = int(paged[0].cookie or b"0") if paged else 0
                size = self.page if paged else len(self.entries)
                for dn, attrs in self.entries[start:start + size]:
                    self.server.search_result_entry(msg.message_id, dn, [
                        sansldap.PartialAttribute(k, v) for k, v in attrs.items()])
                rest = start + size < len(self.entries)
                cookie = str(start + size).encode() if rest else b""
                self.server.search_result_done(msg.message_id, controls=[
                    sansldap.PagedResultControl(False, 0, cookie)])
        self.inbox.extend(self.server.data_to_send())

    def recv(self, size):
        chunk = bytes(self.inbox[:size])
        del self.inbox[:size]
        return chunk

    def close(self):
        pass


def _client(peer):
    client = LdapClient("dc1.lab.example.test", username="u", password="p")
    client._proto = sansldap.LDAPClient()
    client._sock = peer
    return client


def test_search_pages_through_every_result():
    entries = [("CN=PC-%02d,DC=lab" % i, {"cn": [b"PC-%02d" % i], "serialNumber": [b"SN%d" % i]}) for i in range(5)]
    peer = FakePeer(entries, page=2)
    found = _client(peer).search("DC=lab", "(objectClass=computer)", ["cn", "serialNumber"], page_size=2)
    assert [dn for dn, _attrs in found] == [dn for dn, _attrs in entries]
    assert found[3][1] == {"cn": [b"PC-03"], "serialnumber": [b"SN3"]}  # names folded to lower case
    searches = [m for m in peer.requests if isinstance(m, sansldap.SearchRequest)]
    assert len(searches) == 3 and [c.size for m in searches for c in m.controls] == [2, 2, 2]


def test_delete_sends_a_primitive_delrequest_with_the_tree_delete_control():
    peer = FakePeer()
    _client(peer).delete("CN=PC-01,DC=lab", tree=True)
    oid = b"1.2.840.113556.1.4.805"
    control = bytes([0x30, 2 + len(oid) + 3, 0x04, len(oid)]) + oid + b"\x01\x01\xff"
    dn = b"CN=PC-01,DC=lab"
    body = b"\x02\x04\x10\x00\x00\x00" + bytes([0x4A, len(dn)]) + dn + bytes([0xA0, len(control)]) + control
    assert peer.raw == [bytes([0x30, len(body)]) + body]


def test_delete_without_tree_control_and_error_mapping():
    peer = FakePeer(delete_code=66)
    client = _client(peer)
    with pytest.raises(LdapError) as exc:
        client.delete("CN=PC-01,DC=lab")
    assert exc.value.result_code == 66 and "notAllowedOnNonLeaf" in exc.value.msg
    assert b"\xa0" not in peer.raw[0][-3:] and peer.raw[0].endswith(b"CN=PC-01,DC=lab")


def test_add_encodes_attributes():
    peer = FakePeer()
    _client(peer).add("CN=PC-01,DC=lab", {"objectClass": ["top", "computer"], "serialNumber": "SN-1",
                                          "msFVE-RecoveryGuid": b"\x00\x01"})
    reader = ASN1Reader(peer.raw[0]).read_sequence()
    reader.read_integer()
    req = reader.read_sequence(tag=ASN1Tag(TagClass.APPLICATION, 8, True))
    assert req.read_octet_string() == b"CN=PC-01,DC=lab"
    attrs = req.read_sequence()
    decoded = {}
    while attrs:
        attr = attrs.read_sequence()
        name = attr.read_octet_string().decode()
        values = attr.read_set()
        decoded[name] = []
        while values:
            decoded[name].append(values.read_octet_string())
    assert decoded == {"objectClass": [b"top", b"computer"], "serialNumber": [b"SN-1"],
                       "msFVE-RecoveryGuid": [b"\x00\x01"]}


def test_closed_connection_is_reported():
    class Closed(FakePeer):
        def recv(self, size):
            return b""

    with pytest.raises(LdapConnectionError, match="closed the connection"):
        _client(Closed()).search("DC=lab", "(cn=x)", ["cn"])


def test_invalid_filter_is_input_error():
    with pytest.raises(InputError, match="Invalid LDAP filter"):
        _client(FakePeer()).search("DC=lab", "(cn=unbalanced", ["cn"])
