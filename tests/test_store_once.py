"""Issue 11 item 11: each text output is stored once, in its version; the field's value is read from there."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from wfdesk.db import content
from wfdesk.db.migrate import alembic_config
from wfdesk.runs.planning import snapshot
from wfdesk.scripts.registry import execute_step_script
from wfdesk.services import queries
from wfdesk.services.transfer import export_bundle

BIG = ("x" * 999 + " ") * 500  # 500 KB in 500 "tokens": under the 1 MB cap and the 800-token limit
SECTIONS = [711, 712, 713]


def _stored_bytes(ws) -> dict[str, int]:
    """What the database really holds, column by column (raw SQL: no model mapping in between)."""
    with ws.db.engine.connect() as conn:
        def total(sql: str) -> int:
            return int(conn.execute(text(sql)).scalar() or 0)
        return {"fields": total("SELECT SUM(LENGTH(value)) FROM content_field"),
                "versions": total("SELECT SUM(LENGTH(value)) FROM content_version"),
                "units": total("SELECT SUM(LENGTH(CAST(result AS TEXT))) FROM workflow_run_unit")}


def _polish_big(ws, loopback) -> None:
    loopback.chat_reply = lambda body: BIG
    result = execute_step_script(1, 53, {"section_ids": SECTIONS})
    assert [e["status"] for e in result["results"]] == ["success"] * 3


def test_a_run_stores_each_answer_once(demo, loopback):
    before = sum(_stored_bytes(demo).values())
    _polish_big(demo, loopback)
    grown = _stored_bytes(demo)
    answer = len(BIG.strip())
    added = sum(grown.values()) - before
    assert 3 * answer <= added < 3 * answer + 10_000, grown
    with demo.db.engine.connect() as conn:
        copies = conn.execute(text("SELECT COUNT(*) FROM content_field WHERE name = 'polished' "
                                   "AND value IS NOT NULL")).scalar()
    assert copies == 0


def test_the_field_still_reads_the_answer_everywhere(demo, loopback):
    _polish_big(demo, loopback)
    answer = BIG.strip()
    detail = queries.post_detail(demo, 53)  # the sections table
    assert [s["fields"]["polished"] for s in detail["sections"] if s["id"] in SECTIONS] == [answer] * 3
    assert queries.field_value(demo, 53, 712, "polished")["value"] == answer
    with demo.db.session() as s:
        _, sections = snapshot(s, 53, SECTIONS)  # what prompt templates are given
        assert [sec.fields["polished"] for sec in sections] == [answer] * 3
        assert content.get_field(s, 53, 713, "polished").value == answer
        bundle = export_bundle(s)
    post = next(p for p in bundle["posts"] if p["id"] == 53)
    assert [sec["fields"]["polished"] for sec in post["sections"] if sec["id"] in SECTIONS] == [answer] * 3


def test_an_editor_save_and_a_revert_keep_one_copy(demo, loopback):
    from wfdesk.services import editing

    _polish_big(demo, loopback)
    lock = queries.field_value(demo, 53, 711, "polished")["lock_version"]
    saved = editing.save_field(demo, 53, 711, "polished", "my own words", lock)
    assert queries.field_value(demo, 53, 711, "polished")["value"] == "my own words"
    editing.accept_field_version(demo, saved["previous_version_id"])  # undo: the answer again
    assert queries.field_value(demo, 53, 711, "polished")["value"] == BIG.strip()
    with demo.db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM content_field WHERE accepted_version_id IS NOT NULL "
                                 "AND value IS NOT NULL")).scalar() == 0


def test_the_migration_drops_the_copies_and_its_downgrade_restores_them(demo, loopback):
    _polish_big(demo, loopback)
    cfg = alembic_config()
    with demo.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")  # an older database: every field holds a copy
    assert _stored_bytes(demo)["fields"] >= 3 * len(BIG.strip())
    with demo.db.engine.begin() as conn:
        # A value that differs from its version (written by hand, say) is not a copy: it stays.
        conn.execute(text("UPDATE content_field SET value = 'by hand' WHERE section_id = 713 AND name = 'polished'"))
    with demo.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert _stored_bytes(demo)["fields"] < 10_000
    assert queries.field_value(demo, 53, 711, "polished")["value"] == BIG.strip()
    assert queries.field_value(demo, 53, 713, "polished")["value"] == "by hand"


def test_a_deleted_answer_never_shows_another_texts_version_in_its_place(demo, loopback):
    """SQLite hands the highest id out again once its row is gone: the unit's pointer to its deleted answer must
    not pick up whatever version was written next (on PostgreSQL ids are never reused; the check holds there too)."""
    from wfdesk.runs import ledger

    loopback.chat_reply = lambda body: "the polished answer"
    run_id = execute_step_script(1, 53, {"section_ids": [713]})["run_id"]
    with demo.db.engine.begin() as conn:  # the section's versions go (as with the section, by cascade)
        conn.execute(text("DELETE FROM content_version WHERE section_id = 713"))
    for _ in range(6):  # enough new versions to reach the deleted one's id again
        with demo.db.session() as s:
            content.write_text(s, 53, 711, "notes", "an editor's unrelated note", source="editor")
    outputs = [e.get("output") for e in ledger.result_of(demo, run_id)["results"]]
    assert "an editor's unrelated note" not in outputs
    assert outputs == [None]
