"""Progress of the long steps (module_utils/_progress.py): where the file goes, what it holds (counts and fixed words
only), throttled atomic writes, counting from threads and from forked children, the import wait's looks, the bulk
loops, and the hooks in the fleet collector, the register stage and the Graph $batch."""

from __future__ import annotations

import json
import os
import threading

from ansible_collections.winfleet.autopilot.plugins.module_utils import _autopilot as ap
from ansible_collections.winfleet.autopilot.plugins.module_utils import _fleet_collect as fc
from ansible_collections.winfleet.autopilot.plugins.module_utils import _progress
from ansible_collections.winfleet.autopilot.plugins.module_utils._graph import GraphResponse
from ansible_collections.winfleet.autopilot.plugins.module_utils._register_stage import register
from winfleet_lab.fixtures_graph import devices


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_where_the_file_goes(tmp_path):
    campaign = tmp_path / "campaign"
    campaign.mkdir()
    assert _progress.target(str(campaign), environ={}) == str(campaign / "progress.json")
    # the console's path wins; check mode and a missing folder write nothing next to the journal
    assert _progress.target(str(campaign), environ={_progress.ENV: "/x/p.json"}) == "/x/p.json"
    assert _progress.target(str(campaign), check_mode=True, environ={}) is None
    assert _progress.target(str(tmp_path / "missing"), environ={}) is None
    assert _progress.target(None, environ={}) is None


def test_counts_and_words_only_written_atomically_and_throttled(tmp_path):
    path = tmp_path / "progress.json"
    clock = Clock()
    rep = _progress.Reporter("collect", "Reading hardware hashes over WinRM", total=3, journal=str(tmp_path),
                             path=str(path), interval=0.5, clock=clock)
    first = _progress.read(str(path))
    assert (first["stage"], first["step"], first["total"], first["done"], first["finished"]) == (
        "collect", "Reading hardware hashes over WinRM", 3, 0, False)
    assert first["journal"] == str(tmp_path) and first["pid"] == os.getpid()
    rep.result({"record": {"serial_number": "SN1"}})  # within the interval: counted, not written yet
    assert _progress.read(str(path))["done"] == 0
    clock.now += 0.6
    rep.result({"failed": True, "msg": "pc2: Host unreachable"})
    data = _progress.read(str(path))
    assert (data["done"], data["failed"]) == (1, 1)
    assert "SN1" not in path.read_text() and "pc2" not in path.read_text()  # never a value of a device
    rep.finish()
    assert _progress.read(str(path))["finished"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]  # no temporary file left
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_no_file_no_failure(tmp_path):
    rep = _progress.Reporter("cleanup", "Deleting", path=str(tmp_path / "missing" / "p.json"))
    rep.add(done=1)
    rep.finish()  # a file that cannot be written is skipped silently
    assert not (tmp_path / "missing").exists()
    assert _progress.read(str(tmp_path / "missing" / "p.json")) is None
    (tmp_path / "other.json").write_text(json.dumps({"v": 99}))
    assert _progress.read(str(tmp_path / "other.json")) is None


def test_expect_counts_what_is_known_before_the_work(tmp_path):
    rep = _progress.Reporter("collect", "Reading", path=str(tmp_path / "p.json"))
    rep.expect([None, None, {"skipped": True}, {"failed": True}])
    data = _progress.read(str(tmp_path / "p.json"))
    assert (data["total"], data["skipped"], data["failed"], data["done"]) == (3, 1, 1, 0)


def test_threads_count_every_item(tmp_path):
    rep = _progress.Reporter("collect", "Reading", path=str(tmp_path / "p.json"), interval=0)

    def count():
        for _item in range(250):
            rep.add(done=1)

    threads = [threading.Thread(target=count) for _thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rep.finish()
    assert _progress.read(str(tmp_path / "p.json"))["done"] == 1000


def test_the_fleet_collector_counts_each_device_in_one_process_and_in_forked_ones(tmp_path):
    def work(job):
        job.result = {"failed": True} if job.host.endswith("7") else {"record": {}}

    for processes, count in ((1, 30), (2, 200)):
        path = tmp_path / ("p%d.json" % processes)
        rep = _progress.Reporter("collect", "Reading", path=str(path))
        jobs = [fc.Job("pc%03d" % i, settings={}) for i in range(count)]
        jobs.append(fc.Job("preset", result={"failed": True, "error": "config"}))
        rep.expect([job.result for job in jobs])
        used = fc.run(jobs, work, concurrency=4, probe=False, processes=processes, progress=rep)
        rep.finish()
        assert used == processes
        data = _progress.read(str(path))
        failed = sum(1 for i in range(count) if str(i).endswith("7")) + 1
        expected = (count + 1, count + 1 - failed, failed, True)
        assert (data["total"], data["done"], data["failed"], data["finished"]) == expected


def test_on_done_still_called_once_per_job_with_progress(tmp_path):
    finished = []
    rep = _progress.Reporter("collect", "Reading", path=str(tmp_path / "p.json"))
    jobs = [fc.Job("pc%d" % i, settings={}) for i in range(5)]
    fc.run(jobs, lambda job: setattr(job, "result", {}), concurrency=2, probe=False, on_done=finished.append,
           progress=rep)
    assert sorted(j.host for j in finished) == ["pc%d" % i for i in range(5)]


def test_the_import_wait_reports_each_look(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    monkeypatch.setenv(_progress.ENV, str(path))
    seen = []
    rep = _progress.Reporter("register", "Waiting for the import verdicts", interval=0)
    looks = [{"t": 1, "ready": 2, "pending": 8, "failed": 0}]
    sleep = rep.sleeper(lambda s: seen.append(_progress.read(str(path))), lambda: looks)
    rep.submitted([{}] * 10)
    sleep(1)
    assert (seen[0]["total"], seen[0]["done"], seen[0]["failed"]) == (10, 2, 0)
    rep.finish([{"t": 2, "ready": 9, "pending": 0, "failed": 1}])
    data = _progress.read(str(path))
    assert (data["done"], data["failed"], data["finished"]) == (9, 1, True)


class SlowGraph:
    """/import takes every device; each record is processing at the first look and complete at the second."""

    retries = 3

    def __init__(self):
        self.records = []
        self.looks = 0

    def batch(self, calls, progress=None):
        del progress
        return [GraphResponse(200, {"value": []}, {}, "req-batch") for _call in calls]

    def paged(self, url):
        assert url == ap.IMPORTED
        self.looks += 1
        state = {"deviceImportStatus": "complete" if self.looks > 2 else "pending", "deviceErrorCode": 0}
        return [dict(r, state=dict(state, deviceRegistrationId="dev-" + r["serialNumber"])) for r in self.records]

    def post(self, url, body, **_kw):
        made = [{"id": "rec-%s" % item["serialNumber"], "serialNumber": item["serialNumber"],
                 "importId": item["importId"], "groupTag": item.get("groupTag", "")}
                for item in body["importedWindowsAutopilotDeviceIdentities"]]
        self.records.extend(made)
        return GraphResponse(200, {"value": [dict(r, state={"deviceImportStatus": "pending"}) for r in made]}, {},
                             "req-import")


def test_the_register_stage_reports_its_wait(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    monkeypatch.setenv(_progress.ENV, str(path))
    snapshots = []
    rows = devices(4404, 3)

    def sleep(_seconds):
        snapshots.append(_progress.read(str(path)))

    register(SlowGraph(), devices=rows, journal=str(tmp_path), poll_interval=1, sleep=sleep, clock=lambda: 0.0)
    # the first sleep waits for the service to settle (no look yet), the next follows a look with 3 pending
    assert [(s["total"], s["done"]) for s in snapshots] == [(3, 0), (3, 0)]
    final = _progress.read(str(path))
    assert (final["stage"], final["done"], final["failed"], final["finished"]) == ("register", 3, 0, True)


def test_tracked_loops_report_each_entry(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    monkeypatch.setenv(_progress.ENV, str(path))
    seen = []
    for item in _progress.tracked(["a", "b", "c"], "cleanup", "Deleting AD DS computer objects", "devices"):
        seen.append((item, _progress.read(str(path))["done"]))
    assert [s[0] for s in seen] == ["a", "b", "c"]
    data = _progress.read(str(path))
    expected = ("Deleting AD DS computer objects", 3, 3, True)
    assert (data["step"], data["total"], data["done"], data["finished"]) == expected
