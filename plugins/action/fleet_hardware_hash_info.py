# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of ``winfleet.autopilot.fleet_hardware_hash_info``: reads many devices over WS-Man from the
controller in one task, each with its own inventory connection variables (``_fleet_collect`` does the work)."""

from __future__ import annotations

import gc
import os
import resource
import time

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.winfleet.autopilot.plugins.module_utils import _fleet_collect, _journal, _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import ConfigError, prewarm

FD_RESERVE = 256  # file descriptors left to ansible, the journal, the CSV files


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        result["changed"] = False
        _validation, args = self.validate_argument_spec(argument_spec=_fleet_collect.FLEET_ARGUMENT_SPEC)
        if args["processes"] < 0:
            return dict(result, failed=True, msg="processes must be 0 (one per CPU) or more, not %d" % args["processes"])
        if args["concurrency"] < 1:
            return dict(result, failed=True, msg="concurrency must be at least 1, not %d" % args["concurrency"])
        if not 0 <= args["max_unreadable_percentage"] <= 100:
            return dict(result, failed=True, msg="max_unreadable_percentage must be between 0 and 100")
        hosts = list(args["hosts"] if args["hosts"] is not None else task_vars.get("ansible_play_batch") or [])
        hosts = list(dict.fromkeys(hosts))  # once each, in order
        check_mode = bool(self._task.check_mode)
        started = time.monotonic()
        try:
            done, failed_before = set(), set()
            if args["journal"]:
                done, failed_before, result["warnings"] = _fleet_collect.read_journal(args["journal"], args["recollect"])
                if not check_mode:  # the campaign folder (0700) before the first hash file is written into it
                    _journal.ensure_dir(args["journal"])
            jobs = self._jobs(hosts, done, task_vars)
        except WinfleetError as exc:
            return dict(result, failed=True, msg=exc.msg)
        prepared = time.monotonic() - started

        gc.freeze()  # what this worker inherited from ansible's main process is never scanned (nor copied) by the GC
        prewarm()
        slots = _file_slots(args["concurrency"])
        concurrency = min(args["concurrency"], max(1, slots // 2))

        def work(job):
            try:
                res, _client = _fleet_collect.collect_device(
                    job.host, job.settings, group_tag=args["group_tag"], assigned_user=args["assigned_user"],
                    csv_dir=args["csv_dir"], csv_encoding=args["csv_encoding"], read_retries=args["read_retries"],
                    check_mode=check_mode)
            except Exception as exc:  # a bug must not end the other devices' reads: this device fails, with the cause
                res = {"changed": False, "failed": True, "error": "internal_error",
                       "msg": "unexpected %s while reading %s: %s" % (type(exc).__name__, job.host, exc)}
            if "record" in res:
                res["record"].pop("hardware_hash", None)  # in the CSV file only, never in a result
            job.result = res

        processes = args["processes"] or min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                                             (os.cpu_count() or 1))
        progress = _progress.Reporter("collect", "Reading hardware hashes over WinRM", journal=args["journal"],
                                      check_mode=check_mode).expect([job.result for job in jobs])
        processes = _fleet_collect.run(jobs, work, concurrency=concurrency, probe=args["probe"],
                                       probe_slots=max(1, slots - concurrency), processes=processes, progress=progress)
        progress.finish()
        elapsed = time.monotonic() - started

        results = {job.host: job.result for job in jobs}
        devices = {}
        by_error = {}
        for host in hosts:
            res = results[host]
            devices[host] = dict(res, host=host)
            if res.get("failed"):
                by_error[res.get("error", "error")] = by_error.get(res.get("error", "error"), 0) + 1
            result["changed"] = result["changed"] or bool(res.get("changed"))
        read = [h for h in hosts if not results[h].get("skipped")]
        unreadable = _fleet_collect.unreadable_lines(hosts, results)
        result["devices"] = devices
        result["unreadable"] = unreadable
        result["summary"] = {
            "hosts": len(hosts), "read": len(read), "collected": len(read) - len(unreadable),
            "unreadable": len(unreadable), "skipped": len(hosts) - len(read), "by_error": by_error,
            "concurrency": concurrency, "processes": processes, "elapsed_s": round(elapsed, 2),
            "settings_s": round(prepared, 2),
            "devices_per_s": round(len(read) / elapsed, 1) if elapsed > 0 else 0.0,
        }
        broken = sum(1 for h in read if results[h].get("hash_summary", {}).get("errors"))
        if broken:
            result.setdefault("warnings", []).append(
                "%d device(s) returned a hardware hash that looks broken: see devices[].warnings" % broken)
        if args["journal"]:
            try:
                new, warned = _fleet_collect.journal_outcomes(args["journal"], hosts, results, failed_before,
                                                              run=args["run"], check_mode=check_mode)
            except WinfleetError as exc:
                return dict(result, failed=True, msg=exc.msg)
            result.setdefault("warnings", []).extend(warned)
            result["journal"] = {"path": _journal.journal_path(args["journal"]), "appended": len(new)}
            result["changed"] = result["changed"] or bool(new)
        stop = _fleet_collect.unreadable_stop(len(unreadable), len(hosts), args["max_unreadable_percentage"])
        if stop:
            # The play stops here; the journal and the CSV files hold every outcome. Leaving the devices out keeps the
            # failure that ansible displays in full to the summary and one line per unreadable host.
            result.pop("devices")
            result["failed"] = True
            result["msg"] = stop
        if not result.get("warnings"):
            result.pop("warnings", None)
        return result

    def _jobs(self, hosts, done, task_vars):
        """One job per host: skipped (collected earlier), failed (its settings), or with its settings."""
        hostvars = task_vars.get("hostvars") or {}
        raw_get = getattr(hostvars, "raw_get", None)
        templar = self._templar.copy_with_new_env()
        jobs = []
        for host in hosts:
            if host in done:
                jobs.append(_fleet_collect.Job(host, result=dict(_fleet_collect.SKIPPED)))
                continue
            if host not in hostvars:
                err = ConfigError("%s is not a host of the inventory" % host)
                jobs.append(_fleet_collect.Job(host, result=_fleet_collect.error_result(err)))
                continue
            try:
                raw = raw_get(host) if raw_get is not None else hostvars[host]
                templar.available_variables = raw
                variables = {}
                for name in raw:
                    if _fleet_collect.is_connection_var(name):
                        variables[name] = _template(templar, raw, name, host)
                settings = _fleet_collect.connection_settings(variables, remote_user=self._task.remote_user)
            except WinfleetError as exc:
                jobs.append(_fleet_collect.Job(host, result=_fleet_collect.error_result(exc)))
                continue
            jobs.append(_fleet_collect.Job(host, settings=settings))
        return jobs


def _template(templar, variables, name, host):
    """One connection variable of a host, templated with that host's variables. The error names the variable and,
    unless it holds a password, says why; it never shows the value."""
    try:
        return templar.template(variables[name])
    except AnsibleError as exc:
        why = "" if "pass" in name else ": %s" % (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigError("%s of %s cannot be templated%s" % (name, host, why)) from None


def _file_slots(concurrency):
    """How many sockets the run may hold open: the soft open-files limit is raised to the hard one (only for this
    worker process, which ends with the task)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 65536
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(2, min(soft - FD_RESERVE, 8192 + concurrency))
