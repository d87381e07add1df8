# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every plugin and private util imports on the running ansible-core, and every plugin's documentation parses:
what differs between ansible-core releases is their API, which `make cores` checks with this file, the filter and
console tests and the playbook smoke tests on each claimed release (the logic's own tests run once, in `make units`)."""

from __future__ import annotations

import importlib
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
PACKAGE = "ansible_collections.winfleet.autopilot.plugins"
FILES = sorted(p for p in (ROOT / "plugins").rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT / "plugins")) for p in FILES])
def test_imports_and_documents_itself(path):
    name = ".".join((PACKAGE,) + path.relative_to(ROOT / "plugins").with_suffix("").parts)
    mod = importlib.import_module(name)
    for block in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        text = getattr(mod, block, None)
        if text is not None and path.parts[-2] != "doc_fragments":
            assert yaml.safe_load(text) is not None, "%s: %s is empty" % (name, block)
