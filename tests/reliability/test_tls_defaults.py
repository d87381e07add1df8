"""TLS is on by default everywhere; turning it off needs an explicit option and warns. Least-privilege Graph
permissions are documented per module.

Modules are discovered, not listed: every ``plugins/modules/*.py`` is imported and its ``main()`` run up to the
``AnsibleModule(...)`` call, which is intercepted to read the argument spec. A module added later with a
``validate_certs`` option (an LDAPS module, say) is covered automatically; a Graph module (one with the shared
``graph_url`` option) must name its permission the way docs/graph.md's table does.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import re
import subprocess
from unittest import mock

import figures
import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from winfleet_lab.fixtures_wsman import run_adhoc
from winfleet_lab.graph import GraphLab
from winfleet_lab.playbook import BIN, ansible_env
from winfleet_lab.wsman import Fleet, Lab

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE_DIR = ROOT / "plugins" / "modules"
PREFIX = "ansible_collections.winfleet.autopilot.plugins.modules."


class _Captured(Exception):
    def __init__(self, kwargs):
        super().__init__("captured")
        self.kwargs = kwargs


def _capture(self, *args, **kwargs):
    if args:
        kwargs["argument_spec"] = args[0]
    raise _Captured(kwargs)


def discover():
    """``{module name: AnsibleModule kwargs}`` for every module of the collection."""
    out = {}
    for path in sorted(MODULE_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        mod = importlib.import_module(PREFIX + path.stem)
        with patch_module_args({}), mock.patch.object(basic.AnsibleModule, "__init__", _capture):
            try:
                mod.main()
            except _Captured as done:
                out[path.stem] = done.kwargs
    return out


MODULES = discover()
TLS_MODULES = sorted(name for name, kw in MODULES.items() if "validate_certs" in kw["argument_spec"])
GRAPH_MODULES = sorted(name for name, kw in MODULES.items() if "graph_url" in kw["argument_spec"])


def test_discovery_found_the_modules():
    assert len(MODULES) == len([p for p in MODULE_DIR.glob("*.py") if not p.name.startswith("_")])
    assert TLS_MODULES, "no module with validate_certs found: discovery is broken"
    assert set(GRAPH_MODULES) <= set(TLS_MODULES), "a Graph module without validate_certs"
    figures.add("TLS defaults", "modules discovered", len(MODULES))
    figures.add("TLS defaults", "modules with validate_certs", len(TLS_MODULES))


@pytest.fixture(scope="module")
def docs():
    names = ["winfleet.autopilot." + n for n in sorted(set(TLS_MODULES) | set(GRAPH_MODULES))]
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "module", "--json", *names], capture_output=True,
                          text=True, env=ansible_env(), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return {k.rsplit(".", 1)[-1]: v["doc"] for k, v in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("name", TLS_MODULES)
def test_validate_certs_defaults_to_true_in_code_and_docs(name, docs):
    spec = MODULES[name]["argument_spec"]["validate_certs"]
    assert spec.get("type") == "bool" and spec.get("default") is True, spec
    option = docs[name]["options"]["validate_certs"]
    assert option["default"] is True and option["type"] == "bool"
    text = " ".join(option["description"])
    assert "warn" in text and "insecure" in text, text


def _permission_table():
    table = {}
    for line in (ROOT / "docs" / "graph.md").read_text().splitlines():
        m = re.match(r"^\|\s*`winfleet\.autopilot\.(\w+)`\s*\|.*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            table[m.group(1)] = re.findall(r"`([A-Za-z.]+\.(?:All|Read|ReadWrite)[A-Za-z.]*)`", m.group(2))
    return table


@pytest.mark.parametrize("name", GRAPH_MODULES)
def test_graph_module_documents_its_least_privilege_permission(name):
    table = _permission_table()
    assert name in table, "docs/graph.md has no permission row for %s" % name
    least = table[name][0]
    mod = importlib.import_module(PREFIX + name)
    assert getattr(mod, "PERMISSION", least) == least, \
        "the module asks for %s, the docs say %s" % (mod.PERMISSION, least)
    named = re.search(r"application permissions? ((?:C\([\w.]+\)[ ,]*(?:and |or |\(or )?)+)", mod.DOCUMENTATION)
    assert named, "%s DOCUMENTATION does not say which application permission it needs" % name
    assert least in re.findall(r"C\(([\w.]+)\)", named.group(1)), "%s DOCUMENTATION does not name %s" % (name, least)
    figures.add("TLS defaults", "Graph modules naming their least-privilege permission")


# ------------------------------------------------------------------------------------------------ in process
@pytest.fixture(scope="module")
def graph_lab(tmp_path_factory):
    lab = GraphLab(tmp_path_factory.mktemp("tls-graph"), host="127.0.70.50", time_scale=0.01,
                   processing_delay=20.0, delete_delay=10.0)
    lab.start()
    try:
        yield lab
    finally:
        lab.cleanup()


class _Done(Exception):
    def __init__(self, kind, result):
        super().__init__(kind)
        self.kind = kind
        self.result = result


def run_graph_module(name, args, tmp_path):
    """Run ``name``'s main() in process (check mode); returns (kind, result, warnings)."""
    kwargs = MODULES[name]
    spec = kwargs["argument_spec"]
    args = dict(args, _ansible_check_mode=True, backoff_retries=0, timeout=10)
    for opt, o in spec.items():  # fill the required options generically
        if o.get("required") and opt not in args:
            args[opt] = ["PF0TLS01"] if o.get("type") == "list" else "PF0TLS01"
    if "serial_number" in spec and not any(args.get(o) for o in ("id", "serial_number")):
        args["serial_number"] = "PF0TLS01"  # the usual selector of the device modules (checked in code, not argspec)
    for group in kwargs.get("required_one_of") or ():
        if not any(args.get(o) for o in group):
            opt = group[0]
            if spec[opt].get("type") == "list" and spec[opt].get("elements") == "dict":  # one entry, its required keys
                args[opt] = [{k: "PF0TLS01" for k, o in (spec[opt].get("options") or {}).items() if o.get("required")}]
            elif spec[opt].get("type") == "path":
                csv = tmp_path / "empty.csv"
                csv.write_text("Device Serial Number,Windows Product ID,Hardware Hash\r\n")
                args[opt] = str(csv)
            else:
                args[opt] = "PF0TLS01"
    warnings = []

    def exit_json(self, **kw):
        raise _Done("exit", kw)

    def fail_json(self, **kw):
        raise _Done("fail", kw)

    mod = importlib.import_module(PREFIX + name)
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
    with patch_module_args(args), mock.patch.dict(os.environ, env, clear=True), \
            mock.patch.object(basic.AnsibleModule, "exit_json", exit_json), \
            mock.patch.object(basic.AnsibleModule, "fail_json", fail_json), \
            mock.patch.object(basic.AnsibleModule, "warn", lambda self, msg: warnings.append(msg)):
        try:
            mod.main()
        except _Done as done:
            return done.kind, done.result, warnings
    raise AssertionError("%s returned without exit_json/fail_json" % name)


def _connection(lab):
    conn = lab.connection()
    return {k: conn[k] for k in ("tenant_id", "client_id", "client_secret", "graph_url", "authority_url")}


@pytest.mark.parametrize("name", GRAPH_MODULES)
def test_graph_tls_on_by_default_and_off_warns(name, graph_lab, tmp_path):
    base = _connection(graph_lab)
    # Default: validated. Without the lab's CA the self-signed lab certificate is refused.
    kind, result, warnings = run_graph_module(name, base, tmp_path)
    if name == "preflight_info":  # a pre-flight reports what is wrong as findings instead of failing
        assert kind == "exit", result
        refused = [f["message"] for f in result["findings"] if f["severity"] == "error" and f["check"] == "token"]
        assert refused and re.search(r"certificate|CERTIFICATE_VERIFY_FAILED|SSL", refused[0]), result["findings"]
    else:
        assert kind == "fail", result
        assert re.search(r"certificate|CERTIFICATE_VERIFY_FAILED|SSL", result["msg"]), result["msg"]
    assert not any("validate_certs" in w for w in warnings)
    # Default with the lab's CA: validated and working, no warning.
    kind, result, warnings = run_graph_module(name, dict(base, ca_path=graph_lab.ca_path), tmp_path)
    assert not re.search(r"CERTIFICATE_VERIFY_FAILED", result.get("msg", "")), result.get("msg")
    assert not any("validate_certs" in w for w in warnings)
    # Explicitly off: it works against the self-signed certificate, and says loudly that it is insecure.
    kind, result, warnings = run_graph_module(name, dict(base, validate_certs=False), tmp_path)
    assert not re.search(r"CERTIFICATE_VERIFY_FAILED", result.get("msg", "")), result.get("msg")
    assert any("validate_certs=false" in w and "NOT checked" in w for w in warnings), warnings
    figures.add("TLS defaults", "Graph modules: refused untrusted cert by default, warned when off")


# ------------------------------------------------------------------------------------------------ WinRM HTTPS
@pytest.fixture(scope="module")
def wsman_https(tmp_path_factory):
    work = tmp_path_factory.mktemp("tls-wsman")
    fleet = Fleet.generate(seed=71, count=1, base_address="127.0.70.60", password="Reliab-Tls-Pass-2")
    lab = Lab(fleet, http_port=0, https_port=0, workdir=str(work)).start()
    try:
        yield lab, work
    finally:
        lab.stop()


def _adhoc(lab, work, name, ca=True, validation=None):
    extra = {}
    if validation is not None:
        extra["ansible_winrm_server_cert_validation"] = validation
    inventory = lab.fleet.write_inventory(str(work / ("%s.ini" % name)), ca_path=lab.ca_path if ca else None,
                                          transport="ntlm", scheme="https", extra_vars=extra)
    if validation is not None:  # write_inventory always writes "validate" for https; the override comes last
        text = pathlib.Path(inventory).read_text().replace("ansible_winrm_server_cert_validation=validate\n", "")
        pathlib.Path(inventory).write_text(text)
    return run_adhoc(inventory, "windows", "winfleet.autopilot.hardware_hash_info", "include_hash=false",
                     env=ansible_env(ANSIBLE_DEPRECATION_WARNINGS="0"), timeout=180)


def test_winrm_https_validates_by_default(wsman_https):
    lab, work = wsman_https
    text = pathlib.Path(lab.fleet.write_inventory(str(work / "probe.ini"), scheme="https")).read_text()
    rc, out, err = _adhoc(lab, work, "no-ca", ca=False)
    assert rc != 0 and re.search(r"certificate|CERTIFICATE_VERIFY_FAILED", out + err), (out + err)[-2000:]
    rc, out, err = _adhoc(lab, work, "with-ca", ca=True)
    assert rc == 0, (out + err)[-2000:]
    assert "[WARNING]" not in out + err or "validat" not in (out + err).lower()
    assert "ansible_winrm_server_cert_validation=validate" in text
    figures.add("TLS defaults", "WinRM HTTPS: refused untrusted cert by default")


def test_winrm_https_validation_off_warns(wsman_https):
    lab, work = wsman_https
    rc, out, err = _adhoc(lab, work, "ignore", ca=False, validation="ignore")
    assert rc == 0, (out + err)[-2000:]
    assert re.search(r"\[WARNING\].*(certificate|validation)", out + err, re.I), (out + err)[-2000:]
