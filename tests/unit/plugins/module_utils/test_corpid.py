# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Corporate identifiers: the values the portal takes, the identifier file, the plan, and the run against a fake
Graph client (answers out of order, a refusal, a lost answer reconciled by a search)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _corpid
from ansible_collections.winfleet.autopilot.plugins.module_utils import _registration as reg
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphError, GraphResponse
from winfleet_lab import hashgen

NOW = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)


@pytest.mark.parametrize(("make", "model", "serial", "text", "cleaned"), [
    ("LENOVO", "21CB0041US", "PF3ABCDE", "LENOVO,21CB0041US,PF3ABCDE", []),
    ("  Dell Inc. ", "Latitude 5430", "5CG1234XYZ", "Dell Inc,Latitude 5430,5CG1234XYZ", ["manufacturer"]),
    ("Acme", "Model 2.0", "SN.0042", "Acme,Model 20,SN0042", ["model", "serial_number"]),
])
def test_values_as_the_portal_takes_them(make, model, serial, text, cleaned):
    ident, why = _corpid.check_device("devices[0]", make, model, serial)
    assert why is None and ident.text == text
    assert [c["field"] for c in ident.cleaned] == cleaned


@pytest.mark.parametrize(("make", "model", "serial", "words"), [
    ("Foo, Inc", "M1", "GOOD0001", "manufacturer 'Foo, Inc' contains a comma"),
    ("", "M1", "GOOD0001", "manufacturer is empty"),
    ("Foo", "M1", "To be filled by O.E.M.", "is the placeholder firmware writes"),
    ("Foo", "M1", "0123456789", "counting sequence"),
    ("Foo", "M\x07", "GOOD0001", "control characters"),
    ("Foo", "...", "GOOD0001", "model '...' is empty once its periods are removed"),
    ("Foo", 'M"1', "GOOD0001", "quotation mark"),
])
def test_devices_the_portal_cannot_take(make, model, serial, words):
    ident, why = _corpid.check_device("devices[3]", make, model, serial)
    assert ident is None and words in why


def test_periods_refused_when_asked():
    ident, why = _corpid.check_device("x", "Dell Inc.", "Latitude 5430", "5CG1234XYZ", strip_periods=False)
    assert ident is None and "contains a period" in why and "strip_periods" in why


def test_ascii_only_for_files():
    assert _corpid.check_device("x", "Fújitsu", "M", "GOOD0001")[1] is None
    assert "printable ASCII" in _corpid.check_device("x", "Fújitsu", "M", "GOOD0001", ascii_only=True)[1]


def test_placeholder_make_is_a_warning():
    ident, why = _corpid.check_device("x", "System manufacturer", "System Product Name", "GOOD0001")
    assert why is None and len(ident.warnings) == 2


def test_collect_names_every_bad_device_and_line(tmp_path):
    good = tmp_path / "ids.csv"
    good.write_text("LENOVO,21CB0041US,PF3ABCDE\r\n\r\nHP,HP ProBook 450 G8 Notebook PC,5CG2000AAA\r\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("Manufacturer,Model,Serial Number\nFoo,Bar\nFoo,Bar,Default string\n")
    with pytest.raises(InputError) as err:
        _corpid.collect([{"manufacturer": "Foo, Inc", "model": "M", "serial_number": "S1"}], [str(tmp_path)])
    where = {e["source"]: e["reason"] for e in err.value.details["errors"]}
    assert set(where) == {"devices[0]", "%s:1" % bad, "%s:2" % bad, "%s:3" % bad}
    assert "header" in where["%s:1" % bad] and "2 values" in where["%s:2" % bad]
    assert "nothing was sent" in err.value.msg


def test_collect_reads_utf16_files_and_drops_repeats(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_bytes("LENOVO,21CB0041US,PF3ABCDE\r\n".encode("utf-16"))
    idents, dups, cleaned = _corpid.collect([{"manufacturer": "LENOVO", "model": "21CB0041US",
                                              "serial_number": "PF3ABCDE"}], [str(path)])
    assert [i.text for i in idents] == ["LENOVO,21CB0041US,PF3ABCDE"]
    assert dups == [{"source": "%s:1" % path, "identifier": "LENOVO,21CB0041US,PF3ABCDE", "kept": "devices[0]"}]
    assert cleaned == []


def _idents(n, make="LENOVO"):
    return [_corpid.Identifier(make, "21CB0041US", "PF%06d" % i, "x") for i in range(n)]


def test_identifier_file_has_no_header_and_splits_at_5000():
    idents = _idents(12001)
    batches = _corpid.split_files(idents)
    assert [len(b) for b in batches] == [5000, 5000, 2001]
    assert _corpid.render_file(batches[2][:2]) == b"LENOVO,21CB0041US,PF010000\r\nLENOVO,21CB0041US,PF010001\r\n"
    assert [len(b) for b in _corpid.split_files(idents[:10], limit=4)] == [4, 4, 2]
    big = _idents(3, make="M" * (3 * 1024 * 1024))  # 5 MB is the other limit
    assert [len(b) for b in _corpid.split_files(big)] == [1, 1, 1]


def test_plan():
    idents = _idents(3)
    existing = {idents[1].text: {"id": "b"}}
    assert _corpid.plan(idents, existing, "present") == ([idents[0].text, idents[2].text], [])
    assert _corpid.plan(idents, existing, "absent") == ([], [{"id": "b"}])


class FakeClient:
    """Answers $batch calls like the service; ``lose`` makes the first import call answer 503 after storing."""

    def __init__(self, stored=(), refuse=(), lose=False):
        self.stored = {t: {"id": "id-%s" % t, "importedDeviceIdentifier": t, "importedDeviceIdentityType":
                           _corpid.TYPE, "enrollmentState": "notContacted"} for t in stored}
        self.refuse = set(refuse)
        self.lose = lose
        self.calls = []

    def batch(self, calls, retry_unsafe=False):
        out = []
        for call in calls:
            self.calls.append((call["method"], call["url"]))
            items = (call.get("body") or {}).get("importedDeviceIdentities", [])
            texts = [i["importedDeviceIdentifier"] for i in items]
            if call["url"].endswith("searchExistingIdentities"):
                out.append(GraphResponse(200, {"value": [self.stored[t] for t in texts if t in self.stored]}, {}, None))
            elif call["url"].endswith("importDeviceIdentityList"):
                results = []
                for t in texts:
                    ok = t not in self.refuse and t not in self.stored
                    if ok:
                        self.stored[t] = {"id": "id-%s" % t, "importedDeviceIdentifier": t,
                                          "importedDeviceIdentityType": _corpid.TYPE, "enrollmentState": "notContacted"}
                    results.append(dict(self.stored.get(t, {"id": "", "importedDeviceIdentifier": t}), status=ok))
                if self.lose:
                    self.lose = False
                    out.append(GraphResponse(503, {"error": {"code": "ServiceUnavailable"}}, {}, None))
                else:
                    out.append(GraphResponse(200, {"value": list(reversed(results))}, {}, None))
            else:
                gone = call["url"].rsplit("/", 1)[1]
                for t in [t for t, r in self.stored.items() if r["id"] == gone]:
                    del self.stored[t]
                out.append(GraphResponse(204, None, {}, None))
        return out

    def raise_for(self, call, resp):
        raise GraphError("Graph %s failed: HTTP %d" % (call["url"], resp.status), status=resp.status)


def test_run_pairs_answers_by_identifier_and_reports_refusals():
    idents = _idents(3)
    client = FakeClient(stored=[idents[0].text], refuse=[idents[2].text])
    results, existing = _corpid.run(client, idents, "present", check_mode=False)
    assert [r["status"] for r in results] == ["Already registered", "Registered", "Refused by the service"]
    assert results[1]["id"] == "id-%s" % idents[1].text and results[1]["enrollment_state"] == "Not contacted"
    assert results[2]["failed"] and "status false" in results[2]["msg"]
    assert "1 of 3 identifiers failed" in _corpid.failure_message(results)
    assert list(existing) == [idents[0].text]


def test_check_mode_only_searches():
    idents = _idents(2)
    client = FakeClient(stored=[idents[0].text])
    results, _existing = _corpid.run(client, idents, "present", check_mode=True)
    assert [r["status"] for r in results] == ["Already registered", "To be registered"]
    assert {url.rsplit("/", 1)[1] for _m, url in client.calls} == {"searchExistingIdentities"}
    results, _existing = _corpid.run(client, idents, "absent", check_mode=True)
    assert [r["status"] for r in results] == ["To be removed", "Not registered"]
    assert len(client.stored) == 1


def test_a_lost_answer_is_reconciled_by_a_search():
    idents = _idents(2)
    client = FakeClient(lose=True)
    results, _existing = _corpid.run(client, idents, "present", check_mode=False)
    assert [r["status"] for r in results] == ["Registered", "Registered"]
    assert [url.rsplit("/", 1)[1] for _m, url in client.calls] == [
        "searchExistingIdentities", "importDeviceIdentityList", "searchExistingIdentities"]


def test_absent_deletes_by_id():
    idents = _idents(2)
    client = FakeClient(stored=[idents[1].text])
    results, _existing = _corpid.run(client, idents, "absent", check_mode=False)
    assert [r["status"] for r in results] == ["Not registered", "Removed"]
    assert ("DELETE", "%s/id-%s" % (_corpid.IDENTITIES, idents[1].text)) in client.calls and not client.stored


def test_view_in_the_users_words():
    got = _corpid.view({"id": "1", "importedDeviceIdentifier": "LENOVO,21CB0041US,PF3ABCDE",
                        "enrollmentState": "notContacted", "lastContactedDateTime": "0001-01-01T00:00:00Z"})
    assert got["manufacturer"] == "LENOVO" and got["serial_number"] == "PF3ABCDE"
    assert got["enrollment_state"] == "Not contacted" and got["last_contacted"] is None


# ---------------------------------------------------------------------------------------------------------------
# the merge's writer (registration_csv format=corporate_identifiers)
def _merge(tmp_path, rows, records=(), batch_size=5000):
    from winfleet_lab import samplefleet

    samplefleet.write_csv(tmp_path / "hashes.csv", samplefleet.AUTOPILOT3, rows)
    opts = reg.default_options(format=reg.CORP, batch_size=batch_size)
    reg.validate_options(opts)
    result = reg.collect([str(tmp_path / "hashes.csv")], list(records), opts, now=NOW)
    merged = reg.merge(result)
    return result, merged, reg.render(merged, str(tmp_path / "out" / "ids.csv"), reg.CORP, batch_size)


def test_merge_writes_make_and_model_from_the_hash(tmp_path):
    fleet = [d for d in hashgen.fleet(1601, 40, vm_every=0) if d.manufacturer in ("Dell Inc.", "LENOVO")][:3]
    rows = [[d.serial, "", hashgen.build_hash(d)] for d in fleet]
    # Hash rows give the firmware's make and model; a WMI record without a hash is enough; a comma is refused.
    result, _merged, rendered = _merge(tmp_path, rows, records=[
        {"manufacturer": "Acme Corp.", "model": "Widget 3000", "serial_number": "WMI0001", "source": "wmi-host"},
        {"manufacturer": "Foo, Inc", "model": "M", "serial_number": "WMI0002", "source": "bad-host"},
    ])
    assert [(r["file"], r["reason"].split(":")[0]) for r in result.rejected] == [("bad-host", "no corporate identifier")]
    lines = sorted(["%s,%s,%s" % (d.manufacturer.replace(".", ""), d.model, d.serial) for d in fleet]
                   + ["Acme Corp,Widget 3000,WMI0001"], key=lambda t: t.rsplit(",", 1)[1].upper())
    (path,) = list(rendered)
    assert rendered[path] == "".join(line + "\r\n" for line in lines).encode("ascii")
    assert ("manufacturer", "Acme Corp.") in result.cleaned
    assert reg._serials(path, rendered[path], reg.CORP) == [line.rsplit(",", 1)[1] for line in lines]


def test_merge_refuses_more_than_5000_per_file():
    with pytest.raises(InputError, match="5000 lines"):
        reg.validate_options(reg.default_options(format=reg.CORP, batch_size=5001))
    assert reg.batch_limit(reg.CORP) == 5000 and reg.batch_limit("autopilot") == 500


def test_journal_events_name_the_campaigns_serials_and_are_written_once():
    """The register events of a fleet registered by identifier: added (changed), there already (ok), refused
    (failed, with its cause); the serial as the campaign knows it although the identifier lost its periods; no new
    event for a device the journal shows registered with the same identity; none in check mode."""
    idents = [_corpid.check_device("devices[%d]" % i, "Acme", "M1", serial)[0]
              for i, serial in enumerate(("SN.001", "SN002", "SN003"))]
    client = FakeClient(stored=[idents[0].text], refuse=[idents[2].text])
    results, _existing = _corpid.run(client, idents, "present", check_mode=False)
    campaign = {"SN.001": {"merge": {"outcome": "changed"}}, "sn002": {"merge": {"outcome": "changed"}}}
    events = _corpid.events(results, campaign)
    assert [(e["serial"], e["outcome"], e["status"]) for e in events] == [
        ("SN.001", "ok", _corpid.CORPID_REGISTERED), ("sn002", "changed", _corpid.CORPID_REGISTERED),
        ("SN003", "failed", _corpid.CORPID_REFUSED)]
    assert events[1]["detail"] == {"identity_id": results[1]["id"]} and "status false" in events[2]["detail"]["cause"]
    # the next run finds the second one there: the journal already says so, nothing new
    again, _existing = _corpid.run(FakeClient(stored=[i.text for i in idents[:2]]), idents[:2], "present", False)
    journaled = {"sn002": {"register": dict(events[1], stage="register")}}
    assert _corpid.events(again[1:], journaled) == []
    checked, _existing = _corpid.run(FakeClient(), idents[:1], "present", check_mode=True)
    assert _corpid.events(checked, campaign) == []
