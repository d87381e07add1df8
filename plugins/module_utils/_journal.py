# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The campaign journal: ``<campaign_dir>/journal.jsonl``, one JSON object per line.

Every stage of a campaign (collect, merge, cleanup, register, deliver) appends what happened to each device.
The file is only ever appended to: ``append`` takes an exclusive ``flock`` on it, reads it, and writes the new
lines in one ``write`` call, so several forks (or several ``ansible-playbook`` runs) can append at once without
losing or interleaving lines. A line cut short by a crash is skipped on read with a warning; the next append
starts on a fresh line, so the fragment never swallows a good event. Nothing already written is rewritten.

Line format (keys sorted, compact, UTF-8)::

    {"detail": {...}, "outcome": "ok", "run": "...", "serial": "...", "stage": "collect",
     "status": "Hash collected", "ts": "2026-11-21T10:00:00Z"}
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import re

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, OutputError

JOURNAL_NAME = "journal.jsonl"
STAGES = ("collect", "merge", "cleanup", "register", "deliver")
OUTCOMES = ("ok", "changed", "failed", "skipped")
DONE_OUTCOMES = frozenset(("ok", "changed"))

# Hardware hashes never go into the journal. Callers follow the convention; this is the safety net.
HASH_KEYS = frozenset(("hardware_hash", "hardwarehash", "hardwareidentifier", "devicehardwaredata"))
_HASHLIKE = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")
_SURROGATE = re.compile("[\ud800-\udfff]")  # cannot be written as UTF-8
HASH_PLACEHOLDER = "<hardware hash removed>"


def journal_path(campaign_dir):
    return os.path.join(campaign_dir, JOURNAL_NAME)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def format_ts(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(event):
    """The exact bytes of one journal line (keys sorted, compact, UTF-8, newline-terminated)."""
    return (json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


def _scrub(value, found):
    """A JSON-safe copy of ``value`` without hardware hashes (``found`` collects where one was cut)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = _SURROGATE.sub("\ufffd", str(key))
            if key.replace("_", "").lower() in HASH_KEYS:
                found.append(key)
                continue
            out[key] = _scrub(item, found)
        return out
    if isinstance(value, (list, tuple)):
        return [_scrub(item, found) for item in value]
    if isinstance(value, str):
        value = _SURROGATE.sub("\ufffd", value)
        if _HASHLIKE.search(value):
            found.append("text")
            return _HASHLIKE.sub(HASH_PLACEHOLDER, value)
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _scrub(str(value), found)


def normalise_event(index, stage, raw):
    """Check one event passed by a caller; return ``(serial, outcome, status, detail, warnings)``."""
    where = "events[%d]" % index
    if not isinstance(raw, dict):
        raise InputError("%s must be a dict with serial and outcome, got %s" % (where, type(raw).__name__))
    serial = raw.get("serial")
    serial = "" if serial is None else _SURROGATE.sub("\ufffd", str(serial)).strip()
    if not serial:
        raise InputError("%s has no serial" % where)
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise InputError("%s (serial %s): outcome must be one of %s, got %r"
                         % (where, serial, ", ".join(OUTCOMES), outcome))
    status = raw.get("status")
    status = "" if status is None else str(status).strip()
    detail = raw.get("detail")
    if detail is None:
        detail = {}
    if not isinstance(detail, dict):
        raise InputError("%s (serial %s): detail must be a dict, got %s" % (where, serial, type(detail).__name__))
    found = []
    detail = _scrub(detail, found)
    status_found = []
    status = _scrub(status, status_found)
    warnings = []
    if found or status_found:
        warnings.append("%s (serial %s, stage %s): a hardware hash was removed from the event; hashes never go "
                        "into the journal" % (where, serial, stage))
    return serial, outcome, status, detail, warnings


class JournalRead:
    """What ``read`` found: the events in file order and warnings about lines it skipped."""

    def __init__(self, events, warnings, size):
        self.events = events
        self.warnings = warnings
        self.size = size


def parse(data, path):
    """Parse journal bytes. Never raises: a bad line is skipped with a warning naming it."""
    events = []
    warnings = []
    lines = data.split(b"\n")
    torn_tail = bool(lines) and lines[-1] != b""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        last = number == len(lines)
        try:
            event = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if last and torn_tail:
                warnings.append("%s: the last line (%d) is incomplete - a write was cut short - and was skipped"
                                % (path, number))
            else:
                warnings.append("%s: line %d is not valid JSON and was skipped" % (path, number))
            continue
        if (not isinstance(event, dict) or not isinstance(event.get("serial"), str) or not event["serial"]
                or event.get("stage") not in STAGES or event.get("outcome") not in OUTCOMES):
            warnings.append("%s: line %d is not a journal event (serial, stage, outcome) and was skipped"
                            % (path, number))
            continue
        if not isinstance(event.get("detail"), dict):
            event["detail"] = {}
        if not isinstance(event.get("status"), str):
            event["status"] = "" if event.get("status") is None else str(event["status"])
        events.append(event)
    return JournalRead(events, warnings, len(data))


def read(campaign_dir):
    """Read the journal of ``campaign_dir``; a missing journal is empty. Returns a ``JournalRead``."""
    path = journal_path(campaign_dir)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return JournalRead([], [], 0)
        raise InputError("cannot read the journal %s: %s" % (path, exc.strerror or exc))
    return parse(data, path)


def latest(events):
    """``{serial: {stage: event}}``: the last event in file order for each (serial, stage)."""
    out = {}
    for event in events:
        out.setdefault(event["serial"], {})[event["stage"]] = event
    return out


def same(event, outcome, status, detail):
    return (event is not None and event.get("outcome") == outcome and event.get("status", "") == status
            and event.get("detail", {}) == detail)


def plan(current, stage, raw_events, run, ts):
    """The events to append: those whose (outcome, status, detail) differ from the latest for their
    (serial, stage), also counting the ones earlier in ``raw_events``. Returns ``(new_events, warnings)``."""
    if stage not in STAGES:
        raise InputError("stage must be one of %s, got %r" % (", ".join(STAGES), stage))
    if not isinstance(raw_events, list):
        raise InputError("events must be a list of dicts")
    run = "" if run is None else str(run)
    seen = {serial: stages.get(stage) for serial, stages in current.items()}
    new = []
    warnings = []
    for index, raw in enumerate(raw_events):
        serial, outcome, status, detail, warned = normalise_event(index, stage, raw)
        warnings.extend(warned)
        if same(seen.get(serial), outcome, status, detail):
            continue
        event = {"detail": detail, "outcome": outcome, "run": run, "serial": serial, "stage": stage,
                 "status": status, "ts": ts}
        seen[serial] = event
        new.append(event)
    return new, warnings


def ensure_dir(campaign_dir):
    """Create the campaign folder (mode 0700, parents as needed) if it does not exist."""
    if os.path.isdir(campaign_dir):
        return False
    try:
        os.makedirs(campaign_dir, mode=0o700)
        os.chmod(campaign_dir, 0o700)
    except FileExistsError:
        if not os.path.isdir(campaign_dir):
            raise OutputError("cannot create the campaign folder %s: a file of that name exists" % campaign_dir)
        return False
    except OSError as exc:
        raise OutputError("cannot create the campaign folder %s: %s" % (campaign_dir, exc.strerror or exc))
    return True


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def append(campaign_dir, stage, raw_events, run=None, now=None, check_mode=False):
    """Append the events that change something. Returns ``(new_events, warnings)``.

    Outside check mode the journal is locked (``flock``, exclusive) from the read that decides what is new to
    the write, so concurrent callers see each other's lines and a repeated call appends nothing.
    """
    ts = format_ts(now or utc_now())
    path = journal_path(campaign_dir)
    if check_mode:
        found = read(campaign_dir)
        new, warnings = plan(latest(found.events), stage, raw_events, run, ts)
        return new, found.warnings + warnings
    # Validate before creating anything, so bad input leaves no empty campaign folder behind.
    plan({}, stage, raw_events, run, ts)
    ensure_dir(campaign_dir)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OutputError("cannot open the journal %s: %s" % (path, exc.strerror or exc))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        chunks = []
        offset = 0
        while True:
            chunk = os.pread(fd, 1 << 20, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        data = b"".join(chunks)
        found = parse(data, path)
        new, warnings = plan(latest(found.events), stage, raw_events, run, ts)
        if new:
            out = b"".join(encode(event) for event in new)
            if data and not data.endswith(b"\n"):
                out = b"\n" + out  # close a torn last line: it stays skipped, the new lines stay whole
            _write_all(fd, out)
            os.fsync(fd)
        return new, found.warnings + warnings
    except OSError as exc:
        raise OutputError("cannot append to the journal %s: %s" % (path, exc.strerror or exc))
    finally:
        os.close(fd)  # releases the lock


def summarise(events):
    """What ``campaign_journal_info`` returns: devices, done, failures, runs.

    The contract named the failed map ``failed``, but a truthy top-level ``failed`` key makes Ansible fail the
    task, so it is returned as ``failures``.
    """
    devices = latest(events)
    done = {stage: [] for stage in STAGES}
    failed = {stage: [] for stage in STAGES}
    for serial, stages in devices.items():
        for stage, event in stages.items():
            if event["outcome"] in DONE_OUTCOMES:
                done[stage].append(serial)
            elif event["outcome"] == "failed":
                failed[stage].append(serial)
    runs = []
    seen = set()
    for event in events:
        run = event.get("run")
        if run and run not in seen:
            seen.add(run)
            runs.append(run)
    return dict(
        devices=devices,
        done={stage: sorted(serials) for stage, serials in done.items()},
        failures={stage: sorted(serials) for stage, serials in failed.items()},
        runs=runs,
    )


def info(campaign_dir):
    """``(summary, warnings)`` of a campaign folder's journal: what ``campaign_journal_info`` and the
    ``campaign_journal`` lookup return (``summarise`` plus ``events``, the number of events read)."""
    found = read(campaign_dir)
    return dict(summarise(found.events), events=len(found.events)), found.warnings
