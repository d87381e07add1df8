# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""What a result, a message or a log may echo of an input value.

Every value that comes from an input file or a device (a serial number, a heading, a product ID, a group tag) goes
through ``echo`` or ``clip`` before it is put into a reason, a warning or a result field. Damaged files put hash text
where a serial or a heading should be (a hash broken across two lines, a file without its header row, a hash pasted
into the wrong column): such values are described by their length, never shown. Long values are cut.
"""

from __future__ import annotations

import re

MAX_ECHO = 64
_CUT = 40
# A run of base64 characters long enough to be part of a hardware hash: at least 24 characters with upper- and
# lower-case letters and digits mixed (serials, PKIDs, group tags and headings are not like that; a piece of a hash
# is, with near certainty). Runs of one character (the hash's zero padding, "AAAA...") carry nothing.
_B64_RUN = re.compile(r"[A-Za-z0-9+/=]{24,}")
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_DIGIT = re.compile(r"[0-9]")


def hashlike(value):
    """True when ``value`` holds text that may be part of a hardware hash (or any other base64 blob)."""
    if not value:
        return False
    for run in _B64_RUN.findall(str(value)):
        if _UPPER.search(run) and _LOWER.search(run) and _DIGIT.search(run):
            return True
        if run.startswith("T0") and len(set(run)) > 4:
            return True
    return False


def describe(value):
    """Words for a value that must not be shown."""
    return "<%d characters of hash-like text>" % len(value)


def clip(value, limit=MAX_ECHO):
    """``value`` safe to put in a result field: hash-like text described, long text cut, controls escaped."""
    if value is None:
        return None
    text = str(value)
    if hashlike(text):
        return describe(text)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "\\x%02x" % ord(ch) if ord(ch) < 256 else "\\u%04x" % ord(ch)
                       for ch in text)
    if len(text) > limit:
        return "%s... (%d characters)" % (text[:_CUT], len(text))
    return text


def echo(value, limit=MAX_ECHO):
    """``value`` quoted for a message, like ``%r`` would, but safe (see ``clip``)."""
    if value is None:
        return "None"
    text = str(value)
    if hashlike(text):
        return describe(text)
    if len(text) > limit:
        return "%r... (%d characters)" % (text[:_CUT], len(text))
    return repr(text)
