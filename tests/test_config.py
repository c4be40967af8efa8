"""Step config validation and the overlay order: step, then the post's override, then the run context."""

from __future__ import annotations

import pytest

from wfdesk.db.models import PostWorkflowStepAction
from wfdesk.errors import ConfigError
from wfdesk.runs.planning import step_effective_config
from wfdesk.scripts.config import effective_config, script_type_of
from wfdesk.scripts.registry import execute_step_script, get_step_config
from wfdesk.services.validation import validate_step

from tests_support import set_step_config


def test_overlay_order():
    step = {"script_config": {"type": "image_generation", "parameters": {"model": "dall-e-3", "size": "1024x1024",
                                                                        "n": 1}}}
    override = {"script_config": {"parameters": {"size": "512x512", "n": 2}}}
    context = {"parameters": {"n": 3}, "llm_settings": {"model": "local"}, "inputs": {"x": "y"}}
    merged = effective_config(step, override, context)
    assert merged["script_config"]["parameters"] == {"model": "local", "size": "512x512", "n": 3}
    assert "inputs" not in merged  # run inputs are data, not config
    assert step["script_config"]["parameters"]["n"] == 1  # nothing mutated


def test_script_type_defaults_to_legacy_llm_action():
    assert script_type_of({}) == script_type_of(None) == script_type_of({"script_config": {}}) == "llm_action"
    assert script_type_of({"script_config": {"type": "custom_script"}}) == "custom_script"


def test_post_override_is_used_by_runs(demo, loopback):
    with demo.db.session() as s:
        s.add(PostWorkflowStepAction(post_id=53, step_id=2, config={"script_config": {"parameters": {
            "model": "gpt-image-1", "size": "512x512"}}}))
    with demo.db.session() as s:
        _step, merged = step_effective_config(s, 2, 53, {})
    assert merged["script_config"]["parameters"]["model"] == "gpt-image-1"
    result = execute_step_script(2, 53, {"section_ids": [711]})
    req = next(r.json for r in loopback.requests if r.path.endswith("/images/generations"))
    assert (req["model"], req["size"]) == ("gpt-image-1", "512x512")
    assert result["results"][0]["metadata"]["model"] == "gpt-image-1"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda c: c["script_config"].pop("action_id"), "script_config.action_id"),
    (lambda c: c["script_config"].update(action_id=77), "script_config.action_id"),
    (lambda c: c["script_config"].update(parameters={"temperature": 5}), "script_config.parameters.temperature"),
    (lambda c: c["script_config"].update(parameters={"max_tokens": 0}), "script_config.parameters.max_tokens"),
    (lambda c: c["inputs"]["input1"].update(type="html"), "inputs.input1.type"),
    (lambda c: c["inputs"]["input1"].pop("db_field"), "inputs.input1.db_field"),
    (lambda c: c["outputs"]["output1"].update(db_field="no spaces allowed"), "outputs.output1.db_field"),
    (lambda c: c["script_config"].update(parameters={"api_key": "sk-123"}), "script_config.parameters.api_key"),
    (lambda c: c.update(inputs=[1, 2]), "inputs"),
])
def test_bad_llm_configs_name_the_field_and_nothing_runs(demo, loopback, mutate, field):
    config = get_step_config(1)
    mutate(config)
    set_step_config(demo, 1, config)
    problems = validate_step(demo, "polish_sections", config)
    assert field in [p.field for p in problems], problems
    with pytest.raises(ConfigError) as err:
        execute_step_script(1, 53, {"section_ids": [711]})
    assert "polish_sections" in str(err.value)
    assert field in str(err.value)
    assert loopback.count() == 0


@pytest.mark.parametrize(("params", "field"), [
    ({"n": 0}, "script_config.parameters.n"),
    ({"size": "huge"}, "script_config.parameters.size"),
    ({"timeout": -1}, "script_config.parameters.timeout"),
    ({"concurrency": 1000}, "script_config.parameters.concurrency"),
])
def test_bad_image_parameters(demo, params, field):
    config = get_step_config(2)
    config["script_config"]["parameters"].update(params)
    assert field in [p.field for p in validate_step(demo, "section_illustrations", config)]


def test_custom_script_needs_endpoint_and_base_url(demo):
    config = get_step_config(3)
    del config["script_config"]["custom_endpoint"]
    assert [p.field for p in validate_step(demo, "x", config)] == ["script_config.custom_endpoint"]
    demo.settings.custom_script_base_url = None
    fields = [p.field for p in validate_step(demo, "x", get_step_config(3))]
    assert fields == ["custom_script base URL"]


def test_bad_context_is_refused(demo, loopback):
    with pytest.raises(ConfigError, match=r"context\.section_ids"):
        execute_step_script(1, 53, {"section_ids": "711"})
    with pytest.raises(ConfigError, match=r"context\.inputs"):
        execute_step_script(1, 53, {"inputs": ["a"]})
    assert loopback.count() == 0


def test_reference_configs_are_valid(demo):
    for step_id in (1, 2, 3):
        assert validate_step(demo, f"step {step_id}", get_step_config(step_id)) == []
