# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of ``winfleet.autopilot.hardware_hash_info``: reads the device over WS-Man from the controller.

The device's connection settings are the host's standard winrm variables, templated and resolved as the ``winrm``
connection resolves them (``_fleet_collect.connection_settings``, which ``fleet_hardware_hash_info`` uses too).
Nothing is copied to, or executed as PowerShell on, the device.
"""

from __future__ import annotations

import gc
import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.winfleet.autopilot.plugins.module_utils import _fleet_collect, _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import (
    ConfigError,
    ConnectionDroppedError,
    WSManError,
    prewarm,
)

_FROZEN_IN = None  # the process whose inherited objects gc.freeze() has set aside
prewarm()  # in ansible's main process, which loads this class before forking the per-host workers (see prewarm)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        # This runs in a worker forked from ansible's main process: keep the collector from scanning (and so copying,
        # page by page) the objects inherited from it.
        global _FROZEN_IN
        if _FROZEN_IN != os.getpid():
            gc.freeze()
            _FROZEN_IN = os.getpid()
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        result["changed"] = False
        _validation, args = self.validate_argument_spec(argument_spec=_fleet_collect.HOST_ARGUMENT_SPEC)
        label = task_vars.get("inventory_hostname") or self._play_context.remote_addr
        failed_before = ()
        if args["journal"]:
            try:
                done, failed_before, warnings = _fleet_collect.read_journal(args["journal"], args["recollect"])
            except WinfleetError as exc:
                return dict(result, failed=True, msg=exc.msg)
            if warnings:
                result["warnings"] = warnings
            if label in done:
                return dict(result, **_fleet_collect.SKIPPED)
            if not self._task.check_mode:  # the campaign folder (0700) before the hash file is written into it
                try:
                    _journal.ensure_dir(args["journal"])
                except WinfleetError as exc:
                    return dict(result, failed=True, msg=exc.msg, error="journal")
        try:
            settings = self._connection_settings(task_vars)
        except WinfleetError as exc:
            result.update(_fleet_collect.error_result(exc))
        else:
            read, client = _fleet_collect.collect_device(
                label, settings, group_tag=args["group_tag"], assigned_user=args["assigned_user"], csv_dir=args["csv_dir"],
                csv_encoding=args["csv_encoding"], read_retries=args["read_retries"], check_mode=self._task.check_mode,
                keep_client=args["shutdown"])
            if read.get("warnings"):
                read["warnings"] = result.get("warnings", []) + read["warnings"]
            result.update(read)
            if not result.get("failed"):
                result["shutdown"] = {"requested": bool(args["shutdown"]), "issued": False, "connection_dropped": False}
            if client is not None:  # read, and a shutdown was asked for
                result["changed"] = True
                try:
                    if not self._task.check_mode:
                        result["shutdown"].update(self._shutdown(client))
                except WinfleetError as exc:
                    result.update(_fleet_collect.error_result(exc))
                finally:
                    client.close()
        if args["journal"]:
            try:
                new, warnings = _fleet_collect.journal_outcomes(args["journal"], [label], {label: result}, failed_before,
                                                                run=args["run"], check_mode=self._task.check_mode)
            except WinfleetError as exc:
                return dict(result, failed=True, msg=exc.msg, error="journal")
            result["changed"] = result["changed"] or bool(new)
            if warnings:
                result.setdefault("warnings", []).extend(warnings)
        if "record" in result:
            if not args["include_hash"]:
                result["record"].pop("hardware_hash", None)
            else:
                # The hash is returned (for register / the merge module) but never displayed or logged: the callback
                # shows a censored result; the registered variable keeps the data.
                result["_ansible_no_log"] = True
        return result

    def _shutdown(self, client):
        """``shutdown /s /t 0``; Windows may go away before it answers: a dropped connection counts as success."""
        try:
            rc, _out, err = client.run_command("shutdown", ["/s", "/t", "0"])
        except ConnectionDroppedError:
            return {"issued": True, "connection_dropped": True}
        if rc != 0:
            raise WSManError("shutdown /s /t 0 failed on %s (exit code %s): %s" % (client.where, rc, to_text(err).strip()),
                             error="shutdown_failed", rc=rc)
        return {"issued": True, "connection_dropped": False}

    def _connection_settings(self, task_vars):
        """The host's winrm variables, each templated with the host's variables, resolved by the shared code."""
        variables = {}
        for name in task_vars:
            if _fleet_collect.is_connection_var(name) and task_vars[name] is not None:
                try:
                    variables[name] = self._templar.template(task_vars[name])
                except AnsibleError as exc:
                    why = "" if "pass" in name else ": %s" % (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                    raise ConfigError("%s cannot be templated%s" % (name, why)) from None
        pc = self._play_context
        return _fleet_collect.connection_settings(variables, remote_user=pc.remote_user, remote_password=pc.password,
                                                  remote_addr=pc.remote_addr)
