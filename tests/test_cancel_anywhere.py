"""Cancel anywhere: a run executed by another process (`wfdesk run-step` in a terminal, a team worker) is stopped by
`wfdesk runs cancel` from this one. The executor's heartbeat sees the request and cancels the run as a local cancel
does: no section starts after it, finished sections stay, the run ends cancelled. A queued worker run is cancelled at
once and a worker taking it afterwards sends nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT
from sqlalchemy import select, text
from test_crash_resume import _cli_env, _sections
from test_team_workers import _queue, _wait, pg, workers  # noqa: F401 - fixtures

from wfdesk.db import content
from wfdesk.db.models import Run, RunUnit
from wfdesk.runs import ledger, run_cancel, team_queue


def _hold_second_answer(loopback) -> threading.Event:
    """The first section is answered at once; the second one's answer waits until the returned event is set, so the
    test decides when the run may go on (no timing involved)."""
    release = threading.Event()
    seen = {"n": 0}
    lock = threading.Lock()

    def reply(req: dict) -> str:
        with lock:
            seen["n"] += 1
            n = seen["n"]
        if n == 2:
            release.wait(120)
        return "POLISHED: " + json.dumps(req.get("messages", [])[-1].get("content", ""))[:200]

    loopback.chat_reply = reply
    return release


def _sent(loopback) -> int:
    """Sections sent to the provider (the loopback also records other calls, e.g. a version probe)."""
    return sum(r.path.endswith("/chat/completions") for r in loopback.requests)


def _cancel(ws, loopback, run_id: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wfdesk", "runs", "cancel", str(run_id)], env=_cli_env(ws, loopback),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def _running_run(ws) -> int | None:
    with ws.db.session() as s:
        return s.scalar(select(Run.id).where(Run.status == "running").order_by(Run.id.desc()))


def _units(ws, run_id: int) -> dict[int, str]:
    with ws.db.session() as s:
        return dict(s.execute(select(RunUnit.section_id, RunUnit.status).where(RunUnit.run_id == run_id)).all())


def _assert_cancelled_after_the_first(ws, loopback, run_id: int, ids: list[int]) -> None:
    assert ledger.run_detail(ws, run_id)["status"] == "cancelled"
    assert _sent(loopback) == 2, "a section started after the cancel was seen"
    units = _units(ws, run_id)
    assert units[ids[0]] == "success"
    assert all(units[sid] == "cancelled" for sid in ids[1:]), units
    with ws.db.session() as s:  # the finished section's answer is kept, the one cut short is not written
        assert len(content.versions_of(s, 53, ids[0], "polished")) == 1
        assert content.versions_of(s, 53, ids[1], "polished") == []


def test_a_terminal_run_is_cancelled_from_another_process(demo, loopback, tmp_path):
    ids = _sections(demo, 5)
    release = _hold_second_answer(loopback)
    log = tmp_path / "run-step.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "wfdesk", "-v", "run-step", "--step", "1", "--post", "53",
                                 "--sections", ",".join(map(str, ids)), "--llm-settings", '{"concurrency": 1}'],
                                env=_cli_env(demo, loopback), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        _wait("the second section was sent", lambda: _sent(loopback) >= 2)
        run_id = _running_run(demo)
        assert run_id is not None
        done = _cancel(demo, loopback, run_id)
        asked = time.monotonic()
        assert done.returncode == 0, done.stderr
        assert "asked to stop" in done.stdout
        _wait("the run process saw the cancel", lambda: f"run {run_id}: cancelled by" in log.read_text())
        print(f"cancel seen {time.monotonic() - asked:.2f} s after `wfdesk runs cancel` returned")
        release.set()
        proc.wait(60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    _assert_cancelled_after_the_first(demo, loopback, run_id, ids)


def test_a_cancelled_run_is_not_claimed_again(demo, loopback):
    """A worker (or resume) claiming a run cancelled while it waited is refused, and sends nothing."""
    ids = _sections(demo, 2)
    with demo.db.session() as s:
        run = Run(step_id=1, post_id=53, step_name="polish", script_type="llm_polish_sections", status="queued",
                  effective_config={}, context={}, on_workers=True)
        run.units = [RunUnit(section_id=sid, position=i) for i, sid in enumerate(ids)]
        s.add(run)
        s.flush()
        run_id = run.id
    done = _cancel(demo, loopback, run_id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Run {run_id} cancelled"
    with pytest.raises(ledger.RunCancelledError):
        ledger.claim_run(demo, run_id, "queued", None)
    assert set(_units(demo, run_id).values()) == {"cancelled"}
    again = _cancel(demo, loopback, run_id)
    assert again.returncode != 0
    assert "already ended (cancelled)" in again.stderr
    assert _sent(loopback) == 0


def _jobs(ws, run_id: int) -> int:
    with ws.db.session() as s:
        return s.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE args->>'run_id' = :r"),
                         {"r": str(run_id)}).scalar_one()


def test_a_queued_worker_run_is_cancelled_before_a_worker_takes_it(pg, loopback, workers):  # noqa: F811
    ids = _sections(pg, 3)
    run_id = _queue(pg, loopback, ids)
    assert _jobs(pg, run_id) == 1
    done = _cancel(pg, loopback, run_id)
    assert done.returncode == 0, done.stderr
    assert ledger.run_detail(pg, run_id)["status"] == "cancelled"
    assert _jobs(pg, run_id) == 0, "the cancelled run's job is still in the queue"
    # A job a worker had already fetched is a no-op: put one back as if it had, and let a worker take it.
    team_queue.defer_run(team_queue.make_app(pg).open(), team_queue.queue_name(pg), run_id)
    worker = workers()
    _wait("the worker took the job", lambda: _jobs(pg, run_id) == 0, [worker])
    assert _sent(loopback) == 0
    assert ledger.run_detail(pg, run_id)["status"] == "cancelled"


def test_a_running_worker_run_is_cancelled(pg, loopback, workers):  # noqa: F811
    ids = _sections(pg, 5)
    release = _hold_second_answer(loopback)
    run_id = _queue(pg, loopback, ids, concurrency=1)
    worker = workers()
    try:
        _wait("the second section was sent", lambda: _sent(loopback) >= 2, [worker])
        done = _cancel(pg, loopback, run_id)
        assert done.returncode == 0, done.stderr
        _wait("the worker saw the cancel", lambda: f"run {run_id}: cancelled by" in worker.log.read_text(), [worker])
        release.set()
        _wait("the run ended", lambda: ledger.run_detail(pg, run_id)["status"] != "running", [worker])
    finally:
        release.set()
    _assert_cancelled_after_the_first(pg, loopback, run_id, ids)


def test_a_run_whose_executor_died_before_seeing_the_cancel_ends_cancelled(demo):
    with demo.db.session() as s:
        run = Run(step_id=1, post_id=53, step_name="polish", script_type="llm_polish_sections", status="running",
                  effective_config={}, context={}, owner=f"{ledger.HOST}:999999:1:dead", heartbeat_at=None)
        run.units = [RunUnit(section_id=711, position=0)]
        s.add(run)
        s.flush()
        run_id = run.id
    outcome = run_cancel.request_cancel(demo, run_id)
    assert not outcome.requested, "nobody is left to honour the request: the run is cancelled at once"
    assert ledger.run_state(demo, run_id)[0] == "cancelled", "not left interrupted, for a worker to resume"
    from wfdesk.runs.team_worker import execute_queued_run
    assert execute_queued_run(demo, run_id) is None
