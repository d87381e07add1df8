# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only stdout callback: prints every task result as one JSON document at the end.

ansible-core 2.19 no longer ships a JSON stdout callback (it moved to ansible.posix),
so the tests carry this small one instead of depending on another collection.
"""

from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: results_json
type: stdout
short_description: every task result as one JSON document (tests only)
description:
  - Prints one JSON document with every play, task and per-host result, and the stats.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "results_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = {"plays": []}

    def v2_playbook_on_play_start(self, play):
        self.results["plays"].append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.results["plays"][-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **flags):
        data = dict(result._result)
        data.update(flags)
        tasks = self.results["plays"][-1]["tasks"]
        name = result._task.get_name()
        for entry in reversed(tasks):
            if entry["task"]["name"] == name:
                entry["hosts"][result._host.get_name()] = data
                return

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed)
        self.results["stats"] = {h: stats.summarize(h) for h in hosts}
        self._display.display(json.dumps(self.results, indent=1, sort_keys=True, default=str))
