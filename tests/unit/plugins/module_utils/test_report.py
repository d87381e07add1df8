"""The campaign report: rows from the journal, CSV/JSON/HTML/JUnit writers, escaping, injection, idempotence."""

from __future__ import annotations

import base64
import csv
import datetime
import hashlib
import io
import json
import os
import re
import stat
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal as jr
from ansible_collections.winfleet.autopilot.plugins.module_utils import _report as rp
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError

T0 = datetime.datetime(2026, 11, 21, 10, 0, tzinfo=datetime.UTC)
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;"\''


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


def ev(serial, outcome, status="", **detail):
    return {"serial": serial, "outcome": outcome, "status": status, "detail": detail}


@pytest.fixture
def campaign(tmp_path):
    """Five devices: ready, claimed by another organization, unreachable, pending, and a hostile one."""
    c = str(tmp_path / "campaign")
    jr.append(c, "collect", [
        ev("S1", "ok", "Hash collected", source="winrm", host="pc-1", findings=["TPM 1.2"], manufacturer="HP",
           model="EliteBook"),
        ev("S2", "ok", "Hash collected", source="oem.csv:4", host="pc-2", findings=[]),
        ev("S3", "failed", "Host unreachable", source="winrm", host="pc-3"),
        ev("S4", "ok", "Hash collected", source="usb", host="pc-4"),
        ev("S5", "ok", "Hash collected", source="=cmd|' /C calc'!A0", host=XSS,
           findings=["+SUM(1,2)", {"message": "-2+3", "severity": "warning"}, "@foo", "\tTAB"]),
    ], run="r1", now=at(0))
    jr.append(c, "cleanup", [
        ev("S1", "changed", "Cleaned", removed=[{"service": "ad", "id": "CN=pc-1", "name": "pc-1"},
                                                {"service": "entra", "id": "e-1", "name": "pc-1"}]),
        ev("S2", "ok", "Nothing to clean", removed=[]),
        ev("S4", "ok", "Dry run", planned=[{"service": "intune", "id": "m-4", "name": "pc-4"}]),
    ], run="r1", now=at(5))
    jr.append(c, "register", [
        ev("S1", "changed", "Ready for user", import_id="winfleet-1"),
        ev("S2", "failed", "Device claimed by another organization", error_code=808, request_id="rq-2"),
        ev("S4", "changed", "Registration pending"),
        ev("S5", "changed", XSS),
    ], run="r1", now=at(10))
    jr.append(c, "deliver", [
        ev("S1", "ok", "Ready for user", group_tag="FLEET-A", assigned_user="ann@contoso.example",
           licence="M365 E3", prerequisites=[]),
    ], run="r1", now=at(15))
    return c


def parse_xml(data):
    return ET.fromstring(data)  # noqa: S314 - our own output, parsed back to prove it is well-formed


def rows_by_serial(report):
    return {row["serial"]: row for row in report.rows}


def test_rows_summary_and_final_states(campaign):
    report = rp.build(campaign, "Fleet A")
    rows = rows_by_serial(report)
    assert list(rows) == ["S1", "S2", "S3", "S4", "S5"]
    s1 = rows["S1"]
    assert (s1["name"], s1["source"], s1["manufacturer"], s1["model"]) == ("pc-1", "winrm", "HP", "EliteBook")
    assert s1["findings"] == ["TPM 1.2"] and s1["cleaned"] == ["ad: pc-1", "entra: pc-1"]
    assert (s1["registration"], s1["final_state"], s1["failed_stage"], s1["result"]) == (
        "Ready for user", "Ready for user", "", "ok")
    assert (s1["group_tag"], s1["assigned_user"], s1["licence"]) == ("FLEET-A", "ann@contoso.example", "M365 E3")
    assert s1["updated"] == "2026-11-21T10:15:00Z"
    assert list(s1["stages"]) == ["collect", "cleanup", "register", "deliver"]
    s2 = rows["S2"]
    assert (s2["final_state"], s2["failed_stage"], s2["cause"], s2["result"]) == (
        "Device claimed by another organization", "register", "Device claimed by another organization", "failed")
    assert s2["cleaned"] == ["Nothing to clean"]
    s3 = rows["S3"]
    assert (s3["final_state"], s3["failed_stage"], s3["cause"]) == ("Not collected", "collect", "Host unreachable")
    assert rows["S4"]["result"] == "pending" and rows["S4"]["cleaned"] == ["planned intune: pc-4"]
    assert rows["S5"]["findings"] == ["+SUM(1,2)", "-2+3", "@foo", "TAB"]
    assert report.summary == {
        "devices": 5, "failed": 2, "failed_percentage": 40.0,
        "by_status": {"Ready for user": 1, "Device claimed by another organization": 1, "Not collected": 1,
                      "Registration pending": 1, XSS: 1}}
    assert report.as_of == "2026-11-21T10:15:00Z" and report.runs == ["r1"]


def test_latest_event_wins_and_a_later_success_clears_a_failure(campaign):
    jr.append(campaign, "collect", [ev("S3", "ok", "Hash collected", source="winrm", host="pc-3")], run="r2",
              now=at(60))
    jr.append(campaign, "register", [ev("S3", "changed", "Ready for user"),
                                     ev("S4", "changed", "Ready for user")], run="r2", now=at(70))
    rows = rows_by_serial(rp.build(campaign, "t"))
    assert (rows["S3"]["final_state"], rows["S3"]["failed_stage"], rows["S3"]["result"]) == ("Ready for user", "",
                                                                                             "ok")
    assert rows["S4"]["result"] == "ok"
    # A failure at a later run at an earlier stage still marks the device failed (its cause is shown).
    jr.append(campaign, "collect", [ev("S1", "failed", "Access denied")], run="r3", now=at(80))
    s1 = rows_by_serial(rp.build(campaign, "t"))["S1"]
    assert (s1["final_state"], s1["failed_stage"], s1["cause"], s1["result"]) == (
        "Ready for user", "collect", "Access denied", "failed")


def test_skipped_only_and_empty_journal(tmp_path):
    c = str(tmp_path)
    jr.append(c, "cleanup", [ev("Z1", "skipped")], now=at(0))
    [row] = rp.build(c, "t").rows
    assert (row["final_state"], row["result"]) == ("Skipped", "skipped")
    empty = rp.build(str(tmp_path / "none"), "t")
    assert empty.summary == {"devices": 0, "by_status": {}, "failed": 0, "failed_percentage": 0.0}
    rendered, _files = rp.render(empty, str(tmp_path / "out"), list(rp.FORMATS))
    page = rendered[str(tmp_path / "out" / "report.html")].decode()
    assert "No devices in the journal yet." in page
    suite = parse_xml(rendered[str(tmp_path / "out" / "junit.xml")])
    assert suite.get("tests") == "0"


def test_csv_neutralises_formulas_and_round_trips(campaign, tmp_path):
    data = rp.render_csv(rp.build(campaign, "t"))
    assert data.startswith(b"\xef\xbb\xbfSerial number,Name,Hash source,") and b"\r\n" in data
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(table) == 5
    s5 = table[4]
    assert s5["Hash source"] == "'=cmd|' /C calc'!A0"
    assert s5["Findings"] == "'+SUM(1,2); -2+3; @foo; TAB"
    assert s5["Name"] == XSS and s5["Registration"] == XSS and s5["Final state"] == XSS
    for row in table:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert table[1]["Cause"] == "Device claimed by another organization"
    assert table[0]["Cleaned"] == "ad: pc-1; entra: pc-1"


@pytest.mark.parametrize("value,cell", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("a=1", "a=1"), ("", ""), (None, ""), (["-a", "b"], "'-a; b"),
])
def test_csv_cell(value, cell):
    assert rp.csv_cell(value) == cell


def test_html_escapes_field_values_and_loads_nothing(campaign):
    page = rp.render_html(rp.build(campaign, 'Fleet <b>"A"</b>')).decode("utf-8")
    assert "<script>alert" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&amp;amp;" in page
    assert "<title>Fleet &lt;b&gt;&quot;A&quot;&lt;/b&gt;</title>" in page
    assert page.count("<script>") == 1  # only the page's own script
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//)""", page, re.I)
    assert "@import" not in page and "url(" not in page
    # Every value inside an attribute is quoted and escaped (data-status carries the hostile status too).
    assert 'data-status="&lt;script&gt;alert(&quot;x&quot;)' in page


def test_html_csp_pins_the_inline_style_and_script(campaign):
    page = rp.render_html(rp.build(campaign, "t")).decode("utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    csp = csp.replace("&#x27;", "'")
    assert "default-src 'none'" in csp
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    for text, directive in ((style, "style-src"), (script, "script-src")):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert "%s 'sha256-%s'" % (directive, digest) in csp


def test_html_chart_and_filter_options(campaign):
    report = rp.build(campaign, "t")
    page = rp.render_html(report).decode("utf-8")
    bars = re.findall(r'<g class="bar"[^>]*data-status="([^"]*)" data-class="(\w+)" data-count="(\d+)"', page)
    assert len(bars) == 5 and sum(int(n) for _s, _c, n in bars) == 5
    assert [c for _s, c, _n in bars][:2] == ["failed", "failed"]  # the worst first
    assert page.count('<rect class="fill ') == 5
    assert '<option value="class:failed">Failed devices (2)</option>' in page
    assert '<option value="Registration pending">Registration pending (1)</option>' in page
    assert len(re.findall(r"<tr data-status=", page)) == 5
    assert 'id="filter"' in page and 'id="status-filter"' in page


def test_junit_is_valid_and_carries_the_causes(campaign):
    data = rp.render_junit(rp.build(campaign, "Fleet A"))
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = parse_xml(data)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "2", "0",
                                                                                                      "1")
    assert suite.get("timestamp") == "2026-11-21T10:15:00"
    cases = {case.get("name").split(" ")[0]: case for case in suite.findall("testcase")}
    assert len(cases) == 5
    failure = cases["S2"].find("failure")
    assert failure.get("message") == "Device claimed by another organization" and failure.get("type") == "register"
    assert cases["S3"].find("failure").get("message") == "Host unreachable"
    assert cases["S4"].find("skipped").get("message") == "Registration pending"
    assert cases["S1"].find("failure") is None and cases["S1"].find("skipped") is None
    assert "deliver: ok Ready for user (2026-11-21T10:15:00Z)" in cases["S1"].find("system-out").text
    assert cases["S5"].get("name") == "S5 (%s)" % XSS  # escaped by the writer, intact after parsing


def test_junit_drops_characters_xml_cannot_carry(tmp_path):
    jr.append(str(tmp_path), "collect", [ev("B\x01AD", "failed", "bad \x00\x0b byte \ud800", host="h\x1fx")],
              now=at(0))
    root = parse_xml(rp.render_junit(rp.build(str(tmp_path), "t\x07")))
    case = root.find("testsuite/testcase")
    assert case.get("name") == "B\ufffdAD (h\ufffdx)"
    assert case.find("failure").get("message") == "bad \ufffd\ufffd byte \ufffd"


def test_json_document(campaign):
    doc = json.loads(rp.render_json(rp.build(campaign, "Fleet A")))
    assert doc["title"] == "Fleet A" and doc["summary"]["devices"] == 5 and doc["events"] == 13
    assert [d["serial"] for d in doc["devices"]] == ["S1", "S2", "S3", "S4", "S5"]
    assert doc["devices"][1]["cause"] == "Device claimed by another organization"


def test_outputs_are_a_pure_function_of_the_journal(campaign, tmp_path):
    dest = str(tmp_path / "report")
    first, files = rp.render(rp.build(campaign, "t"), dest, list(rp.FORMATS))
    assert sorted(files) == ["csv", "html", "json", "junit"]
    assert set(first) == {os.path.join(dest, n) for n in ("report.csv", "report.json", "report.html", "junit.xml")}
    to_write, before = rp.plan(first)
    assert sorted(to_write) == sorted(first) and set(before.values()) == {None}
    rp.write(first, to_write, dest)
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in first)
    again, _files = rp.render(rp.build(campaign, "t"), dest, list(rp.FORMATS))
    assert again == first and rp.plan(again)[0] == []
    assert not [n for n in os.listdir(dest) if n.endswith(".tmp")]
    # One more event changes every output; only the JUnit file is asked for now.
    jr.append(campaign, "deliver", [ev("S4", "ok", "Ready for user")], now=at(90))
    junit_only, files = rp.render(rp.build(campaign, "t"), dest, ["junit"])
    assert list(files) == ["junit"] and rp.plan(junit_only)[0] == [os.path.join(dest, "junit.xml")]


def test_unknown_format(campaign, tmp_path):
    with pytest.raises(InputError, match="unknown report format"):
        rp.render(rp.build(campaign, "t"), str(tmp_path), ["pdf"])


def test_big_campaign_stays_fast(tmp_path):
    c = str(tmp_path)
    events = [ev("SN%05d" % i, "ok" if i % 10 else "failed", "Hash collected" if i % 10 else "Host unreachable",
                 host="pc-%d" % i, source="winrm", findings=[]) for i in range(5000)]
    jr.append(c, "collect", events, now=at(0))
    jr.append(c, "register", [ev("SN%05d" % i, "changed", "Ready for user") for i in range(5000) if i % 10],
              now=at(1))
    report = rp.build(c, "t")
    assert report.summary["devices"] == 5000 and report.summary["failed"] == 500
    assert report.summary["failed_percentage"] == 10.0
    rendered, _files = rp.render(report, str(tmp_path / "out"), list(rp.FORMATS))
    assert all(rendered.values())
