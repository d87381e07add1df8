"""registration_csv through ansible-playbook: changed, then not; check mode and diff; failure on rejects."""

from __future__ import annotations

import json
import pathlib

import pytest

from winfleet_lab import hashgen, samplefleet
from winfleet_lab.playbook import run_playbook, task_results

PLAYBOOK = pathlib.Path(__file__).parent / "merge" / "merge.yml"


@pytest.fixture
def fleet(tmp_path):
    expect = samplefleet.write_fleet(str(tmp_path / "in"), seed=5, count=24)
    (tmp_path / "out").mkdir()
    return tmp_path, expect


def merge(tmp_path, *extra, check=False, **extra_vars):
    evars = {"merge_src": [str(tmp_path / "in"), str(tmp_path / "in" / "usb")],
             "merge_dest": str(tmp_path / "out" / "registration.csv")}
    evars.update(extra_vars)
    rc, data, out, err = run_playbook(PLAYBOOK, "-e", json.dumps(evars), *extra, check=check)
    assert data is not None, out + err
    return rc, task_results(data, "Merge"), out + err


@pytest.mark.smoke
def test_merge_twice_changed_then_not(fleet):
    tmp_path, expect = fleet
    rc, first, _text = merge(tmp_path, "--diff", check=True)
    assert rc == 0 and first["changed"] is True and first["written"] == []
    assert not list((tmp_path / "out").iterdir()), "check mode wrote files"
    assert first["diff"]["after"].split() == sorted(expect["devices"])

    rc, real, _text = merge(tmp_path, "--diff")
    assert rc == 0 and real["changed"] is True
    assert real["device_count"] == len(expect["devices"]) == first["device_count"]
    assert real["written"] == real["paths"] and len(real["paths"]) == 3
    assert {r["serial_number"] for r in real["rejected"]} == set(expect["rejected"])
    assert {c["serial_number"] for c in real["conflicts"]} == expect["conflicts"]
    assert len(real["duplicates"]) == expect["duplicates"]
    assert sorted(real["added"]) == sorted(expect["devices"]) and real["dropped"] == []
    for path in real["paths"]:
        data = pathlib.Path(path).read_bytes()
        assert data.startswith(b"Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\n")
        assert data.isascii() and b'"' not in data

    rc, again, _text = merge(tmp_path, "--diff")
    assert rc == 0 and again["changed"] is False and again["written"] == [] and "diff" not in again
    rc, again_check, _text = merge(tmp_path, check=True)
    assert again_check["changed"] is False


def test_hashes_never_reach_the_output(fleet):
    tmp_path, expect = fleet
    extra = hashgen.fleet(99, 1)[0]
    record_hash = hashgen.build_hash(extra)
    rc, result, text = merge(tmp_path, "-vvv", merge_records=[
        {"serial_number": extra.serial, "hardware_hash": record_hash, "source": "pc-extra"}])
    assert rc == 0
    assert result["device_count"] == len(expect["devices"]) + 1
    written = b"".join(pathlib.Path(p).read_bytes() for p in result["paths"]).decode()
    assert record_hash in written
    # Neither the record passed in (module args are echoed at -vvv) nor any hash read from the files is shown.
    assert record_hash[:200] not in text
    file_hash = pathlib.Path(result["paths"][0]).read_text().splitlines()[1].split(",")[2]
    assert len(file_hash) == 4000 and file_hash[:200] not in text


def test_fails_and_writes_nothing_on_rejects(fleet):
    tmp_path, _expect = fleet
    rc, result, _text = merge(tmp_path, merge_fail_on_reject=True)
    assert rc != 0 and result["failed"] is True
    assert "row(s) rejected" in result["msg"] and "nothing written" in result["msg"]
    assert not list((tmp_path / "out").iterdir())


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path):
    rc, result, text = merge(tmp_path, merge_src=[str(tmp_path / "nowhere")],
                             merge_dest=str(tmp_path / "out.csv"))
    assert rc == 0
    assert result["rejected"] == [{"file": str(tmp_path / "nowhere"), "line": 0, "serial_number": None,
                                   "reason": "no such file or folder"}]
    assert "Traceback" not in text
