"""Shareable workflows: export and import steps and LLM actions (no posts), and the built-in template."""

from __future__ import annotations

import json

import pytest

from wfdesk.db.models import LLMAction, Post, WorkflowStepEntity
from wfdesk.scripts.registry import execute_step_script
from wfdesk.services import workflows
from wfdesk.services.transfer import ImportRefusedError


def test_built_in_template_holds_the_reference_examples():
    doc = workflows.templates()["reference"]
    types = [s["config"]["script_config"]["type"] for s in doc["workflow_steps"]]
    assert types == ["llm_action", "image_generation", "custom_script"]
    assert "posts" not in doc


def test_template_into_an_empty_database_then_runs(ws, loopback):
    with ws.db.session() as s:
        counts = workflows.import_workflow(s, workflows.templates()["reference"], ws)
    assert counts["workflow_steps"] == 3
    assert counts["llm_actions"] == 1
    with ws.db.session() as s:
        s.add(Post(id=7, title="Fresh post"))
        from wfdesk.db.models import PostSection

        s.add(PostSection(id=70, post_id=7, position=1, title="Only section"))
    from wfdesk.db import content

    with ws.db.session() as s:
        content.write_text(s, 7, 70, "draft", "a draft", source="editor")
    result = execute_step_script(counts["step_ids"][0], 7, {"section_ids": [70]})
    assert result["success"]


def test_round_trip_between_two_databases_remaps_action_ids(demo, tmp_path, settings):
    with demo.db.session() as s:
        doc = workflows.export_workflow(s, name="Highlands")
    assert json.loads(json.dumps(doc)) == doc
    assert doc["name"] == "Highlands"
    assert [a["id"] for a in doc["llm_actions"]] == [5]

    with demo.db.session() as s:  # importing into a database that already has id 5 taken
        counts = workflows.import_workflow(s, doc, demo)
    new_action = counts["action_ids"][5]
    assert new_action != 5
    with demo.db.session() as s:
        polish = s.get(WorkflowStepEntity, counts["step_ids"][0])
        assert polish.config["script_config"]["action_id"] == new_action
        assert polish.position > 3  # appended after the existing steps
        assert s.query(WorkflowStepEntity).count() == 6
        assert s.query(LLMAction).count() == 2


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d.update(format="something-else"), "format"),
    (lambda d: d["workflow_steps"][0]["config"]["script_config"].update(action_id=99), "action_id"),
    (lambda d: d["workflow_steps"][1]["config"]["script_config"]["parameters"].update(n=0), "parameters.n"),
    (lambda d: d["llm_actions"][0].update(prompt_template="{{ broken"), "llm_actions.0.prompt_template"),
    (lambda d: d.update(posts=[]), "posts"),
])
def test_invalid_workflow_adds_nothing(ws, mutate, where):
    doc = json.loads(json.dumps(workflows.templates()["reference"]))
    mutate(doc)
    with pytest.raises(ImportRefusedError) as err, ws.db.session() as s:
        workflows.import_workflow(s, doc, ws)
    assert where in str(err.value)
    with ws.db.session() as s:
        assert s.query(WorkflowStepEntity).count() == 0
        assert s.query(LLMAction).count() == 0
