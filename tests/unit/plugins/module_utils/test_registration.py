"""Row rules, identity merge and the exact bytes the portals accept."""

from __future__ import annotations

import dataclasses
import datetime
import os

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _registration as reg
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, OutputError
from ansible_collections.winfleet.autopilot.plugins.module_utils._files import write_atomic
from winfleet_lab import hashgen, samplefleet

NOW = datetime.datetime(2026, 11, 21, tzinfo=datetime.UTC)
A3 = samplefleet.AUTOPILOT3


@pytest.fixture(scope="module")
def devs():
    return hashgen.fleet(21, 6)


def run(sources, records=(), **opts):
    result = reg.collect([str(s) for s in sources], list(records), reg.default_options(**opts), now=NOW)
    merged = reg.merge(result)
    return result, merged


def one_row(tmp_path, row, header=A3, name="f.csv"):
    return samplefleet.write_csv(tmp_path / name, header, [row])


@pytest.mark.parametrize("row_fn,reason", [
    (lambda d, h: ("SpiralOrbit", "ContosoABC", "000000000000", "dGhpc2RldmljZWlzYW5tbWRkZXZpY2U"), "template/sample row"),
    (lambda d, h: ("Contoso", "X", "<serialNumber>", h), "template/sample row"),
    (lambda d, h: ("Contoso", "X", "4.4E+11", h), "scientific notation"),
    (lambda d, h: ("Contoso", "X", d.serial, ""), "hardware hash is empty"),
    (lambda d, h: ("Contoso", "X", d.serial, h[:1000]), "hardware hash is truncated"),
    (lambda d, h: ("Contoso", "X", d.serial, h[:50] + "!" + h[51:]), "not valid base64"),
    (lambda d, h: ("Contoso Ltd; Inc", "X", d.serial + '"', h), "contains a quotation mark"),
])
def test_mmd_rows_rejected(tmp_path, devs, row_fn, reason):
    dev = devs[0]
    good = devs[1]
    rows = [row_fn(dev, hashgen.build_hash(dev)), ("Contoso", "X", good.serial, hashgen.build_hash(good))]
    path = samplefleet.write_csv(tmp_path / "f.csv", samplefleet.MMD, rows)
    result, merged = run([path])
    assert [d.serial for d in merged] == [good.serial]
    [rej] = result.rejected
    assert rej["file"] == str(path) and rej["line"] == 2
    assert reason in rej["reason"]


def test_quoted_comma_value_is_rejected(tmp_path, devs):
    dev = devs[0]
    (tmp_path / "f.csv").write_text('Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\n'
                                    '%s,,%s,"Sales, North"\r\n' % (dev.serial, hashgen.build_hash(dev)))
    result, _merged = run([tmp_path / "f.csv"])
    assert "group tag 'Sales, North' contains a comma" in result.rejected[0]["reason"]


def test_unquoted_comma_gives_extra_values(tmp_path, devs):
    dev = devs[0]
    (tmp_path / "f.csv").write_text('Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\n'
                                    '%s,,%s,Sales, North\r\n' % (dev.serial, hashgen.build_hash(dev)))
    result, _merged = run([tmp_path / "f.csv"])
    assert "more value(s) than the header has columns" in result.rejected[0]["reason"]


@pytest.mark.parametrize("pid,reason", [
    ("VK7JG-NPHTM-C97JM-9MPGT-3V66T", "25-character product key"),
    ("00330-80000-00000-AA123", "is the OS product ID"),
    ("3.30502E+12", "scientific notation"),
    ("12345", "not a 13-digit PKID"),
])
def test_product_id_column_rules(tmp_path, devs, pid, reason):
    dev = devs[0]
    result, _merged = run([one_row(tmp_path, (dev.serial, pid, hashgen.build_hash(dev)))])
    assert reason in result.rejected[0]["reason"]


def test_lost_leading_zeros(tmp_path):
    dev = dataclasses.replace(hashgen.fleet(21, 1)[0], serial="016520771357")
    result, _merged = run([one_row(tmp_path, ("16520771357", "", hashgen.build_hash(dev)))])
    assert "lost its leading zeros (the hash says '016520771357')" in result.rejected[0]["reason"]


def test_published_sample_device_is_rejected(tmp_path):
    # Microsoft's public sample, copied into the tests' own data (tests/unit/data/README.md).
    sample = os.path.join(os.path.dirname(__file__), "..", "..", "data", "mmd-sample-self.csv")
    result, merged = run([sample])
    assert merged == [] and "truncated" in result.rejected[0]["reason"]


def test_serial_is_taken_from_the_hash_when_missing(tmp_path, devs):
    dev = devs[1]
    result, merged = run([one_row(tmp_path, ("", "", hashgen.build_hash(dev)))])
    assert merged[0].serial == dev.serial
    assert result.findings[0]["message"] == "serial number taken from the hash"


def test_bad_upn(tmp_path, devs):
    dev = devs[0]
    header = A3 + ("Group Tag", "Assigned User")
    result, _merged = run([one_row(tmp_path, (dev.serial, "", hashgen.build_hash(dev), "T", "not-a-upn"), header)])
    assert "not a user principal name" in result.rejected[0]["reason"]


def test_duplicates_keep_newest_and_conflicts_keep_none(tmp_path, devs):
    d0, d1 = devs[0], devs[1]
    newer = dataclasses.replace(d0, captured_at=d0.captured_at + datetime.timedelta(days=3))
    twin = dataclasses.replace(d1, uuid="00112233-4455-6677-8899-AABBCCDDEEFF")
    a = samplefleet.write_csv(tmp_path / "a.csv", A3, [(d0.serial, "", hashgen.build_hash(newer)),
                                                       (d1.serial, "", hashgen.build_hash(d1))])
    b = samplefleet.write_csv(tmp_path / "b.csv", A3, [(d0.serial.lower(), "", hashgen.build_hash(d0)),
                                                       (d1.serial, "", hashgen.build_hash(twin)),
                                                       (devs[2].serial, "", hashgen.build_hash(devs[2]))])
    result, merged = run([a, b])
    assert [d.serial for d in merged] == sorted([d0.serial, devs[2].serial])
    kept = next(d for d in merged if d.serial == d0.serial)
    assert kept.where() == "%s:2" % a
    assert result.duplicates == [{"file": str(b), "line": 2, "serial_number": d0.serial, "kept": "%s:2" % a,
                                  "reason": "same device captured again: kept the newest"}]
    assert {(c["file"], c["line"]) for c in result.conflicts} == {(str(a), 3), (str(b), 3)}
    assert "belongs to 2 different devices" in result.conflicts[0]["reason"]


def test_records_are_merged_with_files(tmp_path, devs):
    records = [{"serial_number": devs[3].serial, "hardware_hash": hashgen.build_hash(devs[3]), "source": "pc-03"},
               {"serial_number": "X", "hardware_hash": "broken"}]
    result, merged = run([], records)
    assert [d.serial for d in merged] == [devs[3].serial]
    assert merged[0].where() == "pc-03:1"
    assert result.rejected[0]["file"] == "records[1]" and result.rejected[0]["line"] == 2


@pytest.mark.parametrize("fmt,opts,header", [
    ("autopilot", {}, "Device Serial Number,Windows Product ID,Hardware Hash"),
    ("autopilot", {"group_tag": "FLEET-A"}, "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag"),
    ("autopilot", {"assigned_user": "kim@contoso.test"},
     "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User"),
    ("partner", {}, "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model"),
    ("mmd", {}, "Manufacturer,Model,Serial Number,Hardware Hash"),
])
def test_render_is_exactly_what_the_portal_wants(tmp_path, devs, fmt, opts, header):
    src = samplefleet.write_csv(tmp_path / "in.csv", A3, [(d.serial, "", hashgen.build_hash(d)) for d in devs],
                                encoding="utf-16")
    _result, merged = run([src], format=fmt, **opts)
    out = reg.render(merged, str(tmp_path / "out.csv"), fmt, 500)
    data = out[str(tmp_path / "out.csv")]
    assert data.isascii() and b'"' not in data and not data.startswith(b"\xef\xbb\xbf")
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and b"\n" not in b"".join(lines)
    assert lines[0].decode() == header
    assert len(lines) == len(devs) + 2
    first = lines[1].decode().split(",")
    assert len(first) == header.count(",") + 1
    assert first[-1 if fmt == "mmd" else 2] == hashgen.build_hash(merged[0] and next(
        d for d in devs if d.serial == merged[0].serial))
    if fmt == "partner":
        assert first[3:] == [merged[0].manufacturer, merged[0].model]


def test_batches_and_idempotent_plan(tmp_path, devs):
    src = samplefleet.write_csv(tmp_path / "in.csv", A3, [(d.serial, "", hashgen.build_hash(d)) for d in devs])
    dest = str(tmp_path / "out" / "reg.csv")
    os.mkdir(tmp_path / "out")
    _r, merged = run([src])
    out = reg.render(merged, dest, "autopilot", 4)
    assert list(out) == [str(tmp_path / "out" / "reg-001.csv"), str(tmp_path / "out" / "reg-002.csv")]
    assert out[list(out)[1]].count(b"\r\n") == 3  # header + 2 devices
    to_write, to_remove, before = reg.plan(out, reg.existing_outputs(dest))
    assert to_write == list(out) and to_remove == [] and before == []
    write_atomic(out, to_write, to_remove)
    assert oct(os.stat(list(out)[0]).st_mode & 0o777) == "0o600"
    assert reg.plan(out, reg.existing_outputs(dest)) == ([], [], sorted(d.serial for d in devs))
    # Fewer devices: one file, the numbered batches go.
    single = reg.render(merged[:2], dest, "autopilot", 4)
    to_write, to_remove, _before = reg.plan(single, reg.existing_outputs(dest))
    assert to_write == [dest] and sorted(to_remove) == sorted(out)
    write_atomic(single, to_write, to_remove)
    assert sorted(os.listdir(tmp_path / "out")) == ["reg.csv"]


def test_write_failure_leaves_nothing_behind(tmp_path):
    dest = str(tmp_path / "missing" / "reg.csv")
    with pytest.raises(OutputError, match="does not exist"):
        write_atomic({dest: b"x"}, [dest], [])
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "reg.csv").write_bytes(b"old")
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(OutputError):
            write_atomic({str(ro / "reg.csv"): b"new"}, [str(ro / "reg.csv")], [])
        assert (ro / "reg.csv").read_bytes() == b"old"
    finally:
        os.chmod(ro, 0o700)


def test_option_validation():
    with pytest.raises(InputError, match="contains a comma"):
        reg.validate_options(reg.default_options(group_tag="a,b"))
    with pytest.raises(InputError, match="user principal name"):
        reg.validate_options(reg.default_options(assigned_user="bob"))
    with pytest.raises(InputError, match="batch_size"):
        reg.validate_options(reg.default_options(batch_size=0))


def test_sample_fleet_expectations(tmp_path):
    expect = samplefleet.write_fleet(str(tmp_path), seed=3, count=24)
    result, merged = run([tmp_path, tmp_path / "usb"])
    assert {d.serial for d in merged} == expect["devices"]
    assert {r["serial_number"] for r in result.rejected} == set(expect["rejected"])
    assert len(result.duplicates) == expect["duplicates"]
    assert {c["serial_number"] for c in result.conflicts} == expect["conflicts"]
    encodings = {os.path.basename(s["path"]): s["encoding"] for s in result.sources}
    assert encodings["configmgr-export.csv"] == "utf-8-sig"
    assert any(e == "utf-16-le" for e in encodings.values())


def test_parallel_reading_gives_the_same_result(tmp_path):
    samplefleet.write_fleet(str(tmp_path), seed=8, count=40)
    sources = [str(tmp_path), str(tmp_path / "usb")]
    serial = reg.collect(sources, [], reg.default_options(), now=NOW, workers=1)
    parallel = reg.collect(sources, [], reg.default_options(), now=NOW, workers=2)
    assert [d.where() for d in serial.devices] == [d.where() for d in parallel.devices]
    assert serial.rejected == parallel.rejected and serial.sources == parallel.sources
    assert [d.serial for d in reg.merge(serial)] == [d.serial for d in reg.merge(parallel)]


def test_quoted_and_plain_files_read_the_same(tmp_path, devs):
    rows = [(d.serial, "", hashgen.build_hash(d)) for d in devs]
    plain = samplefleet.write_csv(tmp_path / "plain.csv", A3, rows)
    quoted = samplefleet.write_csv(tmp_path / "quoted.csv", A3, rows, quote=True)
    a, b = run([plain]), run([quoted])
    assert [(d.serial, d.line, d.hash) for d in a[1]] == [(d.serial, d.line, d.hash) for d in b[1]]
