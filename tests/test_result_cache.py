"""The result cache: an identical deterministic request reuses an earlier successful answer (no request, no cost);
anything that changes the answer, a sampled temperature, --no-cache, an image step or an unsuccessful earlier unit
sends the request. SQLite and PostgreSQL (the `ws` fixture runs both)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from sqlalchemy import select, update

from wfdesk.db import content
from wfdesk.db.models import LLMAction, PostSection, RunUnit
from wfdesk.runs import costs, ledger, result_cache
from wfdesk.runs.engine import RunOptions, resume_run
from wfdesk.scripts.registry import execute_step_script

SECTIONS = [711, 712, 713]
AT_ZERO = {"llm_settings": {"temperature": 0}}  # the reference action samples at 0.7: never reused by default


def chat_count(loopback) -> int:
    return loopback.count("/v1/chat/completions")


def polish(sections=SECTIONS, **context) -> dict:
    result = execute_step_script(1, 53, {"section_ids": list(sections), **AT_ZERO, **context})
    assert result["success"], result
    return result


def units(ws, run_id: int) -> list[dict]:
    return ledger.run_detail(ws, run_id)["units"]


def unit_rows(ws, run_id: int) -> list[RunUnit]:
    with ws.db.session() as s:
        rows = list(s.scalars(select(RunUnit).where(RunUnit.run_id == run_id).order_by(RunUnit.position)))
        s.expunge_all()
        return rows


def test_a_second_identical_run_of_200_sections_sends_nothing_and_costs_nothing(demo, loopback):
    with demo.db.session() as s:
        rows = [PostSection(post_id=53, position=100 + i, title=f"Section {i}") for i in range(200)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
        for i, sid in enumerate(ids):
            content.write_text(s, 53, sid, "draft", f"draft {i} " + "words " * 20, source="import")
    first = polish(ids, parameters={"concurrency": 8})
    assert chat_count(loopback) == 200
    loopback.reset()

    second = polish(ids, parameters={"concurrency": 8})

    assert chat_count(loopback) == 0  # not one request at the provider
    assert [r["output"] for r in second["results"]] == [r["output"] for r in first["results"]]
    hits = unit_rows(demo, second["run_id"])
    assert all(u.cache_hit for u in hits)
    assert {(u.prompt_tokens, u.completion_tokens, u.cost) for u in hits} == {(0, 0, 0.0)}
    assert hits[0].cache_key == unit_rows(demo, first["run_id"])[0].cache_key
    assert second["results"][0]["metadata"]["reused"] is True  # the unit shows it was reused, and from where
    assert second["results"][0]["metadata"]["reused_from_run"] == first["run_id"]
    assert all(u["cache_hit"] for u in units(demo, second["run_id"]))  # `wfdesk runs show` says so too
    assert not any(u["cache_hit"] for u in units(demo, first["run_id"]))


def test_a_reused_answer_is_written_to_the_output_field_like_a_new_one(demo, loopback):
    first = polish([711])
    polish([711])
    with demo.db.session() as s:
        versions = [v.value for v in content.versions_of(s, 53, 711, "polished")]
    assert versions[-2:] == [first["results"][0]["output"]] * 2
    assert chat_count(loopback) == 1


@pytest.mark.parametrize("change", ["prompt", "model", "max_tokens", "section text", "input typed on Run"])
def test_anything_that_changes_the_answer_sends_the_request(demo, loopback, change):
    polish([711, 712])
    loopback.reset()
    context: dict = {}
    if change == "prompt":
        with demo.db.session() as s:
            s.get(LLMAction, 5).prompt_template += "\nAnswer in British English."
    elif change == "model":
        context = {"llm_settings": {"temperature": 0, "model": "gpt-4.1-mini"}}
    elif change == "max_tokens":
        context = {"llm_settings": {"temperature": 0, "max_tokens": 900}}
    elif change == "section text":
        with demo.db.session() as s:
            content.write_text(s, 53, 711, "draft", "we arrived early in Inverness.", source="editor")
    else:
        context = {"inputs": {"input1": "one text for every section"}}
    result = polish([711, 712], **context)
    expected = 1 if change == "section text" else 2  # only the changed section asks again
    assert chat_count(loopback) == expected
    assert sum(u.cache_hit for u in unit_rows(demo, result["run_id"])) == 2 - expected


def test_a_sampled_temperature_is_never_reused_by_default(demo, loopback):
    for _ in range(2):
        assert execute_step_script(1, 53, {"section_ids": [711]})["success"]  # the action's 0.7
    assert chat_count(loopback) == 2
    loopback.reset()
    for _ in range(2):
        polish([711], llm_settings={"temperature": 0.3})
    assert chat_count(loopback) == 2


def test_an_answer_at_temperature_0_is_reused_whoever_asked_and_with_whatever_key(demo, loopback, monkeypatch):
    polish([711])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another-editors-key")  # the key is never part of the cache key
    result = polish([711])
    assert chat_count(loopback) == 1
    assert unit_rows(demo, result["run_id"])[0].cache_hit


def test_fresh_answers_send_the_request_and_are_reusable_afterwards(demo, loopback):
    polish([711])
    fresh = polish([711], **{result_cache.FRESH_ANSWERS: True})
    assert chat_count(loopback) == 2
    assert not unit_rows(demo, fresh["run_id"])[0].cache_hit
    reused = polish([711])
    assert chat_count(loopback) == 2
    assert unit_rows(demo, reused["run_id"])[0].cache_hit


def test_an_image_step_never_reuses_an_image(demo, loopback):
    for _ in range(2):
        result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"seed": 7}})
        assert result["success"]
        assert unit_rows(demo, result["run_id"])[0].cache_key is None
    assert loopback.count("/v1/images") == 2


@pytest.mark.parametrize("status", ["error", "cancelled", "queued"])
def test_an_unsuccessful_earlier_unit_is_never_reused(demo, loopback, status):
    first = polish([711])
    with demo.db.session() as s:  # the same request, recorded as having failed, been cancelled or never finished
        s.execute(update(RunUnit).where(RunUnit.run_id == first["run_id"]).values(status=status))
    result = polish([711])
    assert chat_count(loopback) == 2
    assert not unit_rows(demo, result["run_id"])[0].cache_hit


def test_a_failed_answer_is_asked_again(demo, loopback):
    loopback.fail = lambda index, rec: (500, {}, b'{"error": {"message": "boom"}}') if index == 1 else None
    result = execute_step_script(1, 53, {"section_ids": [711], **AT_ZERO})
    assert not result["success"]
    assert polish([711])["results"][0]["status"] == "success"
    assert chat_count(loopback) == 2


def test_an_answer_whose_section_was_deleted_is_not_reused(demo, loopback):
    polish([711])
    with demo.db.session() as s:
        text = content.versions_of(s, 53, 711, "draft")[-1].value
        s.delete(s.get(PostSection, 711))
        s.add(PostSection(id=799, post_id=53, position=1, title="Arriving in Inverness"))
        s.flush()
        content.write_text(s, 53, 799, "draft", text, source="import")
    result = polish([799])
    assert chat_count(loopback) == 2  # the earlier answer's text went with its section
    assert result["results"][0]["output"].startswith("POLISHED: ")


def test_resume_with_fresh_answers(demo, loopback):
    polish([711, 712])
    with demo.db.session() as s:
        content.write_text(s, 53, 711, "draft", "x", source="editor")
    loopback.reset()
    loopback.fail = lambda index, rec: (500, {}, b'{"error": {"message": "boom"}}')
    failed = execute_step_script(1, 53, {"section_ids": [711, 712], **AT_ZERO})
    assert chat_count(loopback) == 1  # 712 was reused; 711 (changed) failed
    loopback.fail = None
    resumed = resume_run(demo, failed["run_id"], RunOptions(fresh_answers=True))
    assert resumed["success"]
    assert chat_count(loopback) == 2


@pytest.fixture
def cli(demo, tmp_path, loopback, monkeypatch):
    """`wfdesk` in this process, on the test's database."""
    from wfdesk.cli import main

    monkeypatch.setenv("WFDESK_DATABASE_URL", demo.db.url)
    monkeypatch.setenv("WFDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.base_url)

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(list(args))
        return code, out.getvalue()

    return run


def test_cli_no_cache_sends_the_request_and_hits_cost_nothing(cli, demo, loopback):
    run_step = ("run-step", "--step", "1", "--post", "53", "--sections", "711,712", "--llm-settings",
                '{"temperature": 0}')
    assert cli(*run_step)[0] == 0
    assert chat_count(loopback) == 2
    code, out = cli("costs", "--by", "step", "--json")
    paid = json.loads(out)[0]["cost"]
    assert paid > 0

    assert cli(*run_step)[0] == 0
    assert chat_count(loopback) == 2  # reused
    assert json.loads(cli("costs", "--by", "step", "--json")[1])[0]["cost"] == pytest.approx(paid)

    code, out = cli(*run_step, "--no-cache")
    assert code == 0
    assert chat_count(loopback) == 4
    total = json.loads(cli("costs", "--by", "step", "--json")[1])[0]["cost"]
    assert total == pytest.approx(paid * 2, abs=2e-6)  # totals are rounded to 6 places
    assert ledger.run_detail(demo, json.loads(out)["run_id"])["context"][result_cache.FRESH_ANSWERS] is True


def test_cli_resume_no_cache(cli, demo, loopback):
    polish([711])
    loopback.fail = lambda index, rec: (500, {}, b'{"error": {"message": "boom"}}')
    failed = execute_step_script(1, 53, {"section_ids": [711], **AT_ZERO, result_cache.FRESH_ANSWERS: False,
                                         "llm_settings": {"temperature": 0, "max_tokens": 700}})
    loopback.fail = None
    polish([711], llm_settings={"temperature": 0, "max_tokens": 700})  # the answer the resume could reuse
    assert chat_count(loopback) == 3
    code, _ = cli("runs", "resume", str(failed["run_id"]), "--no-cache")
    assert code == 0
    assert chat_count(loopback) == 4


def test_the_cache_key_is_canonical_and_keeps_no_secret():
    a = result_cache.cache_key("llm_action", {"provider": "http://x/v1", "request": {"model": "m", "temperature": 0}})
    b = result_cache.cache_key("llm_action", {"request": {"temperature": 0, "model": "m"}, "provider": "http://x/v1"})
    assert a == b
    assert len(a) == 64
    assert a != result_cache.cache_key("other", {"provider": "http://x/v1", "request": {"model": "m",
                                                                                      "temperature": 0}})
    assert result_cache.deterministic({"request": {"temperature": 0}})
    assert result_cache.deterministic({"request": {"temperature": 0.9, "seed": 3}})
    assert not result_cache.deterministic({"request": {"temperature": 0.2}})
    assert not result_cache.deterministic({"request": {"model": "o4-mini"}})  # the provider's default: sampled


def test_a_budget_counts_only_the_answers_that_will_be_asked(demo, loopback):
    polish([711, 712])
    spent = costs.spent(demo, post_id=53)
    assert spent > 0
    demo.settings.budget_per_post = spent * 1.5  # room for one more section, not for two
    again = polish([711, 712])  # both reused: free, so within the budget
    assert all(u.cache_hit for u in unit_rows(demo, again["run_id"]))
    with pytest.raises(costs.BudgetError):
        execute_step_script(1, 53, {"section_ids": [711, 712], **AT_ZERO, result_cache.FRESH_ANSWERS: True})
    assert chat_count(loopback) == 2


def test_the_http_api_keeps_its_body_and_applies_the_default_rule(demo, loopback):
    from test_api import serve

    from wfdesk.api.runner import InProcessRunner

    client = serve(demo, InProcessRunner)
    try:
        body = {"step_id": 1, "post_id": 53, "context": {"section_ids": [711], "llm_settings": {"temperature": 0}}}
        assert client.post("/api/workflow/execute-step", body).status_code == 200
        response = client.post("/api/workflow/execute-step", body)
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["metadata"]["reused"] is True
        assert chat_count(loopback) == 1
    finally:
        client.server.stop()
        client.runner.shutdown()


def test_a_colleague_on_another_machine_reuses_the_answer(demo, loopback, tmp_path):
    """Two workspaces on one database, each with its own provider profile (another name, the same address)."""
    from wfdesk.settings import ProviderProfile, Settings
    from wfdesk.workspace import open_workspace

    polish([711])
    profile = ProviderProfile(name="team", base_url=loopback.base_url, max_retries=0)
    colleague = open_workspace(database_url=demo.db.url, data_dir=tmp_path / "colleague",
                               settings=Settings(default_provider="team", providers={"team": profile}))
    try:
        from wfdesk.runs.engine import execute_step

        result = execute_step(colleague, 1, 53, {"section_ids": [711], **AT_ZERO})
        assert result["success"]
        assert unit_rows(colleague, result["run_id"])[0].cache_hit
        assert chat_count(loopback) == 1
    finally:
        colleague.close()


def test_the_migration_adds_an_indexed_key_and_goes_back_down(ws):
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from wfdesk.db.migrate import alembic_config

    def columns() -> set[str]:
        return {c["name"] for c in inspect(ws.db.engine).get_columns("workflow_run_unit")}

    indexes = {i["name"]: i["column_names"] for i in inspect(ws.db.engine).get_indexes("workflow_run_unit")}
    assert indexes["ix_workflow_run_unit_cache_key"] == ["cache_key"]
    assert {"cache_key", "cache_hit"} <= columns()
    cfg = alembic_config()
    below = ScriptDirectory.from_config(cfg).get_revision("0007").down_revision  # whatever it is chained to
    with ws.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, below)
    assert not {"cache_key", "cache_hit"} & columns()
    with ws.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert {"cache_key", "cache_hit"} <= columns()
