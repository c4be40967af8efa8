"""The rules themselves, on the wordings providers really send: which parameter a 400 refuses, what each model
family takes, when an answer is finished text, and that keys never leak. No network: pure functions."""

from __future__ import annotations

import re

import pytest

from wfdesk.providers.adaptation import Adaptations, Refusal, refused_parameter
from wfdesk.providers.answers import AnswerRefusedError, ChatAnswer, finished_text, split_thinking
from wfdesk.providers.chat import chat_request
from wfdesk.providers.models import image_model_spec, is_reasoning_model, size_problem
from wfdesk.providers.openai_compat import redact

REQUEST = {"model": "m", "messages": [], "max_tokens": 5, "temperature": 0.7, "stream_options": {},
           "response_format": "b64_json", "n": 2, "quality": "hd"}


def _openai(message: str, param: str | None, code: str | None) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


@pytest.mark.parametrize(("status", "body", "expected"), [
    # OpenAI, GPT image models
    (400, _openai("Unknown parameter: 'response_format'.", "response_format", "unknown_parameter"),
     Refusal("response_format")),
    # OpenAI, reasoning models
    (400, _openai("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                  "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter"),
     Refusal("max_tokens", "max_completion_tokens")),
    (400, _openai("Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) "
                  "value is supported.", "temperature", "unsupported_value"), Refusal("temperature")),
    # Azure OpenAI, older API versions: no param, no code
    (400, _openai("Unrecognized request argument supplied: stream_options. Please contact us through an Azure "
                  "support request at: https://go.microsoft.com/fwlink/?linkid=2213926 for further questions.",
                  None, None), Refusal("stream_options")),
    # vLLM / pydantic servers
    (400, {"object": "error", "message": "[{'type': 'extra_forbidden', 'loc': ('body', 'response_format'), "
                                         "'msg': 'Extra inputs are not permitted'}]", "type": "BadRequestError"},
     Refusal("response_format")),
    (422, {"detail": "Unexpected keyword argument 'stream_options'"}, Refusal("stream_options")),
    # LiteLLM proxy (UnsupportedParamsError, code "400"), as litellm[proxy] answered in the review
    (400, _openai("litellm.UnsupportedParamsError: gpt-5-mini doesn't support temperature=0.7 while reasoning is "
                  "active. Only temperature=1 is supported unless reasoning_effort resolves to 'none'. To drop "
                  "unsupported params set `litellm.drop_params = True`", None, "400"), Refusal("temperature")),
    (400, _openai("litellm.UnsupportedParamsError: Setting `response_format` is not supported by openai, "
                  "gpt-image-1-mini. To drop it from the call, set `litellm.drop_params = True`.", None, "400"),
     Refusal("response_format")),
    # ... but a value the editor chose stays theirs: a LiteLLM "doesn't support size=..." is not dropped.
    (400, _openai("litellm.UnsupportedParamsError: dall-e-3 doesn't support quality=low.", None, "400"), None),
    # A refused value of something the editor chose is theirs to fix: never dropped.
    (400, _openai("Invalid value: 'hd'. Supported values are: 'low', 'medium', 'high', and 'auto'.", "quality",
                  "invalid_value"), None),
    # dall-e-3's n: protected, it changes what is asked for.
    (400, _openai("You must provide n=1 for this model.", "n", "invalid_value"), None),
    # A parameter the request does not carry is never trusted.
    (400, _openai("Unknown parameter: 'style'.", "style", "unknown_parameter"), None),
    # Not a 400/422: not a refusal of a parameter.
    (500, _openai("Unknown parameter: 'response_format'.", "response_format", "unknown_parameter"), None),
    (400, "Bad request", None),
])
def test_refused_parameter_reads_real_wordings(status, body, expected):
    assert refused_parameter(status, body, REQUEST) == expected


def test_adaptations_rename_then_drop_and_are_kept_per_provider_and_model():
    memory = Adaptations()
    memory.learn("p", "m", Refusal("max_tokens", "max_completion_tokens"))
    assert memory.shape("p", "m", {"model": "m", "max_tokens": 9}) == {"model": "m", "max_completion_tokens": 9}
    assert memory.shape("p", "other", {"model": "other", "max_tokens": 9}) == {"model": "other", "max_tokens": 9}
    assert memory.shape("q", "m", {"model": "m", "max_tokens": 9}) == {"model": "m", "max_tokens": 9}
    memory.learn("p", "m", Refusal("max_completion_tokens"))  # that server takes neither
    assert memory.shape("p", "m", {"model": "m", "max_tokens": 9}) == {"model": "m"}


@pytest.mark.parametrize(("model", "reasoning"), [
    ("o1", True), ("o3", True), ("o3-mini", True), ("o4-mini-2025-04-16", True), ("gpt-5", True),
    ("gpt-5.4-nano", True), ("gpt-5.5", True), ("gpt-6-luna", True), ("openai/o3", True), ("GPT-5.2-pro", True),
    ("gpt-5-chat-latest", False), ("gpt-4o-mini", False), ("gpt-4.1", False), ("omni-moderation", False),
    ("llama3.1:8b", False), ("deepseek-r1:14b", False), ("qwen3:8b", False),
])
def test_reasoning_family(model, reasoning):
    assert is_reasoning_model(model) is reasoning


def test_chat_requests_per_family():
    assert chat_request("gpt-4o-mini", "hi", temperature=0.3, max_tokens=50) == {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3,
        "max_tokens": 50}
    assert chat_request("o4-mini", "hi", temperature=0.3, max_tokens=50, reasoning_effort="high") == {
        "model": "o4-mini", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 50,
        "reasoning_effort": "high"}
    # gpt-5 chat variants: no reasoning, but max_completion_tokens like the rest of their family
    req = chat_request("gpt-5-chat-latest", "hi", temperature=0.3, max_tokens=50)
    assert req["max_completion_tokens"] == 50
    assert req["temperature"] == 0.3


@pytest.mark.parametrize(("model", "family", "response_format", "max_n"), [
    ("gpt-image-1-mini", "gpt-image", False, 10), ("gpt-image-1.5", "gpt-image", False, 10),
    ("gpt-image-2-2026-04-21", "gpt-image", False, 10), ("gpt-image-2.5-flare-2026-09-08", "gpt-image", False, 10),
    ("gpt-image-2.6-sunburst", "gpt-image", False, 10), ("chatgpt-image-latest", "gpt-image", False, 10),
    ("dall-e-3", "dall-e-3", True, 1), ("dall-e-2", "dall-e-2", True, 10), ("stablediffusion", "other", True, 10),
])
def test_image_families(model, family, response_format, max_n):
    spec = image_model_spec(model)
    assert (spec.family, spec.takes_response_format, spec.max_n) == (family, response_format, max_n)


def test_image_sizes():
    assert size_problem(image_model_spec("gpt-image-1.5"), "1536x1024") is None
    assert size_problem(image_model_spec("gpt-image-1.5"), "1792x1024") is not None
    assert size_problem(image_model_spec("gpt-image-2"), "3840x2160") is None
    assert size_problem(image_model_spec("gpt-image-2"), "3856x2160") is not None
    assert size_problem(image_model_spec("dall-e-3"), "1792x1024") is None


def test_think_blocks_split():
    assert split_thinking("<think>\nhmm\n</think>\n\nHello") == ("Hello", "hmm")
    assert split_thinking("<think>still thinking when cut") == ("", "still thinking when cut")
    assert split_thinking("No thinking here") == ("No thinking here", "")


@pytest.mark.parametrize(("answer", "streamed", "words"), [
    (ChatAnswer("Half a sent", "length"), False, "the answer was cut off at 40 tokens; raise max tokens"),
    (ChatAnswer("Half", "content_filter"), False, "content filter"),
    (ChatAnswer("", "stop", refusal="No."), False, "the model refused: \u201cNo.\u201d"),
    (ChatAnswer("Half a sent", None), True, "cut off"),
    (ChatAnswer("<think>only this", "stop"), False, "only thinking, no answer"),
])
def test_unfinished_answers_are_refused(answer, streamed, words):
    with pytest.raises(Exception, match=re.escape(words)) as err:
        finished_text(answer, "http://x/v1", 40, streamed=streamed)
    if isinstance(err.value, AnswerRefusedError):
        assert err.value.details["partial_output"] == answer.text


def test_a_whole_answer_without_finish_reason_is_accepted():
    """Some local servers leave finish_reason out of whole answers; only a stream without one was cut."""
    assert finished_text(ChatAnswer("Done.", None), "x", None, streamed=False)[0] == "Done."


def test_redaction():
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    assert key not in redact(f"Incorrect API key provided: {key}.", [key])
    assert "sk-live" in redact("key sk-live-1234567890abcdefghij was refused", [])
    assert "1234567890abcdefghij" not in redact("key sk-live-1234567890abcdefghij was refused", [])
    assert redact("Authorization: Bearer abc.def.ghi", []) == "Authorization: Bearer [API key]"
    assert redact("sk-... is fine and short sk-abc", []) == "sk-... is fine and short sk-abc"
    assert redact("key-value-pairs-are-not-keys", []) == "key-value-pairs-are-not-keys"


def test_describe_error_blanks_the_key_it_is_given_and_the_one_the_request_carried():
    """The status bar's provider check and the engine both pass the key they sent. openai 3.60 strips the key from
    the request an error keeps, so a provider's echo is only caught through the key the caller gives; an error that
    still carries its request's key (raised by httpx, below the SDK) is blanked without it."""
    import httpx2
    import openai

    from wfdesk.providers.openai_compat import describe_error

    key = "plainkeywithoutprefix123456"
    request = httpx2.Request("GET", "http://x/v1/models", headers={"Authorization": f"Bearer {key}"})
    response = httpx2.Response(401, request=request, json={"error": {"message": f"Bad key {key}"}})
    exc = openai.AuthenticationError(f"Bad key {key}", response=response, body={"error": {"message": f"Bad key {key}"}})
    text = describe_error(exc, "http://x/v1", secrets=[key])
    assert key not in text
    assert "Bad key [API key]" in text

    refused = httpx2.ConnectError(f"refused for {key}", request=request)
    assert "refused for [API key]" in describe_error(refused, "http://x/v1")


def test_a_failed_write_of_the_adaptations_leaves_no_temporary_file(tmp_path, monkeypatch):
    """The file cannot be replaced (a full disk, or on Windows another process reading it): what was learned is kept
    for this process, and no .adaptations-* temporary file is left behind in the data folder, one per refusal."""
    import os

    def refuse(*_args):
        raise PermissionError("the file is in use")

    monkeypatch.setattr(os, "replace", refuse)
    memory = Adaptations(tmp_path / "provider-adaptations.json")
    memory.learn("p", "m", Refusal("temperature"))
    memory.learn("p", "m", Refusal("top_p"))
    assert memory.learned("p", "m")["left_out"] == ["temperature", "top_p"]
    assert list(tmp_path.iterdir()) == []


def test_a_kept_adaptation_never_drops_or_renames_what_the_request_needs(tmp_path):
    """A damaged (or hand-edited) file that still reads as JSON cannot make every request leave out its messages or
    model, or send a parameter with an empty name: those entries are ignored, the rest is kept."""
    import json

    path = tmp_path / "provider-adaptations.json"
    path.write_text(json.dumps([{"provider": "p", "model": "m", "left_out": ["messages", "model", "temperature"],
                                 "renamed": {"max_tokens": "", "top_p": "model", "stop": "stop_sequences"}}]),
                    encoding="utf-8")
    memory = Adaptations(path)
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "max_tokens": 9,
               "top_p": 0.5, "stop": ["x"]}
    assert memory.shape("p", "m", request) == {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                               "max_tokens": 9, "top_p": 0.5, "stop_sequences": ["x"]}
