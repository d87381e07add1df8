# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The campaign console (stdout callback winfleet.autopilot.campaign) through ansible-playbook.

A 12-device lab campaign (3 unreadable devices, 1 claimed by another organization, 1 re-used device with stale
Intune / Autopilot / Entra records) runs twice on the same labs with the demo's configuration (tools/demo.py's
CONSOLE): once into a pipe (a CI log: periodic progress lines) and once, as a new campaign, on a pseudo-terminal
(the stage line redrawn in place). Each output shows every stage, names each failed device once with its cause,
ends with the table and the report's path, fits on one screen, and holds no secret the labs handed out and no
piece of any device's hash. A smoke test without labs (also run by `make cores` on ansible-core 2.17 and 2.18)
shows the console and its fallback to the default output at -v."""

from __future__ import annotations

import fcntl
import os
import pathlib
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import pytest
import yaml

from winfleet_lab import hashgen, secrets
from winfleet_lab.campaign import Campaign
from winfleet_lab.playbook import BIN, ROOT, ansible_env

pytestmark = pytest.mark.integration

sys.path.insert(0, str(ROOT / "tools"))
import demo  # noqa: E402

HERE = pathlib.Path(__file__).parent
FAULTS = {"pc0003": "offline", "pc0004": "bad_password", "pc0006": "access_denied"}
FOREIGN = "pc0005"
REUSED = "pc0007"
CAUSES = {"pc0003": "Host unreachable", "pc0004": "Credentials rejected", "pc0006": "Access denied",
          FOREIGN: "Device claimed by another organization"}
STAGES = ("prepare", "collect", "cleanup", "merge", "register", "deliver", "report")
SCREEN = 60
DEMO_OWN_LINES = 8  # what tools/demo.py prints around ansible-playbook's output


def _env(**extra):
    env = ansible_env(**dict(demo.CONSOLE, **extra))
    env.pop("ANSIBLE_CALLBACK_PLUGINS", None)  # the test-only JSON callback is not wanted here
    return env


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    work = tmp_path_factory.mktemp("console")
    registry_was = os.environ.get(secrets.ENV)
    if not registry_was:  # outside `make test`: a registry of our own, to know the labs' secrets
        os.environ[secrets.ENV] = str(work / "secrets.jsonl")
    camp = Campaign(work, "127.0.58.1", count=12, faults=FAULTS, seed=606, vm_every=0,
                    overrides=yaml.safe_load((HERE / "campaign" / "fleet.yml").read_text()))
    try:
        camp.start()
        camp.labs.claim_by_other_tenant(FOREIGN)
        camp.labs.seed_reused(REUSED, user="carol@winfleetlab.onmicrosoft.com", join="hybrid")
        camp.registry = os.environ[secrets.ENV]
        yield camp
    finally:
        camp.stop()
        if not registry_was:
            os.environ.pop(secrets.ENV, None)


def _command(camp, name, **extra):
    return camp.command(threshold=40, extra=dict(extra, campaign_name=name))


@pytest.fixture(scope="module")
def log_run(campaign):
    """Into a pipe, progress lines every second (WINFLEET_CONSOLE_INTERVAL)."""
    proc = subprocess.run(_command(campaign, "log"), cwd=str(ROOT), env=_env(WINFLEET_CONSOLE_INTERVAL="1"),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def tty_run(log_run, campaign):
    """On a pseudo-terminal of 120 x 40, stdout and stderr both, as in a person's terminal."""
    del log_run  # after it: the two runs share the labs
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    # A new campaign on the same labs: its devices are registered already, and a clean-up would now find the
    # records the first campaign created (and refuse to delete so many): this one does not clean up.
    # COLUMNS/LINES as a terminal emulator exports them: Python's get_terminal_size prefers them to the ioctl, so a
    # value inherited from the test runner's environment must not decide this terminal's width.
    proc = subprocess.Popen(_command(campaign, "tty", fleet_cleanup_enabled=False), cwd=str(ROOT),
                            env=_env(COLUMNS="120", LINES="40"), stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _w, _x = select.select([master], [], [], 300)
            if not ready:
                proc.kill()
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def _screen(raw):
    """What a terminal shows: each line as its last redraw left it."""
    rows = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        rows.append(line.rsplit("\r\x1b[K", 1)[-1].rsplit("\r", 1)[-1])
    while rows and not rows[-1].strip():
        rows.pop()
    return rows


def _check_campaign_output(campaign, lines, text):
    # one final line per stage, in order
    finals = [next((i for i, line in enumerate(lines) if re.match(r"%s\s+.*\(\d+ s\)$" % s, line)), None)
              for s in STAGES]
    assert None not in finals, "\n".join(lines)
    assert finals == sorted(finals), "\n".join(lines)
    assert re.search(r"^collect\s+12 devices: 9 done, 3 failed \(", text, re.M), text
    assert re.search(r"^register\s+9 devices: 8 done, 1 failed \(", text, re.M), text
    # each failed device named once, with its cause
    for name, cause in CAUSES.items():
        named = [line for line in lines if line.startswith("  FAILED") and re.search(r"\b%s\b" % name, line)]
        assert len(named) == 1 and cause in named[0], (name, named)
    # the table and the report
    assert "Devices by state and cause (12 devices, 4 failed = 33.3 %):" in lines
    assert any(re.match(r"\s+8  Ready for user$", line) for line in lines), lines
    assert any(re.match(r"\s+1  Device claimed by another organization\s+register: Device claimed by another "
                        r"organization$", line) for line in lines), lines
    for cause in ("collect: Host unreachable", "collect: Credentials rejected", "collect: Access denied"):
        assert any(re.match(r"\s+1  Not collected\s+%s$" % cause, line) for line in lines), cause
    report = next(line for line in lines if line.startswith("Report: "))[len("Report: "):]
    assert pathlib.Path(report).is_file()
    assert lines[-1].startswith("Finished in ")
    # the console, not ansible's per-task output
    assert "TASK [" not in text and "PLAY RECAP" not in text and "ok: [" not in text
    # one screen, with the demo's own lines
    assert len(lines) + DEMO_OWN_LINES < SCREEN, "\n".join(lines)
    # nothing secret: no value the labs handed out, no piece of any device's hash
    known = [value for _kind, value in secrets.load(campaign.registry) if len(value) >= 6]
    assert known, "the labs registered no secret"
    for value in known:
        assert value not in text
    for host in campaign.labs.wsman.fleet.hosts:
        hw = hashgen.build_hash(host.device)
        for start in range(0, len(hw) - 32, 97):
            assert hw[start:start + 32] not in text


def test_log_output_progress_failures_table(campaign, log_run):
    rc, out, err = log_run
    assert rc == 0, out[-3000:] + err[-3000:]
    lines = out.rstrip("\n").split("\n")
    assert "\x1b[K" not in out and "\r" not in out  # no redraws in a log
    _check_campaign_output(campaign, lines, out)
    # progress while the long steps ran: the import wait (about 3 s in the lab) gave periodic lines
    waiting = [line for line in lines if re.match(r"register\s+\d+/9 done, \d+ failed, \d+ left - Waiting for the "
                                                  r"import verdicts", line)]
    assert waiting, out


def test_terminal_redraws_in_place(campaign, tty_run):
    rc, raw = tty_run
    assert rc == 0, raw[-3000:]
    assert raw.count("\r\x1b[K") >= len(STAGES)  # the stage lines were redrawn in place
    lines = _screen(raw)
    _check_campaign_output(campaign, lines, "\n".join(lines))
    assert max(len(line) for line in lines) < 120, lines  # each line one row of the 120-column terminal


@pytest.mark.smoke
def test_console_without_labs_and_the_default_output_at_v(tmp_path):
    """Also on ansible-core 2.17 and 2.18 (make cores)."""
    cmd = [str(BIN / "ansible-playbook"), str(HERE / "console" / "smoke.yml"), "-e", "console_dir=%s" % tmp_path,
           "-e", "console_fail=true"]
    proc = subprocess.run(cmd, cwd=str(ROOT), env=_env(), capture_output=True, text=True, timeout=120, check=False)
    lines = proc.stdout.rstrip("\n").split("\n")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert lines[0].startswith("Campaign smoke.yml - one line per stage")
    assert lines.count("  FAILED collect  pc-down: Host unreachable - no answer within 3s") == 1
    assert len([line for line in lines if "The smoke test's failure" in line]) == 1
    assert "not on the console" not in proc.stdout and "TASK [" not in proc.stdout
    assert "Devices by state and cause (2 devices, 1 failed = 50.0 %):" in lines
    assert "Report: %s" % (tmp_path / "report" / "report.html") in lines
    assert lines[-1].startswith("Stopped after ") and lines[-1].endswith(": a task failed on localhost")
    verbose = subprocess.run(cmd + ["-v"], cwd=str(ROOT), env=_env(), capture_output=True, text=True, timeout=120,
                             check=False)
    assert verbose.returncode == 2
    assert "TASK [Print something the console keeps to itself]" in verbose.stdout
    assert "not on the console" in verbose.stdout and "PLAY RECAP" in verbose.stdout
    assert "Devices by state and cause" not in verbose.stdout
