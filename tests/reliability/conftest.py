"""Reliability suite set-up: print the figures the tests measured (files, rows, rejections by reason, time, faults).

Under pytest-xdist every worker sends its counters to the controller (``workeroutput``), which adds them up and
prints one summary, so the figures are the same whatever ``-n`` is.
"""

from __future__ import annotations

import figures

KEY = "winfleet_reliability_figures"


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[KEY] = figures.snapshot()


class _XdistCollector:
    def pytest_testnodedown(self, node, error):
        text = getattr(node, "workeroutput", {}).get(KEY)
        if text:
            figures.absorb(text)


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistCollector(), "winfleet-reliability-xdist")


def _fmt(value):
    if isinstance(value, float):
        return "%.2f" % value
    return f"{value:,}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if getattr(config, "workerinput", None) is not None:
        return
    data = figures.sections()
    if not data:
        return
    tr = terminalreporter
    tr.section("winfleet reliability figures")
    for section, counts in data.items():
        tr.write_line("%s:" % section)
        width = max(len(k) for k in counts)
        for name in sorted(counts, key=lambda k: (not k.startswith("#"), k)):
            tr.write_line("  %-*s %s" % (width, name.lstrip("#"), _fmt(counts[name])))


def pytest_collection_modifyitems(config, items):
    """The longest tests first (the fault matrix, then the crash points), so no worker is left with a long tail."""
    def rank(item):
        name = item.nodeid
        return 0 if "test_fault_matrix" in name else 1 if "test_crash_resume" in name else 2

    items.sort(key=rank)
