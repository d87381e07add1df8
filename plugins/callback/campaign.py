# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: campaign
type: stdout
short_description: The campaign console - one live line per stage, each failure once, a table at the end
version_added: 0.2.0
author:
  - Winfleet Autopilot Maintainers (@winfleet)
description:
  - A stdout callback for the campaign playbooks (C(winfleet.autopilot.refresh) and the stage playbooks).
    Instead of a line per host per task it shows one line per stage (prepare, collect, cleanup, merge, register,
    deliver, report) with the devices done, failed and left, the rate and the time left.
  - On a terminal the stage's line is redrawn in place; when the output is not a terminal (a CI log, a file) the line
    is printed every O(progress_interval) seconds while it changes, and once more when the stage ends.
  - Each device that fails a stage in this run is named once, with its cause (from the campaign journal); each failed
    task once, with its message. At the end it prints a table of the campaign's devices by final state and cause,
    the devices that failed in earlier runs, and the report's path.
  - The long steps (fleet collection, the import wait, bulk deletions) report progress while they run through a
    small JSON file (see C(docs/architecture.md)); the callback tells them where through the environment variable
    E(WINFLEET_AUTOPILOT_PROGRESS), which it sets for the run, and reads the file from a thread.
  - With C(-v) or more it falls back to the full output of the default callback (every task and host).
  - It shows no task arguments and no variables. Every text it shows from a result or the journal has hash-like text
    described by its length, tokens removed and long text cut.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout callback in the configuration, for example C(stdout_callback = winfleet.autopilot.campaign) in the
    C([defaults]) section of C(ansible.cfg), or E(ANSIBLE_STDOUT_CALLBACK=winfleet.autopilot.campaign)
options:
  progress_interval:
    description:
      - Seconds between two progress lines of a stage when the output is not a terminal.
      - On a terminal the line is redrawn every quarter of a second.
    type: float
    default: 10
    env:
      - name: WINFLEET_CONSOLE_INTERVAL
    ini:
      - section: callback_campaign
        key: progress_interval
  failure_lines:
    description:
      - How many failures (devices and tasks) are named one per line; the others are counted, and the table and the
        report have them all.
    type: int
    default: 50
    env:
      - name: WINFLEET_CONSOLE_FAILURE_LINES
    ini:
      - section: callback_campaign
        key: failure_lines
"""

import os
import shutil
import sys
import tempfile
import threading

from ansible import context
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

from ansible_collections.winfleet.autopilot.plugins.module_utils import _progress
from ansible_collections.winfleet.autopilot.plugins.plugin_utils._console import Console, stage_of

TTY_TICK = 0.25
LOG_TICK = 0.5

# Every event the default callback prints something for: in console mode they print nothing of their own.
QUIET = (
    "v2_runner_on_start", "v2_runner_item_on_ok", "v2_runner_item_on_failed", "v2_runner_item_on_skipped",
    "v2_runner_retry", "v2_runner_on_async_poll", "v2_runner_on_async_ok", "v2_runner_on_async_failed",
    "v2_playbook_on_include", "v2_playbook_on_notify", "v2_on_file_diff", "v2_playbook_on_no_hosts_matched",
    "v2_playbook_on_cleanup_task_start", "v2_playbook_on_handler_task_start",
)


def _part(result, name):
    """``result.task`` / ``result.host`` / ``result.result`` on ansible-core 2.19, ``_task``... before."""
    value = getattr(type(result), name, None)
    return getattr(result, name) if value is not None else getattr(result, "_" + name)


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "winfleet.autopilot.campaign"

    def __init__(self):
        super().__init__()
        self._full = self._display.verbosity >= 1
        self._console = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker = None
        self._progress_dir = None
        self._play_name = ""
        for name in QUIET:
            if not self._full:
                setattr(self, name, self._quiet)

    def _quiet(self, *args, **kwargs):
        del args, kwargs

    # ------------------------------------------------------------------------------------------- set-up
    def _start(self):
        if self._console is not None:
            return self._console
        # The long steps write their progress here (module_utils/_progress.py); modules and action plugins on the
        # controller inherit the variable from this process.
        self._progress_dir = tempfile.mkdtemp(prefix="winfleet-console-")
        path = os.path.join(self._progress_dir, _progress.FILE_NAME)
        os.environ[_progress.ENV] = path
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((100, 40)).columns if tty else 160
        self._console = Console(self._write, tty, interval=self.get_option("progress_interval"), width=width,
                                failure_lines=self.get_option("failure_lines"), progress_path=path)
        self._ticker = threading.Thread(target=self._tick, args=(TTY_TICK if tty else LOG_TICK,),
                                        name="winfleet-console", daemon=True)
        self._ticker.start()
        return self._console

    def _write(self, text, newline=True, screen_only=False):
        self._display.display(text, newline=newline, screen_only=screen_only)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    def _tick(self, every):
        while not self._stop.wait(every):
            with self._lock:
                try:
                    self._console.tick()
                except Exception as exc:  # pylint: disable=broad-exception-caught
                    # the display must never end the run: say so once, and stop the live lines
                    self._display.warning("campaign console: live progress stopped (%s)" % type(exc).__name__)
                    return

    def _stop_ticker(self):
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        if self._progress_dir:
            shutil.rmtree(self._progress_dir, ignore_errors=True)
            if os.environ.get(_progress.ENV, "").startswith(self._progress_dir):
                del os.environ[_progress.ENV]

    # ------------------------------------------------------------------------------------------- playbook events
    def v2_playbook_on_start(self, playbook):
        if self._full:
            return super().v2_playbook_on_start(playbook)
        with self._lock:
            self._start().playbook_start(getattr(playbook, "_file_name", "") or "",
                                         check_mode=bool(context.CLIARGS.get("check")))
        return None

    def v2_playbook_on_play_start(self, play):
        if self._full:
            return super().v2_playbook_on_play_start(play)
        self._play_name = play.get_name()
        return None

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self._full:
            return super().v2_playbook_on_task_start(task, is_conditional)
        role = getattr(task, "_role", None)
        role_name = role.get_name() if role is not None else ""
        with self._lock:
            console = self._start()
            current = console.stage.name if console.stage is not None else None
            stage = stage_of(role_name, self._action(task), task.get_name(), current, self._play_name)
            console.task_start(stage, task.get_name().rsplit(" : ", 1)[-1])
        return None

    @staticmethod
    def _action(task):
        return getattr(task, "resolved_action", None) or task.action or ""

    def _result(self, result, status, ignored=False):
        task = _part(result, "task")
        data = _part(result, "result")
        with self._lock:
            self._start().task_result(_part(result, "host").get_name(), status, data, self._action(task),
                                      ignored=ignored)

    def v2_runner_on_ok(self, result):
        if self._full:
            return super().v2_runner_on_ok(result)
        self._result(result, "ok")
        return None

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._full:
            return super().v2_runner_on_failed(result, ignore_errors=ignore_errors)
        self._result(result, "failed", ignored=ignore_errors)
        return None

    def v2_runner_on_skipped(self, result):
        if self._full:
            return super().v2_runner_on_skipped(result)
        self._result(result, "skipped")
        return None

    def v2_runner_on_unreachable(self, result):
        if self._full:
            return super().v2_runner_on_unreachable(result)
        task = _part(result, "task")
        self._result(result, "unreachable", ignored=bool(getattr(task, "ignore_unreachable", False)))
        return None

    def v2_playbook_on_no_hosts_remaining(self):
        if self._full:
            return super().v2_playbook_on_no_hosts_remaining()
        with self._lock:
            self._start().note("No hosts left: the play stops here")
        return None

    def v2_playbook_on_stats(self, stats):
        if self._full:
            return super().v2_playbook_on_stats(stats)
        if self._console is None:
            return None
        self._stop_ticker()
        failed = [h for h in sorted(stats.processed) if stats.summarize(h)["failures"]]
        unreachable = [h for h in sorted(stats.processed) if stats.summarize(h)["unreachable"]]
        with self._lock:
            self._console.finish(failed, unreachable)
        return None
