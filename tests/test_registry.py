"""The registry's contract, including the reference document's own tests written out for real."""

from __future__ import annotations

import pytest
from PIL import Image

from wfdesk.db import content
from wfdesk.db.models import WorkflowStepEntity
from wfdesk.runs import ledger
from wfdesk.scripts.registry import (
    SCRIPT_REGISTRY,
    execute_step_script,
    get_step_config,
    register_script_type,
    unregister_script_type,
)


def _set_step_config(ws, step_id: int, config: dict) -> None:
    with ws.db.session() as s:
        s.get(WorkflowStepEntity, step_id).config = config


def test_execute_step_script_llm_action(demo, loopback):
    """Test LLM action execution (the reference document's unit test)."""
    step_config = {"script_config": {"type": "llm_action", "action_id": 5},
                   "inputs": {"input1": {"label": "Section Content", "db_field": "draft", "type": "textarea"}},
                   "outputs": {"output1": {"label": "Polished", "db_field": "polished", "type": "textarea"}}}
    _set_step_config(demo, 1, step_config)
    context = {"section_ids": [711, 712, 713]}

    result = execute_step_script(1, 53, context)

    assert result["success"] is True
    assert len(result["results"]) == 3
    assert [r["section_id"] for r in result["results"]] == [711, 712, 713]
    assert result["step"] == "polish_sections"
    assert result["sections_processed"] == [711, 712, 713]
    assert isinstance(result["run_id"], int)
    assert loopback.count("/v1/chat/completions") == 3


def test_execute_step_script_image_generation(demo, loopback):
    """Test image generation execution (the reference document's unit test)."""
    step_config = {"script_config": {"type": "image_generation", "parameters": {"model": "dall-e-3"}},
                   "inputs": {"input1": {"label": "Image Prompts", "db_field": "image_prompts", "type": "textarea"}},
                   "outputs": {"output1": {"label": "Image", "db_field": "generated_image_url", "type": "text"}}}
    _set_step_config(demo, 2, step_config)
    context = {"section_ids": [711]}

    result = execute_step_script(2, 53, context)

    assert result["success"] is True
    assert "image_url" in result["results"][0]
    assert result["results"][0]["metadata"]["model"] == "dall-e-3"


def test_section_illustrations_workflow(demo, loopback):
    """Complete section illustrations workflow: step config, execution, database updates, file storage."""
    assert get_step_config(2)["script_config"]["type"] == "image_generation"

    result = execute_step_script(2, 53, {"section_ids": [711, 712, 713]})

    assert result["success"]
    assert result["step"] == "section_illustrations"
    requests = [r.json for r in loopback.requests if r.path.endswith("/images/generations")]
    # The demo's current GPT image model answers base64 and refuses response_format: none is sent.
    assert [(r["model"], "response_format" in r) for r in requests] == [("gpt-image-1-mini", False)] * 3
    for entry in result["results"]:
        sid = entry["section_id"]
        # File storage: content-addressed under the data dir, a real image.
        assert entry["image_url"].startswith(f"content/posts/53/sections/{sid}/raw/")
        path = demo.data_dir / entry["image_url"]
        with Image.open(path) as img:
            assert img.format == "PNG"
        meta = entry["metadata"]
        assert meta["generation_time"].endswith("Z")
        assert meta["size"] == "1024x1024"
        assert meta["prompt"]
        assert meta["revised_prompt"].startswith("Revised: ")
        # Database: a candidate version awaiting review; the field is untouched until accepted.
        with demo.db.session() as s:
            versions = content.versions_of(s, 53, sid, "generated_image_url")
            assert [v.status for v in versions] == ["candidate"]
            assert versions[0].asset.path == entry["image_url"]
            assert content.get_field(s, 53, sid, "generated_image_url").value is None
            version_id = versions[0].id
        with demo.db.session() as s:
            content.accept_version(s, version_id)
        with demo.db.session() as s:
            assert content.get_field(s, 53, sid, "generated_image_url").value == entry["image_url"]
    run = ledger.run_detail(demo, result["run_id"])
    assert run["status"] == "succeeded"
    assert run["counts"]["success"] == 3
    assert all(u["images"] == 1 for u in run["units"])


def test_step_without_script_config_is_legacy_llm_action(demo, loopback):
    config = dict(get_step_config(1))
    config["script_config"] = {"action_id": 5}  # no type
    _set_step_config(demo, 1, config)
    assert execute_step_script(1, 53, {"section_ids": [711]})["success"]

    legacy = {k: v for k, v in config.items() if k != "script_config"}
    _set_step_config(demo, 1, legacy)
    with pytest.raises(ValueError, match="action_id: is required"):
        execute_step_script(1, 53, {"section_ids": [711]})


def test_unknown_type_raises_value_error_naming_it(demo, loopback):
    _set_step_config(demo, 1, {"script_config": {"type": "teleport"}})
    with pytest.raises(ValueError, match="Unknown script type: teleport"):
        execute_step_script(1, 53, {})
    assert loopback.count() == 0


def test_plain_handler_registered_at_run_time(demo, loopback):
    calls = []

    def video_generation(step_config, post_id, context):
        calls.append((step_config["script_config"]["parameters"], post_id, context))
        return {"success": True,
                "results": [{"section_id": sid, "status": "success", "output": f"clip-{sid}.mp4", "metadata": {}}
                            for sid in context["section_ids"]]}

    register_script_type("video_generation", video_generation)
    try:
        _set_step_config(demo, 3, {"script_config": {"type": "video_generation",
                                                     "parameters": {"model": "svd", "duration": 5, "fps": 24}}})
        result = execute_step_script(3, 53, {"section_ids": [711, 712]})
    finally:
        unregister_script_type("video_generation")

    assert calls == [({"model": "svd", "duration": 5, "fps": 24}, 53, {"section_ids": [711, 712]})]
    assert result["success"]
    assert result["step"] == "process_data"
    assert result["sections_processed"] == [711, 712]
    detail = ledger.run_detail(demo, result["run_id"])
    assert detail["script_type"] == "video_generation"
    assert detail["status"] == "succeeded"
    assert [u["section_id"] for u in detail["units"]] == [711, 712]


def test_plain_handler_that_raises_is_a_failed_run(demo):
    def broken(step_config, post_id, context):
        raise RuntimeError("renderer crashed")

    register_script_type("broken_type", broken)
    try:
        _set_step_config(demo, 3, {"script_config": {"type": "broken_type"}})
        result = execute_step_script(3, 53, {})
    finally:
        unregister_script_type("broken_type")
    assert result["success"] is False
    assert "renderer crashed" in result["error"]
    assert ledger.run_detail(demo, result["run_id"])["status"] == "failed"


def test_duplicate_registration_is_refused():
    register_script_type("twice", lambda c, p, x: {})
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_script_type("twice", lambda c, p, x: {})
    finally:
        unregister_script_type("twice")


def test_built_in_names_are_reserved_even_with_replace():
    for replace in (False, True):
        with pytest.raises(ValueError, match="'llm_action' is the name of a built-in step type and cannot be taken"):
            register_script_type("llm_action", lambda c, p, x: {}, replace=replace)
    with pytest.raises(ValueError, match="built-in"):
        unregister_script_type("llm_action")
    assert SCRIPT_REGISTRY["llm_action"].script_type == "llm_action"


def test_builtin_handlers_are_plain_callables_too(demo, loopback):
    """SCRIPT_REGISTRY[type](step_config, post_id, context) works as the reference calls it."""
    handler = SCRIPT_REGISTRY["custom_script"]
    result = handler(get_step_config(3), 53, {"section_ids": [712]})
    assert result["success"]
    assert result["results"][0]["section_id"] == 712
    assert loopback.count("/api/custom/process-data") == 1


SECRET_URL = "https://editor:hunter2pw@render.example/v1"


def test_an_unexpected_failure_is_told_in_words_without_its_exception_name_or_a_password(demo):
    """A plugin that fails in a way nobody foresaw: the editor reads its message (a password in an address
    blanked), not a Python exception's name; the log keeps the traceback."""
    def broken(step_config, post_id, context):
        raise RuntimeError(f"cannot reach {SECRET_URL}")

    register_script_type("broken_type", broken)
    try:
        _set_step_config(demo, 3, {"script_config": {"type": "broken_type"}})
        result = execute_step_script(3, 53, {})
    finally:
        unregister_script_type("broken_type")
    stored = ledger.run_detail(demo, result["run_id"])["error"]
    for error in (result["error"], stored):
        assert "cannot reach https://editor:***@render.example/v1" in error
        assert "hunter2pw" not in error
        assert "RuntimeError" not in error


def test_a_section_that_fails_unexpectedly_is_told_in_words_too(demo):
    from wfdesk.scripts.base import SectionHandler

    class Broken(SectionHandler):
        script_type = "broken_sections"

        def execute(self, job, unit, cancel):
            raise KeyError(f"no renderer at {SECRET_URL}")

    register_script_type("broken_sections", Broken())
    try:
        _set_step_config(demo, 3, {"script_config": {"type": "broken_sections"}})
        result = execute_step_script(3, 53, {"section_ids": [711]})
    finally:
        unregister_script_type("broken_sections")
    error = result["results"][0]["error"]
    assert "no renderer at https://editor:***@render.example/v1" in error
    assert "hunter2pw" not in error
    assert "KeyError" not in error
