# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules run inside the ansible worker (plugin_utils/_in_process.py) exactly as through AnsiballZ: the same
results, check mode, failures; the usual path when the task has its own environment or the variable
winfleet_autopilot_in_process is false. At -vvv the usual path names the module file it ships ("Using module file"),
the in-process one does not: that is how the test tells them apart."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from winfleet_lab.playbook import run_playbook, task_results

pytestmark = pytest.mark.integration

PLAYBOOK = pathlib.Path(__file__).parent / "in_process" / "modules.yml"
KEYS = ("changed", "failed", "appended", "devices", "done", "failures", "msg", "events", "size")


def _run(tmp_path, name, *args, check=False):
    campaign = tmp_path / name
    rc, data, out, err = run_playbook(PLAYBOOK, "-vvv", "-e", "campaign_dir=%s" % campaign, *args, check=check)
    assert rc == 0 and data is not None, out[-3000:] + err[-2000:]
    results = {task: {k: v for k, v in task_results(data, task).items() if k in KEYS}
               for task in ("Journal", "Journal info", "Merge of a file that does not exist",
                            "Journal info with its own environment (the usual path)")}
    shipped = [line for line in out.splitlines() if "Using module file" in line]
    return results, shipped, campaign


def _same(results, campaign):
    """The results with what differs between two runs by design (the folder, the timestamps) taken out."""
    return re.sub(r'"ts": "[^"]*"', '"ts": "T"', json.dumps(results, sort_keys=True).replace(str(campaign), "X"))


def test_in_process_and_ansiballz_agree(tmp_path):
    inside, shipped_inside, camp_a = _run(tmp_path, "a")
    usual, shipped_usual, camp_b = _run(tmp_path, "b", "-e", "winfleet_autopilot_in_process=false")
    assert _same(inside, camp_a) == _same(usual, camp_b)
    assert inside["Journal"]["changed"] is True and inside["Journal"]["appended"] == 2
    assert inside["Journal info"]["failures"]["collect"] == ["SN-IP-2"]
    refused = inside["Merge of a file that does not exist"]
    assert "missing.csv" in refused["msg"] and "Traceback" not in refused["msg"]
    # in process: only the task with its own environment shipped a module; the usual path: all four
    assert [line.split("/")[-1] for line in shipped_inside] == ["campaign_journal_info.py"]
    assert len(shipped_usual) == 4


def test_check_mode_in_process_writes_nothing(tmp_path):
    results, _shipped, campaign = _run(tmp_path, "c", check=True)
    assert results["Journal"]["changed"] is True and results["Journal"]["appended"] == 2
    assert not campaign.joinpath("journal.jsonl").exists()
