# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Counters the reliability tests fill and ``conftest.py`` prints at the end of the run.

One process-wide store; under pytest-xdist each worker ships its copy to the controller, which adds them up.
Keys are ``(section, name)``; values are numbers (counts, bytes, seconds).
"""

from __future__ import annotations

import collections
import json

_DATA = collections.defaultdict(collections.Counter)


def add(section, name, value=1):
    _DATA[section][name] += value


def snapshot():
    return json.dumps({s: dict(c) for s, c in _DATA.items()})


def absorb(text):
    for section, counts in json.loads(text).items():
        for name, value in counts.items():
            _DATA[section][name] += value


def sections():
    return {s: dict(c) for s, c in sorted(_DATA.items())}
