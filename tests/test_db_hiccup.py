"""A database hiccup during a run (PostgreSQL restarting, SQLite locked or its disk full): the run rides it out.

Answers that arrive while the database is away are kept in memory and saved when it is back; only if it stays away
does the run end interrupted, with one line in words (never SQL, never a traceback).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest
from conftest import REFERENCE_STEPS
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

from wfdesk.db import content
from wfdesk.db import engine as db_engine
from wfdesk.db.models import Post, PostSection, RunUnit
from wfdesk.runs import ledger, outage
from wfdesk.runs.engine import RunOptions, execute_step, resume_run

SQL_WORDS = ("SELECT ", "UPDATE ", "INSERT ", "DELETE ", "[SQL", "[parameters")


class Fault:
    """Takes the database away the way each backend loses it, and brings it back."""

    def __init__(self, db_url: str, tmp_path) -> None:
        self.backend = make_url(db_url).get_backend_name()
        self.proxy: TcpProxy | None = None
        self.url = db_url
        self._lock: sqlite3.Connection | None = None
        self._cut = False
        if self.backend == "postgresql":
            parsed = make_url(db_url)
            self.proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432)).start()
            self.url = parsed.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)
        self.direct_url = db_url  # for the test's own reads, around the fault

    def cut(self) -> None:
        self._cut = True
        if self.proxy is not None:
            self.proxy.cut()  # a server restart: connections drop, new ones are refused
        else:  # another program holds the write lock longer than the busy timeout
            self._lock = sqlite3.connect(make_url(self.url).database, isolation_level=None, timeout=30)
            self._lock.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if not self._cut:
            return
        self._cut = False
        if self.proxy is not None:
            self.proxy.restore()
        elif self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        self.restore()
        if self.proxy is not None:
            self.proxy.stop()


@pytest.fixture
def fault(db_url, tmp_path, monkeypatch):
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 300)  # so the test's lock outlasts it quickly
    f = Fault(db_url, tmp_path)
    yield f
    f.close()


@pytest.fixture
def hws(fault, tmp_path, settings):
    """The workspace a run uses, connected through the fault; `direct` is a second one for the test's reads."""
    from wfdesk.services.transfer import import_bundle
    from wfdesk.workspace import open_workspace, set_current

    ws = open_workspace(database_url=fault.url, data_dir=tmp_path / "data", settings=settings)
    with ws.db.session() as s:
        import_bundle(s, json.loads(REFERENCE_STEPS.read_text()))
    set_current(ws)
    direct = open_workspace(database_url=fault.direct_url, data_dir=tmp_path / "data", settings=settings,
                            migrate=False)
    ws.direct = direct
    yield ws
    set_current(None)
    ws.close()
    direct.close()


def _sections(ws, n: int) -> list[int]:
    with ws.db.session() as s:
        rows = [PostSection(post_id=s.get(Post, 53).id, position=10 + i, title=f"Part {i}") for i in range(n)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    with ws.db.session() as s:
        for sid in ids:
            content.write_text(s, 53, sid, "draft", f"draft of section {sid}", source="editor")
    return ids


def _succeeded(ws) -> int:
    with ws.direct.db.session() as s:
        return len(list(s.scalars(select(RunUnit.id).where(RunUnit.status == "success"))))


@contextmanager
def _run_in_thread(ws, ids: list[int], concurrency: int):
    box: dict = {}

    def run():
        try:
            box["result"] = execute_step(ws, 1, 53, {"section_ids": ids, "parameters": {"concurrency": concurrency}},
                                         RunOptions())
        except BaseException as exc:  # noqa: BLE001 - the test asserts on it
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield box
    t.join(180)
    assert not t.is_alive(), "the run never ended"
    assert "error" not in box, f"the run raised {box.get('error')!r}"


def _wait(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _assert_clean_logs(caplog) -> None:
    for record in caplog.records:
        if record.levelno >= logging.WARNING:
            assert record.exc_info is None, f"traceback logged: {record.getMessage()}"
            assert not any(w in record.getMessage() for w in SQL_WORDS), record.getMessage()


def _versions_per_section(ws, ids: list[int]) -> list[int]:
    with ws.direct.db.session() as s:
        return [len(content.versions_of(s, 53, sid, "polished")) for sid in ids]


def test_a_database_hiccup_during_a_run_loses_nothing(hws, fault, loopback, caplog):
    """PostgreSQL restarts (back in 2.5 s) / SQLite stays locked past its busy timeout, mid-run."""
    caplog.set_level(logging.INFO)
    ids = _sections(hws, 12)
    loopback.latency = 0.4
    with _run_in_thread(hws, ids, concurrency=4) as box:
        _wait(lambda: _succeeded(hws) >= 2, "the first sections")
        fault.cut()
        time.sleep(2.5)
        fault.restore()
    result = box["result"]
    assert result["status"] == "succeeded", result
    assert [r["status"] for r in result["results"]] == ["success"] * 12
    assert loopback.count("/v1/chat/completions") == 12  # no answer thrown away, none paid for twice
    assert _versions_per_section(hws, ids) == [1] * 12
    assert any("retrying" in r.getMessage() for r in caplog.records), "the fault was never hit"
    assert any("answers again" in r.getMessage() for r in caplog.records)
    _assert_clean_logs(caplog)


def test_a_database_that_stays_away_ends_the_run_interrupted_with_one_line(hws, fault, loopback, caplog,
                                                                           monkeypatch):
    monkeypatch.setattr(outage, "OUTAGE_BUDGET_S", 2.0)
    ids = _sections(hws, 8)
    loopback.latency = 0.4
    with _run_in_thread(hws, ids, concurrency=2) as box:
        _wait(lambda: _succeeded(hws) >= 1, "the first section")
        fault.cut()
    fault.restore()
    result = box["result"]
    assert result["status"] == "interrupted"
    assert result["success"] is False
    assert "database" in result["error"]
    assert "resume" in result["error"]
    assert "\n" not in result["error"]
    assert not any(w in result["error"] for w in SQL_WORDS)
    assert loopback.count("/v1/chat/completions") < 8  # no new section started while the database was away
    ended = [r for r in caplog.records if r.levelno >= logging.WARNING and "interrupted" in r.getMessage()]
    assert len(ended) == 1
    _assert_clean_logs(caplog)

    run_id = result["run_id"]
    _wait(lambda: ledger.run_detail(hws.direct, run_id)["status"] == "interrupted", "the run's end", timeout=60)
    loopback.latency = 0
    resumed = resume_run(hws, run_id)
    assert resumed["status"] == "succeeded"
    assert _versions_per_section(hws, ids) == [1] * 8  # sent again at most, never written twice


def _disk_full(ws):
    """Every write fails as SQLite / PostgreSQL fail them on a full disk."""
    if ws.db.dialect == "sqlite":
        error = sqlite3.OperationalError("database or disk is full")
    else:  # the driver's own error class (psycopg 3, or psycopg2 where that is the one installed)
        driver = ws.db.engine.dialect.loaded_dbapi
        error = driver.OperationalError('could not extend file "base/16384/16385": No space left on device')

    def hook(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise error

    return hook


def test_a_full_disk_ends_the_run_interrupted_with_its_result(hws, fault, loopback, caplog, monkeypatch):
    monkeypatch.setattr(outage, "OUTAGE_BUDGET_S", 1.5)
    ids = _sections(hws, 6)
    loopback.latency = 0.3
    hook = _disk_full(hws)
    with _run_in_thread(hws, ids, concurrency=2) as box:
        _wait(lambda: _succeeded(hws) >= 1, "the first section")
        event.listen(hws.db.engine, "before_cursor_execute", hook)
    result = box["result"]
    event.remove(hws.db.engine, "before_cursor_execute", hook)
    assert result["status"] == "interrupted"
    assert "disk holding the database is full" in result["error"]
    assert len(result["results"]) == 6
    assert json.dumps(result)  # the whole result, as JSON
    _assert_clean_logs(caplog)
    run_id = result["run_id"]
    _wait(lambda: ledger.run_detail(hws.direct, run_id)["status"] == "interrupted", "the run's end", timeout=60)
    loopback.latency = 0
    assert resume_run(hws, run_id)["status"] == "succeeded"
    assert _versions_per_section(hws, ids) == [1] * 6


def test_the_command_line_says_in_one_line_that_the_database_is_away(hws, fault, loopback):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    loopback.fail = lambda i, req: (400, {}, b'{"error": {"message": "no"}}')
    run_id = execute_step(hws, 1, 53, {"section_ids": [711]}, RunOptions())["run_id"]
    fault.cut()
    env = {**os.environ, "WFDESK_DATABASE_URL": fault.url, "WFDESK_DATA_DIR": str(hws.data_dir),
           "OPENAI_BASE_URL": loopback.base_url}
    proc = subprocess.run([sys.executable, "-m", "wfdesk", "runs", "resume", str(run_id)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "database" in lines[0], proc.stderr
    assert not any(w in proc.stderr for w in (*SQL_WORDS, "Traceback", "OperationalError")), proc.stderr
    assert loopback.count() == 1  # nothing was sent again
