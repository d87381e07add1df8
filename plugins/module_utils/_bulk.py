# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The result of a deleting cleanup module, single record or list form, built the same way for every service.

Per entry the backends return ``{selector, serial_number, found, removed, failed, msg, error}`` (``error`` is the
typed exception, never returned to Ansible). ``module_result`` turns them into the module's result: ``removed``
(every record deleted, flat), ``results`` (per entry), ``changed``, the diff, and a failure message naming every
failed entry."""

from __future__ import annotations


def public(results):
    return [{k: v for k, v in res.items() if k != "error"} for res in results]


def module_result(results, diff=False, what="devices", before_removed=False):
    """``(result, failure)``: the module's result and, when an entry failed, the one message to fail with. The diff's
    ``before`` lists the records found of the entries that removed something (``before_removed``: the removed
    records themselves, as ad_computer's single form shows them, with their children)."""
    removed = [rec for res in results for rec in res["removed"]]
    out = {"changed": bool(removed), "removed": removed, "results": public(results)}
    if diff:
        before = removed if before_removed else [rec for res in results if res["removed"] for rec in res["found"]]
        out["diff"] = {"before": {what: before} if removed else {}, "after": {}}
    return out, failure_message(results)


def _label(res):
    sel = res.get("selector") or {}
    parts = ["%s=%s" % (k, v) for k, v in sorted(sel.items()) if v is not None and not k.startswith("_")]
    return ", ".join(parts) or (res.get("serial_number") or "?")


def failure_message(results, noun="entries"):
    failed = [res for res in results if res.get("failed")]
    if not failed:
        return None
    return "%d of %d %s failed (the others were done): %s" % (
        len(failed), len(results), noun, "; ".join("[%s] %s" % (_label(res), res.get("msg")) for res in failed))


def first_error(results):
    return next((res["error"] for res in results if res.get("error") is not None), None)
