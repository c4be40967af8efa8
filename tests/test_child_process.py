"""Runs in the app's run process, as the desktop app drives them: JSON lines in and out, cancel, shared gates."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from conftest import ROOT

from wfdesk.runs import child_client, ledger
from wfdesk.runs.child_client import RunRefusedError, run_in_child
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
    assert result["success"]
    assert seen["ids"] == [result["run_id"]] == [seen["finished"]]
    assert sorted(seen["units"]) == ["running", "running", "success", "success"]
    resumed = run_in_child(demo, {"action": "resume", "run_id": result["run_id"]}, RunOptions())
    assert resumed["run_id"] == result["run_id"]
    assert resumed["success"]  # nothing left to do
    with pytest.raises(RunRefusedError, match="Post 999 does not exist"):
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
    assert loopback.count("/v1/chat/completions") == 6
    assert peak[0] == 2


def test_a_dead_run_process_fails_its_runs_with_a_message_and_is_restarted(demo, loopback):
    """kill -9 of the run process while the app lives: the message says what happened, in words (not the last
    line the process happened to log), and the run is left interrupted, ready to resume."""
    loopback.latency = 5
    errors, run_ids = [], []

    def run():
        try:
            run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 53, "context": {"section_ids": [711]}},
                         RunOptions(on_run_id=run_ids.append))
        except Exception as exc:  # noqa: BLE001
            errors.append(str(exc))

    t = threading.Thread(target=run)
    t.start()
    import time

    deadline = time.monotonic() + 60  # an upper bound: a busy machine (parallel tests) starts the process slowly
    while loopback.count() == 0 or not run_ids:  # the run has its id and its request is at the provider
        assert time.monotonic() < deadline, "the run never reached the provider"
        time.sleep(0.05)
    child_client._process.proc.kill()
    t.join(60)
    assert errors
    assert errors[0].startswith("the run process ended unexpectedly")
    assert "was killed" in errors[0]
    assert "resume" in errors[0]
    assert not any(word in errors[0] for word in ("INFO", "HTTP", "httpx", "Traceback", "SIGKILL"))
    assert ledger.run_detail(demo, run_ids[0])["status"] == "interrupted"
    loopback.latency = 0
    result = run_in_child(demo, {"action": "start", "step_id": 1, "post_id": 53, "context": {"section_ids": [712]}},
                          RunOptions())
    assert result["success"]


STAND_IN_APP = """
import json, sys
from wfdesk.runs import child_client, ledger
from wfdesk.runs.engine import RunOptions
from wfdesk.settings import Settings
from wfdesk.workspace import open_workspace

args = json.loads(sys.argv[1])
ws = open_workspace(database_url=args["url"], data_dir=args["data_dir"],
                    settings=Settings.model_validate(args["settings"]), migrate=False)

def started(run_id):
    pipe = child_client._process.proc.stdin.fileno()
    if args["leak"]:  # another program inherits the run process's input: the end of input never comes
        import subprocess
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=(pipe,))
    print(json.dumps({"run_id": run_id, "child_pid": child_client._process.proc.pid}), flush=True)

child_client.run_in_child(ws, {"action": "start", "step_id": 1, "post_id": 53, "context": args["context"]},
                          RunOptions(on_run_id=started))
"""


@pytest.mark.parametrize("leak", [False, True], ids=["end-of-input", "parent-pid"])
def test_kill_9_of_the_app_leaves_its_run_interrupted_and_keeps_the_answers_in_flight(demo, loopback, leak):
    """The app dies mid-run: its run process notices at once, sends nothing new, saves the answers already on
    their way, and leaves the run interrupted (resumable), never failed."""
    import os
    import signal
    import time

    from wfdesk.db import content

    loopback.latency = 3
    args = {"url": demo.db.url, "data_dir": str(demo.data_dir), "settings": demo.settings.model_dump(mode="json"),
            "context": {"section_ids": [711, 712, 713], "parameters": {"concurrency": 2}}, "leak": leak}
    app = subprocess.Popen([sys.executable, "-c", STAND_IN_APP, json.dumps(args)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        started = json.loads(app.stdout.readline())
        deadline = time.monotonic() + 60
        while loopback.count("/v1/chat/completions") < 2:  # two sections in flight
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.02)
        os.kill(app.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        app.wait(10)
    finally:
        if app.poll() is None:
            app.kill()
    run_id = started["run_id"]
    deadline = time.monotonic() + 60
    while ledger.run_detail(demo, run_id)["status"] == "running":
        assert time.monotonic() < deadline, "the run stayed running"
        time.sleep(0.05)
    took = time.monotonic() - killed_at
    detail = ledger.run_detail(demo, run_id)
    assert detail["status"] == "interrupted", detail
    assert "fail" not in (detail["error"] or "").lower()
    assert "pipe" not in (detail["error"] or "").lower()
    done = {u["section_id"] for u in detail["units"] if u["status"] == "success"}
    assert done == {711, 712}  # the two answers in flight arrived and were saved
    assert [u["status"] for u in detail["units"] if u["section_id"] == 713] == ["queued"]
    assert loopback.count("/v1/chat/completions") == 2  # nothing new was sent after the app died
    with demo.db.session() as s:
        assert all(len(content.versions_of(s, 53, sid, "polished")) == 1 for sid in (711, 712))
    deadline = time.monotonic() + 30
    while _alive(started["child_pid"]):
        assert time.monotonic() < deadline, "the run process outlived the app"
        time.sleep(0.05)
    print(f"run interrupted {took:.1f} s after the app was killed (in-flight answers took 3 s)")


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_app_dying_while_sections_wait_to_retry_sends_no_retry(demo, loopback):
    """Both sections were refused with 429 and wait out Retry-After when the app is killed: a retry is a new
    request (and a new charge) nobody will see, so the run process sends none, leaves both sections queued and the
    run interrupted, and exits."""
    import os
    import signal
    import time

    from loopback import rate_limited

    loopback.fail = lambda i, req: rate_limited(15) if req.path.startswith("/v1/chat") else None  # every try
    args = {"url": demo.db.url, "data_dir": str(demo.data_dir), "settings": demo.settings.model_dump(mode="json"),
            "context": {"section_ids": [711, 712], "parameters": {"concurrency": 2}}, "leak": False}
    app = subprocess.Popen([sys.executable, "-c", STAND_IN_APP, json.dumps(args)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        started = json.loads(app.stdout.readline())
        deadline = time.monotonic() + 60
        while loopback.count("/v1/chat/completions") < 2:  # both refused, both waiting to retry
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.02)
        os.kill(app.pid, signal.SIGKILL)
        app.wait(10)
    finally:
        if app.poll() is None:
            app.kill()
    deadline = time.monotonic() + 60
    while _alive(started["child_pid"]):
        assert time.monotonic() < deadline, "the run process outlived the app"
        time.sleep(0.05)
    assert loopback.count("/v1/chat/completions") == 2  # no retry after the app died
    detail = ledger.run_detail(demo, started["run_id"])
    assert detail["status"] == "interrupted", detail
    assert [u["status"] for u in detail["units"]] == ["queued", "queued"]  # resume sends them
