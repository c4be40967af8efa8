"""Schema, migrations and the reference document's migration SQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from wfdesk.db.migrate import current_revision, head_revision, upgrade
from wfdesk.db.models import WorkflowStepEntity
from wfdesk.runs import ledger
from wfdesk.scripts.registry import execute_step_script


def test_upgrade_is_idempotent_and_creates_the_reference_tables(ws):
    upgrade(ws.db)
    upgrade(ws.db)
    assert current_revision(ws.db) == head_revision()
    tables = set(inspect(ws.db.engine).get_table_names())
    assert {"post", "post_section", "llm_action", "workflow_step_entity", "post_workflow_step_action",
            "workflow_run", "workflow_run_unit", "content_version", "image_asset", "content_field"} <= tables


def test_sqlite_uses_wal_and_a_busy_timeout(ws):
    if ws.db.dialect != "sqlite":
        pytest.skip("SQLite only")
    with ws.db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_reference_migration_sql_runs_verbatim_on_postgresql(demo, loopback):
    if demo.db.dialect != "postgresql":
        pytest.skip("the reference's SQL uses PostgreSQL's jsonb operators")
    assert execute_step_script(3, 53, {"section_ids": [711]})["success"]  # a custom_script step before
    # Copied verbatim from the reference document's "Database Migration" section.
    sql = (Path(__file__).parent / "data" / "reference_migration.sql").read_text()
    with demo.db.engine.begin() as conn:
        conn.execute(text("UPDATE workflow_step_entity SET name = 'existing_step_name' WHERE id = 3"))
        conn.execute(text("INSERT INTO llm_action (id, name, prompt_template, model, temperature, lock_version) "
                          "VALUES (1, 'Summarise', 'Summarise: {{ input1 }}', 'gpt-4o-mini', 0.2, 1)"))
        assert conn.execute(text(sql)).rowcount == 1
    with demo.db.session() as s:
        config = s.get(WorkflowStepEntity, 3).config
    assert config["script_config"] == {"type": "llm_action", "action_id": 1}
    assert config["inputs"]["input1"]["db_field"] == "raw_data"  # the rest of the config is kept

    loopback.reset()
    result = execute_step_script(3, 53, {"section_ids": [711]})
    assert result["success"]
    chat = [r for r in loopback.requests if r.path.endswith("/chat/completions")]
    assert len(chat) == 1
    assert chat[0].json["messages"][0]["content"].startswith("Summarise: {\"temperature\"")
    assert loopback.count("/api/custom") == 0
    assert ledger.run_detail(demo, result["run_id"])["script_type"] == "llm_action"


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_models_and_migrations_agree(ws):
    """Alembic finds nothing to autogenerate: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from wfdesk.db.models import Base

    with ws.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    # Expression indexes (the coalesce in uq_content_field) cannot be reflected, so they are not compared.
    assert [d for d in diff if "uq_content_field" not in str(d)] == []


def test_head_constant_matches_the_migration_scripts():
    from wfdesk.db.migrate import HEAD

    assert head_revision() == HEAD
