"""The three built-in handlers against the loopback provider, over real HTTP."""

from __future__ import annotations

import json
import threading

import pytest

from wfdesk.db import content
from wfdesk.errors import ConfigError
from wfdesk.runs import ledger
from wfdesk.scripts.registry import execute_step_script, get_step_config

from tests_support import make_png, set_action_template, set_step_config


def _last_prompt(loopback) -> str:
    chats = [r.json for r in loopback.requests if r.path.endswith("/chat/completions")]
    return chats[-1]["messages"][-1]["content"]


# --- llm_action ----------------------------------------------------------------------------------------------

def test_llm_template_variables(demo, loopback):
    set_action_template(demo, 5, "{{ input1 }}|{{ draft }}|{{ section.title }}|{{ section.id }}|{{ post.title }}"
                                  "|{{ image_prompts }}")
    execute_step_script(1, 53, {"section_ids": [712]})
    assert _last_prompt(loopback) == ("glen affric is maybe the most beautifull glen, pine forest and lochs everywhere."
                                      "|glen affric is maybe the most beautifull glen, pine forest and lochs "
                                      "everywhere.|Glen Affric|712|A week in the Scottish Highlands"
                                      "|Scottish highland landscape, Glen Affric, Caledonian pine forest, loch")


@pytest.mark.parametrize("key", ["input1", "draft"])
def test_context_inputs_override_by_key_or_db_field(demo, loopback, key):
    set_action_template(demo, 5, "{{ input1 }} / {{ draft }}")
    execute_step_script(1, 53, {"section_ids": [711], "inputs": {key: "OVERRIDE"}})
    assert _last_prompt(loopback) == "OVERRIDE / OVERRIDE"


def test_llm_settings_override_model_temperature_max_tokens(demo, loopback):
    execute_step_script(1, 53, {"section_ids": [711],
                                "llm_settings": {"model": "local-llama", "temperature": 0.1, "max_tokens": 42}})
    req = [r.json for r in loopback.requests if r.path.endswith("/chat/completions")][-1]
    assert (req["model"], req["temperature"], req["max_tokens"]) == ("local-llama", 0.1, 42)
    # Without overrides the LLM action's own settings are used.
    execute_step_script(1, 53, {"section_ids": [711]})
    req = [r.json for r in loopback.requests if r.path.endswith("/chat/completions")][-1]
    assert (req["model"], req["temperature"], req["max_tokens"]) == ("gpt-4o-mini", 0.7, 800)


def test_missing_template_variable_is_refused_before_any_call(demo, loopback):
    set_action_template(demo, 5, "Polish {{ draft }} in the style of {{ author_style }}")
    with pytest.raises(ConfigError) as err:
        execute_step_script(1, 53, {"section_ids": [711, 712]})
    assert "author_style" in str(err.value)
    assert "polish_sections" in str(err.value)
    assert loopback.count() == 0
    assert ledger.list_runs(demo) == []


def test_llm_output_is_a_new_version_and_the_old_value_can_be_restored(demo, loopback):
    with demo.db.session() as s:
        content.write_text(s, 53, 711, "polished", "my own hand-written text", source="editor")
    result = execute_step_script(1, 53, {"section_ids": [711]})
    output = result["results"][0]["output"]
    assert output.startswith("POLISHED: ")
    with demo.db.session() as s:
        assert content.get_field(s, 53, 711, "polished").value == output
        versions = content.versions_of(s, 53, 711, "polished")
        assert [v.value for v in versions] == ["my own hand-written text", output]
        assert versions[1].run_id == result["run_id"]
        first_id = versions[0].id
    with demo.db.session() as s:
        content.accept_version(s, first_id)
    with demo.db.session() as s:
        assert content.get_field(s, 53, 711, "polished").value == "my own hand-written text"
        assert len(content.versions_of(s, 53, 711, "polished")) == 2


def test_llm_runs_once_for_the_post_without_sections(demo, loopback):
    set_action_template(demo, 5, "Summarise {{ post.title }}")
    result = execute_step_script(1, 53, {})
    assert result["success"]
    assert [r["section_id"] for r in result["results"]] == [None]
    assert _last_prompt(loopback) == "Summarise A week in the Scottish Highlands"
    with demo.db.session() as s:
        assert content.get_field(s, 53, None, "polished").value.startswith("POLISHED: Summarise")


def test_llm_streaming_collects_the_answer_and_usage(demo, loopback):
    execute_step_script(1, 53, {"section_ids": [711], "parameters": {"stream": True}})
    detail = ledger.run_detail(demo, ledger.list_runs(demo)[0]["id"])
    unit = detail["units"][0]
    assert unit["status"] == "success"
    assert unit["result"]["output"].startswith("POLISHED: Polish")
    assert unit["prompt_tokens"] > 0
    assert unit["completion_tokens"] > 0
    assert [r.json.get("stream") for r in loopback.requests] == [True]


def test_one_failing_section_does_not_stop_the_others(demo, loopback):
    loopback.fail = lambda i, req: ((500, {}, b'{"error": {"message": "model overloaded"}}')
                                    if req.json and "Glen Affric" in json.dumps(req.json) else None)
    result = execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    statuses = {r["section_id"]: r["status"] for r in result["results"]}
    assert statuses == {711: "success", 712: "error", 713: "success"}
    error = next(r["error"] for r in result["results"] if r["section_id"] == 712)
    assert "500" in error
    assert "model overloaded" in error
    assert loopback.base_url in error
    assert result["success"] is False
    assert ledger.run_detail(demo, result["run_id"])["status"] == "partial"


def test_sections_run_concurrently(demo, loopback):
    """Three requests must be in flight at once to pass the barrier; sequential execution would time out."""
    barrier = threading.Barrier(3, timeout=10)

    def reply(body):
        barrier.wait()
        return "together"

    loopback.chat_reply = reply
    result = execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    assert [r["status"] for r in result["results"]] == ["success"] * 3


def test_concurrency_is_bounded_by_parameters(demo, loopback):
    active, peak, lock = [0], [0], threading.Lock()

    def reply(body):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.05)
        with lock:
            active[0] -= 1
        return "ok"

    loopback.chat_reply = reply
    execute_step_script(1, 53, {"section_ids": [711, 712, 713], "parameters": {"concurrency": 1}})
    assert peak[0] == 1


# --- image_generation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["url", "data_url"])
def test_image_url_answers_are_accepted(demo, loopback, mode):
    loopback.image_mode = mode
    result = execute_step_script(2, 53, {"section_ids": [711]})
    entry = result["results"][0]
    assert entry["status"] == "success", entry
    assert (demo.data_dir / entry["image_url"]).read_bytes() == make_png("Inverness at dusk in the rain, river Ness, "
                                                                          "warm lights", 0, 64, 64)


def test_image_prompt_from_context_inputs(demo, loopback):
    execute_step_script(2, 53, {"section_ids": [711], "inputs": {"image_prompts": "A red deer at dawn"}})
    req = [r.json for r in loopback.requests if r.path.endswith("/images/generations")][-1]
    assert req["prompt"] == "A red deer at dawn"


def test_image_parameters_reach_the_provider_and_n_gives_candidates(demo, loopback):
    # dall-e-3 (as LocalAI and others still serve it) makes one image per request: two candidates, two requests.
    result = execute_step_script(2, 53, {"section_ids": [713], "parameters": {"model": "dall-e-3", "n": 2,
                                                                              "quality": "hd", "size": "512x512"}})
    reqs = [r.json for r in loopback.requests if r.path.endswith("/images/generations")]
    assert [(r["n"], r["quality"], r["size"], r["model"]) for r in reqs] == [(1, "hd", "512x512", "dall-e-3")] * 2
    entry = result["results"][0]
    assert len(entry["images"]) == 2
    assert entry["images"][0]["image_url"] != entry["images"][1]["image_url"]
    with demo.db.session() as s:
        assert [v.status for v in content.versions_of(s, 53, 713, "generated_image_url")] == ["candidate"] * 2


def test_auto_accept_sets_the_field(demo, loopback):
    result = execute_step_script(2, 53, {"section_ids": [712], "parameters": {"auto_accept": True}})
    with demo.db.session() as s:
        assert content.get_field(s, 53, 712, "generated_image_url").value == result["results"][0]["image_url"]


def test_reject_and_accept_never_lose_a_candidate(demo, loopback):
    first = execute_step_script(2, 53, {"section_ids": [711]})["results"][0]["images"][0]["version_id"]
    loopback.image_bytes = make_png("another", 1, 32, 32)
    second = execute_step_script(2, 53, {"section_ids": [711]})["results"][0]["images"][0]["version_id"]
    with demo.db.session() as s:
        content.accept_version(s, first)
    with demo.db.session() as s:
        content.accept_version(s, second)
    with demo.db.session() as s:
        content.reject_version(s, second)
    with demo.db.session() as s:
        # Rejecting the current image falls back to the one accepted before it.
        field = content.get_field(s, 53, 711, "generated_image_url")
        assert field.accepted_version_id == first
        assert [v.status for v in content.versions_of(s, 53, 711, "generated_image_url")] == ["accepted", "rejected"]


def test_bad_image_bytes_fail_the_section_and_store_nothing(demo, loopback):
    loopback.image_bytes = b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"
    result = execute_step_script(2, 53, {"section_ids": [711]})
    entry = result["results"][0]
    assert entry["status"] == "error"
    assert "HTML" in entry["error"]
    assert not (demo.data_dir / "content").exists()


def test_empty_prompt_is_refused_before_any_call(demo, loopback):
    with pytest.raises(ConfigError, match=r"Image Prompts.*empty.*711"):
        execute_step_script(2, 53, {"section_ids": [711], "inputs": {"image_prompts": ""}})
    assert loopback.count() == 0


def test_b64_is_what_the_engine_asks_for(demo, loopback):
    # The demo's GPT image model answers base64 without being asked (it refuses response_format)...
    result = execute_step_script(2, 53, {"section_ids": [712]})
    stored = (demo.data_dir / result["results"][0]["image_url"]).read_bytes()
    req = [r for r in loopback.requests if r.path.endswith("/images/generations")][-1]
    assert req.json["model"] == "gpt-image-1-mini"
    assert "response_format" not in req.json
    assert stored == make_png(req.json["prompt"], 0, 64, 64)  # the bytes we stored are the bytes it produced
    # ...dall-e-3, where a server still offers it, is asked for base64 (its URLs expire).
    execute_step_script(2, 53, {"section_ids": [712], "parameters": {"model": "dall-e-3"}})
    req = [r for r in loopback.requests if r.path.endswith("/images/generations")][-1]
    assert req.json["response_format"] == "b64_json"


# --- custom_script ------------------------------------------------------------------------------------------

def test_custom_script_posts_inputs_and_stores_output(demo, loopback):
    result = execute_step_script(3, 53, {"section_ids": [711, 712]})
    assert result["success"]
    posts = [r for r in loopback.requests if r.path == "/api/custom/process-data"]
    assert sorted(p.json["section_id"] for p in posts) == [711, 712]
    body = next(p.json for p in posts if p.json["section_id"] == 711)
    assert body == {"post_id": 53, "section_id": 711, "inputs": {"raw_data": '{"temperature": 9, "rain_mm": 12}'},
                    "parameters": {"timeout": 30, "format": "json", "validation": True}}
    with demo.db.session() as s:
        value = content.get_field(s, 53, 711, "processed_data").value
    assert value == 'processed: {"raw_data": "{\\"temperature\\": 9, \\"rain_mm\\": 12}"}'


def test_custom_script_without_output_key_stores_the_whole_json(demo, loopback):
    loopback.custom_reply = lambda req: (200, {}, json.dumps({"rows": [1, 2]}).encode())
    result = execute_step_script(3, 53, {"section_ids": [713]})
    assert json.loads(result["results"][0]["output"]) == {"rows": [1, 2]}


def test_custom_script_http_error_and_timeout_are_section_errors(demo, loopback):
    loopback.custom_reply = lambda req: (503, {}, b"maintenance")
    entry = execute_step_script(3, 53, {"section_ids": [711]})["results"][0]
    assert entry["status"] == "error"
    assert "503" in entry["error"]
    assert "maintenance" in entry["error"]
    loopback.custom_reply = None
    loopback.latency = 2
    entry = execute_step_script(3, 53, {"section_ids": [711], "parameters": {"timeout": 0.3}})["results"][0]
    assert entry["status"] == "error"
    assert "did not answer within 0.3 s" in entry["error"]


@pytest.mark.parametrize("endpoint", ["http://evil.example/steal", "//evil.example/x", "api/no-slash",
                                      "/api/../../admin"])
def test_custom_endpoint_must_be_a_path_under_the_base_url(demo, loopback, endpoint):
    config = get_step_config(3)
    config["script_config"]["custom_endpoint"] = endpoint
    set_step_config(demo, 3, config)
    with pytest.raises(ConfigError, match=r"script_config\.custom_endpoint"):
        execute_step_script(3, 53, {"section_ids": [711]})
    assert loopback.count() == 0


def test_a_section_deleted_during_the_run_gives_one_clear_line(demo, loopback):
    from wfdesk.db.models import PostSection

    def delete_then_answer(body):
        with demo.db.session() as s:
            s.delete(s.get(PostSection, 712))
        return "too late"

    loopback.chat_reply = delete_then_answer
    entry = execute_step_script(1, 53, {"section_ids": [712]})["results"][0]
    assert entry["status"] == "error"
    assert entry["error"] == "the result could not be saved: the section (or post) was deleted during the run"
