"""The fleet collector's logic: connection settings as the winrm connection resolves them, the collect stage's
journal events (the same as the role's former Jinja program), the unreadable stop, the concurrency bound, the probe
(silent devices time out in parallel, with the client's own words) and the error mapping."""

from __future__ import annotations

import datetime
import socket
import threading
import time

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _fleet_collect as fc
from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import ConfigError, TimedOutError, WSManClient
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import collect

NOW = datetime.datetime(2026, 11, 21, 10, 0, 0, tzinfo=datetime.UTC)


# ------------------------------------------------------------------------------------------------ connection settings
def test_settings_follow_the_winrm_connection():
    s = fc.connection_settings({"inventory_hostname": "pc1", "ansible_host": "10.0.0.5", "ansible_port": 5985,
                                "ansible_user": "admin", "ansible_password": "pw", "ansible_winrm_transport": "ntlm"})
    assert s["host"] == "10.0.0.5" and s["port"] == 5985 and s["scheme"] == "http" and s["transport"] == "ntlm"
    assert s["username"] == "admin" and s["password"] == "pw" and s["path"] == "/wsman"
    assert s["cert_validation"] is True and s["operation_timeout"] == 20 and s["read_timeout"] is None
    assert s["transport_options"] is None
    # no port: 5986, https, ssl (basic over TLS); a UPN: kerberos
    s = fc.connection_settings({"inventory_hostname": "pc1"})
    assert (s["host"], s["port"], s["scheme"], s["transport"]) == ("pc1", 5986, "https", "ssl")
    assert fc.connection_settings({"ansible_user": "a@CORP.EXAMPLE", "ansible_port": "5985"})["transport"] == "kerberos"


def test_the_last_variable_of_an_option_wins_as_in_ansible():
    s = fc.connection_settings({"ansible_host": "a", "ansible_winrm_host": "b", "ansible_user": "u1",
                                "ansible_winrm_user": "u2", "ansible_password": "p1", "ansible_winrm_pass": "p2",
                                "ansible_winrm_password": "p3", "ansible_port": 1, "ansible_winrm_port": "5985"})
    assert (s["host"], s["username"], s["password"], s["port"]) == ("b", "u2", "p3", 5985)
    s = fc.connection_settings({"ansible_password": "p1", "ansible_winrm_pass": "p2"})
    assert s["password"] == "p2"


def test_command_line_values_are_fallbacks():
    s = fc.connection_settings({"inventory_hostname": "pc1"}, remote_user="cli", remote_password="clipw",
                               remote_addr="10.1.1.1")
    assert (s["host"], s["username"], s["password"]) == ("10.1.1.1", "cli", "clipw")
    s = fc.connection_settings({"ansible_user": "inv", "ansible_password": "invpw"}, remote_user="cli",
                               remote_password="clipw")
    assert (s["username"], s["password"]) == ("inv", "invpw")


def test_timeouts_validation_and_extras():
    s = fc.connection_settings({"ansible_winrm_connection_timeout": "7"})
    assert (s["operation_timeout"], s["read_timeout"]) == (7, 17)
    s = fc.connection_settings({"ansible_winrm_operation_timeout_sec": 5, "ansible_winrm_read_timeout_sec": "10",
                                "ansible_winrm_connection_timeout": 7})
    assert (s["operation_timeout"], s["read_timeout"]) == (5, 10)
    for value, expected in (("ignore", False), ("validate", True), (False, False), ("no", False)):
        assert fc.connection_settings({"ansible_winrm_server_cert_validation": value})["cert_validation"] is expected
    s = fc.connection_settings({"ansible_winrm_transport": ["credssp", "ntlm"], "ansible_winrm_kerberos_delegation": "yes",
                                "ansible_winrm_send_cbt": "false", "ansible_winrm_credssp_minimum_version": "3",
                                "ansible_winrm_ca_trust_path": "/ca.pem", "ansible_winrm_path": "/wsman2",
                                "ansible_winrm_message_encryption": "always", "ansible_winrm_scheme": "https"})
    assert s["transport"] == "credssp" and s["scheme"] == "https" and s["ca_trust_path"] == "/ca.pem"
    assert s["path"] == "/wsman2" and s["message_encryption"] == "always"
    assert s["transport_options"] == {"kerberos_delegation": True, "send_cbt": False, "credssp_minimum_version": 3}
    assert fc.connection_settings({"ansible_winrm_transport": "NTLM, kerberos"})["transport"] == "ntlm"


@pytest.mark.parametrize("variables, words", [
    ({"ansible_winrm_transport": "telnet"}, "not supported"),
    ({"ansible_port": "https"}, "ansible_port must be a whole number"),
    ({"ansible_winrm_read_timeout_sec": "soon"}, "ansible_winrm_read_timeout_sec"),
])
def test_bad_settings_are_config_errors(variables, words):
    with pytest.raises(ConfigError) as info:
        fc.connection_settings(variables)
    assert words in info.value.msg and info.value.kind == "config"


def test_connection_vars_are_recognised():
    for name in ("ansible_host", "ansible_port", "ansible_user", "ansible_password", "ansible_winrm_transport",
                 "ansible_winrm_server_cert_validation", "inventory_hostname"):
        assert fc.is_connection_var(name)
    assert not fc.is_connection_var("fleet_name") and not fc.is_connection_var("ansible_ssh_pass")


# ------------------------------------------------------------------------------------------------ journal events
OLD_PROGRAM = """\
{%- set out = [] -%}
{%- for host in ansible_play_batch -%}
{%-   set res = hostvars[host].collect_read | default({'skipped': true}) -%}
{%-   if res.skipped | default(false) -%}
{%-   elif res.record is not defined -%}
{%-     if out.append({'serial': host, 'outcome': 'failed',
          'status': collect_error_words[res.error | default('')] | default('Collection failed'),
          'detail': {'source': 'winrm', 'host': host, 'error': res.error | default(''),
                     'message': res.msg | default('')}}) -%}{%- endif -%}
{%-   else -%}
{%-     if out.append({'serial': res.record.serial_number, 'outcome': 'changed', 'status': 'Hash collected',
          'detail': {'source': 'winrm', 'host': host, 'name': res.device.computer_name | default(''),
                     'findings': res.hash_summary.errors + res.hash_summary.warnings,
                     'manufacturer': res.record.manufacturer, 'model': res.record.model}}) -%}{%- endif -%}
{%-     if host in collect_journal.failures.collect | default([]) -%}
{%-       if out.append({'serial': host, 'outcome': 'skipped', 'status': 'Collected as ' ~ res.record.serial_number,
            'detail': {'source': 'winrm', 'host': host}}) -%}{%- endif -%}
{%-     endif -%}
{%-   endif -%}
{%- endfor -%}
{{- out -}}"""


def _ok(serial, name="DESKTOP-1", errors=(), warnings=()):
    return {"changed": True, "record": {"serial_number": serial, "manufacturer": "LENOVO", "model": "21CB", "product_id": "",
                                        "group_tag": "", "assigned_user": "", "source": "x"},
            "device": {"computer_name": name, "uuid": None, "os_build": "10.0.22631", "os_caption": "W", "build_number": 22631},
            "hash_summary": {"valid": not errors, "errors": list(errors), "warnings": list(warnings)}}


RESULTS = {
    "pc1": _ok("S1"),
    "pc2": {"failed": True, "error": "timed_out", "msg": "pc2 did not answer", "attempts": 1},
    "pc3": {"skipped": True, "changed": False},
    "pc4": _ok("S4", name=None, warnings=["virtual machine"]),
    "pc5": {"failed": True, "error": "shutdown_failed?", "msg": "odd"},
    "pc6": {"failed": True, "msg": "no error name"},
    "pc7": _ok("S7", errors=["checksum mismatch"]),
}
HOSTS = ["pc1", "pc2", "pc3", "pc4", "pc5", "pc6", "pc7", "pc8"]  # pc8 was not read (no result)


def test_events_are_those_of_the_former_jinja_program():
    """The role computed these in Jinja (roles/collect/vars/main.yml before the fleet collector); the same inputs
    must give the same events, rendered by ansible's own templating."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    failed_before = ["pc1", "pc4", "XYZ"]
    hostvars = {h: ({"collect_read": RESULTS[h]} if h in RESULTS else {}) for h in HOSTS}
    variables = {"ansible_play_batch": HOSTS, "hostvars": hostvars, "collect_error_words": fc.ERROR_WORDS,
                 "collect_journal": {"failures": {"collect": failed_before}}}
    try:
        from ansible.template import trust_as_template  # ansible-core >= 2.19: only trusted text is a template
    except ImportError:
        trust_as_template = str
    expected = Templar(loader=DataLoader(), variables=variables).template(trust_as_template(OLD_PROGRAM))
    assert isinstance(expected, list) and len(expected) == 8
    assert fc.collect_events(HOSTS, RESULTS, failed_before) == expected


def test_events_in_detail():
    events = fc.collect_events(["pc1", "pc2", "pc3"], RESULTS, failed_before={"pc1"})
    assert events == [
        {"serial": "S1", "outcome": "changed", "status": "Hash collected",
         "detail": {"source": "winrm", "host": "pc1", "name": "DESKTOP-1", "findings": [], "manufacturer": "LENOVO",
                    "model": "21CB"}},
        {"serial": "pc1", "outcome": "skipped", "status": "Collected as S1", "detail": {"source": "winrm", "host": "pc1"}},
        {"serial": "pc2", "outcome": "failed", "status": "Host timed out",
         "detail": {"source": "winrm", "host": "pc2", "error": "timed_out", "message": "pc2 did not answer"}},
    ]
    assert fc.collect_events(["pc5", "pc6"], RESULTS)[0]["status"] == "Collection failed"
    assert "hardware_hash" not in repr(fc.collect_events(HOSTS, RESULTS))


def test_done_hosts_and_failures_come_from_the_latest_events(tmp_path):
    campaign = str(tmp_path)
    _journal.append(campaign, "collect", fc.collect_events(HOSTS, RESULTS), run="r1", now=NOW)
    events = _journal.read(campaign).events
    assert fc.done_hosts(events) == {"pc1", "pc4", "pc7"}
    assert fc.failed_serials(events) == {"pc2", "pc5", "pc6"}
    # pc2 read later: done, and its failure is marked as skipped
    again = {"pc2": _ok("S2")}
    fc.journal_outcomes(campaign, ["pc2"], again, fc.failed_serials(events), run="r2")
    done, failed, warnings = fc.read_journal(campaign)
    assert done == {"pc1", "pc2", "pc4", "pc7"} and failed == {"pc5", "pc6"} and warnings == []
    assert fc.read_journal(campaign, recollect=True)[0] == set()
    # a repeat appends nothing
    assert fc.journal_outcomes(campaign, ["pc2"], again, {"pc2"}, run="r3") == ([], [])
    assert fc.journal_outcomes(campaign, ["pc3"], RESULTS) == ([], [])


def test_unreadable_lines_and_stop():
    lines = fc.unreadable_lines(HOSTS, RESULTS)
    assert lines == ["pc2: Host timed out - pc2 did not answer", "pc5: Collection failed - odd",
                     "pc6: Collection failed - no error name"]
    assert fc.unreadable_stop(3, 8, 100) is None
    assert fc.unreadable_stop(4, 8, 50) is None  # exactly the share: goes on
    msg = fc.unreadable_stop(5, 8, 50)
    assert msg.startswith("5 of 8 hosts of this batch could not be read (more than 50 %)")
    assert fc.unreadable_stop(1, 8, 0)


# ------------------------------------------------------------------------------------------------ concurrency
def test_concurrency_is_bounded_and_every_job_done():
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    finished = []

    def work(job):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        job.result = {"ok": job.host}

    jobs = [fc.Job("pc%d" % i, settings={}) for i in range(60)]
    jobs.append(fc.Job("preset", result={"failed": True}))
    fc.run(jobs, work, concurrency=5, probe=False, on_done=finished.append)
    assert state["max"] == 5
    assert [j.result for j in jobs[:60]] == [{"ok": "pc%d" % i} for i in range(60)]
    assert jobs[-1].result == {"failed": True} and len(finished) == 60


def test_a_bug_in_the_work_is_raised_after_every_thread_stopped():
    def work(job):
        if job.host == "bad":
            raise RuntimeError("boom")
        job.result = {}

    with pytest.raises(RuntimeError):
        fc.run([fc.Job("a", settings={}), fc.Job("bad", settings={}), fc.Job("c", settings={})], work, concurrency=2,
               probe=False)
    assert not [t for t in threading.enumerate() if t.name.startswith("winfleet-collect-")]


def test_processes_share_the_jobs_and_send_back_every_result():
    import os

    def work(job):
        job.result = {"pid": os.getpid(), "host": job.host}

    jobs = [fc.Job("pc%03d" % i, settings={}) for i in range(200)]
    assert fc.run(jobs, work, concurrency=8, probe=False, processes=2) == 2
    assert [j.result["host"] for j in jobs] == ["pc%03d" % i for i in range(200)]
    pids = {j.result["pid"] for j in jobs}
    assert len(pids) == 2 and os.getpid() not in pids
    # few devices: one process is enough
    small = [fc.Job("a", settings={})]
    assert fc.run(small, work, probe=False, processes=4) == 1 and small[0].result["pid"] == os.getpid()


def test_a_process_that_dies_leaves_its_devices_failed():
    import os

    def work(job):
        if job.host == "pc007":
            os._exit(3)
        job.result = {"ok": True}

    jobs = [fc.Job("pc%03d" % i, settings={}) for i in range(128)]
    fc.run(jobs, work, concurrency=4, probe=False, processes=2)
    dead = [j for j in jobs if j.result.get("error") == "internal_error"]
    assert len(dead) == 64 and "pc007" in {j.host for j in dead}  # the whole share of that process
    assert "ended without results" in dead[0].result["msg"] and dead[0].result["msg"].startswith(dead[0].host + ":")
    assert all(j.result == {"ok": True} for j in jobs if j not in dead)


# ------------------------------------------------------------------------------------------------ the probe
class Listener:
    """A device on 127.0.0.1: by default it accepts connections and never answers (hung, or firewalled after the
    handshake); ``answer`` makes it answer every request with a 401, as Windows answers an unauthenticated POST."""

    def __init__(self, answer=False):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.open_at_once = 0
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            if self.answer:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                continue
            self.conns = [c for c in self.conns if _still_open(c)] + [conn]
            self.open_at_once = max(self.open_at_once, len(self.conns))

    def close(self):
        self._stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def _still_open(conn):
    """Whether the client still holds the connection (what it sent is read and dropped)."""
    while True:
        try:
            if not conn.recv(4096, socket.MSG_DONTWAIT):
                conn.close()
                return False
        except BlockingIOError:
            return True
        except OSError:
            conn.close()
            return False


def _settings(port, **more):
    settings = fc.connection_settings({"ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "admin",
                                       "ansible_password": "pw", "ansible_winrm_transport": "ntlm",
                                       "ansible_winrm_scheme": "http", "ansible_winrm_operation_timeout_sec": 1,
                                       "ansible_winrm_read_timeout_sec": 2})
    settings.update(more)
    return settings


def _refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_silent_devices_time_out_together_in_the_probe_with_the_clients_words():
    silent, answering = Listener(), Listener(answer=True)
    try:
        refused = _refused_port()
        jobs = [fc.Job("silent%d" % i, settings=_settings(silent.port)) for i in range(12)]
        jobs += [fc.Job("up", settings=_settings(answering.port)), fc.Job("off", settings=_settings(refused)),
                 fc.Job("proxied", settings=_settings(silent.port, proxy="http://proxy.example:3128"))]
        handed, timed = [], []
        fc.Prober(jobs, handed.append, timed.append, slots=64).run()
        assert sorted(j.host for j in handed) == ["off", "proxied", "up"], \
            "answered and refused devices go to a reader, and so does one behind a proxy (not probed)"
        assert sorted(j.host for j in timed) == sorted("silent%d" % i for i in range(12))
        assert silent.open_at_once == 12, "every silent device waited at the same time"
        res = jobs[0].result
        assert res["failed"] is True and res["error"] == "timed_out" and res["attempts"] == 1 and res["timeout"] == 2
        # the very words the client says when it waits for the device itself
        client = WSManClient(label="silent0", **_settings(silent.port))
        with pytest.raises(TimedOutError) as info:
            collect(client)
        assert res["msg"] == info.value.msg and "silent0" in res["msg"]
    finally:
        silent.close()
        answering.close()


def test_probe_slots_bound_the_open_probes():
    silent = Listener()
    try:
        jobs = [fc.Job("s%d" % i, settings=_settings(silent.port)) for i in range(6)]
        fc.Prober(jobs, lambda job: None, slots=3).run()
        assert silent.open_at_once <= 3 and all(j.result["error"] == "timed_out" for j in jobs)
    finally:
        silent.close()


def test_run_with_the_probe_reads_answering_devices_only():
    silent, answering = Listener(), Listener(answer=True)
    try:
        read = []

        def work(job):
            read.append(job.host)
            job.result = {"read": True}

        jobs = [fc.Job("quiet", settings=_settings(silent.port)), fc.Job("up", settings=_settings(answering.port)),
                fc.Job("badcfg", settings=_settings(answering.port, scheme="gopher"))]
        fc.run(jobs, work, concurrency=4, probe=True)
        assert sorted(read) == ["badcfg", "up"], "a settings error is the reader's to report"
        assert jobs[0].result["error"] == "timed_out"
    finally:
        silent.close()
        answering.close()


# ------------------------------------------------------------------------------------------------ one device
def test_collect_device_maps_errors_to_results():
    res, client = fc.collect_device("pc9", _settings(_refused_port()), keep_client=True)
    assert client is None
    assert res["failed"] is True and res["error"] == "unreachable" and "connection refused" in res["msg"]
    assert res["attempts"] == 1 and res["changed"] is False and "pc9" in res["msg"]
    with pytest.raises(ConfigError):
        WSManClient(label="x", **_settings(1, scheme="gopher"))
    res, _client = fc.collect_device("pc9", _settings(1, scheme="https", cert_validation=False))
    assert res["warnings"][0].startswith("pc9: the WinRM server's certificate is not validated")
