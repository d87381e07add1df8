# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The campaign report: one row per device, built from the journal alone, written as CSV, JSON, HTML and JUnit.

Every output is a pure function of the journal (no clock, no host name, rows sorted), so a second run over the
same journal produces the same bytes and reports no change. Values come from the field (host names, causes,
findings) and are escaped for each format: HTML-escaped in the page (which forbids every external load through
its Content-Security-Policy and runs only its own script, pinned by hash), neutralised against spreadsheet
formula injection in the CSV, and stripped of characters XML 1.0 cannot carry in the JUnit file.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import os
import re
import xml.etree.ElementTree as ET

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, OutputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._files import write_atomic

FORMATS = ("csv", "json", "html", "junit")
FILE_NAMES = {"csv": "report.csv", "json": "report.json", "html": "report.html", "junit": "junit.xml"}
STAGES = _journal.STAGES
# Final state of a device that stopped at a stage before registration (the cause is in its own column).
STOPPED_AT = {"collect": "Not collected", "merge": "Not in upload file", "cleanup": "Cleanup failed"}
PENDING_WORDS = ("pending", "autopilotregistrationrequested")
CLASS_ORDER = ("failed", "pending", "skipped", "ok")
CLASS_LABELS = {"failed": "Failed", "pending": "Pending", "skipped": "Skipped", "ok": "Done"}

CSV_COLUMNS = (
    ("serial", "Serial number"), ("name", "Name"), ("source", "Hash source"), ("manufacturer", "Manufacturer"),
    ("model", "Model"), ("findings", "Findings"), ("cleaned", "Cleaned"), ("registration", "Registration"),
    ("final_state", "Final state"), ("failed_stage", "Failed stage"), ("cause", "Cause"),
    ("group_tag", "Group tag"), ("assigned_user", "Assigned user"), ("licence", "Licence"), ("updated", "Updated"),
    ("computer_name", "Computer name"), ("entra_group", "Entra group"),
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# ---------------------------------------------------------------------------------------------------- rows

def _text(value):
    """A value from the journal as one line of text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        for key in ("message", "text", "msg", "name", "id"):
            if value.get(key):
                return _text(value[key])
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "; ".join(t for t in (_text(v) for v in value) if t)
    return str(value)


def _texts(value):
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [t for t in (_text(v) for v in value) if t]


def _removed(items, prefix=""):
    out = []
    for item in items if isinstance(items, (list, tuple)) else []:
        if isinstance(item, dict):
            service = _text(item.get("service"))
            what = _text(item.get("name")) or _text(item.get("id"))
            label = "%s: %s" % (service, what) if service and what else service or what
        else:
            label = _text(item)
        if label:
            out.append(prefix + label)
    return out


def _classify(row, final_event):
    if row["failed_stage"]:
        return "failed"
    status = row["final_state"].lower().replace(" ", "")
    if any(word in status for word in PENDING_WORDS):
        return "pending"
    if final_event is None or final_event["outcome"] == "skipped":
        return "skipped"
    return "ok"


def device_row(serial, stages):
    """One report row from ``{stage: latest event}`` of one device."""
    def detail(stage):
        return (stages.get(stage) or {}).get("detail") or {}

    def status(stage):
        return (stages.get(stage) or {}).get("status") or ""

    collect = detail("collect")
    merge = detail("merge")
    cleanup = detail("cleanup")
    deliver = detail("deliver")
    source = _text(collect.get("source"))
    if not source and merge.get("file"):
        source = _text(merge["file"]) + (":%s" % _text(merge["line"]) if merge.get("line") else "")
    cleaned = _removed(cleanup.get("removed"))
    cleaned += _removed(cleanup.get("planned"), prefix="planned ")
    if not cleaned and "cleanup" in stages and stages["cleanup"]["outcome"] != "failed":
        cleaned = _texts(status("cleanup"))
    failed_stage = next((stage for stage in STAGES if stages.get(stage, {}).get("outcome") == "failed"), "")
    final_event = None
    for stage in reversed(STAGES):
        event = stages.get(stage)
        if event is not None and event["outcome"] != "skipped":
            final_event = event
            break
    if final_event is None:
        final_state = "Skipped"
    elif final_event["outcome"] == "failed" and final_event["stage"] in STOPPED_AT:
        final_state = STOPPED_AT[final_event["stage"]]
    else:
        final_state = final_event["status"] or "%s %s" % (final_event["stage"].capitalize(), final_event["outcome"])
    row = dict(
        serial=serial,
        name=_text(collect.get("host")) or _text(collect.get("name")) or _text(deliver.get("display_name")),
        source=source,
        manufacturer=_text(collect.get("manufacturer")),
        model=_text(collect.get("model")),
        findings=_texts(collect.get("findings")),
        cleaned=cleaned,
        registration=status("register"),
        final_state=final_state,
        failed_stage=failed_stage,
        cause=status(failed_stage) if failed_stage else "",
        group_tag=_text(deliver.get("group_tag")),
        assigned_user=_text(deliver.get("assigned_user")),
        licence=_text(deliver.get("licence")),
        prerequisites=_texts(deliver.get("prerequisites")),
        computer_name=_text(deliver.get("computer_name")),
        entra_group=_group_text(deliver.get("group")),
        updated=max((e.get("ts") or "" for e in stages.values()), default=""),
        stages={stage: dict(outcome=e["outcome"], status=e.get("status") or "", ts=e.get("ts") or "",
                            run=e.get("run") or "")
                for stage, e in sorted(stages.items(), key=lambda item: STAGES.index(item[0]))},
    )
    if failed_stage and not row["cause"]:
        row["cause"] = "%s failed" % failed_stage
    profile_cause = _text((deliver.get("profile") or {}).get("cause")) if isinstance(deliver.get("profile"), dict) else ""
    if failed_stage == "deliver" and profile_cause:
        row["cause"] = "%s: %s" % (row["cause"], profile_cause)  # e.g. no deployment profile targets group tag Sales
    row["result"] = _classify(row, final_event)
    return row


def _group_text(group):
    """The fleet's Entra group of a deliver event: its name, and whether the device is a member."""
    if not isinstance(group, dict) or not group.get("name"):
        return ""
    return "%s%s" % (_text(group.get("name")), "" if group.get("member") else " (not a member)")


class Report:
    """Rows, summary and the facts of the journal the outputs mention."""

    def __init__(self, events, title, journal_warnings=()):
        latest = _journal.latest(events)
        self.title = title
        self.rows = [device_row(serial, latest[serial]) for serial in sorted(latest)]
        self.events = len(events)
        self.runs = _journal.summarise(events)["runs"]
        self.as_of = max((e.get("ts") or "" for e in events), default="")
        self.warnings = list(journal_warnings)
        by_status = {}
        for row in self.rows:
            by_status[row["final_state"]] = by_status.get(row["final_state"], 0) + 1
        failed = sum(1 for row in self.rows if row["result"] == "failed")
        self.summary = dict(
            devices=len(self.rows),
            by_status=by_status,
            failed=failed,
            failed_percentage=round(100.0 * failed / len(self.rows), 1) if self.rows else 0.0,
        )

    def status_bars(self):
        """``[(status, count, result class)]`` for the chart: worst class first, then most devices."""
        bars = {}
        for row in self.rows:
            count, klass = bars.get(row["final_state"], (0, "ok"))
            if CLASS_ORDER.index(row["result"]) < CLASS_ORDER.index(klass):
                klass = row["result"]
            bars[row["final_state"]] = (count + 1, klass)
        return sorted(((status, count, klass) for status, (count, klass) in bars.items()),
                      key=lambda item: (CLASS_ORDER.index(item[2]), -item[1], item[0]))


def build(campaign_dir, title):
    found = _journal.read(campaign_dir)
    return Report(found.events, title, found.warnings)


# ---------------------------------------------------------------------------------------------------- CSV / JSON

def csv_cell(value):
    """A cell a spreadsheet shows as text: a leading = + - @ (or tab, CR) gets an apostrophe."""
    text = "; ".join(value) if isinstance(value, list) else ("" if value is None else str(value))
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def render_csv(report):
    """UTF-8 with a BOM (so spreadsheets pick the encoding), CRLF, every cell quoted where needed."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([label for _key, label in CSV_COLUMNS])
    for row in report.rows:
        writer.writerow([csv_cell(row[key]) for key, _label in CSV_COLUMNS])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def render_json(report):
    doc = dict(title=report.title, journal_as_of=report.as_of, events=report.events, runs=report.runs,
               summary=report.summary, devices=report.rows)
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------------- JUnit

def _xml(value):
    return _XML_INVALID.sub("\ufffd", "" if value is None else str(value))


def render_junit(report):
    """One testcase per device: a failure carries the failed stage and its cause; pending and skipped devices
    are reported as skipped, so a CI pipeline shows them without counting them as passed."""
    failures = sum(1 for row in report.rows if row["result"] == "failed")
    skipped = sum(1 for row in report.rows if row["result"] in ("pending", "skipped"))
    counts = dict(tests=str(len(report.rows)), failures=str(failures), errors="0", skipped=str(skipped))
    root = ET.Element("testsuites", dict(name=_xml(report.title), **counts))
    suite_attrs = dict(name=_xml(report.title), **counts)
    if report.as_of:
        suite_attrs["timestamp"] = report.as_of.rstrip("Z")
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    for row in report.rows:
        case = ET.SubElement(suite, "testcase", dict(
            classname=_xml("campaign." + (row["failed_stage"] or _last_stage(row) or "none")),
            name=_xml(row["serial"] + (" (%s)" % row["name"] if row["name"] else "")), time="0"))
        if row["result"] == "failed":
            failure = ET.SubElement(case, "failure", dict(message=_xml(row["cause"]), type=_xml(row["failed_stage"])))
            failure.text = _xml("%s failed: %s\nfinal state: %s"
                                % (row["failed_stage"], row["cause"], row["final_state"]))
        elif row["result"] in ("pending", "skipped"):
            ET.SubElement(case, "skipped", dict(message=_xml(row["final_state"])))
        out = ET.SubElement(case, "system-out")
        out.text = _xml("".join("%s: %s %s (%s)\n" % (stage, e["outcome"], e["status"], e["ts"])
                                for stage, e in row["stages"].items()))
    ET.indent(root, space=" ")
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                      xml_declaration=False) + b"\n")


def _last_stage(row):
    return list(row["stages"])[-1] if row["stages"] else ""


# ---------------------------------------------------------------------------------------------------- HTML

CSS = """
:root{--ok:#1b7f4c;--ok-bg:#e3f4ea;--failed:#b42318;--failed-bg:#fdeceb;--pending:#b25e09;--pending-bg:#fef3e2;
--skipped:#5d6b7a;--skipped-bg:#eef1f4;--ink:#1d2733;--muted:#5d6b7a;--line:#dfe3e8;--bg:#f6f7f9;--accent:#0f5ea8}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 "Segoe UI",system-ui,-apple-system,Roboto,
"Helvetica Neue",Arial,sans-serif}
header{background:#12263f;color:#fff;padding:22px 32px 18px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header p{margin:0;color:#c5d3e3;font-size:13px}
main{padding:20px 32px 40px}
.cards{display:flex;flex-wrap:wrap;gap:14px;margin-bottom:18px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 18px;min-width:150px}
.card .n{font-size:26px;font-weight:600}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.failed .n{color:var(--failed)}.card.ok .n{color:var(--ok)}.card.pending .n{color:var(--pending)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin-bottom:18px}
h2{font-size:15px;margin:0 0 10px;font-weight:600}
#status-chart{display:block;max-width:100%;height:auto}
#status-chart .bar{cursor:pointer}
#status-chart .bar:focus{outline:none}
#status-chart .bar:focus rect.fill,#status-chart .bar:hover rect.fill{opacity:.8}
#status-chart .bar.dim{opacity:.3}
#status-chart text{font-size:13px;fill:var(--ink)}
#status-chart text.count{font-weight:600}
#status-chart rect.track{fill:#f0f2f5}
.fill.ok,.key.ok{fill:var(--ok)}.fill.failed,.key.failed{fill:var(--failed)}
.fill.pending,.key.pending{fill:var(--pending)}.fill.skipped,.key.skipped{fill:var(--skipped)}
.controls{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:12px}
.controls input,.controls select{font:inherit;padding:7px 10px;border:1px solid #c3cad3;border-radius:6px;
background:#fff}
.controls input{flex:1 1 320px;max-width:480px}
.controls .shown{color:var(--muted);margin-left:auto}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;background:#f0f2f5;color:#374553;font-weight:600;padding:8px 9px;
border-bottom:1px solid var(--line);position:sticky;top:0}
td{padding:6px 9px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
tbody tr:hover{background:#f8fafc}
td.serial{font-family:ui-monospace,SFMono-Regular,Consolas,"Liberation Mono",monospace}
td ul{margin:0;padding-left:16px}
table{table-layout:fixed;min-width:1100px}
.c-serial{width:8%}.c-device{width:12%}.c-state{width:11%}.c-cause{width:12%}.c-reg{width:9%}.c-source{width:11%}
.c-findings{width:12%}.c-cleaned{width:7%}.c-deliver{width:10%}.c-updated{width:8%}
td.when{font-size:12px;white-space:nowrap}
td .none{color:#9aa5b1}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600}
.badge.ok{background:var(--ok-bg);color:var(--ok)}.badge.failed{background:var(--failed-bg);color:var(--failed)}
.badge.pending{background:var(--pending-bg);color:var(--pending)}.badge.skipped{background:var(--skipped-bg);
color:var(--skipped)}
.cause{color:var(--failed)}
.stage{font-weight:600;text-transform:capitalize}
small.muted,.muted{color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:0 32px 24px}
"""

JS = """
(function () {
  "use strict";
  var input = document.getElementById("filter");
  var select = document.getElementById("status-filter");
  var shown = document.getElementById("shown");
  var noMatch = document.getElementById("no-match");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#devices tbody tr[data-status]"));
  var bars = Array.prototype.slice.call(document.querySelectorAll("#status-chart .bar"));
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  function matchesStatus(row, wanted) {
    if (wanted === "") { return true; }
    if (wanted.indexOf("class:") === 0) { return row.getAttribute("data-class") === wanted.slice(6); }
    return row.getAttribute("data-status") === wanted;
  }
  function apply() {
    var words = input.value.toLowerCase().split(/\\s+/).filter(function (w) { return w.length > 0; });
    var wanted = select.value;
    var count = 0;
    rows.forEach(function (row, i) {
      var visible = matchesStatus(row, wanted) && words.every(function (w) { return texts[i].indexOf(w) !== -1; });
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = String(count);
    noMatch.hidden = count !== 0 || rows.length === 0;
    bars.forEach(function (bar) {
      var on = wanted === "" || wanted === bar.getAttribute("data-status") ||
        (wanted.indexOf("class:") === 0 && bar.getAttribute("data-class") === wanted.slice(6));
      bar.classList.toggle("dim", !on);
    });
  }
  function pick(bar) {
    var status = bar.getAttribute("data-status");
    select.value = select.value === status ? "" : status;
    apply();
  }
  bars.forEach(function (bar) {
    bar.addEventListener("click", function () { pick(bar); });
    bar.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pick(bar); }
    });
  });
  input.addEventListener("input", apply);
  select.addEventListener("change", apply);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { input.value = ""; select.value = ""; apply(); }
  });
  apply();
}());
"""


def _csp_hash(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


CSP = ("default-src 'none'; style-src %s; script-src %s; img-src 'none'; base-uri 'none'; form-action 'none'"
       % (_csp_hash(CSS), _csp_hash(JS)))


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def _chart(report):
    bars = report.status_bars()
    if not bars:
        return ('<svg id="status-chart" role="img" aria-label="No devices" viewBox="0 0 720 40" width="720" '
                'height="40"><text x="0" y="24">No devices in the journal yet.</text></svg>')
    label_w, bar_w, row_h = 300, 520, 30
    biggest = max(count for _status, count, _klass in bars)
    present = [klass for klass in CLASS_ORDER if any(item[2] == klass for item in bars)]
    height = max(row_h * len(bars), 24 * len(present)) + 8
    out = ['<svg id="status-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
           'aria-label="Devices by final state" viewBox="0 0 %d %d" width="%d" height="%d">'
           % (label_w + bar_w + 200, height, label_w + bar_w + 200, height)]
    for i, (status, count, klass) in enumerate(bars):
        y = 4 + i * row_h
        width = max(2, round(bar_w * count / biggest))
        label = status if len(status) <= 42 else status[:41] + "\u2026"
        out.append(
            '<g class="bar" tabindex="0" role="button" data-status="%s" data-class="%s" data-count="%d">'
            '<title>%s: %d device%s</title>'
            '<text x="%d" y="%d" text-anchor="end">%s</text>'
            '<rect class="track" x="%d" y="%d" width="%d" height="20" rx="3"></rect>'
            '<rect class="fill %s" x="%d" y="%d" width="%d" height="20" rx="3"></rect>'
            '<text class="count" x="%d" y="%d">%d</text></g>'
            % (esc(status), klass, count, esc(status), count, "" if count == 1 else "s",
               label_w - 10, y + 15, esc(label),
               label_w, y, bar_w, klass, label_w, y, width, label_w + bar_w + 8, y + 15, count))
    legend_x = label_w + bar_w + 90
    for i, klass in enumerate(present):
        y = 4 + i * 24
        out.append('<g class="legend"><rect class="key %s" x="%d" y="%d" width="14" height="14" rx="2"></rect>'
                   '<text x="%d" y="%d">%s</text></g>'
                   % (klass, legend_x, y + 3, legend_x + 22, y + 15, CLASS_LABELS[klass]))
    out.append("</svg>")
    return "".join(out)


def _list(items):
    if not items:
        return '<span class="none">\u2014</span>'
    if len(items) == 1:
        return esc(items[0])
    return "<ul>%s</ul>" % "".join("<li>%s</li>" % esc(item) for item in items)


def _lines(items):
    if not items:
        return '<span class="none">\u2014</span>'
    return "<br>".join(esc(item) for item in items)


def _cell(value):
    return esc(value) if value else '<span class="none">\u2014</span>'


def _table_row(row):
    make_model = " ".join(v for v in (row["manufacturer"], row["model"]) if v)
    failed = '<span class="none">\u2014</span>'
    if row["failed_stage"]:
        failed = '<span class="stage">%s</span>: <span class="cause">%s</span>' % (
            esc(row["failed_stage"]), esc(row["cause"]))
    deliver = [v for v in (row["group_tag"] and "tag " + row["group_tag"], row["assigned_user"],
                           row["licence"] and "licence: " + row["licence"],
                           row.get("computer_name") and "name " + row["computer_name"],
                           row.get("entra_group") and "group " + row["entra_group"]) if v]
    cells = (
        ('serial', esc(row["serial"])),
        ('', _cell(row["name"]) + ('<br><small class="muted">%s</small>' % esc(make_model) if make_model else "")),
        ('', '<span class="badge %s">%s</span>' % (row["result"], esc(row["final_state"]))),
        ('', failed),
        ('', _cell(row["registration"])),
        ('', _cell(row["source"])),
        ('', _list(row["findings"])),
        ('', _lines(row["cleaned"])),
        ('', _lines(deliver)),
        ('muted when', "<br>".join(esc(part) for part in row["updated"].rstrip("Z").split("T"))),  # date, time
    )
    return '<tr data-status="%s" data-class="%s">%s</tr>' % (
        esc(row["final_state"]), row["result"],
        "".join('<td class="%s">%s</td>' % (klass, value) if klass else "<td>%s</td>" % value
                for klass, value in cells))


def render_html(report):
    summary = report.summary
    counts = {klass: 0 for klass in CLASS_ORDER}
    for row in report.rows:
        counts[row["result"]] += 1
    rows = sorted(report.rows, key=lambda row: (CLASS_ORDER.index(row["result"]), row["serial"]))
    options = ['<option value="">All final states (%d)</option>' % len(report.rows)]
    options.extend('<option value="class:%s">%s devices (%d)</option>' % (klass, CLASS_LABELS[klass], counts[klass])
                   for klass in CLASS_ORDER if counts[klass])
    options.extend('<option value="%s">%s (%d)</option>' % (esc(status), esc(status), count)
                   for status, count, _klass in report.status_bars())
    cards = "".join('<div class="card %s"><div class="n">%s</div><div class="l">%s</div></div>' % (klass, n, label)
                    for klass, n, label in (
                        ("", summary["devices"], "Devices"),
                        ("ok", counts["ok"], "Done"),
                        ("pending", counts["pending"] + counts["skipped"], "Pending or skipped"),
                        ("failed", summary["failed"], "Failed (%s %%)" % summary["failed_percentage"])))
    body = "".join(_table_row(row) for row in rows) or (
        '<tr><td colspan="10" class="muted">No devices in the journal yet.</td></tr>')
    runs = ", ".join(report.runs) if report.runs else "none recorded"
    return (PAGE % dict(csp=esc(CSP), title=esc(report.title), css=CSS, as_of=esc(report.as_of or "-"),
                        events=report.events, runs=esc(runs), cards=cards, chart=_chart(report),
                        options="".join(options), total=len(report.rows), body=body, js=JS)).encode("utf-8")


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="%(csp)s">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="winfleet.autopilot campaign_report">
<title>%(title)s</title>
<style>%(css)s</style>
</head>
<body>
<header><h1>%(title)s</h1>
<p>Journal as of %(as_of)s &middot; %(events)d events &middot; runs: %(runs)s</p></header>
<main>
<div class="cards">%(cards)s</div>
<section aria-labelledby="chart-title"><h2 id="chart-title">Devices by final state</h2>%(chart)s</section>
<section aria-labelledby="table-title"><h2 id="table-title">Devices</h2>
<div class="controls">
<input id="filter" type="search" placeholder="Filter: serial, name, model, status, cause&hellip;"
 aria-label="Filter devices">
<select id="status-filter" aria-label="Final state">%(options)s</select>
<span class="shown"><span id="shown">%(total)d</span> of %(total)d devices shown</span>
</div>
<div class="table-wrap"><table id="devices">
<colgroup><col class="c-serial"><col class="c-device"><col class="c-state"><col class="c-cause"><col class="c-reg">
<col class="c-source"><col class="c-findings"><col class="c-cleaned"><col class="c-deliver"><col class="c-updated">
</colgroup>
<thead><tr><th>Serial number</th><th>Device</th><th>Final state</th><th>Failed stage: cause</th><th>Registration</th>
<th>Hash source</th><th>Findings</th><th>Cleaned</th><th>Delivery</th><th>Updated (UTC)</th></tr></thead>
<tbody>%(body)s</tbody>
</table></div>
<p id="no-match" class="muted" hidden>No device matches the filter.</p>
</section>
</main>
<footer>Built from the campaign journal by winfleet.autopilot.campaign_report. The same data: report.csv,
report.json, junit.xml.</footer>
<script>%(js)s</script>
</body>
</html>
"""

RENDERERS = {"csv": render_csv, "json": render_json, "html": render_html, "junit": render_junit}


# ---------------------------------------------------------------------------------------------------- files

def render(report, dest, formats):
    """``{path: bytes}`` of the requested formats (in FORMATS order) and ``{format: path}``."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise InputError("unknown report format(s) %s; choose from %s" % (", ".join(unknown), ", ".join(FORMATS)))
    files = {}
    rendered = {}
    for fmt in FORMATS:
        if fmt in formats:
            path = os.path.join(dest, FILE_NAMES[fmt])
            files[fmt] = path
            rendered[path] = RENDERERS[fmt](report)
    return rendered, files


def plan(rendered):
    """``(to_write, before)``: the paths whose bytes differ from the file on disk, and what was there."""
    to_write = []
    before = {}
    for path, data in rendered.items():
        try:
            with open(path, "rb") as handle:
                before[path] = handle.read()
        except FileNotFoundError:
            before[path] = None
        except OSError as exc:
            raise OutputError("cannot read %s: %s" % (path, exc.strerror or exc))
        if before[path] != data:
            to_write.append(path)
    return to_write, before


def write(rendered, to_write, dest, mode=0o600):
    """Create ``dest`` (0700) when missing, then write each changed file atomically (temp file + rename)."""
    if not os.path.isdir(dest):
        try:
            os.makedirs(dest, mode=0o700)
        except OSError as exc:
            raise OutputError("cannot create the report folder %s: %s" % (dest, exc.strerror or exc))
    write_atomic(rendered, to_write, [], mode=mode)
