# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Windows corporate identifiers (manufacturer, model, serial number): the values the portal accepts, the portal's
identifier file, and the Graph calls (beta ``deviceManagement/importedDeviceIdentities``).

* **Values.** One identifier is ``<manufacturer>,<model>,<serial>`` (``importedDeviceIdentityType:
  manufacturerModelSerial``), written as the firmware reports them (SMBIOS system manufacturer and product name, case
  included): Intune marks a device corporate only when all three match. The format has no quoting, so a comma in a
  value cannot be carried: such a device is refused, naming the value. Periods are refused by the portal too; by
  default they are removed (Microsoft's instructions say to remove periods, and the community fork of
  Get-WindowsAutopilotInfo strips them) and every value changed that way is reported; ``strip_periods=false``
  refuses them instead. A placeholder serial (``To be filled by O.E.M.`` ...) is refused: it names no device.
* **The file** (``render_file``): no header, one ``Manufacturer,Model,Serial`` per line, ASCII, CRLF, at most 5,000
  lines (and 5 MB) per file, one identifier type per file.
* **Graph.** ``searchExistingIdentities`` first (read-only, allowed in check mode), ``importDeviceIdentityList``
  for the missing ones only, DELETE by id; all through the client's ``$batch``. Results are paired with their
  devices by identifier text, never by position.
"""

from __future__ import annotations

from ansible_collections.winfleet.autopilot.plugins.module_utils import _csvsource as src
from ansible_collections.winfleet.autopilot.plugins.module_utils import _echo, _hwhash
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._journal import DONE_OUTCOMES
from ansible_collections.winfleet.autopilot.plugins.module_utils._statuses import (
    CORPID_REFUSED,
    CORPID_REGISTERED,
    serial_key,
)

IDENTITIES = "/deviceManagement/importedDeviceIdentities"
TYPE = "manufacturerModelSerial"
FILE_LINES = 5000              # the portal: "up to 5,000 rows or 5 MB of data per file, whichever comes first"
FILE_BYTES = 5 * 1024 * 1024
CHUNK = 500                    # identifiers per Graph call (the API documents no limit; 20 calls per $batch)
FIELDS = ("manufacturer", "model", "serial_number")
ASCII_RULE = ("identifier files hold printable ASCII only: the portal takes ANSI text, and ASCII is the part of "
              "ANSI every code page shares")
ENROLLMENT_WORDS = {"notContacted": "Not contacted", "enrolled": "Enrolled", "failed": "Failed",
                    "pendingReset": "Pending reset", "blocked": "Blocked", "unknown": "Unknown"}


class Identifier:
    """One device's corporate identifier, its values as written and where it came from."""

    __slots__ = ("cleaned", "manufacturer", "model", "serial", "warnings", "where")

    def __init__(self, manufacturer, model, serial, where, cleaned=(), warnings=()):
        self.manufacturer = manufacturer
        self.model = model
        self.serial = serial
        self.where = where
        self.cleaned = list(cleaned)
        self.warnings = list(warnings)

    @property
    def text(self):
        return "%s,%s,%s" % (self.manufacturer, self.model, self.serial)

    def as_dict(self):
        return {"manufacturer": self.manufacturer, "model": self.model, "serial_number": self.serial,
                "identifier": self.text, "source": self.where}


def clean_value(name, value, strip_periods=True, ascii_only=False):
    """``(value, problem, cleaned)`` for one value: the value to send, why it cannot be sent (or None), and whether
    periods were removed."""
    text = (value or "").strip()
    words = name.replace("_", " ")
    if not text:
        return text, "%s is empty" % words, False
    if _echo.hashlike(text):
        return text, "%s holds hash-like text (%d characters): a column out of place" % (words, len(text)), False
    if not text.isprintable():
        return text, "%s %s contains control characters" % (words, _echo.echo(text)), False
    if ascii_only and not text.isascii():
        return text, "%s %s contains characters outside printable ASCII (%s)" % (
            words, _echo.echo(text), ASCII_RULE), False
    if "," in text:
        return text, ("%s %s contains a comma: an identifier is 'manufacturer,model,serial' without quoting, so the "
                      "value cannot be sent (the service would read four values)" % (words, _echo.echo(text))), False
    cleaned = False
    if "." in text:
        if not strip_periods:
            return text, ("%s %s contains a period, which the portal refuses (Microsoft: remove all periods; set "
                          "strip_periods to remove them)" % (words, _echo.echo(text))), False
        text = text.replace(".", "").strip()
        cleaned = True
        if not text:
            return text, "%s %s is empty once its periods are removed" % (words, _echo.echo(value.strip())), True
    if '"' in text:
        return text, "%s %s contains a quotation mark" % (words, _echo.echo(text)), cleaned
    return text, None, cleaned


def check_device(where, manufacturer, model, serial, strip_periods=True, ascii_only=False):
    """``(Identifier, None)`` or ``(None, reason)``; every problem of the device in one reason."""
    values = {}
    problems = []
    cleaned = []
    for name, raw in zip(FIELDS, (manufacturer, model, serial), strict=True):
        value, problem, was_cleaned = clean_value(name, raw, strip_periods, ascii_only)
        if problem:
            problems.append(problem)
        elif was_cleaned:
            cleaned.append({"field": name, "value": _echo.clip((raw or "").strip()), "written": value})
        values[name] = value
    if not problems:
        why = _hwhash.serial_placeholder(serial)
        if why:
            problems.append("serial number %s %s: the firmware has no usable serial, so no identifier can name this "
                            "device" % (_echo.echo((serial or "").strip()), why))
    if problems:
        return None, "; ".join(problems)
    warnings = ["placeholder SMBIOS %s %s: the OEM did not set it, so the identifier may match other devices"
                % (name, _echo.echo(values[name])) for name in ("manufacturer", "model")
                if values[name].lower() in _hwhash.PLACEHOLDERS]
    return Identifier(values["manufacturer"], values["model"], values["serial_number"], where, cleaned, warnings), None


def parse_identifier(text):
    """``{manufacturer, model, serial_number}`` of an identifier text (values with commas cannot exist)."""
    parts = (text or "").split(",")
    if len(parts) != 3:
        return {"manufacturer": None, "model": None, "serial_number": None}
    return dict(zip(FIELDS, parts, strict=True))


# ---------------------------------------------------------------------------------------------------------------
# input: a list of devices and/or the portal's identifier files
def read_file(path):
    """Rows ``(where, manufacturer, model, serial)`` of one identifier file, and its problems ``(where, reason)``."""
    rows, problems = [], []
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return rows, [(path, "cannot read: %s" % (exc.strerror or exc))]
    text, encoding = src.decode_bytes(data)
    if text is None:
        return rows, [(path, encoding)]
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        where = "%s:%d" % (path, number)
        if number == 1 and all(src.heading_key(p) for p in parts if p):
            problems.append((where, "line 1 is a header (%s): the portal's identifier file has no header line; "
                                    "remove it" % _echo.echo(line.strip())))
            continue
        if len(parts) != 3:
            problems.append((where, "%d values where an identifier file has 3 (manufacturer,model,serial): a value "
                                    "with a comma, or not an identifier file" % len(parts)))
            continue
        rows.append((where,) + tuple(parts))
    return rows, problems


def collect(devices=(), paths=(), strip_periods=True):
    """Every identifier to manage, in order, de-duplicated; raises ``InputError`` naming every bad device.

    Returns ``(identifiers, duplicates, cleaned)``: ``duplicates`` are later copies of an identifier already listed,
    ``cleaned`` the distinct values whose periods were removed."""
    rows = []
    errors = []
    for index, dev in enumerate(devices or ()):
        dev = dev or {}
        rows.append(("devices[%d]" % index, dev.get("manufacturer"), dev.get("model"), dev.get("serial_number")))
    if paths:
        files, problems, _skipped = src.expand_sources(paths, pattern=("*.csv", "*.txt"))
        errors += [(p.path, p.reason) for p in problems]
        for path in files:
            found, bad = read_file(path)
            rows += found
            errors += bad
    identifiers, seen, duplicates, cleaned = [], {}, [], {}
    for where, make, model, serial in rows:
        ident, reason = check_device(where, make, model, serial, strip_periods)
        if ident is None:
            errors.append((where, reason))
            continue
        for item in ident.cleaned:
            cleaned.setdefault((item["field"], item["value"]), item)
        if ident.text in seen:
            duplicates.append({"source": where, "identifier": ident.text, "kept": seen[ident.text]})
            continue
        seen[ident.text] = where
        identifiers.append(ident)
    if errors:
        raise InputError("%d device(s) cannot be registered by corporate identifier; nothing was sent: %s" % (
            len(errors), "; ".join("%s: %s" % e for e in errors[:20]) + ("; ..." if len(errors) > 20 else "")),
            errors=[{"source": w, "reason": r} for w, r in errors])
    return identifiers, duplicates, list(cleaned.values())


# ---------------------------------------------------------------------------------------------------------------
# the portal's identifier file
def render_file(identifiers):
    """The bytes of one identifier file: no header, ``Manufacturer,Model,Serial`` per line, ASCII, CRLF."""
    return "".join("%s\r\n" % i.text for i in identifiers).encode("ascii")


def split_files(identifiers, limit=FILE_LINES):
    """Batches of at most ``limit`` lines and ``FILE_BYTES`` bytes each (the portal's two limits)."""
    limit = max(1, min(int(limit), FILE_LINES))
    batches, batch, size = [], [], 0
    for ident in identifiers:
        line = len(ident.text) + 2
        if batch and (len(batch) >= limit or size + line > FILE_BYTES):
            batches.append(batch)
            batch, size = [], 0
        batch.append(ident)
        size += line
    if batch or not batches:
        batches.append(batch)
    return batches


def file_serials(data):
    """Serial numbers listed in an identifier file's bytes (for the merge's diff)."""
    text, _enc = src.decode_bytes(data)
    if text is None:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) == 3 and parts[2].strip():
            out.append(parts[2].strip())
    return out


# ---------------------------------------------------------------------------------------------------------------
# Graph
def _body(idents):
    return {"importedDeviceIdentities": [{"importedDeviceIdentityType": TYPE, "importedDeviceIdentifier": i}
                                         for i in idents]}


def _chunks(items, size=CHUNK):
    return [items[i:i + size] for i in range(0, len(items), size)]


def search(client, texts):
    """``{identifier text: record}`` of the identifiers the service already has (``searchExistingIdentities``)."""
    texts = list(dict.fromkeys(texts))
    calls = [{"method": "POST", "url": IDENTITIES + "/searchExistingIdentities", "body": _body(chunk)}
             for chunk in _chunks(texts)]
    found = {}
    wanted = set(texts)
    for call, resp in zip(calls, client.batch(calls, retry_unsafe=True), strict=True):  # a search changes nothing
        if resp.status >= 400:
            client.raise_for(call, resp)
        for rec in (resp.body or {}).get("value", []):
            ident = rec.get("importedDeviceIdentifier")
            if ident in wanted and rec.get("importedDeviceIdentityType", TYPE) == TYPE:
                found.setdefault(ident, rec)
    return found


def list_all(client):
    return [r for r in client.paged(IDENTITIES.lstrip("/")) if r.get("importedDeviceIdentityType") == TYPE]


def import_identities(client, idents, description=None):
    """Import ``idents`` (texts); ``{text: (ok, record or None, why)}``. A call whose answer was lost (5xx after the
    service may have acted) is reconciled by searching for its identifiers."""
    out = {}
    calls = []
    for chunk in _chunks(list(idents)):
        body = _body(chunk)
        if description:
            for item in body["importedDeviceIdentities"]:
                item["description"] = description
        body["overwriteImportedDeviceIdentities"] = False
        calls.append({"method": "POST", "url": IDENTITIES + "/importDeviceIdentityList", "body": body,
                      "_texts": chunk})
    lost = []
    for call, resp in zip(calls, client.batch(calls), strict=True):
        if resp.status >= 500:
            lost += call["_texts"]
            continue
        if resp.status >= 400:
            client.raise_for(call, resp)
        answered = {}
        for rec in (resp.body or {}).get("value", []):
            answered.setdefault(rec.get("importedDeviceIdentifier"), rec)
        for text in call["_texts"]:
            rec = answered.get(text)
            if rec is None:
                lost.append(text)
            elif rec.get("status") is True:
                out[text] = (True, rec, None)
            else:
                out[text] = (False, rec, "the service did not take the identifier (status false): it refuses values "
                                         "it cannot match (check manufacturer and model against the firmware's "
                                         "SMBIOS values), or the identifier was added meanwhile")
    if lost:
        found = search(client, lost)
        for text in lost:
            if text in found:
                out[text] = (True, found[text], None)
            else:
                out[text] = (False, None, "the service gave no answer for this identifier and does not have it; run "
                                          "again")
    return out


def delete_identities(client, records):
    """DELETE each record by id; ``{id: None or why}``. A 404 is "gone meanwhile", not a failure."""
    calls = [{"method": "DELETE", "url": "%s/%s" % (IDENTITIES, r["id"])} for r in records]
    out = {}
    for rec, call, resp in zip(records, calls, client.batch(calls), strict=True):
        if resp.status < 400 or resp.status == 404:
            out[rec["id"]] = None
        elif resp.status == 403:
            client.raise_for(call, resp)
        else:
            try:
                client.raise_for(call, resp)
            except Exception as exc:
                out[rec["id"]] = getattr(exc, "msg", str(exc))
    return out


def view(rec):
    """A stored identity in the user's words."""
    parsed = parse_identifier(rec.get("importedDeviceIdentifier"))
    state = rec.get("enrollmentState")
    return {"id": rec.get("id"), "identifier": rec.get("importedDeviceIdentifier"), **parsed,
            "enrollment_state": ENROLLMENT_WORDS.get(state, state), "description": rec.get("description"),
            "created": rec.get("createdDateTime"), "last_contacted": _date(rec.get("lastContactedDateTime")),
            "platform": rec.get("platform")}


def _date(value):
    return None if not value or value.startswith("0001-01-01") else value


# ---------------------------------------------------------------------------------------------------------------
# the plan and the run (pure decisions, then Graph)
def plan(identifiers, existing, state):
    """``(to_import, to_delete)`` texts/records: present imports what the service lacks, absent deletes what it
    has."""
    if state == "present":
        return [i.text for i in identifiers if i.text not in existing], []
    return [], [existing[i.text] for i in identifiers if i.text in existing]


def run(client, identifiers, state, check_mode, description=None):
    """The module's work; returns ``(results, changed)``, one result per identifier in order."""
    existing = search(client, [i.text for i in identifiers]) if identifiers else {}
    to_import, to_delete = plan(identifiers, existing, state)
    imported, deleted = {}, {}
    if not check_mode:
        if to_import:
            imported = import_identities(client, to_import, description)
        if to_delete:
            deleted = delete_identities(client, to_delete)
    results = []
    for ident in identifiers:
        res = dict(ident.as_dict(), id=None, changed=False, failed=False, msg=None,
                   warnings=list(ident.warnings))
        rec = existing.get(ident.text)
        if state == "present":
            if rec is not None:
                res.update(id=rec.get("id"), status="Already registered",
                           enrollment_state=ENROLLMENT_WORDS.get(rec.get("enrollmentState")))
            elif check_mode:
                res.update(changed=True, status="To be registered")
            else:
                ok, got, why = imported[ident.text]
                if ok:
                    res.update(id=(got or {}).get("id"), changed=True, status="Registered",
                               enrollment_state=ENROLLMENT_WORDS.get((got or {}).get("enrollmentState")))
                else:
                    res.update(failed=True, status="Refused by the service", msg=why)
        else:
            if rec is None:
                res.update(status="Not registered")
            elif check_mode:
                res.update(id=rec["id"], changed=True, status="To be removed")
            else:
                why = deleted.get(rec["id"])
                if why is None:
                    res.update(id=rec["id"], changed=True, status="Removed")
                else:
                    res.update(id=rec["id"], failed=True, status="Removal failed", msg=why)
        results.append(res)
    return results, existing


def _period_key(serial):
    """How an identifier's serial number meets the campaign's: the portal refuses periods, the merge removed them."""
    return serial_key(serial).replace(".", "")


def events(results, devices=None):
    """The register-stage journal events of a ``run`` with ``state=present`` (see the module's ``journal``): one per
    identifier the service has (``Corporate identifier registered``; V(changed) when this run added it, V(ok) when
    it was there) or refused (``Corporate identifier refused``, V(failed), the cause in ``detail``). ``devices`` are
    the campaign's latest events (``_journal.latest``): an event names the device's serial number as the campaign
    knows it (the identifier's may have lost its periods), and a device already journaled with this identity gets no
    new event. Check-mode results (``To be registered``) give none."""
    known = {}
    for serial in devices or {}:
        known.setdefault(_period_key(serial), serial)
    out = []
    for res in results:
        serial = known.get(_period_key(res["serial_number"]), res["serial_number"])
        if res["status"] in ("Registered", "Already registered"):
            current = ((devices or {}).get(serial) or {}).get("register") or {}
            if (res["status"] == "Already registered" and current.get("status") == CORPID_REGISTERED
                    and current.get("outcome") in DONE_OUTCOMES
                    and (current.get("detail") or {}).get("identity_id") == res["id"]):
                continue
            out.append({"serial": serial, "outcome": "changed" if res["status"] == "Registered" else "ok",
                        "status": CORPID_REGISTERED, "detail": {"identity_id": res["id"]}})
        elif res.get("failed"):
            out.append({"serial": serial, "outcome": "failed", "status": CORPID_REFUSED,
                        "detail": {"identity_id": None, "cause": res.get("msg") or res["status"]}})
    return out


def check_api_version(params):
    if (params.get("api_version") or "beta") != "beta":
        raise InputError("corporate identifiers (importedDeviceIdentities) exist only in the Graph beta API; remove "
                         "api_version or set it to beta")


def label(res):
    return "%s (%s)" % (res["identifier"], res["source"]) if res.get("source") else res["identifier"]


def failure_message(results):
    failed = [r for r in results if r.get("failed")]
    if not failed:
        return None
    return "%d of %d identifiers failed (the others were done): %s" % (
        len(failed), len(results), "; ".join("[%s] %s: %s" % (label(r), r["status"], r["msg"]) for r in failed))
