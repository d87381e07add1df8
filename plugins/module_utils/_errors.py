# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Typed exceptions shared by every plugin. Helpers raise them; a module's main() turns them into
``fail_json`` exactly once (see ``fail_from``)."""

from __future__ import annotations


class WinfleetError(Exception):
    """Base of every error this collection reports. ``details`` are extra result keys."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def fail(self, module):
        """Report this error through ``module.fail_json`` (never returns)."""
        module.fail_json(msg=self.msg, **self.details)


class InputError(WinfleetError):
    """Bad input: a file, a line or a value the user supplied. The message names where and why."""


class OutputError(WinfleetError):
    """The result could not be written (permissions, disk full, ...). Nothing was half-written."""


def causes(exc, links=("__cause__", "__context__"), args=False):
    """``exc`` and every exception it leads to, each once, depth first: through the attributes ``links`` (a
    library's own ``reason`` or ``base_error`` besides Python's chaining) and, with ``args``, the exceptions among its
    ``args``. What the WinRM and Kerberos clients search for the words that classify a failure."""
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend(getattr(e, attr, None) for attr in links)
        if args:
            stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
