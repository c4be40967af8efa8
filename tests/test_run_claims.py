"""Claiming a run (resume) and marking runs interrupted are compare-and-set: a stale read never wins a write."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from contextlib import contextmanager

import pytest
from sqlalchemy import event, update

from wfdesk.db.models import Run, RunUnit, utcnow
from wfdesk.runs import ledger
from wfdesk.runs.engine import resume_run
from wfdesk.scripts.registry import execute_step_script

SECTIONS = [711, 712, 713]


def _dead_owner() -> str:
    """The owner string of a process that has ended (the legacy "host:pid" form, which old rows still carry)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          timeout=30)
    return f"{socket.gethostname()}:{int(proc.stdout)}"


def _crashed_run(ws, loopback, *, unit_status: str = "queued") -> int:
    """A run left 'running' by a process killed with kill -9 (its sections never finished)."""
    loopback.fail = lambda i, req: (400, {}, b'{"error": {"message": "no"}}')
    run_id = execute_step_script(1, 53, {"section_ids": SECTIONS})["run_id"]
    loopback.reset()
    with ws.db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(
            status="running", owner=_dead_owner(), heartbeat_at=utcnow(), finished_at=None, error=None))
        s.execute(update(RunUnit).where(RunUnit.run_id == run_id).values(status=unit_status, error=None))
    return run_id


@contextmanager
def _before_first_run_write(ws, action):
    """Runs `action` (another process's work) just before this process's first UPDATE of a run row, i.e. after
    this process read the row: the interleaving that made stale reads win."""
    fired: list[bool] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        if not fired and re.match(r"\s*UPDATE workflow_run\b", statement, re.IGNORECASE):
            fired.append(True)
            action()

    event.listen(ws.db.engine, "before_cursor_execute", hook)
    try:
        yield fired
    finally:
        event.remove(ws.db.engine, "before_cursor_execute", hook)


def test_a_stale_interrupted_marking_never_overwrites_a_resume_claim(demo, loopback):
    run_id = _crashed_run(demo, loopback)

    def resume_claims():  # process A's Resume: marks the dead owner's run interrupted, then claims it
        ledger.mark_interrupted(demo)
        ledger.reopen_run(demo, run_id)

    with _before_first_run_write(demo, resume_claims) as fired:
        ledger.mark_interrupted(demo)  # process C (any CLI command) had read the run before A's claim
    assert fired
    assert ledger.run_detail(demo, run_id)["status"] == "running"  # A's claim stands
    with pytest.raises(ledger.RunBusyError):
        ledger.reopen_run(demo, run_id)  # so a third process cannot claim it again


def test_two_resumes_never_send_a_section_twice(demo, loopback):
    run_id = _crashed_run(demo, loopback)
    ledger.mark_interrupted(demo)
    outcomes = []

    def other_resume():  # process A resumes the whole run after process B read it
        outcomes.append(resume_run(demo, run_id)["status"])

    with _before_first_run_write(demo, other_resume) as fired:
        try:
            outcomes.append(resume_run(demo, run_id)["status"])
        except ledger.RunBusyError:
            outcomes.append("busy")
    assert fired
    assert outcomes == ["succeeded", "busy"]
    assert loopback.count("/v1/chat/completions") == len(SECTIONS)  # each section sent once, by A
    assert ledger.run_detail(demo, run_id)["status"] == "succeeded"


def test_a_run_whose_sections_all_finished_is_simply_closed(demo, loopback):
    """Killed after its last section was saved but before its end was written."""
    run_id = _crashed_run(demo, loopback, unit_status="success")
    assert ledger.mark_interrupted(demo) == [run_id]
    result = resume_run(demo, run_id)
    assert result["success"] is True
    assert result["status"] == "succeeded"
    assert loopback.count() == 0
    detail = ledger.run_detail(demo, run_id)
    assert detail["status"] == "succeeded"
    assert detail["finished_at"] is not None


def test_a_run_taken_over_while_its_owner_still_lives_never_writes_a_section_twice(demo, loopback):
    """The owner froze (a laptop suspended) for longer than the heartbeat allows: another process marks its run
    interrupted and resumes it while the frozen one's answers are still on their way. Each section is written once."""
    import threading
    import time
    from datetime import timedelta

    from wfdesk.db import content
    from wfdesk.runs.engine import RunOptions, execute_step

    loopback.latency = 1.0
    run_ids: list[int] = []
    first = threading.Thread(target=execute_step, args=(demo, 1, 53, {"section_ids": SECTIONS}),
                             kwargs={"options": RunOptions(on_run_id=run_ids.append)}, daemon=True)
    first.start()
    deadline = time.monotonic() + 30
    while loopback.count("/v1/chat/completions") < len(SECTIONS):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with demo.db.session() as s:  # no sign of life for hours, as far as anyone else can tell
        s.execute(update(Run).where(Run.id == run_ids[0]).values(heartbeat_at=utcnow() - timedelta(hours=3)))
    assert ledger.mark_interrupted(demo) == run_ids
    second = resume_run(demo, run_ids[0])  # sends the three sections again: the first answers are not saved yet
    first.join(60)
    assert second["status"] == "succeeded"
    assert loopback.count("/v1/chat/completions") == 2 * len(SECTIONS)
    with demo.db.session() as s:
        assert [len(content.versions_of(s, 53, sid, "polished")) for sid in SECTIONS] == [1] * len(SECTIONS)
