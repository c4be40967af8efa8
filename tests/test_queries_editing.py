"""The window's reads (queries) and the editor's writes (editing), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from wfdesk.db import content
from wfdesk.db.models import PostSection
from wfdesk.errors import ConflictError, NotFoundError
from wfdesk.runs import ledger
from wfdesk.services import editing, queries


def _versions(ws, post_id, section_id, name):
    with ws.db.session() as s:
        return [(v.value, v.status, v.source) for v in content.versions_of(s, post_id, section_id, name)]


def test_demo_loads_on_an_empty_database(ws):
    assert queries.is_empty(ws)
    counts = editing.load_demo(ws)
    assert counts["posts"] == 1
    assert counts["workflow_steps"] == 3
    assert not queries.is_empty(ws)


def test_list_posts_searches_titles_and_filters_status(demo):
    other = editing.create_post(demo, "Lisbon by tram")
    editing.set_post_status(demo, other, "review")
    posts = queries.list_posts(demo)
    assert {p["id"] for p in posts} == {53, other}
    assert next(p for p in posts if p["id"] == 53)["sections"] == 3
    assert [p["id"] for p in queries.list_posts(demo, search="HIGHLANDS")] == [53]
    assert [p["id"] for p in queries.list_posts(demo, search="scottish week")] == [53]
    assert queries.list_posts(demo, search="100%") == []
    assert [p["id"] for p in queries.list_posts(demo, status="review")] == [other]
    assert "review" in queries.post_statuses(demo)


def test_post_detail_has_ordered_sections_with_fields(demo):
    detail = queries.post_detail(demo, 53)
    assert detail["title"] == "A week in the Scottish Highlands"
    assert [s["id"] for s in detail["sections"]] == [711, 712, 713]
    assert detail["field_names"] == ["draft", "image_prompts", "raw_data"]
    first = detail["sections"][0]
    assert first["fields"]["draft"].startswith("we arrived late")
    assert set(first["locks"]) == {"draft", "image_prompts", "raw_data"}
    with pytest.raises(NotFoundError):
        queries.post_detail(demo, 99999)


def test_post_detail_uses_a_constant_number_of_queries(ws):
    post_id = editing.create_post(ws, "Long read")
    with ws.db.session() as s:
        for i in range(200):
            s.add(PostSection(post_id=post_id, position=i + 1, title=f"Part {i}"))
        s.flush()
        ids = [sid for (sid,) in s.query(PostSection.id).filter_by(post_id=post_id)]
        for sid in ids:
            content.write_text(s, post_id, sid, "draft", f"text {sid}", source="import")
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(ws.db.engine, "before_cursor_execute", count)
    try:
        detail = queries.post_detail(ws, post_id)
    finally:
        event.remove(ws.db.engine, "before_cursor_execute", count)
    assert len(detail["sections"]) == 200
    assert all(s["fields"]["draft"] == f"text {s['id']}" for s in detail["sections"])
    assert len(statements) <= 5


def test_list_steps_in_workflow_order(demo):
    steps = queries.list_steps(demo)
    assert [(s["id"], s["stage"], s["script_type"]) for s in steps] == [
        (1, "Writing", "llm_action"), (2, "Illustration", "image_generation"), (3, "Publishing", "custom_script")]
    assert "draft" in queries.step_field_names(demo)


def test_step_states_follow_the_latest_run_and_pending_candidates(demo):
    states = queries.step_states(demo, 53)
    assert {sid: st["state"] for sid, st in states.items()} == {1: "never", 2: "never", 3: "never"}

    run_id, units = ledger.create_run(demo, step_id=1, post_id=53, step_name="polish_sections",
                                      script_type="llm_action", effective_config={}, context={},
                                      section_ids=[711, 712, 713])
    ledger.unit_finished(demo, units[0], "success", {})
    state = queries.step_states(demo, 53)[1]
    assert (state["state"], state["done"], state["total"], state["label"]) == ("running", 1, 3, "running 1/3")
    for uid in units[1:]:
        ledger.unit_finished(demo, uid, "success", {})
    ledger.finish_run(demo, run_id)
    assert queries.step_states(demo, 53)[1]["label"] == "done"

    run2, units2 = ledger.create_run(demo, step_id=1, post_id=53, step_name="polish_sections",
                                     script_type="llm_action", effective_config={}, context={}, section_ids=[711])
    ledger.unit_finished(demo, units2[0], "error", {}, error="boom")
    ledger.finish_run(demo, run2)
    assert queries.step_states(demo, 53)[1]["state"] == "failed"

    run3, units3 = ledger.create_run(demo, step_id=2, post_id=53, step_name="section_illustrations",
                                     script_type="image_generation", effective_config={}, context={},
                                     section_ids=[711])
    with demo.db.session() as s:
        asset = content.get_or_create_asset(s, sha256="0" * 64, path="images/x.png", mime="image/png", width=1,
                                            height=1, size_bytes=1)
        content.add_image(s, 53, 711, "generated_image_url", asset, accept=False, run_id=run3, unit_id=units3[0])
    ledger.unit_finished(demo, units3[0], "success", {})
    ledger.finish_run(demo, run3)
    state = queries.step_states(demo, 53)[2]
    assert (state["state"], state["pending"], state["label"]) == ("review", 1, "awaiting review (1 image)")
    assert queries.step_states(demo, 53)[3]["state"] == "never"


def test_posts_are_created_renamed_and_given_a_status(ws):
    post_id = editing.create_post(ws, "  Draft idea ")
    editing.rename_post(ws, post_id, "Final idea")
    editing.set_post_status(ws, post_id, "published")
    assert queries.list_posts(ws)[0] | {"updated_at": None} == {
        "id": post_id, "title": "Final idea", "status": "published", "updated_at": None, "sections": 0}
    with pytest.raises(editing.EditError):
        editing.create_post(ws, "   ")


def test_sections_are_added_renamed_and_moved(demo):
    new = editing.add_section(demo, 53, "Epilogue")
    editing.rename_section(demo, new, "Going home")
    ids = [s["id"] for s in queries.post_detail(demo, 53)["sections"]]
    assert ids == [711, 712, 713, new]
    assert editing.move_section(demo, new, -2) == -2
    assert [s["id"] for s in queries.post_detail(demo, 53)["sections"]] == [711, new, 712, 713]
    assert editing.move_section(demo, 711, -1) == 0  # already first
    assert editing.move_section(demo, new, 5) == 2
    detail = queries.post_detail(demo, 53)
    assert [(s["id"], s["position"]) for s in detail["sections"]] == [(711, 1), (712, 2), (713, 3), (new, 4)]
    assert detail["sections"][-1]["title"] == "Going home"


def test_a_deleted_section_comes_back_with_its_fields_and_history(demo):
    editing.save_field(demo, 53, 712, "draft", "Glen Affric, edited.",
                       queries.field_value(demo, 53, 712, "draft")["lock_version"])
    before = _versions(demo, 53, 712, "draft")
    snapshot = editing.delete_section(demo, 712)
    assert [s["id"] for s in queries.post_detail(demo, 53)["sections"]] == [711, 713]
    assert _versions(demo, 53, 712, "draft") == []

    restored = editing.restore_section(demo, snapshot)
    assert restored == 712
    detail = queries.post_detail(demo, 53)
    assert [s["id"] for s in detail["sections"]] == [711, 712, 713]
    assert detail["sections"][1]["fields"]["draft"] == "Glen Affric, edited."
    assert detail["sections"][1]["title"] == "Glen Affric"
    assert _versions(demo, 53, 712, "draft") == before
    # The restored field still points at a version: reverting to the imported text works.
    with demo.db.session() as s:
        first = content.versions_of(s, 53, 712, "draft")[0].id
    editing.accept_field_version(demo, first)
    assert queries.field_value(demo, 53, 712, "draft")["value"].startswith("glen affric is maybe")


def test_save_field_writes_a_version_and_refuses_a_stale_save(demo):
    lock = queries.field_value(demo, 53, 711, "draft")["lock_version"]
    saved = editing.save_field(demo, 53, 711, "draft", "We arrived late in Inverness.", lock)
    assert saved["lock_version"] != lock
    assert _versions(demo, 53, 711, "draft")[-1] == ("We arrived late in Inverness.", "accepted", "editor")

    with pytest.raises(ConflictError) as err:
        editing.save_field(demo, 53, 711, "draft", "mine", lock)
    assert err.value.theirs == "We arrived late in Inverness."
    assert err.value.mine == "mine"

    # Undo re-accepts the previous version; nothing is lost.
    editing.accept_field_version(demo, saved["previous_version_id"])
    assert queries.field_value(demo, 53, 711, "draft")["value"].startswith("we arrived late in inverness")
    assert len(_versions(demo, 53, 711, "draft")) == 2


def test_save_field_creates_a_new_field_once(demo):
    saved = editing.save_field(demo, 53, 713, "notes", "Bring midge spray.", None)
    assert saved["previous_version_id"] is None
    assert queries.field_value(demo, 53, 713, "notes")["value"] == "Bring midge spray."
    with pytest.raises(ConflictError):
        editing.save_field(demo, 53, 713, "notes", "second editor", None)
    editing.withdraw_field_version(demo, saved["version_id"])
    assert queries.field_value(demo, 53, 713, "notes")["value"] is None
    assert _versions(demo, 53, 713, "notes") == [("Bring midge spray.", "rejected", "editor")]
    with pytest.raises(editing.EditError):
        editing.save_field(demo, 53, 713, "bad name", "x", None)
