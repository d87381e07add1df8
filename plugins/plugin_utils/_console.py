# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this plugin_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The campaign console (the ``winfleet.autopilot.campaign`` stdout callback): what it shows and when.

The callback turns ansible's events into calls on ``Console``; ``Console`` decides the lines, and writes them through
one function, ``out(text, newline, screen_only)``. Everything here is plain Python with an injectable clock, so the
unit tests drive it without ansible.

* **Stages.** A task belongs to the stage of its role (``collect``, ``cleanup``, ``merge``, ``register``,
  ``deliver``); ``campaign_report`` and what follows it is ``report``; a task outside a role stays in the current
  stage (the first ones are ``prepare``). One line per stage: redrawn in place on a terminal, printed every
  ``interval`` seconds (when it changed) otherwise, and printed for good when the stage ends.
* **Counts.** ``done`` / ``failed`` per stage are the journal's events of this run (``<campaign_dir>/journal.jsonl``,
  read from where the last read stopped after every result); while a long step runs, the counts of its progress
  file (``module_utils/_progress.py``) are added, and give the rate and the time left.
* **Failures.** Each device that fails a stage in this run is named once, with its cause; a failed task once, with
  its message. After ``failure_lines`` of them, the rest are counted and left to the table and the report.
* **The end.** A table of the campaign's devices by final state and cause (``_report``'s rows, from the journal),
  the failures of earlier runs not named yet, and the report's path.

Nothing is shown that did not go through ``safe``: hash-like text is described by its length, tokens are removed,
long text is cut. The console shows no task arguments and no variables.
"""

from __future__ import annotations

import datetime
import os
import re
import time

from ansible_collections.winfleet.autopilot.plugins.module_utils import _echo, _journal, _progress, _report

STAGE_ROLES = ("collect", "cleanup", "merge", "register", "deliver")
REPORT_ACTIONS = ("campaign_report",)
TTY_CLEAR = "\r\x1b[K"
HEARTBEAT = 6
_B64_RUN = re.compile(r"[A-Za-z0-9+/=]{24,}")
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_.-]{8,}|(?i:\bbearer\s+)[A-Za-z0-9._~+/-]{12,}=*")
_SPACE = re.compile(r"\s+")
# A namespace or path (root/cimv2/mdm/dmmap): short segments between slashes, no other base64 punctuation.
_PATHLIKE = re.compile(r"^(?:[A-Za-z0-9_]{1,16}/){2,}[A-Za-z0-9_]{0,16}$")


def _describe_hashlike(match):
    run = match.group()
    if not _echo.hashlike(run) or (len(run) <= 48 and _PATHLIKE.match(run)):
        return run
    return _echo.describe(run)


def safe(value, limit=160):
    """``value`` as one line that may be shown: tokens removed, hash-like runs described, controls escaped, cut."""
    if value is None:
        return ""
    text = _TOKEN.sub("<token removed>", str(value))
    text = _B64_RUN.sub(_describe_hashlike, text)
    text = _SPACE.sub(" ", text).strip()
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > limit:
        text = text[:limit - 3].rstrip() + "..."
    return text


def duration(seconds):
    seconds = max(0, round(seconds))
    if seconds < 90:
        return "%d s" % seconds
    if seconds < 5400:
        return "%dm%02ds" % divmod(seconds, 60)
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)


def stage_of(role_name, action, task_name, current, play_name):
    """The stage a task belongs to (see the module docstring)."""
    short = (action or "").rsplit(".", 1)[-1]
    if short in REPORT_ACTIONS:
        return "report"
    role = (role_name or "").rsplit(".", 1)[-1]
    if role:
        if role == "deliver" and current == "report":
            return "report"
        return role
    if current:
        return current
    del task_name
    return "prepare" if not play_name or "prepar" in play_name.lower() else safe(play_name, 24).lower()


class JournalTail:
    """Reads the journal's new complete lines since the last read."""

    def __init__(self, campaign_dir):
        self.campaign_dir = campaign_dir
        self.path = _journal.journal_path(campaign_dir)
        self.offset = 0
        self.events = []  # every event of the journal, in file order

    def read(self):
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        if not end:
            return []
        self.offset += end
        new = _journal.parse(data[:end], self.path).events
        self.events.extend(new)
        return new


class Stage:
    def __init__(self, name, now):
        self.name = name
        self.started = now
        self.ended = None
        self.active = False  # a result that was not skipped, an event or progress
        self.task = ""
        self.task_failed = False
        self.skipped = 0  # devices a long step did not need to read (done in an earlier run)
        self.live = None  # the running step's progress dict


class Console:
    """See the module docstring. ``out(text, newline=True, screen_only=False)`` writes; ``tty`` says whether it is
    a terminal (redraw in place) or a log (periodic lines)."""

    def __init__(self, out, tty, interval=10.0, width=100, failure_lines=50, warning_lines=5, progress_path=None,
                 clock=time.monotonic, wall=time.time):
        self.out = out
        self.tty = tty
        self.interval = max(0.2, float(interval))
        self.width = max(40, int(width or 100))
        self.failure_lines = failure_lines
        self.warning_lines = warning_lines
        self.progress_path = progress_path
        self.clock = clock
        self.wall = wall
        # journal events of this run: written at or after this second (the journal's timestamps are whole seconds)
        self.run_start = _journal.format_ts(datetime.datetime.fromtimestamp(int(wall()), datetime.timezone.utc))
        self.started = clock()
        self.stage = None
        self.stages = []
        self.journal = None
        self.report = None
        self.check_mode = False
        self.run_latest = {}  # (stage, serial) -> event of this run
        self.names = {}  # serial -> device name (from collect events)
        self.shown = set()  # serials (and host names) whose failure was named
        self.named = 0  # failures named (devices and tasks)
        self.hidden_failures = 0
        self.task_errors = 0
        self.warnings = set()
        self.hidden_warnings = 0
        self._drawn = ""  # the status line on the terminal now
        self._plain_at = clock()
        self._plain_text = ""
        self._progress_seen = None
        self._step_since = None  # wall time the running task started: older progress files are not its own

    # ------------------------------------------------------------------------------------------- output
    def _line(self, text):
        if self.tty and self._drawn:
            self.out(TTY_CLEAR, newline=False, screen_only=True)
            self._drawn = ""
        self.out(text)

    def _draw(self, text):
        text = text[:self.width - 1]
        if text != self._drawn:
            self.out(TTY_CLEAR + text, newline=False, screen_only=True)
            self._drawn = text

    # ------------------------------------------------------------------------------------------- events
    def playbook_start(self, name, check_mode=False):
        self.check_mode = check_mode
        self._line("Campaign %s%s - one line per stage (run with -v for ansible's full output)"
                   % (safe(os.path.basename(name or ""), 60), " in check mode (nothing is changed)" if check_mode
                      else ""))

    def task_start(self, stage, task_name):
        now = self.clock()
        if self.stage is None or stage != self.stage.name:
            self._close_stage(now)
            self.stage = Stage(stage, now)
            self.stages.append(self.stage)
            self._plain_at = now
        self.stage.task = safe(task_name, 60)
        self._end_step()
        self._step_since = self.wall()
        self.refresh()

    def task_result(self, host, status, data, action, ignored=False):
        """One host's result: ``status`` is ok, failed, skipped or unreachable; ``data`` the result dict."""
        data = data if isinstance(data, dict) else {}
        stage = self.stage
        if stage is not None and status != "skipped":
            stage.active = True
        self._learn(action, data)
        self._end_step()
        self._read_journal()
        self._warn(data.get("warnings"))
        if status in ("failed", "unreachable") and not ignored:
            if stage is not None:
                stage.task_failed = True
            if host not in self.shown or host in ("localhost", "127.0.0.1"):
                self.task_errors += 1
                self.named += 1
                if self.named <= self.failure_lines:
                    what = "UNREACHABLE" if status == "unreachable" else "ERROR"
                    self._line("  %s %s [%s]: %s" % (what, stage.task if stage else "", safe(host, 40),
                                                     safe(data.get("msg") or "failed", 400)))
                else:
                    self.hidden_failures += 1
        self.refresh()

    def note(self, text):
        self._line("  " + safe(text, 200))

    def _learn(self, action, data):
        """The campaign folder and the report, from what our modules return."""
        short = (action or "").rsplit(".", 1)[-1]
        if not (action or "").startswith("winfleet.autopilot.") and "." in (action or ""):
            return
        args = (data.get("invocation") or {}).get("module_args") or {}
        folder = None
        if isinstance(data.get("journal"), dict) and data["journal"].get("path"):
            folder = os.path.dirname(str(data["journal"]["path"]))
        elif isinstance(args.get("journal"), str) and args["journal"]:
            folder = args["journal"]
        elif short in ("campaign_journal", "campaign_journal_info", "campaign_report") and args.get("path"):
            folder = str(args["path"])
        if folder:
            self._use_journal(folder)
        if short == "campaign_report" and isinstance(data.get("files"), dict) and data["files"]:
            files = data["files"]
            self.report = str(files.get("html") or next(iter(files.values())))

    def _use_journal(self, folder):
        if self.journal is None or os.path.abspath(folder) != os.path.abspath(self.journal.campaign_dir):
            self.journal = JournalTail(folder)
            self.run_latest = {}

    def _read_journal(self):
        if self.journal is None:
            return
        for event in self.journal.read():
            detail = event.get("detail") or {}
            if event["stage"] == "collect" and detail.get("host"):
                self.names.setdefault(event["serial"], str(detail["host"]))
            if (event.get("ts") or "") < self.run_start:
                continue
            self.run_latest[(event["stage"], event["serial"])] = event
            stage = self._stage_named(event["stage"])
            if stage is not None:
                stage.active = True
            if event["outcome"] == "failed":
                self._failure(event)

    def _stage_named(self, name):
        for stage in reversed(self.stages):
            if stage.name == name:
                return stage
        return None

    def label(self, serial):
        name = self.names.get(serial)
        return safe(serial, 40) if not name or name == serial else "%s (%s)" % (safe(name, 40), safe(serial, 40))

    def _failure(self, event):
        serial = event["serial"]
        key = (event["stage"], serial)
        if key in self.shown:
            return
        self.shown.add(key)
        self.shown.add(serial)
        host = (event.get("detail") or {}).get("host")
        if host:
            self.shown.add(str(host))
        self.named += 1
        if self.named > self.failure_lines:
            self.hidden_failures += 1
            return
        head = "  FAILED %-8s %s: " % (event["stage"], self.label(serial))
        self._line(head + cause(event, max(40, self.width - 1 - len(head))))  # one line on the screen

    def _warn(self, warnings):
        for item in warnings or ():
            text = warning_text(item)
            if not text or text in self.warnings:
                continue
            self.warnings.add(text)
            if len(self.warnings) > self.warning_lines:
                self.hidden_warnings += 1
                continue
            self._line("  warning: %s" % safe(text, max(40, self.width - 12)))

    # ------------------------------------------------------------------------------------------- progress
    def _end_step(self):
        """A task ended (or the next began): its progress is in the journal now, or was not about devices."""
        self._step_since = None
        stage = self.stage
        if stage is not None and stage.live is not None:
            if stage.live.get("unit") == "devices" and stage.live.get("stage") == stage.name:
                stage.skipped += int(stage.live.get("skipped") or 0)
            stage.live = None

    def _read_progress(self):
        if not self.progress_path or self.stage is None or self._step_since is None:
            return
        try:
            st = os.stat(self.progress_path)
        except OSError:
            return
        seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        if seen == self._progress_seen:
            return
        self._progress_seen = seen
        data = _progress.read(self.progress_path)
        if data is None or not isinstance(data.get("started"), (int, float)) or data["started"] < self._step_since:
            return
        if data.get("journal"):
            self._use_journal(str(data["journal"]))
        self.stage.live = data
        self.stage.active = True

    def counts(self, stage):
        """``(done, failed, total or None, skipped)`` of a stage: this run's journal events plus the live step."""
        done = failed = 0
        for (name, _serial), event in self.run_latest.items():
            if name == stage.name:
                if event["outcome"] in _journal.DONE_OUTCOMES:
                    done += 1
                elif event["outcome"] == "failed":
                    failed += 1
        live = stage.live
        total = None
        skipped = stage.skipped
        if live is not None and live.get("unit") == "devices" and live.get("stage") == stage.name:
            before = done + failed
            done += int(live.get("done") or 0)
            failed += int(live.get("failed") or 0)
            skipped += int(live.get("skipped") or 0)
            if live.get("total") is not None:
                total = max(before + int(live["total"]), done + failed)
        return done, failed, total, skipped

    def status(self, final=False, elapsed_too=True):
        """The stage's line (``elapsed_too``: with the stage's time so far, the part that always changes)."""
        stage = self.stage
        now = self.clock()
        elapsed = (stage.ended or now) - stage.started
        done, failed, total, skipped = self.counts(stage)
        head = "%-9s" % stage.name
        parts = []
        if done or failed or total:
            text = "%d done, %d failed" % (done, failed)
            if total is not None and not final:
                text = "%d/%d done, %d failed, %d left" % (done, total, failed, max(0, total - done - failed))
            elif final:
                text = "%d device%s: %s" % (done + failed, "" if done + failed == 1 else "s", text)
            parts.append(text)
        if skipped:
            parts.append("%d done before" % skipped)
        live = stage.live
        if not final and live is not None:
            rate, eta = rate_eta(live, self.wall())
            if live.get("unit") != "devices" or live.get("stage") != stage.name:
                total = live.get("total") if live.get("total") is not None else "?"
                step = (safe(live.get("step"), 50), int(live.get("done") or 0), total, safe(live.get("unit"), 10),
                        int(live.get("failed") or 0))
                parts.append("%s: %d/%s %s, %d failed" % step)
            elif live.get("step"):
                parts.append(safe(live["step"], 50))
            if rate:
                parts.append("%.1f/s" % rate)
            if eta is not None:
                parts.append("about %s left" % duration(eta))
        elif not final:
            parts.append(stage.task or "starting")
        if final:
            parts.append("FAILED" if stage.task_failed else "")
        parts = [p for p in parts if p]
        line = "%s %s" % (head, " - ".join(parts) if parts else "done")
        return "%s (%s)" % (line, duration(elapsed)) if elapsed_too else line

    def refresh(self):
        """Redraw (terminal) or print a periodic line (log) when due."""
        if self.stage is None or self.stage.ended is not None:
            return
        if self.tty:
            self._draw(self.status())
            return
        # A log gets a line every interval while a long step reports and its counts change, and at least every
        # HEARTBEAT intervals while it runs (so a CI log shows the run is alive).
        now = self.clock()
        key = self.status(elapsed_too=False)
        due = now - self._plain_at >= self.interval and (
            key != self._plain_text or now - self._plain_at >= HEARTBEAT * self.interval)
        if self.stage.live is not None and due:
            self._line(self.status())
            self._plain_at = now
            self._plain_text = key

    def tick(self):
        """From the callback's thread while a task runs: read the progress file and refresh."""
        self._read_progress()
        self.refresh()

    def _close_stage(self, now):
        stage = self.stage
        if stage is None:
            return
        self._end_step()
        self._read_journal()
        stage.ended = now
        if stage.active:
            self._line(self.status(final=True))
        elif self.tty and self._drawn:
            self.out(TTY_CLEAR, newline=False, screen_only=True)
            self._drawn = ""

    # ------------------------------------------------------------------------------------------- the end
    def finish(self, hosts_failed=(), hosts_unreachable=()):
        """The stage's last line, the table, the failures not named yet, the report."""
        self._close_stage(self.clock())
        self.stage = None
        if self.journal is not None:
            self._read_journal()
            for line in self.table():
                self._line(line)
        if self.hidden_failures:
            self._line("  ... and %d more failures: see the table and the report" % self.hidden_failures)
        if self.hidden_warnings:
            self._line("  ... and %d more warnings (run with -v to see them)" % self.hidden_warnings)
        if self.report:
            self._line("Report: %s" % self.report)
        elapsed = duration(self.clock() - self.started)
        if hosts_failed or hosts_unreachable:
            self._line("Stopped after %s: a task failed on %s" % (
                elapsed, ", ".join(safe(h, 40) for h in sorted(set(hosts_failed) | set(hosts_unreachable)))))
        else:
            self._line("Finished in %s%s" % (elapsed, " (check mode)" if self.check_mode else ""))

    def table(self):
        """Devices by final state and cause, and the failed devices not named during this run."""
        events = self.journal.events
        if not events:
            return []
        rows = _report.Report(events, "").rows
        groups = {}
        for row in rows:
            why = "%s: %s" % (row["failed_stage"], row["cause"]) if row["result"] == "failed" else ""
            key = (row["final_state"], why, row["result"])
            groups[key] = groups.get(key, 0) + 1
        order = _report.CLASS_ORDER
        failed = sum(1 for row in rows if row["result"] == "failed")
        lines = ["Devices by state and cause (%d devices, %d failed = %.1f %%):"
                 % (len(rows), failed, 100.0 * failed / len(rows))]
        width = min(40, max(len(safe(k[0], 40)) for k in groups))
        ranked = sorted(groups.items(), key=lambda kv: (order.index(kv[0][2]), -kv[1], kv[0][0], kv[0][1]))
        for (state, why, _result), count in ranked:
            lines.append(("%6d  %-*s  %s" % (count, width, safe(state, 40), safe(why, 70))).rstrip())
        earlier = [row for row in rows if row["result"] == "failed" and row["serial"] not in self.shown]
        if earlier:
            lines.append("Failed in earlier runs of this campaign:")
            room = max(0, self.failure_lines - self.named)
            for row in earlier[:room]:
                lines.append("  %s: %s: %s" % (self.label(row["serial"]), row["failed_stage"], safe(row["cause"])))
            if len(earlier) > room:
                lines.append("  ... and %d more: see the report" % (len(earlier) - room))
        return lines


def cause(event, limit=160):
    """A failure's cause in words: the status, and the message or error code when there is one."""
    detail = event.get("detail") or {}
    text = event.get("status") or "%s failed" % event["stage"]
    extra = detail.get("message") or (("error %s" % detail["error_code"]) if detail.get("error_code") else "")
    if extra and str(extra) not in text:
        text = "%s - %s" % (text, extra)
    return safe(text, limit)


def warning_text(item):
    """The words of one warning, whatever shape the ansible-core version gives it."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for source in (item, item.get("event") if isinstance(item.get("event"), dict) else {}):
            if source.get("msg"):
                return str(source["msg"])
            details = source.get("details")
            if isinstance(details, list) and details and isinstance(details[0], dict) and details[0].get("msg"):
                return str(details[0]["msg"])
        return ""
    msg = getattr(item, "msg", None) or getattr(getattr(item, "event", None), "msg", None)
    return str(msg) if msg else str(item)


def rate_eta(live, now):
    """Items per second of the running step, and the seconds left (None when unknown)."""
    started = live.get("started")
    if not isinstance(started, (int, float)):
        return None, None
    elapsed = (live.get("updated") or now) - started
    handled = int(live.get("done") or 0) + int(live.get("failed") or 0)
    if elapsed < 0.5 or handled <= 0:
        return None, None
    rate = handled / elapsed
    total = live.get("total")
    if total is None or live.get("finished"):
        return rate, None
    left = max(0, int(total) - handled)
    return rate, (left / rate if left else None)
