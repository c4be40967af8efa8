"""RunController against the real engine and the loopback provider: signals, cancel, refusal, parallel runs."""

from __future__ import annotations

import os
import time

import pytest

from wfdesk.db import content
from wfdesk.db.models import Run, WorkflowStepEntity
from wfdesk.runs import ledger
from wfdesk.ui.run_controller import RunController

TIMEOUT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def set_parameters(ws, step_id: int, **params) -> None:
    with ws.db.session() as s:
        step = s.get(WorkflowStepEntity, step_id)
        config = dict(step.config)
        sc = dict(config.get("script_config") or {})
        sc["parameters"] = {**(sc.get("parameters") or {}), **params}
        config["script_config"] = sc
        step.config = config


def field(ws, section_id: int, name: str) -> str | None:
    with ws.db.session() as s:
        f = content.get_field(s, 53, section_id, name)
        return f.value if f else None


@pytest.fixture
def runs(qtbot, gui_ws):
    controller = RunController(gui_ws)
    yield controller
    assert controller.shutdown(5000)


def test_run_reports_start_units_and_finish(qtbot, gui_ws, runs, loopback):
    started, units = [], []
    runs.run_started.connect(lambda run_id, info: started.append((run_id, info)))
    runs.unit_changed.connect(lambda run_id, entry: units.append(entry))
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        key = runs.start(1, 53, {"section_ids": [711, 712]})
        assert runs.active_count() == 1
    run_id, result = finished.args
    assert started
    assert started[0][0] == run_id
    assert started[0][1]["key"] == key
    assert started[0][1]["step_id"] == 1
    assert started[0][1]["post_id"] == 53
    assert [u["section_id"] for u in started[0][1]["units"]] == [711, 712]
    assert {(e["section_id"], e["status"]) for e in units} >= {(711, "success"), (712, "success")}
    assert result["status"] == "succeeded"
    assert result["run_id"] == run_id
    assert runs.active_count() == 0
    assert runs.active_runs() == []
    assert field(gui_ws, 711, "polished").startswith("POLISHED:")
    assert field(gui_ws, 713, "polished") is None


def test_invalid_config_is_refused_before_the_run(qtbot, gui_ws, runs, loopback):
    with gui_ws.db.session() as s:
        step = s.get(WorkflowStepEntity, 1)
        step.config = {**step.config, "script_config": {"type": "llm_action", "action_id": 999}}
    with qtbot.waitSignal(runs.run_failed, timeout=TIMEOUT) as failed:
        key = runs.start(1, 53, {"section_ids": [711]})
    assert failed.args[0] == key
    assert "999" in failed.args[1]
    assert "does not exist" in failed.args[1]
    qtbot.waitUntil(lambda: runs.active_count() == 0, timeout=TIMEOUT)
    assert loopback.count("/v1/chat") == 0


def test_cancel_stops_queued_sections_and_writes_nothing_for_them(qtbot, gui_ws, runs, loopback):
    loopback.latency = 0.3
    set_parameters(gui_ws, 1, concurrency=1)
    run_ids, done = [], []
    runs.run_started.connect(lambda run_id, _info: run_ids.append(run_id))

    def on_unit(run_id, entry):
        if entry["status"] == "success" and not done:
            done.append(entry["section_id"])
            runs.cancel(run_id)

    runs.unit_changed.connect(on_unit)
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        runs.start(1, 53, {"section_ids": [711, 712, 713]})
    statuses = {r["section_id"]: r["status"] for r in finished.args[1]["results"]}
    assert statuses[done[0]] == "success"
    others = [sid for sid in (711, 712, 713) if sid != done[0]]
    assert all(statuses[sid] == "cancelled" for sid in others)
    assert finished.args[1]["status"] == "partial" or finished.args[1]["status"] == "cancelled"
    for sid in others:
        assert field(gui_ws, sid, "polished") is None


def test_cancel_request_before_the_run_has_an_id(qtbot, gui_ws, runs, loopback):
    loopback.latency = 0.2
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        key = runs.start(1, 53, {"section_ids": [711, 712, 713]})
        runs.cancel_request(key)
    assert {r["status"] for r in finished.args[1]["results"]} == {"cancelled"}
    assert loopback.count("/v1/chat") == 0


def test_several_runs_in_flight(qtbot, gui_ws, runs, loopback):
    loopback.latency = 0.15
    counts = []
    runs.active_changed.connect(counts.append)
    finished = []
    runs.run_finished.connect(lambda run_id, result: finished.append(result))
    runs.start(1, 53, {"section_ids": [711, 712]})
    runs.start(3, 53, {"section_ids": [711, 712, 713]})
    assert runs.active_count() == 2
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=TIMEOUT)
    assert max(counts) == 2
    assert counts[-1] == 0
    assert {r["step_id"] for r in finished} == {1, 3}
    assert all(r["status"] == "succeeded" for r in finished)


def test_active_runs_report_progress(qtbot, gui_ws, runs, loopback):
    loopback.latency = 0.2
    set_parameters(gui_ws, 1, concurrency=1)
    runs.start(1, 53, {"section_ids": [711, 712, 713]})
    qtbot.waitUntil(lambda: any(a["done"] >= 1 for a in runs.active_runs()), timeout=TIMEOUT)
    active = runs.active_runs()[0]
    assert active["step_id"] == 1
    assert active["post_id"] == 53
    assert active["total"] == 3
    assert isinstance(active["run_id"], int)
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT):
        runs.cancel_all()


def test_shutdown_cancels_and_waits(qtbot, gui_ws, loopback):
    loopback.latency = 0.2
    controller = RunController(gui_ws)
    set_parameters(gui_ws, 1, concurrency=1)
    controller.start(1, 53, {"section_ids": [711, 712, 713]})
    qtbot.waitUntil(lambda: loopback.count("/v1/chat") >= 1, timeout=TIMEOUT)
    assert controller.shutdown(5000)
    assert controller.active_count() == 0
    # At most the section in flight was written; the queued ones were cancelled.
    assert sum(field(gui_ws, sid, "polished") is not None for sid in (711, 712, 713)) <= 1


def test_shutdown_ends_a_run_stuck_in_a_provider_call(qtbot, gui_ws, loopback):
    """Quitting while a local model takes minutes to answer: the window must close anyway. After its grace
    period shutdown ends the run process; the next start marks the run interrupted, ready to resume."""
    loopback.latency = 30
    controller = RunController(gui_ws)
    run_ids = []
    controller.run_started.connect(lambda run_id, _info: run_ids.append(run_id))
    controller.start(1, 53, {"section_ids": [711]})
    qtbot.waitUntil(lambda: bool(run_ids) and loopback.count("/v1/chat") == 1, timeout=TIMEOUT)
    with gui_ws.db.session() as s:
        child_pid = ledger.parse_owner(s.get(Run, run_ids[0]).owner)[1]
    assert child_pid != os.getpid()
    assert _alive(child_pid)

    began = time.monotonic()
    assert controller.shutdown(500)
    assert time.monotonic() - began < 5
    assert not _alive(child_pid)
    assert controller.active_count() == 0
    assert field(gui_ws, 711, "polished") is None
    ledger.mark_interrupted(gui_ws)  # if the run's relay has not already marked it
    assert ledger.run_detail(gui_ws, run_ids[0])["status"] == "interrupted"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_resume_runs_only_the_sections_left(qtbot, gui_ws, runs, loopback):
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as first:
        key = runs.start(1, 53, {"section_ids": [711, 712, 713]})
        runs.cancel_request(key)  # nothing is sent: all three are left to do
    run_id = first.args[0]
    loopback.fail = lambda i, req: (500, {}, b'{"error": {"message": "boom"}}') if "Glen" in str(req.json) else None
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as second:
        runs.resume(run_id)  # step and post are read by the worker
    assert second.args[0] == run_id
    assert second.args[1]["status"] == "partial"
    assert (second.args[1]["step_id"], second.args[1]["post_id"]) == (1, 53)
    failed = [r["section_id"] for r in second.args[1]["results"] if r["status"] == "error"]
    assert len(failed) == 1
    sent = loopback.count("/v1/chat")

    loopback.fail = None
    started = []
    runs.run_started.connect(lambda rid, info: started.append(info))
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as third:
        runs.resume(run_id, step_id=1, post_id=53)
    assert [u["section_id"] for u in started[0]["units"]] == failed
    assert third.args[1]["status"] == "succeeded"
    assert loopback.count("/v1/chat") == sent + 1

    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as fourth:
        runs.resume(run_id)  # nothing left: still reported as finished, nothing sent
    assert fourth.args[1]["status"] == "succeeded"
    assert loopback.count("/v1/chat") == sent + 1
    qtbot.waitUntil(lambda: runs.active_count() == 0, timeout=TIMEOUT)


def test_resume_of_an_unknown_run_is_refused(qtbot, runs):
    with qtbot.waitSignal(runs.run_failed, timeout=TIMEOUT) as failed:
        key = runs.resume(4242)
    assert failed.args == [key, "Run 4242 does not exist"]
    qtbot.waitUntil(lambda: runs.active_count() == 0, timeout=TIMEOUT)
