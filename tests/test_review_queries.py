"""The small read models behind the review GUI: candidates awaiting review per section, whether a version is its
field's value, and the labels editors know fields by. SQLite and PostgreSQL."""

from __future__ import annotations

from wfdesk.db.field_labels import labels_by_field
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


def test_labels_by_field_follow_the_workflow_and_keep_fields_apart(demo):
    labels = labels_by_field(queries.list_steps(demo))
    assert labels == {"draft": "Section Content", "polished": "Polished Content", "image_prompts": "Image Prompts",
                      "generated_image_url": "Generated Image URL", "raw_data": "Input Data",
                      "processed_data": "Processed Data"}
    steps = [{"config": {"inputs": {"a": {"label": "Text", "db_field": "one"}},
                         "outputs": {"b": {"label": "Text", "db_field": "two"}, "c": {"db_field": "three"},
                                     "d": "not a spec"}}}]
    assert labels_by_field(steps) == {"one": "Text (one)", "two": "Text (two)", "three": "three"}
