"""What real third-party servers did that the first loopback did not: LiteLLM and @dwmkerr/mock-llm answering
200 with an error inside (a body or a stream's only event), a web page where the API was expected, a gzip-encoded
answer (the size cap must count the decoded bytes), Azure's stream opening with empty choices, OpenAI's 429 with
only x-ratelimit-reset-* headers, Retry-After as a date in the past, and "Bearer sk-…" echoed in a 401.
Through the engine and the CLI, over real HTTP to the loopback server (tests/loopback.py)."""

from __future__ import annotations

import itertools
import time

import pytest

from wfdesk.db import content
from wfdesk.runs import ledger
from wfdesk.scripts.registry import execute_step_script
from wfdesk.settings import ProviderProfile

from loopback import PROXY_ERROR_MESSAGE, key_echo, rate_limited, rate_limited_by_headers

EXCEPTION_NAMES = ("APIError", "APIStatusError", "TypeError", "Exception", "Traceback")


@pytest.fixture
def db_url(tmp_path):
    """Provider behaviour does not depend on the database: SQLite only keeps these tests quick."""
    return f"sqlite:///{tmp_path / 'real.db'}"


@pytest.fixture
def retrying(demo, loopback):
    """The shipped retry policy (the shared fixture turns retries off to keep other tests short)."""
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url)
    return demo


def _chats(loopback) -> list:
    return [r for r in loopback.requests if r.path.endswith("/chat/completions")]


def _polished(ws, section_id: int = 711) -> list[str]:
    with ws.db.session() as s:
        return [v.value for v in content.versions_of(s, 53, section_id, "polished")]


def _run_polish(settings: dict) -> dict:
    return execute_step_script(1, 53, {"section_ids": [711], "llm_settings": settings})["results"][0]


@pytest.mark.parametrize("stream", [False, True])
def test_an_error_inside_a_200_shows_the_providers_words(demo, loopback, stream):
    """LiteLLM / mock-llm: 200 {"error": {...}}; streamed, the stream's only event is that error. Before: "sent an
    answer without a message" (the words lost, 8 retries) and "APIError: …" (an exception name)."""
    before = _polished(demo)
    entry = _run_polish({"model": "proxy-error-1", "stream": stream})
    assert entry["status"] == "error"
    assert PROXY_ERROR_MESSAGE in entry["error"], entry["error"]
    assert "without a message" not in entry["error"]
    assert not any(name in entry["error"] for name in EXCEPTION_NAMES), entry["error"]
    assert _polished(demo) == before


def test_an_overloaded_error_inside_a_200_is_retried(retrying, loopback):
    # One retry shows the error is worth another try; the shipped seven only add 30 s of backoff to wait out.
    retrying.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url,
                                                             max_retries=1)
    entry = _run_polish({"model": "proxy-error-1"})
    assert entry["status"] == "error"
    assert PROXY_ERROR_MESSAGE in entry["error"]
    assert len(_chats(loopback)) > 1  # "server_error" / "overloaded": worth another try


def test_a_web_page_where_the_api_was_expected_is_explained_and_not_retried(retrying, loopback):
    """A base URL pointing at a web UI (Open WebUI, a router's login page) answers 200 with HTML."""
    entry = _run_polish({"model": "web-page-ui"})
    assert entry["status"] == "error"
    assert "web page" in entry["error"], entry["error"]
    assert "base URL" in entry["error"], entry["error"]
    assert len(_chats(loopback)) == 1  # asking again gets the same page


def test_a_gzip_encoded_answer_is_read(demo, loopback):
    entry = _run_polish({"model": "gzip-model"})
    assert entry["status"] == "success", entry
    assert _chats(loopback)[0].headers.get("accept-encoding")  # the client did ask for compression


def test_the_size_cap_counts_decoded_bytes_not_gzip_bytes(demo, loopback):
    """20 MB of text gzips to ~20 KB: a cap on the bytes on the wire let it all in."""
    loopback.chat_reply = lambda body: "y" * (20 * 1024 * 1024)
    before = _polished(demo)
    entry = _run_polish({"model": "gzip-model"})
    assert entry["status"] == "error", entry["error"]
    assert "larger than 8 MB" in entry["error"], entry["error"]
    assert _polished(demo) == before


def test_azures_first_chunk_without_choices_is_skipped(demo, loopback):
    entry = _run_polish({"model": "azure-prompt-filter", "stream": True})
    assert entry["status"] == "success", entry
    assert entry["output"].startswith("POLISHED:")


def test_a_429_with_only_ratelimit_reset_headers_waits_as_told(retrying, loopback):
    loopback.fail = lambda i, req: rate_limited_by_headers("1.5s") if i == 1 else None
    entry = _run_polish({})
    assert entry["status"] == "success", entry
    first, second = [r.time for r in _chats(loopback)]
    assert second - first >= 1.45  # never earlier than the provider said


def _wait_only_in_words(wait: str) -> tuple[int, dict[str, str], bytes]:
    """A 429 whose only wait is in its message (a proxy that drops the rate-limit headers, Azure's wording)."""
    status, _headers, body = rate_limited_by_headers(wait)
    return status, {}, body


def test_a_429_whose_wait_is_only_in_its_words_waits_as_told(retrying, loopback):
    loopback.fail = lambda i, req: _wait_only_in_words("1.5s") if i == 1 else None
    entry = _run_polish({})
    assert entry["status"] == "success", entry
    first, second = [r.time for r in _chats(loopback)]
    assert second - first >= 1.45  # never earlier than the provider said


def test_a_429_whose_words_name_a_wait_beyond_the_longest_backs_off(retrying, loopback):
    """Worded like x-ratelimit-reset (the same hint): past the longest wait it is not waited for, and the section
    is not failed for it either."""
    loopback.fail = lambda i, req: _wait_only_in_words("20m0s") if i == 1 else None
    started = time.monotonic()
    entry = _run_polish({})
    assert entry["status"] == "success", entry
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("retry_after", ["Wed, 21 Oct 2015 07:28:00 GMT", "0", None])
def test_a_429_asking_for_no_wait_is_not_hammered(retrying, loopback, retry_after):
    """A Retry-After in the past (or 0, or none) must not turn into an instant retry loop: the waits grow."""
    def fail(i, req):
        if i > 4:
            return None
        status, headers, body = rate_limited(retry_after or 0)
        return status, ({} if retry_after is None else headers), body

    loopback.fail = fail
    entry = _run_polish({})
    assert entry["status"] == "success", entry
    times = [r.time for r in _chats(loopback)]
    assert len(times) == 5
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.3, gaps  # at least the base delay less its jitter
    assert times[-1] - times[0] >= 2.5, gaps  # and growing: 0.5 + 1 + 2 + 4 s less jitter


def test_bearer_and_key_echoed_in_a_401_is_redacted_cleanly(demo, loopback, monkeypatch, tmp_path):
    secret = "sk-proj-Q7vX2mN9pL4kR8tY1wE6uI3oA5sD0fGh"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    loopback.fail = lambda i, req: key_echo(req, whole_header=True)
    result = execute_step_script(1, 53, {"section_ids": [711]})
    entry = result["results"][0]
    assert entry["status"] == "error"
    assert "Incorrect API key provided: Bearer [API key]. You can find" in entry["error"], entry["error"]
    assert secret not in str(ledger.run_detail(demo, result["run_id"]))


@pytest.mark.parametrize(("model", "words"), [("proxy-error-1", PROXY_ERROR_MESSAGE), ("web-page-ui", "web page")])
def test_image_answers_that_are_errors_or_web_pages_are_explained(demo, loopback, model, words):
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": model}})
    entry = result["results"][0]
    assert entry["status"] == "error", entry
    assert words in entry["error"], entry
    assert "sent no image" not in entry["error"]


def test_a_litellm_alias_of_a_reasoning_model_is_adapted_to(demo, loopback):
    """LiteLLM: "O-series models don't support temperature=0.7. Only temperature=1 is supported." for a
    model_name wfdesk cannot know is an o-series model."""
    entry = _run_polish({"model": "litellm-o3-house"})
    assert entry["status"] == "success", entry
    sent = [r.json for r in _chats(loopback)]
    assert "temperature" in sent[0]
    assert "temperature" not in sent[-1]


def test_litellm_refusing_reasoning_effort_is_adapted_to(demo, loopback):
    entry = _run_polish({"model": "litellm-house-chat", "reasoning_effort": "low"})
    assert entry["status"] == "success", entry
    assert "reasoning_effort" not in _chats(loopback)[-1].json


def test_a_litellm_image_alias_refusing_response_format_is_adapted_to(demo, loopback):
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "litellm-image-house"}})
    entry = result["results"][0]
    assert entry["status"] == "success", entry
    images = [r.json for r in loopback.requests if r.path.endswith("/images/generations")]
    assert "response_format" in images[0]
    assert "response_format" not in images[-1]


def test_a_model_the_server_lacks_is_not_blamed_on_the_address(demo, loopback):
    """Ollama (and vLLM: "The model `x` does not exist.") answer 404 for a model they do not have; the hint
    "this server may not offer chat completions" sent the editor to the wrong place."""
    entry = _run_polish({"model": "missing-llama9"})
    assert entry["status"] == "error"
    assert 'model "missing-llama9" not found, try pulling it first' in entry["error"], entry["error"]
    # After the address: a port such as 34049 holds "404" too.
    assert "may not offer" not in entry["error"]
    assert "/v1" not in entry["error"].split("answered 404", 1)[1]
    assert "check the model name" in entry["error"]


def test_a_stream_that_never_ends_is_stopped_at_the_deadline(demo, loopback):
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url,
                                                         max_retries=0, request_deadline=1.5)
    started = time.monotonic()
    entry = _run_polish({"model": "ping-forever-1", "stream": True})
    assert time.monotonic() - started < 30
    assert entry["status"] == "error", entry["error"]
    assert "took longer than 1.5 s" in entry["error"], entry["error"]
    assert _polished(demo) == [] or "Half" not in _polished(demo)[-1]


def test_a_ratelimit_reset_hint_beyond_the_longest_wait_backs_off_instead_of_failing(retrying, loopback):
    """x-ratelimit-reset-tokens is when the whole bucket is full again (a daily limit: hours), not when one more
    request may go: it never fails a section on its own, and is not waited for past the longest wait."""
    loopback.fail = lambda i, req: rate_limited_by_headers("6h0m0s") if i == 1 else None
    started = time.monotonic()
    entry = _run_polish({})
    assert entry["status"] == "success", entry
    assert time.monotonic() - started < 30


def test_a_server_that_does_not_implement_post_is_not_asked_eight_times(retrying, loopback):
    """python -m http.server (any static file server) at the base URL: 501 Unsupported method ('POST')."""
    loopback.fail = lambda i, req: (501, {"Content-Type": "text/html"},
                                    b"<html><body><h1>Error response</h1><p>Error code: 501</p><p>Message: "
                                    b"Unsupported method ('POST').</p></body></html>")
    entry = _run_polish({})
    assert entry["status"] == "error"
    assert "answered 501" in entry["error"]
    assert "Unsupported method ('POST')" in entry["error"]
    assert len(_chats(loopback)) == 1
