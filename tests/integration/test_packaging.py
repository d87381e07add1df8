# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as Galaxy or Automation Hub receives it: ``ansible-galaxy collection build``, installed offline
into an empty folder, then used from there only.

Every ansible command here runs with ANSIBLE_COLLECTIONS_PATH set to that folder alone, without the PYTHONPATH the
Makefile exports (it holds the repository's own .build/collections) and outside the checkout (its ansible.cfg
points at .build/collections too), so nothing can resolve to the repository instead of the installed copy.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest
import yaml
from packaging.requirements import Requirement

from winfleet_lab import hashgen, samplefleet

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
SAMPLE = ROOT / "tests" / "unit" / "data" / "mmd-sample-self.csv"
FQCN = "winfleet.autopilot"

# What an installed copy needs, and what it must not carry (tests that cannot run from it, the lab, tooling,
# development configuration, anything a lint, test or build run leaves behind).
SHIPPED = ("LICENSE", "README.md", "MANIFEST.json", "FILES.json", "meta/runtime.yml", "meta/execution-environment.yml",
           "meta/ee-requirements.txt", "meta/ee-bindep.txt", "changelogs/changelog.yaml", "playbooks/merge.yml",
           "playbooks/refresh.yml", "roles/merge/tasks/main.yml", "plugins/modules/registration_csv.py",
           "inventory/example/hosts.yml")
NOT_SHIPPED_DIRS = ("tests", "tools", "extensions", "requirements", "inventory/lab", "changelogs/fragments", ".build",
                    ".venv", ".ansible", "collections", "context", "campaigns", ".cache", ".ci", ".pytest_cache",
                    ".ruff_cache", ".hypothesis")
NOT_SHIPPED_FILES = ("Makefile", "pyproject.toml", "ansible.cfg", ".ansible-lint", ".gitignore",
                     "execution-environment.yml")
# Python packages every EE must get from the collection, and system packages for Kerberos (WinRM, CredSSP).
PYTHON_DEPS = {"pywinrm", "requests", "requests-ntlm", "pyspnego", "msal", "cryptography", "openpyxl",
               "sansldap"}
SYSTEM_DEPS = {"krb5-libs", "krb5-workstation", "krb5-devel", "gcc", "python3.11-devel"}
# Imported by the plugins but installed by a listed package: urllib3 comes with requests.
TRANSITIVE = {"urllib3"}


def env_for(collections, **extra):
    """This environment without any route to the repository's copy of the collection."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not (k.startswith("ANSIBLE_") and k != "ANSIBLE_LOG_PATH")}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""),
    })
    env.update(extra)
    return env


def run(cmd, cwd, env, timeout=120):
    proc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def snapshot(tree):
    """Every path under ``tree`` with its size and modification time."""
    return {str(p.relative_to(tree)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(tree.rglob("*"))}


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """Build the tarball from the checkout and install it offline into an empty collections folder."""
    base = tmp_path_factory.mktemp("packaging")
    work, dist, collections = base / "work", base / "dist", base / "collections"
    work.mkdir()
    env = env_for(collections)
    rc, out = run(["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(dist)], work, env)
    assert rc == 0, out
    [tarball] = dist.glob("winfleet-autopilot-*.tar.gz")
    rc, out = run(["ansible-galaxy", "collection", "install", "--offline", str(tarball), "-p", str(collections)],
                  work, env)
    assert rc == 0 and "was installed successfully" in out, out
    installed = collections / "ansible_collections" / "winfleet" / "autopilot"
    assert (installed / "MANIFEST.json").is_file()
    return {"work": work, "tarball": tarball, "collections": collections, "installed": installed, "env": env}


def test_tarball_ships_what_runs_and_nothing_else(package):
    with tarfile.open(package["tarball"]) as tar:
        names = {m.name.rstrip("/") for m in tar.getmembers()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        licence = tar.extractfile("LICENSE").read()
    assert set(SHIPPED) <= names, sorted(set(SHIPPED) - names)
    stray = sorted(n for n in names
                   if n in NOT_SHIPPED_FILES or any(n == d or n.startswith(d + "/") for d in NOT_SHIPPED_DIRS)
                   or "__pycache__" in n or n.endswith((".pyc", ".tar.gz")))
    assert stray == []
    # The full GPL v3 text, the file galaxy.yml's licence names.
    assert licence == (ROOT / "LICENSE").read_bytes()
    assert hashlib.sha256(licence).hexdigest() == "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"
    assert b"GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007" in licence
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]
    # No invented home: the optional URLs are absent rather than placeholders.
    info = manifest["collection_info"]
    assert not any("example.invalid" in str(info.get(key) or "") for key in ("repository", "documentation", "issues"))


def test_only_the_installed_copy_is_visible(package):
    rc, out = run(["ansible-galaxy", "collection", "list", FQCN, "--format", "json"], package["work"], package["env"])
    assert rc == 0, out
    found = json.loads(out[out.index("{"):])
    assert list(found) == [str(package["collections"] / "ansible_collections")], found


def test_ansible_doc_from_the_installed_copy(package):
    rc, out = run(["ansible-doc", FQCN + ".registration_csv"], package["work"], package["env"])
    assert rc == 0, out
    assert str(package["installed"] / "plugins" / "modules" / "registration_csv.py") in out
    assert "dest" in out and "group_tag" in out and len(out) > 2000


def test_merge_playbook_from_the_installed_copy(package, tmp_path):
    devices = hashgen.fleet(1313, 3)
    source = samplefleet.write_csv(str(tmp_path / "fleet.csv"), samplefleet.AUTOPILOT3,
                                   [(d.serial, "", hashgen.build_hash(d)) for d in devices])
    dest = tmp_path / "upload" / "registration.csv"
    dest.parent.mkdir()
    extravars = {"merge_src": [source, str(SAMPLE)], "merge_dest": str(dest), "merge_group_tag": "PKG-TEST"}
    before = snapshot(package["installed"])
    rc, out = run(["ansible-playbook", FQCN + ".merge", "-e", json.dumps(extravars)], package["work"],
                  package["env"])
    assert rc == 0, out
    lines = dest.read_bytes().split(b"\r\n")
    assert lines[0] == b"Device Serial Number,Windows Product ID,Hardware Hash,Group Tag"
    assert sorted(line.split(b",")[0].decode() for line in lines[1:] if line) == sorted(d.serial for d in devices)
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    # Microsoft's published sample is truncated: reported, not written.
    assert "1 rejected" in out and "mmd-sample-self.csv:2" in out
    # Nothing written into, or changed in, the installed collection.
    assert snapshot(package["installed"]) == before


def test_merge_playbook_requires_a_destination(package, tmp_path):
    before = snapshot(package["installed"])
    extravars = {"merge_src": [str(SAMPLE)]}
    rc, out = run(["ansible-playbook", FQCN + ".merge", "-e", json.dumps(extravars)], package["work"],
                  package["env"])
    assert rc != 0 and "merge_dest is required" in out, out
    assert snapshot(package["installed"]) == before
    assert not list(package["work"].iterdir())


def test_introspect_lists_the_collection_dependencies(package):
    rc, out = run(["ansible-builder", "introspect", "--sanitize", str(package["collections"])], package["work"],
                  package["env"])
    assert rc == 0, out
    data = yaml.safe_load(out[out.index("---"):])
    python = {Requirement(line.split("  #")[0]).name for line in data["python"]}
    system = {line.split()[0] for line in data["system"]}
    assert python == PYTHON_DEPS
    assert SYSTEM_DEPS <= system
    assert all(line.endswith("# from collection winfleet.autopilot") for line in data["python"] + data["system"])


def test_ee_requirements_match_the_plugins_and_the_tested_versions():
    """Every third-party package the plugins import is listed, nothing else is, and each range holds the version
    the tests run with (requirements/dev.txt)."""
    reqs = [Requirement(line) for line in (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    imported = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"ansible", "ansible_collections", "__future__"}
    dists = importlib.metadata.packages_distributions()
    needed = {dists[name][0].lower().replace("_", "-") for name in third_party}
    assert needed - TRANSITIVE == {r.name for r in reqs}

    pins = dict(line.split("==", 1) for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    pins = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    for req in reqs:
        assert req.specifier.contains(pins[req.name]), (str(req), pins[req.name])


def test_execution_environment_builds_on_the_collection(package, tmp_path):
    """The EE definition uses an EE base image, takes the collection's dependencies from the collection (no list of
    its own) and `ansible-builder create` turns it into a build context holding the tarball."""
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    base = definition["images"]["base_image"]["name"]
    assert "ee-minimal" in base and "fedora" not in base
    deps = definition["dependencies"]
    assert "python" not in deps and "system" not in deps
    assert deps["galaxy"]["collections"] == [{"name": "collections/winfleet-autopilot.tar.gz", "type": "file"}]

    ee = tmp_path / "ee"
    (ee / ".build" / "package").mkdir(parents=True)
    (ee / "execution-environment.yml").write_bytes((ROOT / "execution-environment.yml").read_bytes())
    (ee / ".build" / "package" / "winfleet-autopilot.tar.gz").write_bytes(package["tarball"].read_bytes())
    rc, out = run(["ansible-builder", "create", "-f", str(ee / "execution-environment.yml"), "--context",
                   str(ee / "context")], ee, package["env"])
    assert rc == 0, out
    context = ee / "context"
    [build_file] = [p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()]
    assert 'ARG EE_BASE_IMAGE="%s"' % base in build_file.read_text()
    assert (context / "_build" / "collections" / "winfleet-autopilot.tar.gz").read_bytes() == \
        package["tarball"].read_bytes()
