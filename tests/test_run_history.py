"""The run history (wfdesk.services.run_history): filters, who started a run, each section's prompt as sent, and
pages that cost the same two queries whatever the number of runs. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from run_history_support import COLLEAGUE, seed_runs
from sqlalchemy import event, update

from wfdesk.db.models import Run
from wfdesk.runs import ledger
from wfdesk.scripts.registry import execute_step_script
from wfdesk.services import run_history
from wfdesk.services.run_history import RunFilter
from wfdesk.states import RunState, UnitState


@contextmanager
def counted(ws):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(ws.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(ws.db.engine, "before_cursor_execute", count)


def test_a_run_shows_each_sections_prompt_as_sent_its_answer_and_its_error(demo, loopback):
    # The second request fails: one section answers, one fails.
    loopback.fail = lambda i, _req: (400, {}, b'{"error": {"message": "the model refused"}}') if i == 2 else None
    result = execute_step_script(1, 53, {"section_ids": [711, 712]})
    detail = run_history.run_detail(demo, result["run_id"])

    assert detail.run.mine, "a run started here is the editor's own"
    assert detail.run.started_by == ledger.STARTED_BY
    assert detail.where.startswith(ledger.HOST)
    assert detail.run.post_title
    assert [u.section_id for u in detail.units] == [711, 712]
    for unit in detail.units:
        assert unit.prompt, "the rendered prompt is recorded for every section"
        assert "{{" not in unit.prompt, "the prompt as sent, not the template"
    sent = [json.dumps(r.json) for r in loopback.requests if r.path.endswith("/chat/completions")]
    assert any(json.dumps(detail.units[0].prompt)[1:-1] in body for body in sent)
    ok = next(u for u in detail.units if u.status == UnitState.SUCCESS)
    failed = next(u for u in detail.units if u.status == UnitState.ERROR)
    assert ok.answer
    assert ok.prompt_tokens > 0
    assert ok.duration_ms is not None
    assert failed.error
    assert "refused" in failed.error
    assert detail.failed_section_ids == [failed.section_id]
    assert detail.resumable
    assert detail.run.status == RunState.PARTIAL


def test_filters_by_post_step_status_date_and_who(ws):
    ids = seed_runs(ws, 300, posts=5)
    everything = run_history.list_runs(ws, limit=1000).rows
    assert len(everything) == 300

    by_post = run_history.list_runs(ws, RunFilter(post="number 3"), limit=1000).rows
    assert by_post
    assert {r.post_title for r in by_post} == {"Post number 3"}
    by_step = run_history.list_runs(ws, RunFilter(step_id=ids["steps"]), limit=1000).rows
    assert {r.step_name for r in by_step} == {"Polish"}
    failed = run_history.list_runs(ws, RunFilter(status=RunState.FAILED), limit=1000).rows
    assert len(failed) == 60
    assert {r.status for r in failed} == {RunState.FAILED}
    day2 = run_history.list_runs(ws, RunFilter(since=datetime(2026, 1, 2, tzinfo=UTC),
                                               until=datetime(2026, 1, 3, tzinfo=UTC)), limit=1000).rows
    assert len(day2) == 100
    mine = run_history.list_runs(ws, RunFilter(mine_only=True), limit=1000).rows
    assert len(mine) == 225
    assert all(r.mine for r in mine)
    theirs = [r for r in everything if not r.mine]
    assert len(theirs) == 75
    assert {r.started_by for r in theirs} == {COLLEAGUE}
    row = everything[0]
    assert row.total == 3
    assert row.failed == 1
    assert row.cost == pytest.approx(0.003)
    assert row.prompt_tokens == 30


def test_runs_in_progress_are_everyones(ws):
    seed_runs(ws, 10, posts=2)
    with ws.db.session() as s:
        s.execute(update(Run).where(Run.id.in_([1, 2])).values(status=RunState.RUNNING))
    found = run_history.runs_in_progress(ws)
    assert sorted(r.id for r in found) == [1, 2]


def test_a_page_of_10000_runs_is_two_queries_and_keyset_paged(ws):
    seed_runs(ws, 10_000)
    with counted(ws) as statements:
        first = run_history.list_runs(ws, limit=50)
    assert len(first.rows) == 50
    assert len(statements) == 2, statements
    assert first.rows[0].id > first.rows[-1].id
    seen = {r.id for r in first.rows}
    page, pages = first, 1
    while page.next_before is not None and pages < 5:
        with counted(ws) as statements:
            page = run_history.list_runs(ws, before_id=page.next_before, limit=50)
        assert len(statements) == 2
        assert not seen & {r.id for r in page.rows}, "pages never repeat a run"
        seen |= {r.id for r in page.rows}
        pages += 1
    assert len(seen) == 250
    last = run_history.list_runs(ws, before_id=30, limit=50)
    assert len(last.rows) == 29
    assert last.next_before is None
    with counted(ws) as statements:
        filtered = run_history.list_runs(ws, RunFilter(post="number 6", status=RunState.FAILED), limit=50)
    assert len(statements) == 2
    assert filtered.rows
    assert all(r.status == RunState.FAILED for r in filtered.rows)


def test_the_history_page_uses_an_index_not_a_sort_on_sqlite(ws):
    if ws.db.dialect != "sqlite":
        pytest.skip("SQLite's query plan")
    seed_runs(ws, 200)
    from sqlalchemy import text

    stmt = run_history._filtered(run_history._base(), RunFilter(status=RunState.FAILED))
    sql = str(stmt.order_by(Run.id.desc()).limit(51).compile(ws.db.engine, compile_kwargs={"literal_binds": True}))
    with ws.db.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_workflow_run_status" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_cli_runs_list_pages_and_filters(ws, capsys):
    from wfdesk import cli

    seed_runs(ws, 120, posts=3)
    assert cli.main(["--database", ws.db.engine.url.render_as_string(hide_password=False), "runs", "list",
                     "--json", "--limit", "10", "--status", "failed"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 10
    assert {r["status"] for r in rows} == {"failed"}
    assert "started_by" in rows[0]
