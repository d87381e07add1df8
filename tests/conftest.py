"""Shared pytest set-up: make the repo importable as ``ansible_collections.winfleet.autopilot``.

The repo root *is* the collection; Python imports it through a symlink farm under
``.build/collections`` (listed in ``pythonpath`` in pyproject.toml). ``make`` creates it too.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = ROOT / ".build" / "collections" / "ansible_collections" / "winfleet" / "autopilot"


def ensure_collection_link():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    if not LINK.is_symlink():
        tmp = LINK.with_name("autopilot.tmp%d" % os.getpid())
        os.symlink(ROOT, tmp)
        os.replace(tmp, LINK)
    base = str(LINK.parents[2])
    sys.path_importer_cache.pop(base, None)
    if base not in sys.path:
        sys.path.insert(0, base)
    importlib.invalidate_caches()


ensure_collection_link()
