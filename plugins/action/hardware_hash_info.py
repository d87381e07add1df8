# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of ``winfleet.autopilot.hardware_hash_info``: reads the device over WS-Man from the controller.

The device's connection settings are the host's standard winrm variables (already resolved and templated by the
``winrm`` connection plugin when that is the host's connection; read from the host variables otherwise). Nothing is
copied to, or executed as PowerShell on, the device.
"""

from __future__ import annotations

import gc
import os

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import WinfleetError
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman import (
    ConfigError,
    ConnectionDroppedError,
    WSManClient,
    WSManError,
    prewarm,
)
from ansible_collections.winfleet.autopilot.plugins.module_utils._wsman_collect import (
    CSV_ENCODINGS,
    collect,
    csv_bytes,
    csv_filename,
    write_csv,
)

display = Display()
_FROZEN_IN = None  # the process whose inherited objects gc.freeze() has set aside
prewarm()  # in ansible's main process, which loads this class before forking the workers (see prewarm)

ARGUMENT_SPEC = {
    "include_hash": {"type": "bool", "default": True},
    "group_tag": {"type": "str", "default": ""},
    "assigned_user": {"type": "str", "default": ""},
    "csv_dir": {"type": "path"},
    "csv_encoding": {"type": "str", "default": "ascii", "choices": list(CSV_ENCODINGS)},
    "read_retries": {"type": "int", "default": 2},
    "shutdown": {"type": "bool", "default": False},
}
SUPPORTED_TRANSPORTS = ("basic", "plaintext", "ssl", "ntlm", "kerberos", "credssp", "certificate")


class ActionModule(ActionBase):
    # Safe to run for several hosts, one after the other, in one worker process (the winfleet.autopilot.batched
    # strategy): no state outlives a run but the warm-up, and each run opens and closes its own WS-Man client.
    WINFLEET_HOSTS_PER_WORKER = 32
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        # This runs in a worker forked from ansible's main process: keep the collector from scanning (and so
        # copying, page by page) the objects inherited from it. Once per process: a worker of the batched strategy
        # runs several hosts, and what their runs leave behind stays collectable.
        global _FROZEN_IN
        if _FROZEN_IN != os.getpid():
            gc.freeze()
            _FROZEN_IN = os.getpid()
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        result["changed"] = False
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        label = task_vars.get("inventory_hostname") or self._play_context.remote_addr
        client = None
        try:
            settings = self._connection_settings(task_vars)
            if settings["scheme"] == "https" and not settings["cert_validation"]:
                result.setdefault("warnings", []).append(
                    "%s: the WinRM server's certificate is not validated (ansible_winrm_server_cert_validation=ignore); "
                    "trust its CA with ansible_winrm_ca_trust_path instead" % label)
            client, data = self._read(label, settings, args, result)
            data["record"]["source"] = label  # names the host in the merge module's rejects
            result.update(data)
            result["endpoint"] = client.endpoint
            summary = data["hash_summary"]
            for err in summary["errors"]:
                result.setdefault("warnings", []).append("%s: the hardware hash looks broken: %s" % (label, err))
            if args["csv_dir"]:
                data_bytes = csv_bytes(data["record"], args["csv_encoding"])
                changed, path = write_csv(args["csv_dir"], csv_filename(data["record"], label), data_bytes, self._task.check_mode)
                result["csv_path"] = path
                result["changed"] = result["changed"] or changed
            result["shutdown"] = {"requested": bool(args["shutdown"]), "issued": False, "connection_dropped": False}
            if args["shutdown"]:
                result["changed"] = True
                if not self._task.check_mode:
                    result["shutdown"].update(self._shutdown(client))
            if not args["include_hash"]:
                data["record"].pop("hardware_hash", None)
            else:
                # The hash is returned (for register / the merge module) but never displayed or logged: the callback
                # shows a censored result; the registered variable keeps the data.
                result["_ansible_no_log"] = True
        except WinfleetError as exc:
            result.update(exc.details)
            result["failed"] = True
            result["msg"] = exc.msg
            result.setdefault("error", getattr(exc, "kind", "error"))
        finally:
            if client is not None:
                client.close()
        return result

    @staticmethod
    def _read(label, settings, args, result):
        """Read the device; on a connection dropped mid-answer read it again over a new connection (reads are WMI
        queries: repeating one changes nothing). Returns the open client (for the shutdown) and the data."""
        attempts = 1 + max(0, args["read_retries"])
        attempt = 0
        while True:
            attempt += 1
            result["attempts"] = attempt
            client = WSManClient(label=label, **settings)
            try:
                return client, collect(client, group_tag=args["group_tag"], assigned_user=args["assigned_user"])
            except ConnectionDroppedError as exc:
                client.close()
                if attempt >= attempts:
                    raise
                result.setdefault("warnings", []).append("%s (read %d of at most %d; reading again)"
                                                         % (exc.msg, attempt, attempts))
            except BaseException:
                client.close()
                raise

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

    # ---------------------------------------------------------------- the host's standard connection variables
    def _connection_settings(self, task_vars):
        conn = self._connection
        if conn is not None and getattr(conn, "_load_name", "").rsplit(".", 1)[-1] == "winrm":
            get = conn.get_option
            extras = dict(get("_extras") or {}) if _has_option(conn, "_extras") else {}
            address, port, user = get("remote_addr"), get("port"), get("remote_user")
            password, scheme, transport = get("remote_password"), get("scheme"), get("transport")
            path, conn_timeout = get("path"), get("connection_timeout")
        else:
            extras = {k: self._var(task_vars, k) for k in task_vars if k.startswith("ansible_winrm_")}
            address = self._var(task_vars, "ansible_host") or self._play_context.remote_addr or task_vars.get("inventory_hostname")
            port = self._var(task_vars, "ansible_port") or extras.get("ansible_winrm_port") or 5986
            user = self._var(task_vars, "ansible_user") or extras.get("ansible_winrm_user") or self._play_context.remote_user
            password = (self._var(task_vars, "ansible_password") or extras.get("ansible_winrm_pass")
                        or extras.get("ansible_winrm_password") or self._play_context.password)
            scheme, transport = extras.get("ansible_winrm_scheme"), extras.get("ansible_winrm_transport")
            path, conn_timeout = extras.get("ansible_winrm_path") or "/wsman", extras.get("ansible_winrm_connection_timeout")
        port = int(port or 5986)
        if not scheme:
            scheme = "http" if port == 5985 else "https"
        if isinstance(transport, str):
            transport = [t.strip() for t in transport.split(",") if t.strip()]
        transport = [t for t in (transport or []) if t]
        if not transport:
            transport = ["kerberos"] if user and "@" in user else (["ssl"] if scheme == "https" else ["plaintext"])
        chosen = transport[0].lower()
        if chosen not in SUPPORTED_TRANSPORTS:
            raise ConfigError("ansible_winrm_transport %r is not supported (use one of %s)" % (chosen, ", ".join(SUPPORTED_TRANSPORTS)))
        validation = extras.get("ansible_winrm_server_cert_validation", "validate")
        operation_timeout = extras.get("ansible_winrm_operation_timeout_sec")
        read_timeout = extras.get("ansible_winrm_read_timeout_sec")
        if conn_timeout and not operation_timeout:
            operation_timeout, read_timeout = int(conn_timeout), int(conn_timeout) + 10
        return {
            "host": address,
            "port": port,
            "scheme": scheme,
            "path": path or "/wsman",
            "transport": chosen,
            "username": user,
            "password": password,
            "cert_validation": str(validation).strip().lower() not in ("ignore", "false", "no", "0"),
            "ca_trust_path": extras.get("ansible_winrm_ca_trust_path"),
            "operation_timeout": int(operation_timeout) if operation_timeout else 20,
            "read_timeout": int(read_timeout) if read_timeout else None,
            "message_encryption": extras.get("ansible_winrm_message_encryption", "auto"),
            "proxy": extras.get("ansible_winrm_proxy"),
        }

    def _var(self, task_vars, name):
        value = task_vars.get(name)
        if value is None:
            return None
        return self._templar.template(value)


def _has_option(plugin, name):
    try:
        plugin.get_option(name)
    except KeyError:
        return False
    return True
