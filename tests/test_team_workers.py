"""Runs left to the team's workers (`wfdesk worker`, procrastinate on PostgreSQL): a killed worker's run is finished
by another without sending a finished section again, workers share the queue, SIGTERM releases a run, and SQLite
refuses plainly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from sqlalchemy import select, text
from test_crash_resume import _requests_per_section, _sections

from wfdesk.db import content
from wfdesk.db.models import Run, RunUnit
from wfdesk.runs import ledger, team_queue
from wfdesk.services import queries

TAKEOVER_S = "2"  # how long a silent worker counts as alive (30 s by default): the takeover happens within seconds


def _env(ws, loopback) -> dict:
    return {**os.environ, "WFDESK_DATABASE_URL": ws.db.url, "WFDESK_DATA_DIR": str(ws.data_dir),
            "OPENAI_BASE_URL": loopback.base_url, "WFDESK_CUSTOM_SCRIPT_BASE_URL": loopback.root_url}


@pytest.fixture
def pg(demo):
    if demo.db.dialect != "postgresql":
        pytest.skip("the team's workers need PostgreSQL")
    return demo


@pytest.fixture
def workers(pg, loopback, tmp_path):
    """Starts `wfdesk -v worker` processes (their log in a file each: a pipe nobody reads would fill up and block
    them); any still running at the end is killed."""
    procs: list[subprocess.Popen] = []

    def start(*extra: str) -> subprocess.Popen:
        log = tmp_path / f"worker-{len(procs)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "wfdesk", "-v", "worker", "--takeover-after", TAKEOVER_S,
                                     *extra], env=_env(pg, loopback), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out)
        proc.log = log
        procs.append(proc)
        _wait("the worker started", lambda: "wfdesk worker on" in log.read_text(), [proc], timeout=60)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _queue(ws, loopback, ids: list[int], concurrency: int = 2) -> int:
    proc = subprocess.run([sys.executable, "-m", "wfdesk", "run-step", "--step", "1", "--post", "53", "--sections",
                           ",".join(map(str, ids)), "--llm-settings", json.dumps({"concurrency": concurrency}),
                           "--on-workers"], env=_env(ws, loopback), cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "queued"
    return out["run_id"]


def _done_sections(ws, run_id: int) -> set[int]:
    with ws.db.session() as s:
        return set(s.scalars(select(RunUnit.section_id).where(RunUnit.run_id == run_id, RunUnit.status == "success")))


def _wait(what: str, condition, procs=(), timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for p in procs:
            assert p.poll() is None, f"a worker ended: {p.log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _status(ws, run_id: int) -> str:
    return ledger.run_detail(ws, run_id)["status"]


def _assert_nothing_finished_was_sent_again(ws, loopback, run_id: int, ids: list[int], done_before: set[int]):
    assert _status(ws, run_id) == "succeeded"
    sent = _requests_per_section(loopback, "draft")
    assert {sid: sent[sid] for sid in done_before} == dict.fromkeys(done_before, 1), "a finished section was re-sent"
    assert all(sent[sid] >= 1 for sid in ids)
    with ws.db.session() as s:
        assert all(len(content.versions_of(s, 53, sid, "polished")) == 1 for sid in ids)


def test_a_killed_workers_run_is_finished_by_another_without_resending(pg, loopback, workers):
    ids = _sections(pg, 20)
    run_id = _queue(pg, loopback, ids)
    assert ledger.run_detail(pg, run_id)["where"] == "queued for the team's workers"
    loopback.latency = 0.3
    worker_a = workers()
    _wait("worker A finished some sections", lambda: len(_done_sections(pg, run_id)) >= 4, [worker_a])
    label = queries.step_states(pg, 53)[1]["label"]  # the step list's row
    os.kill(worker_a.pid, signal.SIGKILL)
    worker_a.wait(10)
    done_before = _done_sections(pg, run_id)
    assert 4 <= len(done_before) < 20
    assert re.fullmatch(rf"running \d+/20 on worker {re.escape(ledger.HOST)}", label), label
    loopback.latency = 0.02
    print(f"worker A finished {len(done_before)} of 20 sections before SIGKILL")
    worker_b = workers()
    _wait("worker B finished the run", lambda: _status(pg, run_id) == "succeeded", [worker_b])
    _assert_nothing_finished_was_sent_again(pg, loopback, run_id, ids, done_before)
    detail = ledger.run_detail(pg, run_id)
    assert detail["where"] == f"on worker {ledger.HOST}"
    with pg.db.session() as s:
        owner = s.scalar(select(Run.owner).where(Run.id == run_id))
    assert ledger.parse_owner(owner)[1] == worker_b.pid
    worker_b.send_signal(signal.SIGTERM)
    assert worker_b.wait(30) == 0


def test_sigterm_releases_the_run_to_another_worker(pg, loopback, workers):
    ids = _sections(pg, 20)
    run_id = _queue(pg, loopback, ids)
    loopback.latency = 0.5  # the 17 sections left take seconds: the stop lands well before the run's end
    worker_a = workers()
    _wait("worker A finished some sections", lambda: len(_done_sections(pg, run_id)) >= 3, [worker_a])
    worker_a.send_signal(signal.SIGTERM)
    assert worker_a.wait(30) == 0  # it let the sections in flight finish, and stopped
    done_before = _done_sections(pg, run_id)
    assert _status(pg, run_id) == "interrupted"
    with pg.db.engine.connect() as conn:  # back in the queue, for whichever worker comes next
        assert conn.execute(text("SELECT status FROM procrastinate_jobs")).scalars().all() == ["todo"]
    loopback.latency = 0.02
    workers()
    _wait("worker B finished the run", lambda: _status(pg, run_id) == "succeeded")
    _assert_nothing_finished_was_sent_again(pg, loopback, run_id, ids, done_before)


def test_two_workers_share_a_batch(pg, loopback, workers):
    started = [workers(), workers()]
    loopback.latency = 0.3
    batch = [team_queue.queue_step(pg, 1, 53, {"section_ids": _sections(pg, 3), "llm_settings": {"concurrency": 1}})
             .run_id for _ in range(6)]
    _wait("every run succeeded", lambda: all(_status(pg, r) == "succeeded" for r in batch), started)
    with pg.db.session() as s:
        owners = s.scalars(select(Run.owner).where(Run.id.in_(batch))).all()
    by_pid = [ledger.parse_owner(o)[1] for o in owners]
    assert {p.pid for p in started} == set(by_pid), by_pid  # both took some
    assert loopback.count("/v1/chat/completions") == 18  # each section once


def test_a_queued_run_waits_for_a_worker_however_long(pg, loopback):
    """Nobody executes a queued run yet: a later start of wfdesk must not call it interrupted (no owner, no
    heartbeat), and planning it sent nothing."""
    queued = team_queue.queue_step(pg, 1, 53, {"section_ids": [711, 712]})
    assert queued.sections == 2
    with pg.db.session() as s:  # queued an hour ago
        s.execute(text("UPDATE workflow_run SET created_at = created_at - interval '1 hour'"))
    assert ledger.mark_interrupted(pg) == []
    detail = ledger.run_detail(pg, queued.run_id)
    assert (detail["status"], detail["where"]) == ("queued", "queued for the team's workers")
    with pg.db.engine.connect() as conn:  # its job went in with it, in this schema's own queue
        jobs = conn.execute(text("SELECT queue_name, args FROM procrastinate_jobs")).all()
    assert jobs == [(team_queue.queue_name(pg), {"run_id": queued.run_id})]
    assert loopback.count("/v1/") == 0


def test_queues_are_per_schema(pg, db_url, tmp_path, settings):
    """LISTEN channels are database-wide: another schema of the same database gets another queue."""
    from sqlalchemy import create_engine

    from wfdesk.workspace import open_workspace

    other_schema = "t_other_" + os.urandom(4).hex()
    admin = create_engine(db_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {other_schema}"))
    try:
        other_url = db_url.rsplit("%3D", 1)[0] + f"%3D{other_schema}"  # the same database, another search_path
        other = open_workspace(database_url=other_url, data_dir=tmp_path / "other", settings=settings)
        try:
            assert team_queue.queue_name(other) != team_queue.queue_name(pg)
            assert len("procrastinate_queue_v1#" + team_queue.queue_name(pg)) <= 63  # a channel name's limit
        finally:
            other.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {other_schema} CASCADE"))
        admin.dispose()


def test_workers_on_sqlite_refuse_in_words(demo, loopback):
    if demo.db.dialect != "sqlite":
        pytest.skip("SQLite only")
    env = _env(demo, loopback)
    worker = subprocess.run([sys.executable, "-m", "wfdesk", "worker"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert worker.returncode != 0
    assert "Workers need the team's PostgreSQL database" in worker.stderr
    queue = subprocess.run([sys.executable, "-m", "wfdesk", "run-step", "--step", "1", "--post", "53",
                            "--sections", "711", "--on-workers"], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert queue.returncode != 0
    assert "Workers need the team's PostgreSQL database" in queue.stderr
    assert "Traceback" not in queue.stderr + worker.stderr
    assert ledger.list_runs(demo) == []  # nothing queued, nothing half-written
    assert loopback.requests == []
