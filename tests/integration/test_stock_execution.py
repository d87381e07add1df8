"""Modules run the stock way: ``become``, the interpreter and failures behave as users expect.

Until 0.2.0 the collection ran its modules inside ansible's worker process, which ignored ``become`` and
``ansible_python_interpreter``: a task with ``become_user: nobody`` still read a root-only campaign folder. These
tests run a module against such a folder with and without ``become`` (sudo, pipelining, Debian's own Python as the
interpreter of the unprivileged user).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import pytest

from winfleet_lab.playbook import run_playbook, task_results

PLAY = """\
- name: Read a root-only campaign folder
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the journal as the user running ansible
      winfleet.autopilot.campaign_journal_info:
        path: "{{ campaign }}"
      register: as_root

    - name: Read the journal as nobody
      winfleet.autopilot.campaign_journal_info:
        path: "{{ campaign }}"
      become: true
      become_user: nobody
      become_method: ansible.builtin.sudo
      vars:
        ansible_python_interpreter: /usr/bin/python3
      register: as_nobody
      ignore_errors: true
"""


@pytest.fixture
def campaign(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: the test shows root-only data is out of reach for become_user")
    if shutil.which("sudo") is None or not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("!!!!! sudo or /usr/bin/python3 missing - THE BECOME TEST DID NOT RUN !!!!! run tools/install-sudo.sh "
                    "as root (make sysdeps does)")
    folder = tmp_path / "campaign"
    folder.mkdir(mode=0o700)
    (folder / "journal.jsonl").write_text(json.dumps({"v": 1, "ts": "2026-12-06T00:00:00Z", "run": "r", "stage": "collect",
                                                      "serial": "PF3XK2L9", "outcome": "changed",
                                                      "status": "Hash collected", "detail": {}}) + "\n")
    os.chmod(folder / "journal.jsonl", 0o600)
    os.chmod(tmp_path, 0o755)  # noqa: S103 - the folder above is reachable: only the campaign folder's mode keeps nobody out
    return folder


def test_module_honours_become_user(tmp_path, campaign):
    playbook = tmp_path / "become.yml"
    playbook.write_text(PLAY)
    rc, data, out, err = run_playbook(playbook, "-e", json.dumps({"campaign": str(campaign)}),
                                      env={"ANSIBLE_PIPELINING": "1", "ANSIBLE_BECOME_ASK_PASS": "0"})
    assert rc == 0 and data is not None, out[-2000:] + err[-2000:]  # the refusal is ignore_errors: the play ends ok
    as_root = task_results(data, "Read the journal as the user running ansible")
    as_nobody = task_results(data, "Read the journal as nobody")
    assert as_root.get("failed") is not True and as_root["events"] == 1
    # The same module, as nobody: the 0700 folder is out of reach, and the module says so.
    assert as_nobody["failed"] is True, as_nobody
    assert "Permission denied" in as_nobody["msg"] and str(pathlib.Path(campaign) / "journal.jsonl") in as_nobody["msg"]
