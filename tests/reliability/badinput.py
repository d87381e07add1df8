# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deterministic generator of damaged hardware-hash CSV files and damaged hashes.

Every case says what a correct reader must do with it, so the test can check behaviour rather than "did not
crash": ``good`` rows must be accepted (unless the whole file is refused), ``bad`` rows must not be, ``fatal`` says
whether the whole file must be refused (True), must not be (False) or may be (None), and ``at_risk`` rows are
allowed to disappear (rows after an unbalanced quote, which CSV itself swallows) - their loss is counted.

Nothing here uses wall-clock time or global random state: ``case(i)`` is a pure function of ``SEED`` and ``i``.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import random
import struct

from winfleet_lab import hashgen

SEED = 7007
FILE_CASES = 10_240
HASH_CASES = 10_000
POOL = 600  # distinct devices; one module call never uses more than this many
BIG = 10 * 1024 * 1024

DIALECTS = {
    "autopilot-3": ("Device Serial Number", "Windows Product ID", "Hardware Hash"),
    "autopilot-4": ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Group Tag"),
    "autopilot-5": ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Group Tag", "Assigned User"),
    "partner": ("Device Serial Number", "Windows Product ID", "Hardware Hash", "Manufacturer name", "Device model"),
    "mmd": ("Manufacturer", "Model", "Serial Number", "Hardware Hash"),
    "configmgr": ("Manufacturer", "Model", "Serial_Number", "HardwareHash", "Name0"),
    "custom": ("SerialNumber", "Owner", "HWHash"),
}
ENCODINGS = ("ascii", "utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "utf-16-le", "utf-16-be", "utf-32", "cp1252",
             "latin-1")
NEWLINES = ("\r\n", "\n", "\r")
DELIMITERS = (",", ",", ",", ";", "\t", "|")

# Row damage a reader must refuse (the row, not the file).
ROW_REJECT = ("hash_truncated", "hash_bitflip", "hash_equals_inside", "hash_non_base64", "hash_empty", "hash_not_oa",
              "serial_delimiter", "serial_quoted_comma", "serial_quote", "serial_newline", "pkid_product_key",
              "pkid_scientific", "template_row", "hash_broken_line", "hash_in_serial", "placeholder_serial")
# A firmware placeholder for the serial, in the file and inside the hash: the device cannot be told apart.
PLACEHOLDER_SERIALS = ("To be filled by O.E.M.", "Default string", "System Serial Number", "0", "00000000",
                       "Default string 1")
BREAK = "\x1e"  # where a row is broken across two lines (replaced by the file's newline once the row is joined)
# Row damage the decoder is documented to tolerate: the row must be accepted.
ROW_TOLERATE = ("hash_unpadded", "hash_extra_equals", "hash_wrapped", "hash_spaces", "trailing_blank_columns")
# File-level damage.
FILE_KINDS = ("clean", "row_damage", "row_damage", "row_damage", "row_damage", "tolerated", "tolerated",
              "truncated_mid_row", "unbalanced_quote_last", "unbalanced_quote_mid", "nul_injected", "binary_junk",
              "empty", "header_only", "duplicate_headers", "no_hash_column", "no_header", "repeated_header",
              "blank_lines", "bom_only", "whitespace_only", "truncated_in_header")
HUGE_KINDS = ("huge_hash_junk", "huge_ignored_field", "huge_serial")


@dataclasses.dataclass
class Case:
    name: str
    data: bytes
    kind: str
    encoding: str
    dialect: str
    good: list = dataclasses.field(default_factory=list)
    bad: list = dataclasses.field(default_factory=list)
    at_risk: list = dataclasses.field(default_factory=list)
    fatal: bool | None = False
    maybe: list = dataclasses.field(default_factory=list)  # rows that may go either way (a cut in the padding)


class Pool:
    """``POOL`` distinct devices with their hashes (4000-character and unpadded forms), built once."""

    def __init__(self, seed=SEED, size=POOL):
        self.devices = hashgen.fleet(seed, size, vm_every=0)
        self.hashes = [hashgen.build_hash(d) for d in self.devices]
        self.raw = [hashgen.build_raw(d, pad_to=0) for d in self.devices]


def _encode(text, encoding):
    if encoding == "utf-16":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    if encoding == "utf-32":
        return codecs.BOM_UTF32_LE + text.encode("utf-32-le")
    if encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    return text.encode(encoding)


def owner_name(rng, encoding):
    """A value for an ignored column that exercises the encoding (non-ASCII where the encoding has it)."""
    if encoding == "ascii":
        return rng.choice(["Jo Bloggs", "IT Stock", "Desk 12"])
    if encoding in ("cp1252",):
        return rng.choice(["Zo\u00eb M\u00fcller", "Caf\u00e9 \u20ac stock", "S\u00f8ren"])
    if encoding == "latin-1":
        return rng.choice(["Zo\u00eb M\u00fcller", "Jos\u00e9", "S\u00f8ren \u00a7 12"])
    return rng.choice(["Zo\u00eb M\u00fcller", "\u5c71\u7530 \u592a\u90ce", "\u0160ime \u20ac", "\U0001f4bb Desk"])


# ------------------------------------------------------------------------------------------------ hash damage
def damage_hash(rng, text, raw, kind):
    """A damaged form of a hash; ``raw`` is the unpadded binary (for padding games)."""
    if kind == "hash_truncated":  # cut inside the records or the trailer (a cut in the zero padding is harmless)
        return text[:rng.randrange(8, len(raw) * 4 // 3 - 4)]
    if kind == "hash_bitflip":
        buf = bytearray(base64.b64decode(text))
        total = struct.unpack_from("<H", buf, 2)[0]
        pos = rng.randrange(0, total + 36)
        buf[pos] ^= 1 << rng.randrange(8)
        return base64.b64encode(bytes(buf)).decode()
    if kind == "hash_equals_inside":
        at = rng.randrange(8, 2000)
        return text[:at] + "=" + text[at:]
    if kind == "hash_non_base64":
        at = rng.randrange(0, 2000)
        return text[:at] + rng.choice("!*-_#%@~$&") + text[at + 1:]
    if kind == "hash_empty":
        return ""
    if kind == "hash_not_oa":
        return base64.b64encode(rng.randbytes(rng.randrange(3, 3000))).decode().replace("T0", "QQ")
    if kind == "hash_unpadded":
        return base64.b64encode(raw).decode().rstrip("=")
    if kind == "hash_extra_equals":
        return base64.b64encode(raw).decode().rstrip("=") + "=" * rng.randrange(1, 3)
    if kind == "hash_wrapped":
        return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    if kind == "hash_spaces":
        return " " * rng.randrange(1, 4) + text + " " * rng.randrange(1, 4)
    raise ValueError(kind)


# ------------------------------------------------------------------------------------------------ rows
def _row(dialect, dev, hash_text, rng, encoding):
    if dialect == "autopilot-3":
        return [dev.serial, "", hash_text]
    if dialect == "autopilot-4":
        return [dev.serial, "", hash_text, "FLEET-%d" % rng.randrange(9)]
    if dialect == "autopilot-5":
        return [dev.serial, "", hash_text, "FLEET-A", "user%d@contoso.example" % rng.randrange(99)]
    if dialect == "partner":
        return [dev.serial, "", hash_text, dev.manufacturer, dev.model]
    if dialect in ("mmd",):
        return [dev.manufacturer, dev.model, dev.serial, hash_text]
    if dialect == "configmgr":
        return [dev.manufacturer, dev.model, dev.serial, hash_text, "PC-%04d" % rng.randrange(10000)]
    return [dev.serial, owner_name(rng, encoding), hash_text]


def _index(dialect, key):
    header = DIALECTS[dialect]
    names = {"serial": ("Device Serial Number", "Serial Number", "Serial_Number", "SerialNumber"),
             "hash": ("Hardware Hash", "HardwareHash", "HWHash"), "pid": ("Windows Product ID",)}[key]
    for i, h in enumerate(header):
        if h in names:
            return i
    return None


def _quote(value):
    return '"%s"' % value.replace('"', '""')


def _join(values, delimiter, quote_all, force_quote=()):
    out = []
    for i, v in enumerate(values):
        if quote_all or i in force_quote:
            out.append(_quote(v))
        else:
            out.append(v)
    return delimiter.join(out)


def _apply_row_damage(kind, values, dialect, delimiter, rng, dev, pool_hash, pool_raw, quote_all):
    """Return (values, force_quote_indexes, raw_line_override)."""
    s, h, p = _index(dialect, "serial"), _index(dialect, "hash"), _index(dialect, "pid")
    if kind == "hash_broken_line":  # the hash cut inside its records and its rest on the next line
        at = rng.randrange(60, len(pool_raw) * 4 // 3 - 8)
        values[h] = pool_hash[:at] + BREAK + pool_hash[at:]
        return values, set(), None
    if kind == "hash_in_serial":  # a hash pasted into the serial column as well
        values[s] = pool_hash
        return values, set(), None
    if kind == "placeholder_serial":
        placeholder = rng.choice(PLACEHOLDER_SERIALS)
        values[s] = placeholder
        values[h] = hashgen.build_hash(dataclasses.replace(dev, serial=placeholder))
        return values, set(), None
    if kind.startswith("hash_"):
        values[h] = damage_hash(rng, pool_hash, pool_raw, kind)
        return values, ({h} if kind == "hash_wrapped" else set()), None
    if kind == "serial_delimiter":  # quoted, another delimiter is just a character: use a comma, which is refused
        values[s] = dev.serial[:3] + ("," if quote_all else delimiter) + dev.serial[3:]
        return values, set(), None
    if kind == "serial_quoted_comma":
        values[s] = dev.serial[:3] + "," + dev.serial[3:]
        return values, {s}, None
    if kind == "serial_quote":
        values[s] = dev.serial[:3] + '"' + dev.serial[3:]
        return values, set(), None
    if kind == "serial_newline":
        values[s] = dev.serial[:3] + rng.choice(["\n", "\r\n", "\r"]) + dev.serial[3:]
        return values, {s}, None
    if kind in ("pkid_product_key", "pkid_scientific"):
        if p is None:  # the dialect has no PKID column: damage the serial instead (scientific notation)
            values[s] = "4.40012E+11"
            return values, set(), None
        values[p] = "ABCDE-FGHIJ-KLMNO-PQRST-UVWXY" if kind == "pkid_product_key" else "1.23457E+12"
        return values, set(), None
    if kind == "template_row":
        values[s] = "000000000000"
        values[h] = "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U"
        return values, set(), None
    if kind == "trailing_blank_columns":
        return values + [""] * rng.randrange(1, 4), set(), None
    raise ValueError(kind)


def case(index, pool, base=0):
    """The ``index``-th file case; its devices are ``pool`` entries starting at ``base`` (at most 8 used)."""
    rng = random.Random(SEED * 1_000_003 + index)
    kind = FILE_KINDS[index % len(FILE_KINDS)]
    if index % 2048 in (2000, 2001, 2002):
        kind = HUGE_KINDS[index % 2048 - 2000]
    dialect = rng.choice(sorted(DIALECTS))
    delimiter = rng.choice(DELIMITERS)
    newline = rng.choice(NEWLINES)
    quote_all = rng.random() < 0.25
    encoding = rng.choice(ENCODINGS)
    name = "c%05d-%s-%s.csv" % (index, kind, encoding)
    header = list(DIALECTS[dialect])
    c = Case(name, b"", kind, encoding, dialect)
    used = [0]

    def next_dev():
        i = base + used[0]
        used[0] += 1
        return pool.devices[i], pool.hashes[i], pool.raw[i]

    def text_of(lines):
        return newline.join(lines) + newline

    if kind in ("binary_junk",):
        c.data = rng.randbytes(rng.randrange(0, 6000))
        c.fatal = None
        return c
    if kind == "empty":
        c.fatal = True
        return c
    if kind == "bom_only":
        c.data = rng.choice([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])
        c.fatal = True
        return c
    if kind == "whitespace_only":
        c.data = _encode(rng.choice([" ", "\r\n", "\n\n\n", " ,,, \r\n", "\t;\r\n"]) * rng.randrange(1, 5), encoding)
        c.fatal = True
        return c
    hdr = _join(header, delimiter, quote_all)
    if kind == "duplicate_headers":
        dup = rng.choice([["Device Serial Number", "Serial Number", "Hardware Hash"],
                          ["Serial_Number", "Hardware Hash", "HardwareHash"],
                          ["Manufacturer", "Make", "Serial Number", "Hardware Hash"]])
        dev, hsh, _raw = next_dev()
        c.data = _encode(text_of([delimiter.join(dup), delimiter.join([dev.serial] * (len(dup) - 1) + [hsh])]),
                         encoding)
        c.fatal = True
        c.bad = [dev.serial]
        return c
    if kind == "no_hash_column":
        dev, _hsh, _raw = next_dev()
        c.data = _encode(text_of([delimiter.join(["Device Serial Number", "Windows Product ID", "Notes"]),
                                  delimiter.join([dev.serial, "", "x"])]), encoding)
        c.fatal = True
        c.bad = [dev.serial]
        return c
    if kind == "no_header":
        dev, hsh, _raw = next_dev()
        c.data = _encode(text_of([delimiter.join([hsh, dev.serial])]), encoding)
        c.fatal = True
        c.bad = [dev.serial]
        return c
    if kind == "header_only":
        c.data = _encode(text_of([hdr]), encoding)
        return c

    # Files with data rows.
    lines = [hdr]
    nrows = rng.randrange(1, 6)
    damaged_at = rng.randrange(nrows) if kind in ("row_damage", "tolerated", "nul_injected") else None
    for r in range(nrows):
        dev, hsh, raw = next_dev()
        values = _row(dialect, dev, hsh, rng, encoding)
        force = set()
        role = "good"
        if r == damaged_at and kind == "row_damage":
            dmg = rng.choice(ROW_REJECT)
            if dmg == "hash_broken_line" and quote_all:  # quoted, a line break inside the hash is just whitespace
                dmg = "hash_in_serial"
            values, force, _unused = _apply_row_damage(dmg, values, dialect, delimiter, rng, dev, hsh, raw, quote_all)
            role = "bad"
        elif r == damaged_at and kind == "tolerated":
            dmg = rng.choice(ROW_TOLERATE)
            values, force, _unused = _apply_row_damage(dmg, values, dialect, delimiter, rng, dev, hsh, raw, quote_all)
        lines.append(_join(values, delimiter, quote_all, force).replace(BREAK, newline))
        (c.good if role == "good" else c.bad).append(dev.serial)
        if kind == "repeated_header" and r == 0:
            lines.append(hdr)
        if kind == "blank_lines" and rng.random() < 0.5:
            lines.append(rng.choice(["", "   ", delimiter * len(header)]))
    if kind in ("huge_hash_junk", "huge_ignored_field", "huge_serial"):
        dev, hsh, raw = next_dev()
        values = _row(dialect, dev, hsh, rng, encoding)
        if kind == "huge_hash_junk":
            values[_index(dialect, "hash")] = ("T0" + "Qm9ndXM" * (BIG // 7))[:BIG]
            c.bad.append(dev.serial)
        elif kind == "huge_serial":
            values[_index(dialect, "serial")] = "X" * BIG
            c.maybe.append(dev.serial)  # the hash carries the serial; the column only earns a warning
        else:
            values.append("y" * BIG)
            # Quoted (csv module path), a field over csv.field_size_limit() makes the row "malformed CSV": a known
            # loss, counted; see test_huge_quoted_field_keeps_its_row.
            c.maybe.append(dev.serial)
        lines.append(_join(values, delimiter, quote_all))
    if kind == "unbalanced_quote_last":
        last = len(lines) - 1
        cut = lines[last].rfind(delimiter)
        lines[last] = lines[last][:cut + 1] + '"' + lines[last][cut + 1:].strip('"')
        c.bad.append(c.good.pop())
    elif kind == "unbalanced_quote_mid":
        if len(lines) < 3:
            dev, hsh, raw = next_dev()
            lines.append(_join(_row(dialect, dev, hsh, rng, encoding), delimiter, quote_all))
            c.good.append(dev.serial)
        mid = rng.randrange(1, len(lines) - 1)
        cut = lines[mid].rfind(delimiter)
        lines[mid] = lines[mid][:cut + 1] + '"' + lines[mid][cut + 1:].strip('"')
        c.bad.append(c.good[mid - 1])
        c.at_risk = c.good[mid:]
        c.good = c.good[:mid - 1]
    text = text_of(lines)
    if kind == "nul_injected":
        # Where the reader looks for binary content (the first 4 KiB): the file is refused as binary.
        at = rng.randrange(0, min(len(text), 1500))
        text = text[:at] + "\x00" + text[at:]
        c.fatal = True
    data = _encode(text, encoding)
    if kind == "truncated_mid_row":
        last_line = text.rstrip(newline).rsplit(newline, 1)[-1] if newline != "\r" else text.rstrip("\r").rsplit("\r", 1)[-1]
        start = len(_encode(text[:len(text) - len(newline) - len(last_line)], encoding))
        end = len(data) - len(_encode(newline, encoding))
        data = data[:rng.randrange(start + 1, end)]
        c.maybe.append(c.good.pop())
        c.fatal = None if encoding.startswith(("utf-16", "utf-32")) else False
    if kind == "truncated_in_header":
        data = _encode(text, encoding)[:rng.randrange(1, max(2, len(_encode(hdr, encoding)) - 1))]
        c.good, c.bad = [], []  # the rows are cut away with the header's end
        c.fatal = None  # usually "no hash column"; a cut after the last needed heading leaves a header-only file
    c.data = data
    return c


def devices_used(c):
    return len(c.good) + len(c.bad) + len(c.at_risk) + len(c.maybe)


# ------------------------------------------------------------------------------------------------ hashes alone
HASH_KINDS = ("valid", "hash_truncated", "hash_bitflip", "hash_equals_inside", "hash_non_base64", "hash_empty",
              "hash_not_oa", "hash_unpadded", "hash_extra_equals", "hash_wrapped", "hash_spaces", "url_safe",
              "quoted", "utf16_nuls", "bom", "random_text", "random_bytes", "huge_valid_prefix", "mod4_is_1",
              "reseal_corrupt_records")
HASH_VALID = {"valid", "hash_unpadded", "hash_extra_equals", "hash_wrapped", "hash_spaces", "quoted", "utf16_nuls",
              "bom"}
HASH_INVALID = {"hash_truncated", "hash_bitflip", "hash_equals_inside", "hash_non_base64", "hash_empty",
                "hash_not_oa", "url_safe", "mod4_is_1", "reseal_corrupt_records"}


def hash_case(index, pool):
    """(kind, value) of the ``index``-th decoder case; ``value`` is str or bytes."""
    rng = random.Random(SEED * 7_000_003 + index)
    kind = HASH_KINDS[index % len(HASH_KINDS)]
    i = rng.randrange(len(pool.devices))
    text, raw = pool.hashes[i], pool.raw[i]
    if kind == "valid":
        return kind, text
    if kind.startswith("hash_"):
        return kind, damage_hash(rng, text, raw, kind)
    if kind == "url_safe":
        b64 = base64.b64encode(raw).decode()
        while "+" not in b64 and "/" not in b64:
            i = (i + 1) % len(pool.devices)
            b64 = base64.b64encode(pool.raw[i]).decode()
        return kind, b64.replace("+", "-").replace("/", "_")
    if kind == "quoted":
        return kind, rng.choice(['"%s"', "'%s'"]) % text
    if kind == "utf16_nuls":
        return kind, text.encode("utf-16-le")  # bytes: the decoder reads them as Latin-1 and drops the NULs
    if kind == "bom":
        return kind, "\ufeff" + text
    if kind == "random_text":
        return kind, "".join(chr(rng.randrange(1, 0x3000)) for _c in range(rng.randrange(0, 300)))
    if kind == "random_bytes":
        return kind, rng.randbytes(rng.randrange(0, 3000))
    if kind == "huge_valid_prefix":
        return kind, text + "A" * (rng.randrange(1, 64) * 4 * 1024)
    if kind == "mod4_is_1":
        core = base64.b64encode(raw).decode().rstrip("=")
        return kind, core[:len(core) - (len(core) % 4) - 3]
    if kind == "reseal_corrupt_records":
        buf = bytearray(raw)
        buf[4 + 2] = 0xFF  # first record's length runs past the record area; the checksum is recomputed
        buf[4 + 3] = 0xFF
        return kind, base64.b64encode(hashgen.reseal(bytes(buf))).decode()
    raise ValueError(kind)
