"""tools/secretscan.py finds planted secrets, hashes and tokens (never printing them) and passes a clean tree;
the labs register the secrets they create."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys
import urllib.parse

import figures
import pytest

from winfleet_lab import hashgen
from winfleet_lab import secrets as lab_secrets
from winfleet_lab.wsman import Fleet

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "secretscan.py"
PASSWORD = "Lab-Pass-7f3a9c"
CLIENT_SECRET = "lab~Zq8Y2nXb4Kc7Vt1Wp9Rs3Lm6"
DEVICE = hashgen.fleet(11, 1, vm_every=0)[0]
HASH = hashgen.build_hash(DEVICE)
JWT = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImxhYi1zaWduaW5nIn0."
       + base64.urlsafe_b64encode(json.dumps({"aud": "https://graph.microsoft.com", "roles": ["x"]}).encode())
       .decode().rstrip("=") + "." + "s1gNaTuRe" * 8)


def scan(*roots, registry=None, extra=()):
    cmd = [sys.executable, str(TOOL), *map(str, roots), *extra]
    if registry is not None:
        cmd += ["--registry", str(registry)]
    env = {k: v for k, v in os.environ.items() if k != lab_secrets.ENV}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def registry(tmp_path, monkeypatch):
    path = tmp_path / "registry.jsonl"
    monkeypatch.setenv(lab_secrets.ENV, str(path))
    lab_secrets.register(PASSWORD, "password")
    lab_secrets.register(CLIENT_SECRET, "client_secret")
    lab_secrets.register(JWT, "token")
    return path


def clean_tree(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.log").write_text("tests/unit ... 120 passed\nAuthorization: Bearer <token>\npassword: ********\n")
    (root / "junit.xml").write_text('<testsuite tests="3"><testcase name="test_hash[%s]"/></testsuite>\n' % HASH[:40])
    (root / "ansible.log").write_text("TASK [merge] ok: serial %s, hash <hardware hash>\n" % DEVICE.serial)
    (root / "partial-hash.txt").write_text("a cut hash is not a full hash: %s\n" % HASH[:900])
    (root / "not-a-hash.txt").write_text("A" * 5000 + "\n" + base64.b64encode(os.urandom(3000)).decode() + "\n")
    return root


def test_clean_tree_passes(tmp_path, registry):
    tree = clean_tree(tmp_path / "artifacts")
    rc, out = scan(tree, registry=registry)
    assert rc == 0, out
    assert "5 files" in out and "3 secrets known" in out and "0 occurrences" in out
    figures.add("secrets scan (planted)", "clean tree files scanned", 5)


@pytest.mark.parametrize("name, content, kind", [
    ("ansible.log", "fatal: login as admin with %s failed\n" % PASSWORD, "registered password"),
    ("utf16.log", None, "registered password"),
    ("form.txt", "body: client_secret=%s&grant_type=client_credentials\n" % urllib.parse.quote(CLIENT_SECRET, safe=""),
     "registered client_secret"),
    ("junit.xml", '<testcase><system-out>records: [{"hardware_hash": "%s"}]</system-out></testcase>\n' % HASH,
     "hardware hash"),
    ("wrapped.json", '{"h": "%s\\u0000"}\n' % HASH, "hardware hash"),
    ("graph.log", "GET /beta/deviceManagement headers={'Authorization': 'Bearer %s'}\n" % JWT,
     "registered token (JWT)"),
    ("other-jwt.log", "token=eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.%s\n" % ("x" * 43), "JWT"),
    ("bearer.log", "curl -H 'Authorization: Bearer 0123456789abcdefABCDEF0123456789'\n", "bearer token"),
], ids=lambda value: value if isinstance(value, str) and "." in value and len(value) < 20 else "")
def test_planted_secret_is_found_without_being_printed(tmp_path, registry, name, content, kind):
    tree = clean_tree(tmp_path / "artifacts")
    target = tree / "sub" / name
    target.parent.mkdir()
    if content is None:  # Windows PowerShell output: UTF-16LE with BOM
        target.write_bytes(b"\xff\xfe" + ("line one\r\nConnecting with %s\r\n" % PASSWORD).encode("utf-16-le"))
    else:
        target.write_text("first line\n" + content)
    rc, out = scan(tree, registry=registry)
    assert rc == 1, out
    assert "LEAK %s:2: %s" % (target, kind) in out, out
    for secret in (PASSWORD, CLIENT_SECRET, JWT, HASH[:60], urllib.parse.quote(CLIENT_SECRET, safe="")):
        assert secret not in out
    figures.add("secrets scan (planted)", "planted secrets found", 1)


def test_registry_file_inside_the_tree_is_not_a_leak(tmp_path, monkeypatch):
    tree = clean_tree(tmp_path / "artifacts")
    monkeypatch.setenv(lab_secrets.ENV, str(tree / "registry.jsonl"))
    lab_secrets.register(PASSWORD, "password")
    rc, out = scan(tree, registry=tree / "registry.jsonl")
    assert rc == 0, out


def test_register_is_a_no_op_without_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(lab_secrets.ENV, raising=False)
    lab_secrets.register("whatever-secret", "password")
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(lab_secrets.ENV, str(tmp_path / "r.jsonl"))
    with pytest.raises(ValueError):
        lab_secrets.register("x" * 10, "nonsense")


def test_wsman_lab_registers_its_passwords(tmp_path, monkeypatch):
    monkeypatch.setenv(lab_secrets.ENV, str(tmp_path / "r.jsonl"))
    fleet = Fleet.generate(seed=3, count=3, base_address="127.0.70.40", faults={"pc0001": "bad_password"},
                           password="Fleet-Reliab-Pass-9")
    assert fleet.hosts[1].password != "Fleet-Reliab-Pass-9"
    got = lab_secrets.load(tmp_path / "r.jsonl")
    assert ("password", "Fleet-Reliab-Pass-9") in got
    assert ("password", fleet.hosts[1].password) in got


def test_missing_root_is_a_usage_error(tmp_path):
    rc, out = scan(tmp_path / "nope")
    assert rc == 2 and "does not exist" in out
