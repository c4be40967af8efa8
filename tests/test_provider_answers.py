"""Today's providers, as they really answer: refused parameters, cut / filtered / refused answers, think blocks,
missing usage, refused stream_options, dropped connections, quota, Retry-After, slow drips, huge answers,
echoed keys and 404s. Through the engine, over real HTTP to the loopback server (tests/loopback.py)."""

from __future__ import annotations

import os
import time

import pytest

from wfdesk.db import content
from wfdesk.errors import ConfigError
from wfdesk.providers.openai_compat import adaptations_for, gate_for
from wfdesk.runs import ledger
from wfdesk.scripts import image_generation
from wfdesk.scripts.registry import execute_step_script
from wfdesk.services.validation import validate_step
from wfdesk.settings import ProviderProfile

from loopback import key_echo, quota_exhausted, rate_limited
from tests_support import set_action_template

CURRENT_IMAGE_MODELS = ["gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "gpt-image-2.5-flare",
                        "gpt-image-2.5-sunburst", "gpt-image-2.6-flare", "gpt-image-2.6-sunburst",
                        "chatgpt-image-latest"]


@pytest.fixture
def db_url(tmp_path):
    """Provider behaviour does not depend on the database: SQLite only keeps these tests quick."""
    return f"sqlite:///{tmp_path / 'answers.db'}"


@pytest.fixture
def retrying(demo, loopback):
    """The shipped retry policy (the shared fixture turns retries off to keep other tests short)."""
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url)
    return demo


def _chats(loopback) -> list[dict]:
    return [r.json for r in loopback.requests if r.path.endswith("/chat/completions")]


def _images(loopback) -> list[dict]:
    return [r.json for r in loopback.requests if r.path.endswith("/images/generations")]


def _polished(ws, section_id: int = 711) -> list[str]:
    with ws.db.session() as s:
        return [v.value for v in content.versions_of(s, 53, section_id, "polished")]


def _run_polish(ctx: dict, sections: list[int] | None = None) -> dict:
    return execute_step_script(1, 53, {"section_ids": sections or [711], **ctx})


# --- images ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", CURRENT_IMAGE_MODELS)
def test_current_gpt_image_models_work_and_never_get_response_format(demo, loopback, model):
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": model}})
    entry = result["results"][0]
    assert entry["status"] == "success", entry
    (req,) = _images(loopback)
    assert "response_format" not in req
    assert req["model"] == model
    assert entry["metadata"]["usage"]["output_tokens"] == 272  # GPT image models bill tokens: kept for costs


def test_the_default_image_model_is_a_current_one(demo, loopback):
    config = {"inputs": {"p": {"label": "Prompt", "db_field": "image_prompts"}},
              "outputs": {"o": {"label": "Image", "db_field": "generated_image_url"}},
              "script_config": {"type": "image_generation"}}
    from wfdesk.runs.engine import run_config

    result = run_config(demo, config, 53, {"section_ids": [711]}, step_name="pictures")
    assert result["results"][0]["status"] == "success", result
    (req,) = _images(loopback)
    assert req["model"] == "gpt-image-1-mini"
    assert "response_format" not in req


def test_gpt_image_options_reach_the_provider(demo, loopback):
    params = {"model": "gpt-image-1.5", "quality": "high", "background": "transparent", "output_format": "webp",
              "output_compression": 80, "size": "1536x1024", "n": 2}
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": params})
    assert len(result["results"][0]["images"]) == 2
    (req,) = _images(loopback)  # GPT image models make n images in one request
    assert {k: req[k] for k in params} == params


def test_dall_e_3_on_a_server_that_still_serves_it_gets_one_image_a_request(demo, loopback):
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "dall-e-3", "n": 3}})
    entry = result["results"][0]
    assert entry["status"] == "success"
    assert len({i["image_url"] for i in entry["images"]}) == 3
    assert [(r["n"], r["response_format"]) for r in _images(loopback)] == [(1, "b64_json")] * 3


def _openai_profile(ws):
    ws.settings.providers["default"] = ProviderProfile(name="default", base_url="https://api.openai.com/v1")


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"model": "dall-e-3"}, "model", "retired by OpenAI on 2026-05-12"),
    ({"model": "gpt-image-1"}, "model", "retired by OpenAI on 2026-10-23"),
    ({"model": "gpt-image-1.5", "size": "512x512"}, "size", "1024x1024, 1536x1024, 1024x1536, auto"),
    ({"model": "gpt-image-2", "size": "1000x1000"}, "size", "divisible by 16"),
    ({"model": "gpt-image-2", "size": "3840x640"}, "size", "between 1:3 and 3:1"),
    ({"model": "gpt-image-1-mini", "quality": "hd"}, "quality", "low, medium, high, auto"),
    ({"model": "gpt-image-1.5", "background": "transparent", "output_format": "jpeg"}, "background", "png or webp"),
    ({"model": "gpt-image-1.5", "output_compression": 50}, "output_compression", "webp and jpeg"),
])
def test_what_openai_would_refuse_is_told_before_anything_is_sent(demo, loopback, params, field, words):
    _openai_profile(demo)
    with pytest.raises(ConfigError) as err:
        execute_step_script(2, 53, {"section_ids": [711], "parameters": params})
    problem = next(p for p in err.value.problems if p.field == f"script_config.parameters.{field}")
    assert words in problem.message
    assert loopback.count() == 0


def test_sizes_gpt_image_2_accepts_pass_validation(demo):
    _openai_profile(demo)
    with demo.db.session() as s:
        from wfdesk.db.models import WorkflowStepEntity

        config = dict(s.get(WorkflowStepEntity, 2).config)
    config["script_config"] = {**config["script_config"],
                               "parameters": {"model": "gpt-image-2", "size": "1536x864", "quality": "high"}}
    assert validate_step(demo, "pictures", config) == []


def test_an_unknown_server_refusing_a_parameter_is_adapted_once_and_remembered(demo, loopback):
    refusal = (400, {}, b'{"error": {"message": "Unknown parameter: \'response_format\'.", "type": '
                        b'"invalid_request_error", "param": "response_format", "code": "unknown_parameter"}}')
    loopback.fail = lambda i, req: refusal if "response_format" in (req.json or {}) else None
    first = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "flux-schnell"}})
    assert first["results"][0]["status"] == "success"
    assert ["response_format" in r for r in _images(loopback)] == [True, False]
    second = execute_step_script(2, 53, {"section_ids": [712], "parameters": {"model": "flux-schnell"}})
    assert second["results"][0]["status"] == "success"
    assert ["response_format" in r for r in _images(loopback)] == [True, False, False]  # remembered
    assert adaptations_for(demo).learned("default", "flux-schnell")["left_out"] == ["response_format"]


def test_what_was_learned_is_remembered_by_the_next_process(demo, loopback, db_url):
    """Every run goes to its own process (and every CLI call is one): a refusal learned in one must not be paid for
    again in the next. A second workspace on the same data folder stands for that next process."""
    from wfdesk.workspace import open_workspace, set_current

    refusal = (400, {}, b'{"error": {"message": "Unknown parameter: \'response_format\'.", "type": '
                        b'"invalid_request_error", "param": "response_format", "code": "unknown_parameter"}}')
    loopback.fail = lambda i, req: refusal if "response_format" in (req.json or {}) else None
    assert execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "flux-schnell"}}
                               )["results"][0]["status"] == "success"
    assert ["response_format" in r for r in _images(loopback)] == [True, False]

    later = open_workspace(database_url=db_url, data_dir=demo.data_dir, settings=demo.settings)
    try:
        set_current(later)
        assert adaptations_for(later).learned("default", "flux-schnell")["left_out"] == ["response_format"]
        assert execute_step_script(2, 53, {"section_ids": [712], "parameters": {"model": "flux-schnell"}}
                                   )["results"][0]["status"] == "success"
        assert ["response_format" in r for r in _images(loopback)] == [True, False, False]  # right at once
    finally:
        set_current(demo)
        later.close()


def test_a_damaged_memory_of_refusals_is_started_afresh(demo, loopback):
    (demo.data_dir / "provider-adaptations.json").write_text("{not json", encoding="utf-8")
    assert adaptations_for(demo).learned("default", "flux-schnell") == {}
    assert execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "flux-schnell"}}
                               )["results"][0]["status"] == "success"


def test_a_refused_value_the_editor_chose_is_not_dropped_silently(demo, loopback):
    loopback.fail = lambda i, req: (400, {}, b'{"error": {"message": "Invalid value: \'hd\'. Supported values are: '
                                             b'\'low\', \'medium\', \'high\', and \'auto\'.", "type": '
                                             b'"invalid_request_error", "param": "quality", "code": "invalid_value"}}')
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "x-img", "quality": "hd"}}
                                )["results"][0]
    assert entry["status"] == "error"
    assert "Supported values are" in entry["error"]
    assert loopback.count("/v1/images") == 1


def test_an_image_answer_over_the_size_cap_is_refused(demo, loopback, monkeypatch):
    monkeypatch.setattr(image_generation, "MAX_IMAGE_ANSWER_BYTES", 64 * 1024)
    loopback.image_bytes = os.urandom(200 * 1024)
    entry = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "gpt-image-1.5"}}
                                )["results"][0]
    assert entry["status"] == "error"
    assert "larger than" in entry["error"]
    assert "refused" in entry["error"]
    assert not (demo.data_dir / "content").exists()


def test_a_server_without_an_images_endpoint_is_explained(demo, loopback):
    loopback.images_endpoint = False
    entry = execute_step_script(2, 53, {"section_ids": [711]})["results"][0]
    assert entry["status"] == "error"
    assert "Unexpected endpoint or method" in entry["error"]
    assert "image generation" in entry["error"]


# --- reasoning models -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["o3", "o4-mini", "gpt-5", "gpt-5.4-mini", "gpt-6-sol", "openai/o3"])
def test_reasoning_models_get_max_completion_tokens_and_no_temperature(demo, loopback, model):
    entry = _run_polish({"llm_settings": {"model": model}})["results"][0]
    assert entry["status"] == "success", entry
    (req,) = _chats(loopback)  # right the first time: no refusal, no retry
    assert req["max_completion_tokens"] == 800
    assert "max_tokens" not in req
    assert "temperature" not in req


def test_reasoning_effort_is_a_parameter(demo, loopback):
    entry = _run_polish({"parameters": {"model": "gpt-5.4", "reasoning_effort": "low"}})["results"][0]
    assert entry["status"] == "success"
    assert _chats(loopback)[0]["reasoning_effort"] == "low"


def test_a_reasoning_model_under_an_unknown_name_is_adapted_and_remembered(demo, loopback):
    """A proxy alias the family rules do not know: it refuses max_tokens, then the temperature."""
    def house_rules(i, req):
        body = req.json or {}
        if "max_tokens" in body:
            return 400, {}, (b'{"error": {"message": "Unsupported parameter: \'max_tokens\' is not supported with '
                             b'this model. Use \'max_completion_tokens\' instead.", "type": "invalid_request_error",'
                             b' "param": "max_tokens", "code": "unsupported_parameter"}}')
        if "temperature" in body:
            return 400, {}, (b'{"error": {"message": "Unsupported value: \'temperature\' does not support 0.7 with '
                             b'this model. Only the default (1) value is supported.", "type": '
                             b'"invalid_request_error", "param": "temperature", "code": "unsupported_value"}}')
        return None

    loopback.fail = house_rules
    entry = _run_polish({"llm_settings": {"model": "house-thinker"}})["results"][0]
    assert entry["status"] == "success", entry
    reqs = _chats(loopback)
    assert len(reqs) == 3
    assert reqs[-1]["max_completion_tokens"] == 800
    assert "temperature" not in reqs[-1]
    assert entry["metadata"]["adapted"] == {"left_out": ["temperature"],
                                            "renamed": {"max_tokens": "max_completion_tokens"}}
    _run_polish({"llm_settings": {"model": "house-thinker"}}, [712])
    assert len(_chats(loopback)) == 4  # the next request was shaped right at once


# --- cut, filtered, refused answers ----------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_a_cut_answer_fails_and_never_becomes_the_value(demo, loopback, stream):
    before = _polished(demo)
    result = _run_polish({"llm_settings": {"max_tokens": 3, "stream": stream}})
    entry = result["results"][0]
    assert entry["status"] == "error"
    assert entry["error"] == "the answer was cut off at 3 tokens; raise max tokens"
    assert _polished(demo) == before
    unit = ledger.run_detail(demo, result["run_id"])["units"][0]
    assert unit["result"]["metadata"]["partial_output"] == "POLISHED: Polish this "
    assert unit["result"]["metadata"]["finish_reason"] == "length"


@pytest.mark.parametrize("stream", [False, True])
def test_a_filtered_answer_fails_naming_the_filter(demo, loopback, stream):
    set_action_template(demo, 5, "Keep {{ input1 }} <<filter>> and the rest")
    before = _polished(demo)
    result = _run_polish({"llm_settings": {"stream": stream}})
    entry = result["results"][0]
    assert entry["status"] == "error"
    assert "content filter" in entry["error"]
    assert loopback.base_url in entry["error"]
    assert _polished(demo) == before
    assert ledger.run_detail(demo, result["run_id"])["units"][0]["result"]["metadata"]["partial_output"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_refusal_fails_quoting_it(demo, loopback, stream):
    set_action_template(demo, 5, "{{ input1 }} <<refuse>>")
    before = _polished(demo)
    entry = _run_polish({"llm_settings": {"stream": stream}})["results"][0]
    assert entry["status"] == "error"
    assert entry["error"] == "the model refused: \u201cI'm sorry, but I can't help with that request.\u201d"
    assert _polished(demo) == before


def test_a_stream_that_ends_without_a_finish_reason_is_cut_off(demo, loopback):
    loopback.omit_finish_reason = True
    before = _polished(demo)
    entry = _run_polish({"llm_settings": {"stream": True}})["results"][0]
    assert entry["status"] == "error"
    assert "cut off" in entry["error"]
    assert _polished(demo) == before


@pytest.mark.parametrize("stream", [False, True])
def test_think_blocks_are_kept_out_of_the_text(demo, loopback, stream):
    result = _run_polish({"llm_settings": {"model": "deepseek-r1-distill", "stream": stream}})
    entry = result["results"][0]
    assert entry["status"] == "success"
    assert entry["output"].startswith("POLISHED: ")
    assert "<think>" not in entry["output"]
    assert _polished(demo)[-1] == entry["output"]
    assert entry["metadata"]["thinking"] == "The editor wants this polished. Keep the meaning."


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_without_usage_still_works(demo, loopback, stream):
    entry = _run_polish({"llm_settings": {"model": "local-llama", "stream": stream}})["results"][0]
    assert entry["status"] == "success"
    assert entry["metadata"]["usage_reported"] is False
    assert entry["metadata"]["completion_tokens"] == 0


# --- streams ---------------------------------------------------------------------------------------------------

def test_a_server_refusing_stream_options_is_retried_without_it(demo, loopback):
    entry = _run_polish({"llm_settings": {"model": "azure-gpt-4o", "stream": True}})["results"][0]
    assert entry["status"] == "success", entry
    assert ["stream_options" in r for r in _chats(loopback)] == [True, False]
    _run_polish({"llm_settings": {"model": "azure-gpt-4o", "stream": True}}, [712])
    assert ["stream_options" in r for r in _chats(loopback)] == [True, False, False]


@pytest.mark.parametrize("stream", [False, True])
def test_a_connection_dropped_mid_answer_is_retried(retrying, loopback, stream):
    loopback.drop_answers = 1
    entry = _run_polish({"llm_settings": {"stream": stream}})["results"][0]
    assert entry["status"] == "success"
    assert entry["output"].startswith("POLISHED: ")
    assert len(_chats(loopback)) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_dropped_answers_never_switch_the_provider_offline(demo, loopback, stream):
    loopback.drop_answers = 100
    ids = [711, 712, 713]
    result = execute_step_script(1, 53, {"section_ids": ids, "parameters": {"concurrency": 1, "stream": stream}})
    for entry in result["results"]:
        assert entry["status"] == "error", entry
        assert "dropped" in entry["error"], entry
        assert "offline" not in entry["error"]
    again = _run_polish({"llm_settings": {"stream": stream}})["results"][0]
    assert "offline" not in again["error"]
    assert gate_for(demo, demo.settings.provider(None)).offline_reason() is None


# --- errors that help ------------------------------------------------------------------------------------------

def test_out_of_credit_fails_at_once_with_the_billing_message(retrying, loopback):
    loopback.fail = lambda i, req: quota_exhausted()
    entry = _run_polish({})["results"][0]
    assert entry["status"] == "error"
    assert "out of credit" in entry["error"]
    assert "check your plan and billing details" in entry["error"]
    assert len(_chats(loopback)) == 1  # no retries: waiting cannot help


def test_out_of_credit_stops_the_other_sections_without_sending(retrying, loopback):
    loopback.fail = lambda i, req: quota_exhausted()
    result = execute_step_script(1, 53, {"section_ids": [711, 712, 713], "parameters": {"concurrency": 1}})
    assert all("out of credit" in e["error"] for e in result["results"])
    assert len(_chats(loopback)) == 1


def test_retry_after_past_the_longest_wait_fails_clearly(retrying, loopback):
    retrying.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url,
                                                             max_wait=30)
    loopback.fail = lambda i, req: rate_limited(3600)
    started = time.monotonic()
    entry = _run_polish({})["results"][0]
    assert time.monotonic() - started < 20
    assert entry["status"] == "error"
    assert "asked to wait 3600 s, longer than the 30 s allowed" in entry["error"]
    assert len(_chats(loopback)) == 1


def test_retry_after_is_honoured_on_a_503_too(retrying, loopback):
    loopback.fail = lambda i, req: rate_limited(1.5, status=503) if i == 1 else None
    entry = _run_polish({})["results"][0]
    assert entry["status"] == "success"
    first, second = [r.time for r in loopback.requests]
    assert second - first >= 1.45  # never earlier than asked


def test_a_dripping_server_cannot_hold_a_section(demo, loopback):
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url,
                                                         max_retries=3, request_deadline=1.5)
    loopback.drip = 0.2  # a byte every 0.2 s: a few hundred bytes would take a minute
    started = time.monotonic()
    entry = _run_polish({})["results"][0]
    assert time.monotonic() - started < 30
    assert entry["status"] == "error"
    assert "took longer than 1.5 s" in entry["error"]
    assert len(_chats(loopback)) == 1


def test_a_server_dripping_its_headers_cannot_hold_a_section(demo, loopback):
    """The deadline covers the whole exchange, headers included: a read timeout alone bounds only the gap between two
    bytes, and 2 KB of headers at a byte every 0.2 s would hold the section for over six minutes."""
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url,
                                                         max_retries=0, request_deadline=1.5)
    loopback.header_drip = 0.2
    started = time.monotonic()
    entry = _run_polish({})["results"][0]
    assert time.monotonic() - started < 60  # a generous bound; without the deadline it is over 400 s
    assert entry["status"] == "error", entry
    assert "took longer than 1.5 s" in entry["error"], entry


@pytest.mark.parametrize("stream", [False, True])
def test_a_huge_text_answer_is_refused(demo, loopback, stream):
    loopback.chat_reply = lambda body: "x" * (2 * 1024 * 1024)
    before = _polished(demo)
    entry = _run_polish({"llm_settings": {"stream": stream}})["results"][0]
    assert entry["status"] == "error"
    assert "larger than 1 MB of text" in entry["error"]
    assert _polished(demo) == before


def test_a_20_mb_answer_is_refused_while_it_arrives(demo, loopback, tmp_path):
    """Issue 11: a 100 MB answer was accepted and stored three times. The body cap (8 MB for a whole text
    answer) stops it at once; 20 MB shows it without making the test machine hold 100 MB several times over."""
    loopback.chat_reply = lambda body: "y" * (20 * 1024 * 1024)
    result = execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    for entry in result["results"]:
        assert entry["status"] == "error", entry
        assert "larger than 8 MB" in entry["error"], entry
    assert (tmp_path / "answers.db").stat().st_size < 5 * 1024 * 1024


def test_an_echoed_api_key_is_never_shown_or_stored(demo, loopback, monkeypatch, tmp_path):
    secret = "sk-proj-Q7vX2mN9pL4kR8tY1wE6uI3oA5sD0fGh"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    loopback.fail = lambda i, req: key_echo(req)
    result = _run_polish({})
    entry = result["results"][0]
    assert loopback.requests[0].headers["authorization"] == f"Bearer {secret}"  # the key was sent
    assert entry["status"] == "error"
    assert "Incorrect API key provided: [API key]" in entry["error"]
    assert secret not in str(ledger.run_detail(demo, result["run_id"]))
    demo.db.engine.dispose()
    assert secret.encode() not in (tmp_path / "answers.db").read_bytes()


@pytest.mark.parametrize(("where", "hint"), [("root", "the base URL usually ends in /v1"), ("v1", None)])
def test_a_404_shows_the_servers_words_and_the_likely_cause(demo, loopback, where, hint):
    base = loopback.root_url if where == "root" else loopback.base_url
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=base, max_retries=0)
    if where == "v1":
        loopback.fail = lambda i, req: (404, {"Content-Type": "text/plain"}, b"404 page not found")
    entry = _run_polish({})["results"][0]
    assert entry["status"] == "error"
    assert "answered 404: 404 page not found" in entry["error"]
    assert (hint or "this server may not offer chat completions") in entry["error"]
    assert "Error code: 404" not in entry["error"]


def test_a_500_body_is_shown(demo, loopback):
    loopback.fail = lambda i, req: (500, {"Content-Type": "text/html"},
                                    b"<html><body><h1>upstream model crashed: CUDA out of memory</h1></body></html>")
    entry = _run_polish({})["results"][0]
    assert "answered 500: upstream model crashed: CUDA out of memory" in entry["error"]


def test_each_answer_is_stored_once_besides_the_fields_value(demo, loopback):
    """Issue 11: the text was stored three times (run unit result, version, field value). The unit's result now
    points at the version; the result JSON and the run's detail still show the output."""
    from sqlalchemy import func, select

    from wfdesk.db.models import ContentField, ContentVersion, RunUnit

    big = ("x" * 999 + " ") * 500  # 500 KB in 500 "tokens": under the 1 MB cap and the 800-token limit
    loopback.chat_reply = lambda body: big
    result = execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    assert [e["status"] for e in result["results"]] == ["success"] * 3
    assert all(e["output"] == big.strip() for e in result["results"])
    with demo.db.session() as s:
        units = list(s.scalars(select(RunUnit).where(RunUnit.run_id == result["run_id"])))
        assert all("output" not in u.result and u.result["output_version_id"] for u in units)
        in_versions = s.scalar(select(func.sum(func.length(ContentVersion.value))).where(
            ContentVersion.run_id == result["run_id"]))
        in_fields = s.scalar(select(func.sum(func.length(ContentField.value))).where(ContentField.name == "polished"))
    assert in_versions == in_fields == 3 * len(big.strip())
    assert [e["output"] for e in ledger.result_of(demo, result["run_id"])["results"]] == [big.strip()] * 3
    detail = ledger.run_detail(demo, result["run_id"])
    assert [u["result"]["output"] for u in detail["units"]] == [big.strip()] * 3


@pytest.fixture
def behind_a_proxy(demo, loopback, monkeypatch):
    """An office network: the provider is reached only through the HTTP proxy named in the environment (the loopback
    server plays the proxy, and the provider behind it); its address does not resolve from here."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("http_proxy", loopback.root_url)
    return "http://provider.invalid/v1"


def test_the_proxy_named_in_the_environment_is_used(demo, loopback, behind_a_proxy):
    """As the openai SDK's own client does, and the image downloads: HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY
    are honoured (giving the client our capped transport used to turn them off: every request went out directly)."""
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=behind_a_proxy, max_retries=0)
    entry = _run_polish({})["results"][0]
    assert entry["status"] == "success", entry
    (chat,) = [r for r in loopback.requests if r.path.endswith("/chat/completions")]
    assert chat.path == "http://provider.invalid/v1/chat/completions"  # the absolute form a proxy is sent


def test_the_deadline_holds_through_a_proxy(demo, loopback, behind_a_proxy):
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=behind_a_proxy, max_retries=0,
                                                         request_deadline=1.5)
    loopback.header_drip = 0.2
    started = time.monotonic()
    entry = _run_polish({})["results"][0]
    assert time.monotonic() - started < 60  # a generous bound; without the deadline it is over 400 s
    assert entry["status"] == "error", entry
    assert "took longer than 1.5 s" in entry["error"], entry


def test_a_proxy_that_cannot_be_used_is_named(demo, loopback, behind_a_proxy, monkeypatch):
    monkeypatch.setenv("http_proxy", "socks9://editor:secret@proxy.example:1080")
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=behind_a_proxy, max_retries=0)
    entry = _run_polish({})["results"][0]
    assert entry["status"] == "error", entry
    assert "the proxy socks9://proxy.example:1080 named in the environment" in entry["error"], entry
    assert "secret" not in entry["error"]
