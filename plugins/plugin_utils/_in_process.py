# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run this collection's controller-side modules inside the ansible worker instead of a new Python process.

Every module of this collection talks to a service (Graph, LDAP, the AdminService) or to the campaign folder from
the controller. Through the usual path each task builds an AnsiballZ payload, starts a Python interpreter and
compiles ``ansible.module_utils`` from the zip again: about 0.3 s of CPU per task, most of a campaign's run time in
small fleets. When the module would run on this very machine anyway (the task's connection is ``local``), the action
plugin runs the module's own code in the worker process ansible forked for this task, with the same arguments,
check/diff mode, no_log and result handling; a task delegated to another host, run asynchronously or with its own
``environment`` goes the usual way.

``winfleet_autopilot_in_process: false`` (a variable) turns this off.
"""

from __future__ import annotations

import contextlib
import io
import json
import runpy

from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible.vars.clean import remove_internal_keys

PROFILE = "legacy"  # the modules of this collection declare no other serialization profile
LOCAL = ("local", "ansible.builtin.local", "ansible.legacy.local")


class InProcessModuleAction(ActionBase):
    """Action plugin base for a module of this collection (``plugins/action/<module>.py`` subclasses it)."""

    _supports_check_mode = True
    _supports_async = False
    TRANSFERS_FILES = False

    def _in_process(self, task_vars):
        if not boolean(task_vars.get("winfleet_autopilot_in_process", True), strict=False):
            return False
        # a task with its own environment (proxy settings, a CA bundle) gets it the usual way: in a new process
        return (getattr(self._connection, "transport", None) in LOCAL and not self._task.async_val
                and not any(self._task.environment or ()))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        if not self._in_process(task_vars):
            return merge_hash(result, self._execute_module(task_vars=task_vars))
        module_name = self._task.resolved_action or self._task.action
        module_args = dict(self._task.args)
        self._update_module_args(module_name, module_args, task_vars)
        # what the AnsiballZ wrapper would have handed the module
        params = json.dumps({"ANSIBLE_MODULE_ARGS": module_args},
                            cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE))
        out = _run_module(module_name, params.encode("utf-8"))
        # the same parsing and clean-up as ActionBase._execute_module
        data = self._parse_returned_data({"rc": 0, "stdout": out, "stderr": ""}, PROFILE)
        remove_internal_keys(data)
        return merge_hash(result, data)


def _run_module(module_name, json_params):
    """Run ``module_name`` (a FQCN) as ``__main__`` with ``json_params``; return what it printed."""
    from ansible.module_utils import basic

    parts = module_name.split(".")
    fqn = "ansible_collections.%s.%s.plugins.modules.%s" % tuple(parts[:3])
    basic._ANSIBLE_ARGS = json_params
    basic._ANSIBLE_PROFILE = PROFILE
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            try:
                runpy.run_module(fqn, run_name="__main__", alter_sys=False)
            except SystemExit:
                pass  # exit_json / fail_json end the module this way
            except Exception as exc:  # a module bug: a failed result, as the AnsiballZ wrapper would give
                buf.seek(0)
                buf.truncate()
                print(json.dumps({"failed": True, "msg": "%s failed unexpectedly: %s: %s"
                                  % (module_name, type(exc).__name__, exc)}))
    finally:
        basic._ANSIBLE_ARGS = None
    return buf.getvalue()
