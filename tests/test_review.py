"""wfdesk.services.review: what a step panel shows, in a constant number of queries, and the version actions."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from wfdesk.db import content
from wfdesk.db.models import WorkflowStepEntity
from wfdesk.errors import NotFoundError
from wfdesk.runs.engine import execute_step
from wfdesk.services import editing, review

IMAGE_FIELD = "generated_image_url"


class QueryCounter:
    def __init__(self, engine) -> None:
        self.engine, self.count = engine, 0

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)

    def _on(self, *args) -> None:
        self.count += 1


def field(ws, section_id, name):
    with ws.db.session() as s:
        f = content.get_field(s, 53, section_id, name)
        return f.value if f else None


def test_panel_data_of_the_demo_step(demo, loopback):
    data = review.panel_data(demo, 1, 53)
    step = data["step"]
    assert (step["name"], step["stage"], step["script_type"]) == ("polish_sections", "Writing", "llm_action")
    assert step["config_error"] is None
    assert step["action"]["name"] == "Polish section"
    assert step["action"]["model"] == "gpt-4o-mini"
    # The editor's words: the fields' labels, never their stored names.
    assert "Polish section" in step["description"]
    assert "Section Content → Polished Content" in step["description"]
    assert "draft" not in step["description"]
    assert step["inputs"]["input1"]["db_field"] == "draft"
    assert [r["id"] for r in data["sections"]] == [711, 712, 713]
    first = data["sections"][0]
    assert first["title"] == "Arriving in Inverness"
    assert first["preview"].startswith("we arrived late in inverness")
    assert first["inputs"]["draft"].startswith("we arrived")
    assert first["outputs"] == {"polished": None}
    assert first["last"] is None


def test_panel_data_shows_each_sections_last_state(demo, loopback):
    loopback.fail = lambda i, req: (500, {}, b'{"error": {"message": "boom"}}') if "Glen" in str(req.json) else None
    execute_step(demo, 1, 53, {"section_ids": [711, 712]})
    data = review.panel_data(demo, 1, 53)
    last = {r["id"]: r["last"] for r in data["sections"]}
    assert last[711]["status"] == "success"
    assert last[711]["result"]["output"].startswith("POLISHED")
    assert last[712]["status"] == "error"
    assert "boom" in last[712]["error"]
    assert last[713] is None
    assert data["sections"][0]["outputs"]["polished"].startswith("POLISHED")


def test_panel_data_query_count_does_not_grow_with_sections(demo, loopback):
    with QueryCounter(demo.db.engine) as small:
        review.panel_data(demo, 1, 53)
    for i in range(20):
        sid = editing.add_section(demo, 53, f"Extra {i}")
        editing.save_field(demo, 53, sid, "draft", f"text {i}", None)
    execute_step(demo, 1, 53, {"section_ids": [711, 712, 713]})
    with QueryCounter(demo.db.engine) as big:
        data = review.panel_data(demo, 1, 53)
    assert len(data["sections"]) == 23
    assert big.count == small.count


def test_invalid_config_is_reported_not_raised(demo):
    with demo.db.session() as s:
        step = s.get(WorkflowStepEntity, 2)
        step.config = {**step.config, "outputs": {"o": {"label": "x", "db_field": "not a name"}}}
    data = review.panel_data(demo, 2, 53)
    assert "Output o → database field" in data["step"]["config_error"]  # the label, not the key
    assert [r["id"] for r in data["sections"]] == [711, 712, 713]
    assert "invalid" in data["step"]["description"]


def test_a_config_that_cannot_run_is_reported(demo):
    with demo.db.session() as s:
        step = s.get(WorkflowStepEntity, 1)
        step.config = {**step.config, "script_config": {"type": "llm_action", "action_id": 999}}
    data = review.panel_data(demo, 1, 53)
    assert "999" in data["step"]["config_error"]
    assert "does not exist" in data["step"]["config_error"]
    assert "does not exist" in data["step"]["description"]


def test_missing_step_or_post(demo):
    with pytest.raises(NotFoundError):
        review.panel_data(demo, 99, 53)
    with pytest.raises(NotFoundError):
        review.panel_data(demo, 1, 99)


def test_image_versions_accept_reject_and_undo(demo, loopback):
    execute_step(demo, 2, 53, {"section_ids": [711]})
    loopback.image_max_side = 32  # different bytes: a second, distinct candidate
    execute_step(demo, 2, 53, {"section_ids": [711]})
    versions = review.field_versions(demo, 53, IMAGE_FIELD)[711]
    assert len(versions) == 2
    assert versions[0]["id"] > versions[1]["id"]  # newest first
    newest, older = versions
    assert newest["asset"]["path"] == newest["value"]
    assert len(newest["asset"]["sha256"]) == 64
    assert newest["status"] == "candidate"
    assert not newest["current"]

    assert review.version_action(demo, older["id"], "accept")["field_value"] == older["value"]
    assert review.version_action(demo, newest["id"], "accept")["field_value"] == newest["value"]
    assert field(demo, 711, IMAGE_FIELD) == newest["value"]

    rejected = review.version_action(demo, newest["id"], "reject")
    assert rejected["status"] == "rejected"
    assert rejected["field_value"] == older["value"]  # falls back
    undone = review.undo_reject(demo, newest["id"], reaccept=True)
    assert undone["status"] == "accepted"
    assert field(demo, 711, IMAGE_FIELD) == newest["value"]

    review.version_action(demo, older["id"], "reject")
    assert review.version_action(demo, older["id"], "unreject")["status"] == "candidate"
    statuses = {v["id"]: (v["status"], v["current"]) for v in review.field_versions(demo, 53, IMAGE_FIELD)[711]}
    assert statuses == {newest["id"]: ("accepted", True), older["id"]: ("candidate", False)}


def test_section_review_and_text_revert(demo, loopback):
    replies = iter(["one", "two"])
    loopback.chat_reply = lambda req: next(replies)
    execute_step(demo, 1, 53, {"section_ids": [711]})
    execute_step(demo, 1, 53, {"section_ids": [711]})
    detail = review.section_review(demo, 1, 53, 711, ["draft", "polished"], "polished")
    assert detail["values"]["polished"] == "two"
    assert detail["values"]["draft"].startswith("we arrived")
    assert [v["value"] for v in detail["versions"]] == ["two", "one"]
    assert detail["versions"][0]["current"]
    assert detail["last"]["status"] == "success"
    review.version_action(demo, detail["versions"][1]["id"], "accept")
    assert field(demo, 711, "polished") == "one"
    with pytest.raises(ValueError, match="Unknown version action 'delete'"):
        review.version_action(demo, detail["versions"][1]["id"], "delete")


def test_preview_is_one_short_line():
    assert review.preview("  a\n\nb  c ") == "a b c"
    long = review.preview("word " * 100, 20)
    assert len(long) <= 20
    assert long.endswith("…")
    assert review.preview(None) == ""


def test_latest_run_sums_up_what_is_left_to_do(demo, loopback):
    assert review.latest_run(demo, 1, 53) is None
    loopback.fail = lambda i, req: (500, {}, b'{"error": {"message": "boom"}}') if "Glen" in str(req.json) else None
    execute_step(demo, 1, 53, {"section_ids": [711, 712, 713]})
    latest = review.latest_run(demo, 1, 53)
    assert (latest["status"], latest["total"], latest["done"], latest["failed"]) == ("partial", 3, 2, 1)
    assert latest["unfinished_section_ids"] == [712]
    assert latest["resumable"]
    assert latest["offline"] is None
    assert "boom" in latest["first_error"]
    assert review.panel_data(demo, 1, 53)["latest_run"] == latest
    loopback.fail = None
    execute_step(demo, 1, 53, {"section_ids": [712]})
    latest = review.latest_run(demo, 1, 53)
    assert latest["status"] == "succeeded"
    assert not latest["resumable"]
    assert latest["unfinished"] == 0


def test_latest_run_names_an_unreachable_provider(demo):
    import socket

    from wfdesk.settings import ProviderProfile, Settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"  # closed when the block ends
    demo.settings = Settings(providers={"default": ProviderProfile(base_url=dead, max_retries=0)})
    execute_step(demo, 1, 53, {"section_ids": [711, 712]})
    latest = review.latest_run(demo, 1, 53)
    assert latest["status"] == "failed"
    assert latest["resumable"]
    assert latest["offline"] == {"address": dead, "sections": 2}


def test_unreachable_address_from_engine_errors():
    assert review.unreachable_address("cannot reach http://h:1/v1 (Connection error.)") == "http://h:1/v1"
    assert review.unreachable_address("cannot reach http://h:8/ep: refused") == "http://h:8/ep"
    assert review.unreachable_address("x; the provider looks offline, try again later") == ""
    assert review.unreachable_address("http://h/v1 answered 500: boom") is None
