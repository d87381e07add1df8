# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: batched
short_description: The linear strategy, with several hosts per worker process for the collection's per-host readers
description:
  - Runs a play exactly like C(ansible.builtin.linear) (same task order, same results, callbacks, failure handling,
    C(serial), C(max_fail_percentage), C(throttle), check mode), with one difference for the tasks whose action
    declares itself safe to run for several hosts in one process, today
    M(winfleet.autopilot.hardware_hash_info). The linear strategy forks one worker process per host and task. For
    those tasks this strategy forks at most C(forks) workers per batch of hosts, and each of them runs the task for
    the next host of the batch until none is left. The first batch gives each worker 4 hosts, each next batch
    twice as many, up to the action's cap (32 for M(winfleet.autopilot.hardware_hash_info)). 1,000 devices at
    C(forks=24) cost about 100 forks instead of 1,000.
  - Each host still gets its own copy of the task, its own variables and connection settings, and its own result;
    a host that fails or is unreachable fails alone. C(forks) still bounds how many hosts are read at the same time,
    and C(forks=1) still reads them one after the other.
  - Every other task runs through the linear strategy's own code.
  - On 2 cores, with the lab's 1,000 devices, it is what brings the collection to at least 10 times the speed of the
    same run with C(forks=1); see docs/wsman-lab.md in the collection.
author:
  - Winfleet Autopilot Maintainers (@winfleet)
notes:
  - Relies on ansible-core's worker process class; tested with the ansible-core version the collection pins (2.19).
    When that class does not have the expected shape, every task falls back to the linear strategy's own path and a
    warning says so.
"""

import inspect
import io
import sys
import time

from ansible.plugins.loader import action_loader
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible.utils.display import Display

try:
    from ansible import context as _context
    from ansible._internal import _task as _ansible_task
    from ansible._internal._templating._engine import TemplateEngine
    from ansible.executor.process import worker as _worker
    from ansible.plugins import loader as _plugin_loader
    from ansible.utils.multiprocessing import context as _mp_context

    _WORKER_BASE = _worker.WorkerProcess
except ImportError:  # pragma: no cover - another ansible-core layout: the linear path is used throughout
    _WORKER_BASE = None

WORKER_ARGUMENTS = ("final_q", "task_vars", "host", "task", "play_context", "loader", "variable_manager",
                    "shared_loader_obj", "worker_id", "cliargs")


def compatible(worker_class):
    """Whether ``worker_class`` has the shape this strategy builds on: the keyword arguments it passes, and the
    ``_run`` that runs one host (the tests check it for the ansible-core the collection pins)."""
    try:
        params = inspect.signature(worker_class.__init__).parameters
    except (TypeError, ValueError):
        return False
    return set(WORKER_ARGUMENTS) <= set(params) and callable(getattr(worker_class, "_run", None))


if _WORKER_BASE is not None and not compatible(_WORKER_BASE):  # pragma: no cover - another ansible-core
    _WORKER_BASE = None

display = Display()

# An action plugin opts in with this class attribute: the most hosts one worker is given per batch.
# Larger batches save forks but start later (the main process prepares the variables of the whole batch first) and
# balance worse across workers when a host is slow.
BATCHABLE_ATTRIBUTE = "WINFLEET_HOSTS_PER_WORKER"
# Hosts per worker in a task's first batch: small, so the workers start while the main process is still preparing
# the variables of the hosts after them; each next batch doubles it, up to the action's cap.
FIRST_BATCH_PER_WORKER = 4


if _WORKER_BASE is not None:

    class _BatchWorker(_WORKER_BASE):
        """A worker process that runs one task for several hosts, one after the other.

        The hosts come from ``items``, which the process inherits through fork; ``cursor`` (shared memory) hands out
        the next index to whichever worker of the batch is free. Each host's run is the stock worker's ``_run``: its
        own ``TaskExecutor``, on its own copy of the task, and its own result on the results queue.
        """

        def __init__(self, *, items, cursor, **kwargs):
            first = items[0]
            super().__init__(task_vars=first["task_vars"], host=first["host"], task=first["task"],
                             play_context=first["play_context"], **kwargs)
            self._items = items
            self._cursor = cursor

        def _run(self):
            while True:
                with self._cursor.get_lock():
                    index = self._cursor.value
                    self._cursor.value = index + 1
                if index >= len(self._items):
                    return
                item = self._items[index]
                self._host = item["host"]
                self._task_vars = item["task_vars"]
                self._play_context = item["play_context"]
                # TaskExecutor templates the task in place (post_validate): each host gets a fresh copy, as each
                # forked worker of the linear strategy does.
                self._task = item["task"].copy()
                sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
                # The stock worker empties its host's vars and groups once it is done (it is about to exit); here a
                # later host's task may still look at this one through hostvars, so they are put back.
                host_vars, host_groups = self._host.vars, self._host.groups
                try:
                    with _ansible_task.TaskContext(self._task):
                        super()._run()
                finally:
                    self._host.vars, self._host.groups = host_vars, host_groups


class StrategyModule(LinearStrategyModule):
    def __init__(self, tqm):
        super().__init__(tqm)
        self._batch = []
        # task uuid -> None (the linear path) or {"cap": most hosts per worker, "slots": workers per batch,
        # "size": hosts per worker in the task's next batch (4, 8, 16, ... up to the cap)}
        self._plans = {}
        if _WORKER_BASE is None:
            display.warning("winfleet.autopilot.batched: this ansible-core has no compatible worker process class; "
                            "running every task as the linear strategy does")

    # ------------------------------------------------------------------------------------------------------------
    def _plan(self, task, task_vars):
        """The batching plan of ``task``, worked out once per task: None unless its action plugin declares it safe."""
        if task._uuid in self._plans:
            return self._plans[task._uuid]
        cap = 0
        if _WORKER_BASE is not None and not task.async_val and not task.loop and not task.loop_with:
            try:
                action = action_loader.get(task.action, class_only=True, collection_list=task.collections)
                cap = int(getattr(action, BATCHABLE_ATTRIBUTE, 0) or 0) if action else 0
            except Exception:  # any doubt: the linear path
                cap = 0
        plan = None
        if cap > 0:
            # forks (or the serial batch), lowered by the task's throttle, as the linear strategy counts them
            slots = len(self._workers)
            throttle = int(TemplateEngine(loader=self._loader, variables=task_vars).template(task.throttle) or 0)
            if throttle > 0 and self.ALLOW_BASE_THROTTLING and not task.run_once:
                slots = min(slots, throttle)
            plan = {"cap": cap, "slots": max(1, slots), "size": min(cap, FIRST_BATCH_PER_WORKER)}
        self._plans[task._uuid] = plan
        return plan

    def _queue_task(self, host, task, task_vars, play_context):
        plan = self._plan(task, task_vars)
        if plan is None:
            self._flush_batch()
            return super()._queue_task(host, task, task_vars, play_context)
        if self._batch and self._batch[0]["task"]._uuid != task._uuid:
            self._flush_batch()
        item = {"host": host, "task": task, "task_vars": task_vars, "play_context": play_context}
        self._queued_task_cache[(host.name, task._uuid)] = item
        self._tqm.send_callback("v2_runner_on_start", host, task)
        self._batch.append(item)
        self._pending_results += 1
        # A small first batch, then twice as many hosts per worker each time, up to the cap: the workers start
        # early, and a long run forks rarely.
        if len(self._batch) >= plan["slots"] * plan["size"]:
            plan["size"] = min(plan["cap"], plan["size"] * 2)
            self._flush_batch()
        return None

    def _flush_batch(self):
        """Start the workers of the batch queued so far, as worker slots free up."""
        items, self._batch = self._batch, []
        if not items:
            return
        slots = self._plans[items[0]["task"]._uuid]["slots"]
        wanted = min(slots, len(items))
        display.vvv("winfleet.autopilot.batched: task %r, %d hosts in at most %d workers"
                    % (items[0]["task"].get_name(), len(items), wanted))
        cursor = _mp_context.Value("i", 0)
        started = 0
        while started < wanted and cursor.value < len(items) and not self._tqm._terminated:
            free = next((i for i in range(slots) if self._workers[i] is None or not self._workers[i].is_alive()), None)
            if free is None:
                time.sleep(0.0001)  # a worker of the previous batch is still running (the linear strategy waits so too)
                continue
            if self._workers[free] is not None:
                self._workers[free].close()
            worker = _BatchWorker(items=items, cursor=cursor, final_q=self._final_q, loader=self._loader,
                                  variable_manager=self._variable_manager,
                                  shared_loader_obj=_plugin_loader.get_plugin_loader_namespace(),
                                  worker_id=free, cliargs=_context.CLIARGS)
            self._workers[free] = worker
            worker.start()
            started += 1

    def _wait_on_pending_results(self, iterator):
        self._flush_batch()
        return super()._wait_on_pending_results(iterator)
