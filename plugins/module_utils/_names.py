# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""The computer name a registered device gets (``updateDeviceProperties`` ``displayName``, what
Get-WindowsAutopilotInfo's ``-AssignedComputerName`` sets), from a template or a map.

The rules are those Intune documents for a deployment profile's "Apply device name template" (learn.microsoft.com
autopilot/profiles): a name has at most 15 characters, only letters (a-z, A-Z), digits (0-9) and hyphens, no blank,
and not only digits; ``%SERIAL%`` puts the device's serial number in, ``%RAND:x%`` x random digits - one macro or
the other. The name applies to Microsoft Entra joined deployments only (a hybrid join names the computer from the
domain join profile), and a profile's own name template comes first on the device.

* ``check_template(text, fleet=True)``: the problems of a template before anything is read (a fleet-wide template
  needs a macro, else every device gets the same name).
* ``render(spec, serial, current)``: the name for one device, or why it cannot have one. A device whose current name
  already fits the template keeps it, so ``%RAND:x%`` does not draw new digits on every run (idempotence).
* ``plan(devices, template, names, wanted)``: ``({SERIAL: name}, {SERIAL: problem})`` for the registered devices.
"""

from __future__ import annotations

import random
import re

MAX_LENGTH = 15
ALLOWED = re.compile(r"^[A-Za-z0-9-]+$")
_MACRO = re.compile(r"%(SERIAL|RAND:(\d+))%", re.IGNORECASE)
_PERCENT = re.compile(r"%[^%]*%?")


def _parts(text):
    """``[(kind, value)]``: ("text", literal), ("serial", None), ("rand", digits); ValueError for a broken macro."""
    out, pos = [], 0
    for m in _MACRO.finditer(text):
        if m.start() > pos:
            out.append(("text", text[pos:m.start()]))
        out.append(("serial", None) if m.group(1).upper() == "SERIAL" else ("rand", int(m.group(2))))
        pos = m.end()
    if pos < len(text):
        out.append(("text", text[pos:]))
    for kind, value in out:
        if kind == "text" and "%" in value:
            bad = _PERCENT.search(value).group(0)
            raise ValueError("%r is not a macro Intune knows: use %%SERIAL%% or %%RAND:x%% (x digits)" % bad)
    return out


def name_problem(name):
    """Why ``name`` cannot be a computer name (Intune's documented rules), or None."""
    if not name:
        return "the name is empty"
    if len(name) > MAX_LENGTH:
        return "%s has %d characters, at most %d are allowed" % (name, len(name), MAX_LENGTH)
    if not ALLOWED.match(name):
        bad = sorted({ch for ch in name if not re.match(r"[A-Za-z0-9-]", ch)})
        return "%s contains %s; only letters, digits and hyphens are allowed" % (
            name.encode("ascii", "backslashreplace").decode(), " ".join(repr(ch) for ch in bad))
    if name.isdigit():
        return "%s has only digits; a name needs a letter or a hyphen" % name
    return None


def check_template(text, fleet=True):
    """The problem of a template (or a fixed name, ``fleet=False``) as the user wrote it, or None."""
    if text is None or not str(text).strip():
        return "the computer name template is empty"
    text = str(text).strip()
    try:
        parts = _parts(text)
    except ValueError as exc:
        return "computer name template %s: %s" % (text, exc)
    macros = [k for k, _v in parts if k != "text"]
    if len(macros) > 1:
        return ("computer name template %s: use one macro, %%SERIAL%% or %%RAND:x%%, as Intune's name template does"
                % text)
    literal = "".join(v for k, v in parts if k == "text")
    if literal and not ALLOWED.match(literal):
        bad = sorted({ch for ch in literal if not re.match(r"[A-Za-z0-9-]", ch)})
        return "computer name template %s contains %s; only letters, digits and hyphens are allowed" % (
            text.encode("ascii", "backslashreplace").decode(), " ".join(repr(ch) for ch in bad))
    rand = sum(v for k, v in parts if k == "rand")
    if any(k == "rand" for k, _v in parts) and rand < 1:
        return "computer name template %s: %%RAND:x%% needs at least one digit" % text
    fixed = len(literal) + rand + (1 if "serial" in macros else 0)
    if fixed > MAX_LENGTH:
        return "computer name template %s gives names of at least %d characters, at most %d are allowed" % (
            text, fixed, MAX_LENGTH)
    if fleet and not macros:
        return ("computer name template %s has no %%SERIAL%% or %%RAND:x%%: every device would get the same name "
                "(name single devices in the map by serial number or host)" % text)
    if not macros:
        return name_problem(text)
    return None


def _pattern(parts, serial):
    regex = "".join(re.escape(v) if k == "text" else re.escape(serial) if k == "serial" else "[0-9]{%d}" % v
                    for k, v in parts)
    return re.compile("^%s$" % regex, re.IGNORECASE)


def render(spec, serial, current="", rng=None):
    """``(name, problem)`` for the device ``serial`` whose display name is ``current``: the name the template (or
    fixed name) ``spec`` gives it, or ``current`` when that already fits (``%RAND:x%`` is drawn once)."""
    spec = str(spec or "").strip()
    serial = str(serial or "").strip()
    try:
        parts = _parts(spec)
    except ValueError as exc:
        return None, "computer name template %s: %s" % (spec, exc)
    if current and _pattern(parts, serial).match(current):
        return current, name_problem(current)
    rng = rng or random.SystemRandom()
    name = "".join(v if k == "text" else serial if k == "serial" else "".join(rng.choice("0123456789")
                                                                              for _digit in range(v))
                   for k, v in parts)
    return name, name_problem(name)


def _key(value):
    return str(value or "").strip().upper()


def spec_for(serial, host, template=None, names=None):
    """The template or name that applies to a device: its entry in ``names`` (by serial number or inventory host
    name, case-insensitive), else the fleet's ``template``, else None."""
    exact = {str(k): v for k, v in (names or {}).items()}
    folded = {_key(k): v for k, v in exact.items()}
    for key in (serial, host):
        if key:
            value = exact.get(key, folded.get(_key(key)))
            if value not in (None, ""):
                return value
    return template or None


def check_options(template=None, names=None):
    """Problems of the options before anything is read: the fleet template, and each fixed name or template of the
    map."""
    problems = []
    if template:
        problem = check_template(template, fleet=True)
        if problem:
            problems.append(problem)
    for key, value in (names or {}).items():
        problem = check_template(value, fleet=False)
        if problem:
            problems.append("%s (for %s)" % (problem, key))
    return problems


def plan(devices, template=None, names=None, wanted=None, rng=None):
    """``({SERIAL: name}, {SERIAL: problem})`` for the registered ``devices`` (``device_view`` shape); ``wanted``
    is ``_deliver_stage.wanted`` (the inventory host of each serial). Devices nothing names are left out."""
    out, problems = {}, {}
    if not template and not names:
        return out, problems
    dupes = {}
    for dev in devices or []:
        if not dev.get("found"):
            continue
        key = _key(dev.get("serial_number"))
        host = ((wanted or {}).get(key) or {}).get("host")
        spec = spec_for(dev.get("serial_number"), host, template, names)
        if not spec:
            continue
        name, problem = render(spec, dev.get("serial_number"), dev.get("display_name") or "", rng=rng)
        if problem:
            problems[key] = "computer name not set: %s" % problem
            continue
        out[key] = name
        dupes.setdefault(name.upper(), []).append(key)
    for keys in dupes.values():
        if len(keys) > 1:
            for key in keys:
                problems[key] = "computer name not set: %s would be the name of %d devices (%s)" % (
                    out.pop(key), len(keys), ", ".join(sorted(keys)[:5]))
    return out, problems
