# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Reading devices over WinRM, one or many: the work behind ``hardware_hash_info`` (one host per task) and
``fleet_hardware_hash_info`` (a whole inventory group in one task).

* ``connection_settings``: a host's WS-Man client settings from its variables, resolved the way ansible's ``winrm``
  connection plugin resolves its options (the last variable of an option's list wins).
* ``collect_device``: read one device (reading again when it dropped the connection), write its CSV, and return the
  result both plugins return for it: the same record, the same errors.
* ``run``: many devices on a bounded number of threads. A reachability probe (``Prober``, one thread, non-blocking
  sockets) goes first: a device that never answers costs one timeout in parallel with every other, not a thread.
* ``done_hosts``, ``collect_events``, ``unreadable_stop``: what the collect stage reads from and writes to the
  campaign journal, and when it stops a campaign. Pure functions.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import os
import pickle
import queue
import selectors
import socket
import ssl
import threading
import time

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal, _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import (
    HAS_WINRM,
    ConfigError,
    ConnectionDroppedError,
    WSManClient,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import (
    CIMV2,
    collect,
    csv_bytes,
    csv_filename,
    write_csv,
)

if HAS_WINRM:
    import requests.exceptions

SUPPORTED_TRANSPORTS = ("basic", "plaintext", "ssl", "ntlm", "kerberos", "negotiate", "credssp", "certificate")
# The winrm connection plugin's options and their variables, in its order: as in ansible's configuration, the last
# variable of the list that is set wins.
OPTION_VARS = {
    "remote_addr": ("ansible_host", "ansible_winrm_host"),
    "remote_user": ("ansible_user", "ansible_winrm_user"),
    "remote_password": ("ansible_password", "ansible_winrm_pass", "ansible_winrm_password"),
    "port": ("ansible_port", "ansible_winrm_port"),
}
# pywinrm transport settings taken from ansible_winrm_<name> (Kerberos, CredSSP, certificates).
TRANSPORT_OPTIONS = ("service", "kerberos_delegation", "kerberos_hostname_override", "credssp_disable_tlsv1_2",
                     "credssp_auth_mechanism", "credssp_minimum_version", "send_cbt", "cert_pem", "cert_key_pem")
_BOOL_OPTIONS = frozenset(("kerberos_delegation", "credssp_disable_tlsv1_2", "send_cbt"))
_NAMED_VARS = frozenset(["inventory_hostname"] + [name for names in OPTION_VARS.values() for name in names])

# The first request of a read (collect() starts with the OS build): a device that never answers times out there.
FIRST_REQUEST = "%s/%s" % (CIMV2, "Win32_OperatingSystem")

# What the campaign journal and the collect play say for each error (the report shows these words).
ERROR_WORDS = {
    "unreachable": "Host unreachable",
    "timed_out": "Host timed out",
    "connection_dropped": "Connection dropped",
    "certificate": "Certificate not trusted",
    "bad_credentials": "Credentials rejected",
    "not_administrator": "Access denied",
    "windows_too_old": "Windows too old",
    "hash_empty": "Hardware hash empty",
    "wmi_provider_error": "WMI provider error",
    "wsman_fault": "WS-Management fault",
    "config": "Connection settings invalid",
    "ntlm_refused": "NTLM refused",
    "clock_skew": "Clock skew",
    "unknown_service_principal": "No such service principal",
    "kdc_unreachable": "KDC unreachable",
    "wrong_realm": "Wrong realm",
    "password_expired": "Password expired",
    "kerberos": "Kerberos failed",
}
FAILED_WORDS = "Collection failed"

# The options of both plugins (their module files document them).
_READ_OPTIONS = {
    "group_tag": {"type": "str", "default": ""},
    "assigned_user": {"type": "str", "default": ""},
    "csv_dir": {"type": "path"},
    "csv_encoding": {"type": "str", "default": "ascii", "choices": ["ascii", "utf-16"]},
    "read_retries": {"type": "int", "default": 2},
    "journal": {"type": "path"},
    "run": {"type": "str"},
    "recollect": {"type": "bool", "default": False},
}
HOST_ARGUMENT_SPEC = dict(_READ_OPTIONS, include_hash={"type": "bool", "default": True},
                          shutdown={"type": "bool", "default": False})
FLEET_ARGUMENT_SPEC = dict(_READ_OPTIONS, hosts={"type": "list", "elements": "str"},
                           concurrency={"type": "int", "default": 256}, processes={"type": "int", "default": 0},
                           probe={"type": "bool", "default": True},
                           max_unreadable_percentage={"type": "int", "default": 100})


# ----------------------------------------------------------------------------------------------- connection settings
def is_connection_var(name):
    """Whether the variable ``name`` takes part in ``connection_settings`` (only those need templating)."""
    return name in _NAMED_VARS or name.startswith("ansible_winrm_")


def _int(value, name):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError("%s must be a whole number, not %r" % (name, value)) from None


def connection_settings(variables, remote_user=None, remote_password=None, remote_addr=None):
    """``WSManClient`` keyword arguments (without ``label``) from a host's templated variables.

    ``remote_user``, ``remote_password`` and ``remote_addr`` are what the command line or the play says (``-u``,
    ``-k``); a host's variables take precedence over them, as with the winrm connection. Raises ``ConfigError``.
    """
    def option(name):
        value = None
        for var in OPTION_VARS[name]:
            if variables.get(var) is not None:
                value = variables[var]
        return value

    extras = {k: v for k, v in variables.items() if k.startswith("ansible_winrm_") and v is not None}
    address = option("remote_addr") or remote_addr or variables.get("inventory_hostname")
    user = option("remote_user")
    user = remote_user if user is None else user
    password = option("remote_password")
    password = remote_password if password is None else password
    user = None if user is None else str(user)
    password = None if password is None else str(password)  # a vaulted value, or a number in YAML
    port = _int(option("port") or 5986, "ansible_port")
    scheme = extras.get("ansible_winrm_scheme") or ("http" if port == 5985 else "https")
    transport = extras.get("ansible_winrm_transport")
    if isinstance(transport, str):
        transport = [t.strip() for t in transport.split(",") if t.strip()]
    transport = [str(t) for t in (transport or []) if t]
    if not transport:
        transport = ["kerberos"] if user and "@" in str(user) else (["ssl"] if scheme == "https" else ["plaintext"])
    chosen = transport[0].lower()
    if chosen not in SUPPORTED_TRANSPORTS:
        raise ConfigError("ansible_winrm_transport %r is not supported (use one of %s)" % (chosen, ", ".join(SUPPORTED_TRANSPORTS)))
    validation = extras.get("ansible_winrm_server_cert_validation", "validate")
    operation_timeout = extras.get("ansible_winrm_operation_timeout_sec")
    read_timeout = extras.get("ansible_winrm_read_timeout_sec")
    conn_timeout = extras.get("ansible_winrm_connection_timeout")
    if conn_timeout and not operation_timeout:
        conn_timeout = _int(conn_timeout, "ansible_winrm_connection_timeout")
        operation_timeout, read_timeout = conn_timeout, conn_timeout + 10
    transport_options = {}
    for name in TRANSPORT_OPTIONS:
        value = extras.get("ansible_winrm_" + name)
        if value is not None:
            transport_options[name] = boolean(value, strict=False) if name in _BOOL_OPTIONS else value
    if "credssp_minimum_version" in transport_options:
        transport_options["credssp_minimum_version"] = _int(transport_options["credssp_minimum_version"],
                                                            "ansible_winrm_credssp_minimum_version")
    return {
        "host": str(address) if address else address,
        "port": port,
        "scheme": str(scheme),
        "path": extras.get("ansible_winrm_path") or "/wsman",
        "transport": chosen,
        "username": user,
        "password": password,
        "cert_validation": str(validation).strip().lower() not in ("ignore", "false", "no", "0"),
        "ca_trust_path": extras.get("ansible_winrm_ca_trust_path"),
        "operation_timeout": _int(operation_timeout, "ansible_winrm_operation_timeout_sec") if operation_timeout else 20,
        "read_timeout": _int(read_timeout, "ansible_winrm_read_timeout_sec") if read_timeout else None,
        "message_encryption": extras.get("ansible_winrm_message_encryption", "auto"),
        "proxy": extras.get("ansible_winrm_proxy"),
        "transport_options": transport_options or None,
    }


# ----------------------------------------------------------------------------------------------- one device
def error_result(exc):
    """The failure result of a device (never a hash: errors carry none)."""
    result = dict(exc.details)
    result["failed"] = True
    result["msg"] = exc.msg
    result.setdefault("error", getattr(exc, "kind", "error"))
    return result


def read_device(label, settings, result, group_tag="", assigned_user="", read_retries=2):
    """Read the device; on a connection dropped mid-answer read it again over a new connection (reads are WMI
    queries: repeating one changes nothing). Sets ``result['attempts']`` (and a warning per retry). Returns the open
    client (the caller closes it) and the data."""
    attempts = 1 + max(0, read_retries)
    attempt = 0
    while True:
        attempt += 1
        result["attempts"] = attempt
        client = WSManClient(label=label, **settings)
        try:
            return client, collect(client, group_tag=group_tag, assigned_user=assigned_user)
        except ConnectionDroppedError as exc:
            client.close()
            if attempt >= attempts:
                raise
            result.setdefault("warnings", []).append("%s (read %d of at most %d; reading again)" % (exc.msg, attempt, attempts))
        except BaseException:
            client.close()
            raise


def collect_device(label, settings, group_tag="", assigned_user="", csv_dir=None, csv_encoding="ascii", read_retries=2,
                   check_mode=False, keep_client=False):
    """Read one device and write its CSV: ``(result, client)``.

    ``result`` is what ``hardware_hash_info`` returns for the host (``record`` with the hash, ``device``,
    ``hash_summary``, ``endpoint``, ``csv_path``, ``attempts``, ``warnings``, ``changed``), or the failure (``failed``,
    ``msg``, ``error`` and the error's details). ``client`` is the open client with ``keep_client`` (the caller
    closes it), else None.
    """
    result = {"changed": False}
    client = None
    try:
        if settings["scheme"] == "https" and not settings["cert_validation"]:
            result.setdefault("warnings", []).append(
                "%s: the WinRM server's certificate is not validated (ansible_winrm_server_cert_validation=ignore); "
                "trust its CA with ansible_winrm_ca_trust_path instead" % label)
        client, data = read_device(label, settings, result, group_tag=group_tag, assigned_user=assigned_user,
                                   read_retries=read_retries)
        data["record"]["source"] = label  # names the host in the merge module's rejects
        result.update(data)
        result["endpoint"] = client.endpoint
        for err in data["hash_summary"]["errors"]:
            result.setdefault("warnings", []).append("%s: the hardware hash looks broken: %s" % (label, err))
        if csv_dir:
            changed, path = write_csv(csv_dir, csv_filename(data["record"], label), csv_bytes(data["record"], csv_encoding),
                                      check_mode)
            result["csv_path"] = path
            result["changed"] = result["changed"] or changed
    except WinfleetError as exc:
        result.update(error_result(exc))
    finally:
        if client is not None and (not keep_client or result.get("failed")):
            client.close()
            client = None
    return result, client


# ----------------------------------------------------------------------------------------------- many devices
class Job:
    """One device of a fleet run: its inventory name, its settings (None when they could not be resolved) and, at the
    end, its result."""

    __slots__ = ("answered_in", "host", "result", "settings")

    def __init__(self, host, settings=None, result=None):
        self.host = host
        self.settings = settings
        self.result = result
        self.answered_in = 0.0  # seconds the device took to answer the probe


def _timed_out(job, client):
    """The result the device would get from the client had it waited: the same error, the same words."""
    err = client.transport_error(requests.exceptions.ReadTimeout("no answer within %ss" % client.read_timeout), FIRST_REQUEST)
    result = {"changed": False, "attempts": 1}
    result.update(error_result(err))
    return result


class _Probe:
    """One device's reachability check: connect, TLS (not validated: nothing secret is sent), one unauthenticated
    ``POST`` with an empty body (what WinRM clients send first, answered with 401 by Windows), and the first bytes of
    the answer. Any answer, and any error other than a timeout, hands the device to a reader, which then meets the
    device itself; a timeout in any step is the device's result."""

    __slots__ = ("client", "deadline", "job", "request", "sock", "started", "state", "timeout", "want")

    def __init__(self, job, client):
        self.job = job
        self.client = client
        self.timeout = client.read_timeout
        self.sock = None
        self.state = "connect"
        self.want = selectors.EVENT_WRITE
        self.deadline = None
        path = client.endpoint.split("/", 3)[3] if client.endpoint.count("/") >= 3 else "wsman"
        netloc = client.endpoint.split("/", 3)[2]
        self.request = ("POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        % (path, netloc)).encode("ascii", "replace")

    def start(self, now):
        """Begin connecting; False when the device goes straight to a reader (no address, DNS failure, ...)."""
        try:
            infos = socket.getaddrinfo(self.client.host, self.client.port, type=socket.SOCK_STREAM)
            family, socktype, proto, _name, address = infos[0]
            self.sock = socket.socket(family, socktype, proto)
            self.sock.setblocking(False)
            err = self.sock.connect_ex(address)
        except (OSError, UnicodeError, ValueError):
            self.close()
            return False
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            self.close()
            return False
        self.deadline = now + self.timeout
        self.started = now
        return True

    def step(self, now):
        """Advance on readiness: ``'wait'`` (same or other event: see ``want``), or ``'answered'`` / ``'reader'``."""
        sock = self.sock
        try:
            if self.state == "connect":
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    return "reader"  # refused, unreachable, ...: the reader meets (and words) the same error
                self.deadline = now + self.timeout
                if self.client.scheme == "https":
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    self.sock = sock = ctx.wrap_socket(sock, do_handshake_on_connect=False)
                    self.state = "tls"
                else:
                    self.state = "send"
            if self.state == "tls":
                try:
                    sock.do_handshake()
                except ssl.SSLWantReadError:
                    self.want = selectors.EVENT_READ
                    return "wait"
                except ssl.SSLWantWriteError:
                    self.want = selectors.EVENT_WRITE
                    return "wait"
                self.deadline = now + self.timeout
                self.state = "send"
            if self.state == "send":
                sent = sock.send(self.request)
                self.request = self.request[sent:]
                if self.request:
                    self.want = selectors.EVENT_WRITE
                    return "wait"
                self.deadline = now + self.timeout
                self.state = "read"
                self.want = selectors.EVENT_READ
                return "wait"
            try:
                sock.recv(64)
            except (ssl.SSLWantReadError, BlockingIOError):
                return "wait"
            return "answered"  # some bytes, or the connection closed: either way it is the reader's
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return "wait"
        except (OSError, ValueError):
            return "reader"

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


class Prober:
    """Probe many devices from one thread: at most ``slots`` open at once, each bounded by its own read timeout.

    ``hand_over(job)`` is called for every device a reader must read; ``timed_out(job)`` for every device that did not
    answer in time (its result is already set).
    """

    def __init__(self, jobs, hand_over, timed_out=None, slots=1024, clock=time.monotonic):
        self.jobs = jobs
        self.hand_over = hand_over
        self.timed_out = timed_out or (lambda job: None)
        self.slots = max(1, slots)
        self.clock = clock

    def run(self):
        sel = selectors.DefaultSelector()
        pending = iter(self.jobs)
        active = {}
        deadlines = []  # (deadline, seq, probe): stale entries are skipped
        seq = itertools.count()
        exhausted = False
        try:
            while True:
                now = self.clock()
                while not exhausted and len(active) < self.slots:
                    job = next(pending, None)
                    if job is None:
                        exhausted = True
                        break
                    try:
                        client = WSManClient(label=job.host, **job.settings)
                    except WinfleetError:
                        self.hand_over(job)  # the reader reports the settings error
                        continue
                    if client.endpoint.count("/") < 3 or job.settings.get("proxy") not in (None, ""):
                        self.hand_over(job)  # through a proxy (ansible_winrm_proxy, or the environment's): no probe
                        continue
                    probe = _Probe(job, client)
                    if not probe.start(now):
                        self.hand_over(job)
                        continue
                    active[probe.sock.fileno()] = probe
                    sel.register(probe.sock, probe.want, probe)
                    heapq.heappush(deadlines, (probe.deadline, next(seq), probe))
                if not active:
                    if exhausted:
                        return
                    continue
                wait = max(0.0, deadlines[0][0] - now) if deadlines else 1.0
                for key, _mask in sel.select(min(wait, 1.0)):
                    probe = key.data
                    before = probe.deadline
                    fd = probe.sock.fileno()
                    outcome = probe.step(self.clock())
                    if outcome == "wait":
                        if key.events != probe.want:
                            sel.modify(probe.sock, probe.want, probe)
                        if probe.deadline != before:
                            heapq.heappush(deadlines, (probe.deadline, next(seq), probe))
                        continue
                    sel.unregister(probe.sock)
                    del active[fd]
                    probe.close()
                    probe.job.answered_in = self.clock() - probe.started
                    self.hand_over(probe.job)
                now = self.clock()
                while deadlines and deadlines[0][0] <= now:
                    deadline, _n, probe = heapq.heappop(deadlines)
                    if probe.sock is None or probe.deadline != deadline:
                        continue  # finished, or a later step set a new deadline
                    fd = probe.sock.fileno()
                    sel.unregister(probe.sock)
                    del active[fd]
                    probe.close()
                    probe.job.result = _timed_out(probe.job, probe.client)
                    self.timed_out(probe.job)
        finally:
            for probe in active.values():
                probe.close()
            sel.close()


def run(jobs, work, concurrency=256, probe=True, probe_slots=1024, on_done=None, processes=1, progress=None):
    """``work(job)`` (which sets ``job.result``) for every job with settings, on at most ``concurrency`` threads.

    With ``probe``, every device is probed first (``Prober``): a device that does not answer in time gets its
    ``timed_out`` result without taking a thread, and readers only get devices that answered. Jobs without settings
    must already have their result. ``on_done(job)`` is called once per finished job, from any thread.

    With ``processes`` > 1 the jobs are dealt out to that many forked processes (``run_forked``), each with its share
    of the threads and probe slots: Python runs one thread at a time per process, and reading devices is CPU-bound
    on the controller once there are enough of them. Returns how many processes read (0 when nothing was to read).
    """
    todo = [job for job in jobs if job.result is None]
    if not todo:
        return 0
    processes = max(1, min(int(processes), len(todo) // 64 or 1))  # a process for fewer devices costs more than it saves
    if processes > 1:
        run_forked(todo, work, concurrency, probe, probe_slots, processes, progress)
        for job in todo:
            (on_done or (lambda job: None))(job)
        return processes
    concurrency = max(1, min(int(concurrency), len(todo)))
    # Devices that were slow to answer the probe are read first: slow to answer, slow to read, and read last they
    # would make the run wait for them at the end.
    work_queue = queue.PriorityQueue()
    order = itertools.count()
    done = _progress.counting(on_done, progress)  # progress (_progress.Reporter): each finished job counted
    failures = []

    def put(job):
        work_queue.put((-round(job.answered_in, 1), next(order), job))

    def reader():
        while True:
            job = work_queue.get()[2]
            if job is None:
                return
            try:
                work(job)
            except BaseException as exc:  # a bug, not a device's failure: reported by run() once every thread stopped
                failures.append(exc)
            done(job)

    threads = [threading.Thread(target=reader, name="winfleet-collect-%d" % i, daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        if probe and HAS_WINRM:
            Prober(todo, put, done, slots=probe_slots).run()
        else:
            for job in todo:
                put(job)
    finally:
        for _thread in threads:
            work_queue.put((float("inf"), next(order), None))
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    for job in todo:
        if job.result is None:  # cannot happen unless the work forgot to set it: never leave a device without one
            job.result = _internal_error(job, "the collector finished without a result for it")
    return 1


def _internal_error(job, why):
    return {"changed": False, "failed": True, "error": "internal_error", "msg": "%s: %s" % (job.host, why)}


def run_forked(todo, work, concurrency, probe, probe_slots, processes, progress=None):
    """``run`` in ``processes`` forked children, every ``processes``-th job each; their results come back pickled
    through a pipe (only results: the children never print, log or journal). A child that dies leaves its jobs
    with an ``internal_error`` result."""
    shards = [todo[i::processes] for i in range(processes)]
    if progress is not None:
        progress.share()  # the children count through a pipe to this process
    children = []
    for shard in shards:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: read the shard, send the results, leave without running any exit handler
            code = 0
            try:
                os.close(read_fd)
                run(shard, work, concurrency=-(-concurrency // processes), probe=probe,
                    probe_slots=max(1, probe_slots // processes), progress=progress)
                data = pickle.dumps([job.result for job in shard], protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_fd, "wb") as out:
                    out.write(data)
            except BaseException:  # reported by the parent as the shard's failure
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        children.append((pid, read_fd, shard))
    received = {}

    def receive(read_fd):
        with os.fdopen(read_fd, "rb") as pipe:
            received[read_fd] = pipe.read()

    readers = [threading.Thread(target=receive, args=(fd,), daemon=True) for _pid, fd, _shard in children]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    for pid, read_fd, shard in children:
        _pid, status = os.waitpid(pid, 0)
        try:
            results = pickle.loads(received.get(read_fd) or b"")  # noqa: S301 - our own child, through our own pipe
        except (pickle.UnpicklingError, EOFError, ValueError):
            results = None
        if not isinstance(results, list) or len(results) != len(shard):
            results = [_internal_error(job, "the collector process reading it ended without results (wait status %d)"
                                       % status) for job in shard]
        for job, result in zip(shard, results):
            job.result = result


# ----------------------------------------------------------------------------------------------- the campaign journal
def read_journal(campaign_dir, recollect=False):
    """``(done, failed_before, warnings)`` from the campaign journal: the hosts not to read again (none with
    ``recollect``), the collect failures a successful read marks as skipped, and what the reader skipped."""
    found = _journal.read(campaign_dir)
    done = set() if recollect else done_hosts(found.events)
    return done, failed_serials(found.events), list(found.warnings)


def journal_outcomes(campaign_dir, hosts, results, failed_before=(), run=None, check_mode=False):
    """Append the collect events of ``hosts`` to the journal: ``(appended events, warnings)``."""
    events = collect_events(hosts, results, failed_before)
    if not events:
        return [], []
    return _journal.append(campaign_dir, "collect", events, run=run, check_mode=check_mode)


SKIPPED = {"changed": False, "skipped": True,
           "skip_reason": "collected earlier in this campaign (the journal says so); recollect reads it again"}


def done_hosts(events):
    """Inventory hosts whose latest collect event (per serial) is a success: their CSV is in the campaign folder."""
    out = set()
    for stages in _journal.latest(events).values():
        event = stages.get("collect")
        if event is not None and event["outcome"] in _journal.DONE_OUTCOMES:
            host = (event.get("detail") or {}).get("host") or ""
            if host:
                out.add(host)
    return out


def failed_serials(events):
    """Serials (host names, for a host that could not be read) whose latest collect event is a failure."""
    return {serial for serial, stages in _journal.latest(events).items()
            if stages.get("collect", {}).get("outcome") == "failed"}


def collect_events(hosts, results, failed_before=()):
    """The collect stage's journal events for ``hosts`` (in order), from their results (host -> result; a host without
    one, or a skipped one, was not read). Never a hash.

    * read: ``changed`` / ``Hash collected`` under the device's serial, with where it came from and the decoder's
      findings; and when the host's own name is a collect failure (``failed_before``), that failure is marked
      ``skipped`` / ``Collected as <serial>``;
    * not readable: ``failed`` under the host's name, in the words of ``ERROR_WORDS``, with the error and message.
    """
    failed_before = set(failed_before)
    events = []
    for host in hosts:
        res = results.get(host)
        if res is None or res.get("skipped"):
            continue
        if "record" not in res:
            error = res.get("error", "")
            events.append({"serial": host, "outcome": "failed", "status": ERROR_WORDS.get(error, FAILED_WORDS),
                           "detail": {"source": "winrm", "host": host, "error": error, "message": res.get("msg", "")}})
            continue
        record, summary = res["record"], res["hash_summary"]
        events.append({"serial": record["serial_number"], "outcome": "changed", "status": "Hash collected",
                       "detail": {"source": "winrm", "host": host, "name": res.get("device", {}).get("computer_name", ""),
                                  "findings": summary["errors"] + summary["warnings"],
                                  "manufacturer": record["manufacturer"], "model": record["model"]}})
        if host in failed_before:
            events.append({"serial": host, "outcome": "skipped", "status": "Collected as %s" % record["serial_number"],
                           "detail": {"source": "winrm", "host": host}})
    return events


def unreadable_lines(hosts, results):
    """One line per host that was read and could not be: ``<host>: <words> - <message>``."""
    lines = []
    for host in hosts:
        res = results.get(host) or {}
        if res.get("failed") and not res.get("skipped"):
            lines.append("%s: %s - %s" % (host, ERROR_WORDS.get(res.get("error", ""), FAILED_WORDS), res.get("msg", "")))
    return lines


def unreadable_stop(unreadable, hosts, max_percentage):
    """The message that stops the campaign when more than ``max_percentage`` % of ``hosts`` hosts could not be read,
    or None (the collect play's guard against wrong credentials or a network problem crawling through the fleet)."""
    if unreadable * 100 <= int(max_percentage) * hosts:
        return None
    return ("%d of %d hosts of this batch could not be read (more than %s %%): the campaign stops here. Check the WinRM "
            "credentials and the network, then run the playbook again - it continues where it stopped."
            % (unreadable, hosts, max_percentage))
