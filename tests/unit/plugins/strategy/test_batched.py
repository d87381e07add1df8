# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The batched strategy builds on ansible-core's worker process class. With another shape it would fall back to
the linear path with a warning; these tests make an ansible-core upgrade that changes the shape fail loudly here
instead. Its behaviour (each host its own result, several hosts per worker) is tested through ansible-playbook in
tests/integration/test_collect_playbook.py."""

from __future__ import annotations

from ansible.executor.process.worker import WorkerProcess

from ansible_collections.winfleet.autopilot.plugins.action.hardware_hash_info import ActionModule
from ansible_collections.winfleet.autopilot.plugins.strategy import batched


def test_the_pinned_ansible_core_worker_has_the_expected_shape():
    assert batched.compatible(WorkerProcess)
    assert batched._WORKER_BASE is WorkerProcess


def test_another_shape_is_refused():
    class Renamed:
        def __init__(self, *, final_q, task_vars, host, task, play_context, loader, variable_manager,
                     shared_loader_obj, worker_id):  # no cliargs
            pass

        def _run(self):
            pass

    class NoRun:
        def __init__(self, **kwargs):
            pass

    assert not batched.compatible(Renamed)
    assert not batched.compatible(NoRun)


def test_the_collector_opts_in():
    assert getattr(ActionModule, batched.BATCHABLE_ATTRIBUTE) > 1
