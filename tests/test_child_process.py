"""Runs in the app's run process, as the desktop app drives them: JSON lines in and out, cancel, shared gates."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from conftest import ROOT

from wfdesk.runs import child_client
from wfdesk.runs.child_client import RunRefused, run_in_child
from wfdesk.runs.engine import RunOptions
from wfdesk.scripts.base import CancelToken


@pytest.fixture(autouse=True)
def _stop_run_process():
    yield
    child_client.terminate_all(5)


def _request(ws, **fields) -> str:
    return json.dumps({"database_url": ws.db.url, "data_dir": str(ws.data_dir),
                       "settings": ws.settings.model_dump(mode="json"), **fields}) + "\n"


def test_protocol_two_requests_interleaved_and_cancel(demo, loopback):
    loopback.latency = 0.3
    proc = subprocess.Popen([sys.executable, "-m", "wfdesk.runs.child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    proc.stdin.write(_request(demo, op="start", id="a", step_id=1, post_id=53, context={"section_ids": [711]}))
    proc.stdin.write(_request(demo, op="start", id="b", step_id=1, post_id=53,
                              context={"section_ids": [712, 713], "parameters": {"concurrency": 1}}))
    proc.stdin.write(_request(demo, op="start", id="c", step_id=99, post_id=53, context={}))
    proc.stdin.flush()
    ends, cancelled_b = {}, False
    for line in proc.stdout:
        event = json.loads(line)
        if event["id"] == "b" and event["event"] == "unit" and not cancelled_b:
            proc.stdin.write(json.dumps({"op": "cancel", "id": "b"}) + "\n")
            proc.stdin.flush()
            cancelled_b = True
        if event["event"] in ("run_finished", "refused", "failed"):
            ends[event["id"]] = event
        if len(ends) == 3:
            break
    proc.stdin.close()
    assert proc.wait(30) == 0
    assert ends["a"]["result"]["success"] is True
    assert ends["b"]["result"]["status"] == "cancelled"
    assert ends["c"] == {"id": "c", "event": "refused", "message": "Step 99 does not exist"}


def test_run_in_child_behaves_like_the_engine(demo, loopback):
    seen = {"ids": [], "units": [], "finished": None}

    class Observer:
        def run_started(self, run_id, units):
            pass

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
    with pytest.raises(RunRefused, match="Post 999 does not exist"):
        run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 999, "context": {}}, RunOptions())


def test_the_provider_cap_holds_across_runs(demo, loopback):
    """Two runs at once, each allowing 8 sections in flight, share the provider's cap of 2."""
    demo.settings.providers["default"].concurrency = 2
    active, peak, lock = [0], [0], threading.Lock()

    def reply(body):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.1)
        with lock:
            active[0] -= 1
        return "ok"

    loopback.chat_reply = reply
    results = []
    context = {"section_ids": [711, 712, 713], "parameters": {"concurrency": 8}}
    threads = [threading.Thread(target=lambda: results.append(run_in_child(
        demo, {"action": "start", "step_id": 1, "post_id": 53, "context": context}, RunOptions())))
        for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r["success"] for r in results] == [True, True]
    assert loopback.count("/v1/chat/completions") == 6 and peak[0] == 2


def test_a_dead_run_process_fails_its_runs_with_a_message_and_is_restarted(demo, loopback):
    loopback.latency = 5
    errors = []

    def run():
        try:
            run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 53, "context": {"section_ids": [711]}},
                         RunOptions())
        except Exception as exc:  # noqa: BLE001
            errors.append(str(exc))

    t = threading.Thread(target=run)
    t.start()
    import time

    deadline = time.monotonic() + 20
    while loopback.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    child_client._process.proc.kill()
    t.join(20)
    assert errors and errors[0].startswith("the run process ended unexpectedly")
    loopback.latency = 0
    result = run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 53, "context": {"section_ids": [712]}},
                          RunOptions())
    assert result["success"]
