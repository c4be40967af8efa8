"""The small read models behind the review GUI: candidates awaiting review per section, whether a version is its
field's value, and the labels editors know fields by. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from wfdesk.db.field_labels import labels_by_field
from wfdesk.errors import NotFoundError
from wfdesk.scripts.registry import execute_step_script
from wfdesk.services import gallery_queries, queries, review

IMAGE_FIELD = "generated_image_url"


def test_awaiting_review_counts_candidates_per_section(demo, loopback):
    ws = demo
    assert gallery_queries.awaiting_review(ws, 53, IMAGE_FIELD) == {}
    result = execute_step_script(2, 53, {"section_ids": [711, 712], "parameters": {"n": 2}})
    assert result["success"]
    assert gallery_queries.awaiting_review(ws, 53, IMAGE_FIELD) == {711: 2, 712: 2}
    first = review.field_versions(ws, 53, IMAGE_FIELD, [711])[711]
    review.version_action(ws, first[0]["id"], "accept")
    review.version_action(ws, first[1]["id"], "reject")
    assert gallery_queries.awaiting_review(ws, 53, IMAGE_FIELD) == {712: 2}
    assert gallery_queries.awaiting_review(ws, 53, "polished") == {}


def test_is_field_value_reads_the_database(demo, loopback):
    ws = demo
    assert execute_step_script(2, 53, {"section_ids": [711], "parameters": {"n": 2}})["success"]
    newer, older = review.field_versions(ws, 53, IMAGE_FIELD, [711])[711]
    assert not gallery_queries.is_field_value(ws, newer["id"])
    review.version_action(ws, newer["id"], "accept")
    assert gallery_queries.is_field_value(ws, newer["id"])
    assert not gallery_queries.is_field_value(ws, older["id"])
    review.version_action(ws, newer["id"], "reject")
    assert not gallery_queries.is_field_value(ws, newer["id"])


def test_a_star_is_kept_and_leaves_the_review_state_alone(demo, loopback):
    ws = demo
    assert execute_step_script(2, 53, {"section_ids": [711], "parameters": {"n": 2}})["success"]
    newer, older = review.field_versions(ws, 53, IMAGE_FIELD, [711])[711]
    assert newer["starred"] is False
    review.version_action(ws, older["id"], "accept")
    assert review.set_starred(ws, newer["id"], True) is True
    shown = {v["id"]: v for v in gallery_queries.image_candidates(ws, 53, 711, IMAGE_FIELD)}
    assert shown[newer["id"]]["starred"] is True
    assert shown[older["id"]]["starred"] is False
    assert shown[newer["id"]]["status"] == "candidate"
    assert shown[older["id"]]["current"] is True
    assert review.field_versions(ws, 53, IMAGE_FIELD, [711])[711][0]["starred"] is True
    assert review.set_starred(ws, newer["id"], False) is False
    assert gallery_queries.image_candidates(ws, 53, 711, IMAGE_FIELD)[0]["starred"] is False


def test_a_deleted_section_comes_back_with_its_stars(demo, loopback):
    from wfdesk.services import editing

    assert execute_step_script(2, 53, {"section_ids": [712], "parameters": {"n": 2}})["success"]
    newer, older = review.field_versions(demo, 53, IMAGE_FIELD, [712])[712]
    review.set_starred(demo, older["id"], True)
    editing.restore_section(demo, editing.delete_section(demo, 712))  # Delete, then Ctrl+Z
    restored = {v["id"]: v["starred"] for v in gallery_queries.image_candidates(demo, 53, 712, IMAGE_FIELD)}
    assert restored == {newer["id"]: False, older["id"]: True}


def test_starring_a_version_that_does_not_exist_says_so(demo):
    with pytest.raises(NotFoundError, match="does not exist"):
        review.set_starred(demo, 999_999, True)


def test_labels_by_field_follow_the_workflow_and_keep_fields_apart(demo):
    labels = labels_by_field(queries.list_steps(demo))
    assert labels == {"draft": "Section Content", "polished": "Polished Content", "image_prompts": "Image Prompts",
                      "generated_image_url": "Generated Image URL", "raw_data": "Input Data",
                      "processed_data": "Processed Data"}
    steps = [{"config": {"inputs": {"a": {"label": "Text", "db_field": "one"}},
                         "outputs": {"b": {"label": "Text", "db_field": "two"}, "c": {"db_field": "three"},
                                     "d": "not a spec"}}}]
    assert labels_by_field(steps) == {"one": "Text (one)", "two": "Text (two)", "three": "three"}
