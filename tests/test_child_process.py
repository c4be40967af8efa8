"""A run in its own process, as the desktop app drives it: JSON lines in and out, cancel through stdin."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def _start(ws, request: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "wfdesk.runs.child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    base = {"database_url": ws.db.url, "data_dir": str(ws.data_dir),
            "settings": ws.settings.model_dump(mode="json")}
    proc.stdin.write(json.dumps({**base, **request}) + "\n")
    proc.stdin.flush()
    return proc


def _events(proc: subprocess.Popen, until: str = "run_finished") -> list[dict]:
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] in (until, "refused", "failed"):
            break
    return events


def test_a_run_reports_progress_and_its_result(demo, loopback):
    proc = _start(demo, {"action": "start", "step_id": 1, "post_id": 53, "context": {"section_ids": [711, 712]}})
    events = _events(proc)
    proc.stdin.close()
    assert proc.wait(30) == 0
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["run_id", "run_started"] and kinds[-1] == "run_finished"
    done = [e["entry"] for e in events if e["event"] == "unit" and e["entry"]["status"] == "success"]
    assert sorted(e["section_id"] for e in done) == [711, 712]
    assert events[-1]["result"]["success"] is True and events[-1]["run_id"] == events[0]["run_id"]


def test_cancel_through_stdin(demo, loopback):
    loopback.latency = 0.5
    proc = _start(demo, {"action": "start", "step_id": 1, "post_id": 53,
                         "context": {"section_ids": [711, 712, 713], "parameters": {"concurrency": 1}}})
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "unit" and event["entry"]["status"] == "running":
            proc.stdin.write("cancel\n")
            proc.stdin.flush()
            break
    events = _events(proc)
    proc.stdin.close()
    proc.wait(30)
    statuses = [r["status"] for r in events[-1]["result"]["results"]]
    assert statuses == ["cancelled"] * 3
    assert events[-1]["result"]["status"] == "cancelled"


def test_an_invalid_request_is_refused_with_its_message(demo, loopback):
    proc = _start(demo, {"action": "start", "step_id": 99, "post_id": 53, "context": {}})
    events = _events(proc)
    proc.stdin.close()
    assert proc.wait(30) == 2
    assert events == [{"event": "refused", "message": "Step 99 does not exist"}]
    assert loopback.count() == 0


def test_run_in_child_behaves_like_the_engine(demo, loopback):
    from wfdesk.runs.child_client import RunRefused, run_in_child
    from wfdesk.runs.engine import RunOptions
    from wfdesk.scripts.base import CancelToken

    seen = {"ids": [], "units": [], "started": None, "finished": None}

    class Observer:
        def run_started(self, run_id, units):
            seen["started"] = (run_id, units)

        def unit_changed(self, run_id, entry):
            seen["units"].append(entry["status"])

        def run_finished(self, run_id, result):
            seen["finished"] = run_id

    options = RunOptions(observer=Observer(), cancel=CancelToken(), on_run_id=seen["ids"].append)
    result = run_in_child(demo, {"action": "start", "step_id": 2, "post_id": 53,
                                 "context": {"section_ids": [711, 712]}}, options)
    assert result["success"] and seen["ids"] == [result["run_id"]] == [seen["finished"]]
    assert sorted(seen["units"]) == ["running", "running", "success", "success"]
    resumed = run_in_child(demo, {"action": "resume", "run_id": result["run_id"]}, RunOptions())
    assert resumed["run_id"] == result["run_id"] and resumed["success"]  # nothing left to do
    try:
        run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 999, "context": {}}, RunOptions())
    except RunRefused as exc:
        assert "Post 999 does not exist" in str(exc)
    else:
        raise AssertionError("a missing post must be refused")
