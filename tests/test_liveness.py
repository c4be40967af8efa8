"""Is a run's owner still alive? Its pid *and* its start time say so, and an hours-old heartbeat always wins."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from wfdesk.db.models import Run, utcnow
from wfdesk.runs import ledger
from wfdesk.scripts.registry import execute_step_script


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait(30)


def _running_run(ws, loopback, owner: str, *, heartbeat_age: timedelta = timedelta(0)) -> int:
    run_id = execute_step_script(1, 53, {"section_ids": [711]})["run_id"]
    loopback.reset()
    with ws.db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(
            status="running", owner=owner, heartbeat_at=utcnow() - heartbeat_age, finished_at=None))
    return run_id


def test_a_reused_pid_with_an_hours_old_heartbeat_is_not_alive(demo, loopback, sleeper):
    """After a reboot the old owner's pid belongs to another process: the 3-hour-old heartbeat tells."""
    run_id = _running_run(demo, loopback, f"{socket.gethostname()}:{sleeper.pid}", heartbeat_age=timedelta(hours=3))
    assert ledger.mark_interrupted(demo) == [run_id]
    assert ledger.run_detail(demo, run_id)["status"] == "interrupted"


def test_a_reused_pid_with_another_start_time_is_not_alive(demo, loopback, sleeper):
    """The owner is identified by pid and start time: the same pid started at another time is someone else."""
    mine = ledger.owner_of(sleeper.pid)
    assert mine is not None
    host, pid, started = ledger.parse_owner(mine)[:3]
    assert (host, pid) == (socket.gethostname(), sleeper.pid)
    reused = mine.replace(f":{pid}:{started}:", f":{pid}:{started - 3600}:")
    run_id = _running_run(demo, loopback, reused)  # a fresh heartbeat, as a crash a moment ago leaves
    assert ledger.mark_interrupted(demo) == [run_id]


def test_a_live_owner_with_a_fresh_heartbeat_keeps_its_run(demo, loopback, sleeper):
    run_id = _running_run(demo, loopback, ledger.owner_of(sleeper.pid))
    legacy = _running_run(demo, loopback, f"{socket.gethostname()}:{sleeper.pid}")
    assert ledger.mark_interrupted(demo) == []
    assert ledger.run_detail(demo, run_id)["status"] == ledger.run_detail(demo, legacy)["status"] == "running"


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs waitid(WNOWAIT) to keep a zombie")
def test_a_zombie_owner_is_not_alive(demo, loopback):
    """Killed but not yet reaped by its parent: the pid still exists, the process does not."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # it has exited; its pid is kept (a zombie)
    try:
        run_id = _running_run(demo, loopback, f"{socket.gethostname()}:{proc.pid}")
        assert ledger.mark_interrupted(demo) == [run_id]
    finally:
        proc.wait(30)


def test_this_process_owns_its_runs_under_its_identity(demo, loopback):
    run_id = execute_step_script(1, 53, {"section_ids": [711]})["run_id"]
    with demo.db.session() as s:
        owner = s.get(Run, run_id).owner
    host, pid, started = ledger.parse_owner(owner)[:3]
    assert (host, pid) == (socket.gethostname(), os.getpid())
    assert started is not None
