"""The campaign journal: append-only lines, flock against concurrent forks, torn lines, latest per serial/stage."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import stat

import pytest

from ansible_collections.winfleet.autopilot.plugins.module_utils import _journal as jr
from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import InputError, OutputError

NOW = datetime.datetime(2026, 11, 21, 10, 0, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(minutes=5)


def ev(serial, outcome="ok", status="Hash collected", **detail):
    return {"serial": serial, "outcome": outcome, "status": status, "detail": detail}


def lines(campaign):
    return (campaign / "journal.jsonl").read_bytes().decode("utf-8").splitlines()


def test_line_format_is_exact(tmp_path):
    campaign = tmp_path / "campaigns" / "fleet-a" / "c1"
    new, warnings = jr.append(str(campaign), "collect", [ev("PF3XK2L9", host="pc-0042", findings=["VM"])],
                              run="r1", now=NOW)
    assert warnings == [] and len(new) == 1
    assert lines(campaign) == [
        '{"detail":{"findings":["VM"],"host":"pc-0042"},"outcome":"ok","run":"r1","serial":"PF3XK2L9",'
        '"stage":"collect","status":"Hash collected","ts":"2026-11-21T10:00:00Z"}']
    assert stat.S_IMODE(os.stat(campaign).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(campaign / "journal.jsonl").st_mode) == 0o600


def test_repeat_appends_nothing_and_changes_append(tmp_path):
    events = [ev("A1", host="pc1"), ev("A2", "failed", "Host unreachable", host="pc2")]
    assert len(jr.append(str(tmp_path), "collect", events, now=NOW)[0]) == 2
    assert jr.append(str(tmp_path), "collect", events, now=LATER)[0] == []
    # The same facts at another stage are another event; a changed status, outcome or detail is too.
    assert len(jr.append(str(tmp_path), "merge", [ev("A1", host="pc1")], now=LATER)[0]) == 1
    changed = [ev("A1", host="pc1", findings=["no TPM"]), ev("A2", "ok", "Hash collected", host="pc2")]
    new, _warnings = jr.append(str(tmp_path), "collect", changed, now=LATER)
    assert [e["serial"] for e in new] == ["A1", "A2"]
    assert len(lines(tmp_path)) == 5
    found = jr.read(str(tmp_path))
    latest = jr.latest(found.events)
    assert latest["A2"]["collect"]["outcome"] == "ok" and latest["A2"]["collect"]["ts"] == "2026-11-21T10:05:00Z"
    assert latest["A1"]["collect"]["detail"]["findings"] == ["no TPM"]
    # Going back to an earlier state is a change too (compared with the latest, not with any earlier event).
    assert len(jr.append(str(tmp_path), "collect", [ev("A1", host="pc1")], now=LATER)[0]) == 1


def test_same_serial_twice_in_one_call(tmp_path):
    new, _warnings = jr.append(str(tmp_path), "register", [
        ev("A1", "changed", "Registration pending"), ev("A1", "changed", "Registration pending"),
        ev("A1", "changed", "Ready for user")], now=NOW)
    assert [e["status"] for e in new] == ["Registration pending", "Ready for user"]
    assert jr.latest(jr.read(str(tmp_path)).events)["A1"]["register"]["status"] == "Ready for user"


def test_check_mode_writes_nothing(tmp_path):
    campaign = tmp_path / "new-campaign"
    new, _warnings = jr.append(str(campaign), "collect", [ev("A1")], now=NOW, check_mode=True)
    assert len(new) == 1 and not campaign.exists()
    jr.append(str(campaign), "collect", [ev("A1")], now=NOW)
    before = (campaign / "journal.jsonl").read_bytes()
    assert jr.append(str(campaign), "collect", [ev("A1")], now=LATER, check_mode=True)[0] == []
    assert len(jr.append(str(campaign), "collect", [ev("A1", "failed", "Access denied")], now=LATER,
                         check_mode=True)[0]) == 1
    assert (campaign / "journal.jsonl").read_bytes() == before


def test_torn_last_line_is_skipped_and_never_swallows_the_next_event(tmp_path):
    jr.append(str(tmp_path), "collect", [ev("A1"), ev("A2")], now=NOW)
    path = tmp_path / "journal.jsonl"
    whole = path.read_bytes()
    torn = jr.encode({"detail": {"host": "pc-\u00e9"}, "outcome": "ok", "run": "", "serial": "A3",
                      "stage": "collect", "status": "Hash collected", "ts": "2026-11-21T10:00:01Z"})
    with open(path, "ab") as handle:
        handle.write(torn[:40])  # a crash mid-write
    found = jr.read(str(tmp_path))
    assert [e["serial"] for e in found.events] == ["A1", "A2"]
    assert len(found.warnings) == 1 and "last line (3) is incomplete" in found.warnings[0]

    new, warnings = jr.append(str(tmp_path), "collect", [ev("A3"), ev("A1")], now=LATER)
    assert [e["serial"] for e in new] == ["A3"]
    assert any("incomplete" in w for w in warnings)
    data = path.read_bytes()
    assert data.startswith(whole + torn[:40] + b"\n"), "what was written before must never be rewritten"
    found = jr.read(str(tmp_path))
    assert [e["serial"] for e in found.events] == ["A1", "A2", "A3"]
    assert found.warnings == ["%s: line 3 is not valid JSON and was skipped" % path]


def test_torn_multibyte_character_and_junk_lines(tmp_path):
    path = tmp_path / "journal.jsonl"
    good = jr.encode({"detail": {}, "outcome": "ok", "run": "", "serial": "B1", "stage": "merge",
                      "status": "In upload file", "ts": "2026-11-21T10:00:00Z"})
    path.write_bytes(b"[1, 2]\n" + good + b'{"serial": "X", "stage": "nope", "outcome": "ok"}\n\n'
                     + '{"serial":"\u00e9'.encode()[:-1])
    found = jr.read(str(tmp_path))
    assert [e["serial"] for e in found.events] == ["B1"]
    assert len(found.warnings) == 3
    assert "line 1 is not a journal event" in found.warnings[0]
    assert "line 3 is not a journal event" in found.warnings[1]
    assert "last line (5) is incomplete" in found.warnings[2]


def test_missing_journal_is_empty(tmp_path):
    found = jr.read(str(tmp_path / "nothing-here"))
    assert found.events == [] and found.warnings == []
    assert jr.summarise(found.events) == {
        "devices": {}, "done": {s: [] for s in jr.STAGES}, "failures": {s: [] for s in jr.STAGES}, "runs": []}


def test_summarise_latest_done_failures_runs(tmp_path):
    c = str(tmp_path)
    jr.append(c, "collect", [ev("C2", "failed", "Host unreachable"), ev("A1"), ev("B3", "skipped", "")], run="r1",
              now=NOW)
    jr.append(c, "register", [ev("A1", "changed", "Ready for user")], run="r1", now=NOW)
    jr.append(c, "collect", [ev("C2")], run="r2", now=LATER)  # the second run reached it
    jr.append(c, "register", [ev("C2", "failed", "Device claimed by another organization")], run="r2", now=LATER)
    out = jr.summarise(jr.read(c).events)
    assert out["done"] == {"collect": ["A1", "C2"], "merge": [], "cleanup": [], "register": ["A1"], "deliver": []}
    assert out["failures"] == {"collect": [], "merge": [], "cleanup": [], "register": ["C2"], "deliver": []}
    assert out["runs"] == ["r1", "r2"]
    assert out["devices"]["C2"]["collect"]["run"] == "r2"
    assert set(out["devices"]["B3"]) == {"collect"}


def test_hashes_never_reach_the_journal(tmp_path):
    blob = "T0EAAAAA" + "A" * 3992
    new, warnings = jr.append(str(tmp_path), "collect", [
        {"serial": "A1", "outcome": "ok", "status": "Hash collected",
         "detail": {"hardware_hash": blob, "HardwareIdentifier": blob, "note": "got " + blob + " from usb",
                    "nested": [{"DeviceHardwareData": blob, "keep": "x"}]}}], now=NOW)
    assert len(warnings) == 1 and "hardware hash was removed" in warnings[0]
    text = (tmp_path / "journal.jsonl").read_text()
    assert blob[:100] not in text and "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" not in text
    assert new[0]["detail"] == {"note": "got <hardware hash removed> from usb", "nested": [{"keep": "x"}]}


@pytest.mark.parametrize("stage,events,message", [
    ("collect", [{"outcome": "ok"}], "events[0] has no serial"),
    ("collect", [{"serial": "  ", "outcome": "ok"}], "events[0] has no serial"),
    ("collect", [ev("A1"), {"serial": "A2", "outcome": "done"}], "events[1] (serial A2): outcome must be one of"),
    ("collect", [{"serial": "A1", "outcome": "ok", "detail": "text"}], "detail must be a dict"),
    ("collect", ["A1"], "events[0] must be a dict"),
    ("wait", [ev("A1")], "stage must be one of collect, merge, cleanup, register, deliver"),
])
def test_bad_input_is_named_and_writes_nothing(tmp_path, stage, events, message):
    campaign = tmp_path / "c"
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        jr.append(str(campaign), stage, events, now=NOW)
    assert not campaign.exists()


def test_campaign_path_that_is_a_file(tmp_path):
    (tmp_path / "c").write_text("x")
    with pytest.raises(OutputError, match="cannot"):
        jr.append(str(tmp_path / "c"), "collect", [ev("A1")], now=NOW)


def _worker(campaign, worker, count, barrier):
    barrier.wait(timeout=30)
    for i in range(count):
        # Each fork appends its own devices, one call per device, and also the devices every fork shares.
        jr.append(campaign, "collect", [ev("W%d-%03d" % (worker, i), host="pc-%d-%d" % (worker, i))], run="r%d" % worker)
        jr.append(campaign, "register", [ev("SHARED-%03d" % i, "changed", "Ready for user")], run="r%d" % worker)


def test_concurrent_forks_lose_nothing_and_append_shared_events_once(tmp_path):
    workers, count = 6, 40
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), w, count, barrier)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert all(proc.exitcode == 0 for proc in procs)
    raw = lines(tmp_path)
    assert all(json.loads(line) for line in raw)  # every line whole: nothing interleaved
    found = jr.read(str(tmp_path))
    assert found.warnings == []
    collected = [e["serial"] for e in found.events if e["stage"] == "collect"]
    assert sorted(collected) == sorted("W%d-%03d" % (w, i) for w in range(workers) for i in range(count))
    shared = [e["serial"] for e in found.events if e["stage"] == "register"]
    assert sorted(shared) == ["SHARED-%03d" % i for i in range(count)], "the read and the write must be one lock"
    assert len(raw) == workers * count + count
