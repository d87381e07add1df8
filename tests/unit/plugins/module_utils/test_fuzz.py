"""Property-based fuzzing: whatever the bytes, the decoder and the CSV reader report, never raise.

Two properties x 5,000 generated bad inputs each (plus the merge over 1,000 files)
= well over 10,000 inputs. The seed is fixed (derandomize) so CI is repeatable.
"""

from __future__ import annotations

import base64
import datetime
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.winfleet.autopilot.plugins.module_utils import _csvsource as src
from ansible_collections.winfleet.autopilot.plugins.module_utils import _hwhash
from ansible_collections.winfleet.autopilot.plugins.module_utils import _registration as reg
from winfleet_lab import hashgen

NOW = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)
RAW = hashgen.build_raw(hashgen.fleet(5, 1)[0])
GOOD = base64.b64encode(RAW).decode()
FUZZ = settings(max_examples=5000, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@st.composite
def damaged_hash(draw):
    kind = draw(st.sampled_from(["flip", "cut", "insert", "junk", "text", "splice"]))
    raw = bytearray(RAW)
    if kind == "flip":
        for _flip in range(draw(st.integers(1, 8))):
            raw[draw(st.integers(0, len(raw) - 1))] ^= 1 << draw(st.integers(0, 7))
        return base64.b64encode(bytes(raw)).decode()
    if kind == "cut":
        return GOOD[:draw(st.integers(0, len(GOOD)))]
    if kind == "insert":
        at = draw(st.integers(0, len(GOOD)))
        return GOOD[:at] + draw(st.text(min_size=1, max_size=5)) + GOOD[at:]
    if kind == "junk":
        return base64.b64encode(b"OA" + draw(st.binary(max_size=600))).decode()
    if kind == "splice":
        # Plausible header, arbitrary records: exercises the record walk's bounds.
        body = draw(st.binary(min_size=0, max_size=300))
        total = draw(st.integers(0, 0xFFFF))
        return base64.b64encode(b"OA" + total.to_bytes(2, "little") + body).decode()
    return draw(st.text(max_size=300))


@FUZZ
@given(damaged_hash())
def test_decoder_never_raises(text):
    report = _hwhash.decode(text, serial_number="X", now=NOW)
    assert isinstance(report.errors, list) and isinstance(report.warnings, list)
    assert report.valid == (not report.errors)
    if report.valid:
        assert report.serial_number
    report.as_dict()


HEADERS = [",".join(h) for h in (
    ("Device Serial Number", "Windows Product ID", "Hardware Hash"),
    ("Manufacturer", "Model", "Serial Number", "Hardware Hash"),
    ("Serial_Number", "HardwareHash"),
)]
FIELD = st.one_of(st.just(GOOD), st.just(""), st.just('"'), st.just(","), st.just("\r\n"), st.just("\x00"),
                  st.text(max_size=40), damaged_hash())


@st.composite
def csv_bytes(draw):
    header = draw(st.one_of(st.sampled_from(HEADERS), st.text(max_size=60)))
    rows = draw(st.lists(st.lists(FIELD, max_size=6), max_size=6))
    text = header + "\r\n" + "\r\n".join(draw(st.sampled_from([",", ";", '","'])).join(r) for r in rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "utf-16-le", "cp1252-ish", "raw"]))
    if encoding == "raw":
        return draw(st.binary(max_size=400))
    if encoding == "cp1252-ish":
        return text.encode("latin-1", "replace")
    return text.encode(encoding, "surrogatepass") if encoding != "utf-8" else text.encode("utf-8", "surrogatepass")


@FUZZ
@given(csv_bytes())
def test_reader_and_row_checks_never_raise(data):
    text, encoding = src.decode_bytes(data)
    if text is None:
        assert isinstance(encoding, str) and encoding
        return
    rows = src.read_text("fuzz.csv", text)
    info = next(rows)
    result = reg.MergeResult()
    opts = reg.default_options()
    for line, row, extra in rows:
        assert line >= 2
        dev = reg.check_row(info.path, line, row, extra, opts, result, NOW)
        if dev is not None:
            assert dev.hash and "," not in dev.serial
    for problem in info.problems:
        assert problem.reason and problem.path == "fuzz.csv"
    for rej in result.rejected:
        assert rej["file"] == "fuzz.csv" and rej["line"] >= 2 and rej["reason"]


def test_merge_over_many_garbage_files(tmp_path):
    rng = random.Random(42)
    for i in range(1000):
        size = rng.randrange(0, 2000)
        kind = i % 4
        if kind == 0:
            data = rng.randbytes(size)
        elif kind == 1:
            data = ("Device Serial Number,Windows Product ID,Hardware Hash\r\nS%d,,%s\r\n"
                    % (i, GOOD[:rng.randrange(len(GOOD))])).encode("utf-16")
        elif kind == 2:
            data = b"Serial_Number,HardwareHash\n" + bytes(rng.choice(b'",\r\n\x00AZaz09+/=') for _byte in range(size))
        else:
            data = ("Manufacturer,Model,Serial Number,Hardware Hash\nM,X,S%d,%s%s\n"
                    % (i, GOOD, rng.choice(["", '"', ",x", "\x00"]))).encode()
        (tmp_path / ("f%04d.csv" % i)).write_bytes(data)
    result = reg.collect([str(tmp_path)], [], reg.default_options(), now=NOW)
    reg.merge(result)
    assert result.rejected
    for rej in result.rejected:
        assert rej["file"].startswith(str(tmp_path)) and isinstance(rej["line"], int) and rej["reason"]
