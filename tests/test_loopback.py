"""The loopback server, driven by the real openai SDK and requests over real HTTP."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator

import openai
import pytest
import requests
from PIL import Image

try:
    from tests.loopback import LoopbackServer, make_png
except ImportError:  # tests/ on sys.path rather than importable as a package
    from loopback import LoopbackServer, make_png


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=5)
    yield c
    c.close()


def _open(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_chat_completion(server: LoopbackServer, client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be nice."}, {"role": "user", "content": "hello big world"}],
    )
    assert resp.object == "chat.completion"
    assert resp.model == "gpt-4o-mini"
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "POLISHED: hello big world"
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (5, 4, 9)

    (req,) = server.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.headers["authorization"] == "Bearer test" == req.headers["Authorization"]
    assert req.json["messages"][1]["content"] == "hello big world"


def test_chat_reply_knob(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.chat_reply = lambda req: f"{req['model']} says hi"
    resp = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
    assert resp.choices[0].message.content == "m1 says hi"


def test_streamed_chat_with_usage(server: LoopbackServer, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "one  two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "POLISHED: one  two three"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 4  # one per word
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (3, 4, 7)

    # Raw wire format, as OpenAI sends it.
    raw = requests.post(
        server.base_url + "/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        timeout=5,
    )
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    assert raw.text.startswith("data: {")
    assert raw.text.endswith("data: [DONE]\n\n")


def test_images_b64_json(server: LoopbackServer, client: openai.OpenAI) -> None:
    resp = client.images.generate(prompt="a cat", response_format="b64_json", size="1536x1024")
    (item,) = resp.data
    assert item.revised_prompt == "Revised: a cat"
    assert item.b64_json is not None
    data = base64.b64decode(item.b64_json)
    img = _open(data)
    assert img.format == "PNG"
    assert img.size == (64, 64)

    server.image_max_side = 40
    resp = client.images.generate(prompt="a cat", response_format="b64_json", size="32x1024")
    assert _open(base64.b64decode(resp.data[0].b64_json or "")).size == (32, 40)

    # Deterministic per (prompt, index); different prompts give different bytes.
    server.image_max_side = 64
    again = client.images.generate(prompt="a cat", response_format="b64_json", size="1536x1024")
    other = client.images.generate(prompt="a dog", response_format="b64_json", size="1536x1024")
    assert base64.b64decode(again.data[0].b64_json or "") == data == make_png("a cat", 0, 64, 64)
    assert base64.b64decode(other.data[0].b64_json or "") != data


def test_images_url_mode(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.image_mode = "url"
    resp = client.images.generate(prompt="a boat")
    url = resp.data[0].url
    assert url is not None
    assert url.startswith(server.root_url + "/files/")
    got = requests.get(url, timeout=5)
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "image/png"
    assert _open(got.content).size == (64, 64)
    assert requests.get(server.root_url + "/files/nope.png", timeout=5).status_code == 404


def test_images_url_when_requested(server: LoopbackServer, client: openai.OpenAI) -> None:
    resp = client.images.generate(prompt="a boat", response_format="url")
    assert resp.data[0].b64_json is None
    assert requests.get(resp.data[0].url or "", timeout=5).content == make_png("a boat", 0, 64, 64)


def test_images_data_url_mode(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.image_mode = "data_url"
    url = client.images.generate(prompt="a tree", response_format="b64_json").data[0].url or ""
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    assert _open(base64.b64decode(url[len(prefix) :])).format == "PNG"


def test_images_n2_distinct(client: openai.OpenAI) -> None:
    resp = client.images.generate(prompt="two cats", n=2, response_format="b64_json")
    blobs = [base64.b64decode(d.b64_json or "") for d in resp.data]
    assert len(blobs) == 2
    assert blobs[0] != blobs[1]
    assert all(_open(b).format == "PNG" for b in blobs)


def test_image_bytes_override(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.image_bytes = b"not a png"
    resp = client.images.generate(prompt="x", response_format="b64_json")
    assert base64.b64decode(resp.data[0].b64_json or "") == b"not a png"


def test_fail_injection(server: LoopbackServer, client: openai.OpenAI) -> None:
    server.fail = lambda i, req: (500, {}, b'{"error":{"message":"boom"}}') if i == 1 else None
    with pytest.raises(openai.InternalServerError, match="boom"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
    ok = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
    assert ok.choices[0].message.content == "POLISHED: a"

    server.fail = lambda i, req: (429, {"Retry-After": "7"}, b'{"error":{"message":"slow down"}}')
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(prompt="x")
    assert info.value.response.headers["retry-after"] == "7"


def test_custom_post(server: LoopbackServer) -> None:
    url = server.root_url + "/api/custom/process-data"
    resp = requests.post(url, json={"inputs": {"b": 1, "a": "x"}, "step": 3}, timeout=5)
    assert resp.status_code == 200
    body = resp.json()
    assert body["output"] == 'processed: {"a": "x", "b": 1}'
    assert body["echo"] == {"inputs": {"b": 1, "a": "x"}, "step": 3}

    server.custom_reply = lambda req: (202, {"X-Step": req.path}, b'{"ok": true}')
    resp = requests.post(url, json={}, timeout=5)
    assert (resp.status_code, resp.headers["X-Step"]) == (202, "/api/custom/process-data")
    assert resp.json() == {"ok": True}


def test_models_and_errors(server: LoopbackServer, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["test-model"]
    missing = requests.get(server.root_url + "/nope", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"
    bad = requests.post(
        server.base_url + "/chat/completions",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_request_error"
    assert server.requests[-1].json is None
    assert server.requests[-1].body == b"{nope"


def test_request_counting_and_reset(server: LoopbackServer, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])
    client.images.generate(prompt="x")
    requests.post(server.root_url + "/api/custom/x", json={}, timeout=5)
    assert server.count("/v1/chat/completions") == 2
    assert server.count("/v1/images") == 1
    assert server.count("/api/") == 1
    assert server.count() == len(server.requests) == 4

    server.image_mode = "url"
    server.latency = 1.0
    server.reset()
    assert server.count() == 0
    assert server.requests == []
    assert (server.image_mode, server.latency, server.fail) == ("b64_json", 0.0, None)


def test_latency_timeout_and_prompt_stop(server: LoopbackServer) -> None:
    server.latency = 0.3
    fast = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.05)
    with pytest.raises(openai.APITimeoutError):
        fast.models.list()
    fast.close()

    server.latency = 30.0
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(requests.get(server.base_url + "/models", timeout=10))
        except requests.RequestException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    deadline = time.monotonic() + 2
    while server.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    worker.join(timeout=2)
    assert outcome
    assert isinstance(outcome[0], requests.RequestException)


# --- today's providers' quirks ---------------------------------------------------------------------------------

def _bad_request(call) -> dict:
    with pytest.raises(openai.BadRequestError) as err:
        call()
    return err.value.body


def test_gpt_image_models_refuse_response_format_like_openai(client: openai.OpenAI) -> None:
    body = _bad_request(lambda: client.images.generate(model="gpt-image-1.5", prompt="a cat",
                                                       response_format="b64_json"))
    assert body == {"message": "Unknown parameter: 'response_format'.", "type": "invalid_request_error",
                    "param": "response_format", "code": "unknown_parameter"}
    resp = client.images.generate(model="gpt-image-1.5", prompt="a cat")
    assert resp.data[0].b64_json
    assert resp.usage is not None  # always base64, with token usage


def test_dall_e_3_takes_one_image_a_request(client: openai.OpenAI) -> None:
    body = _bad_request(lambda: client.images.generate(model="dall-e-3", prompt="a cat", n=2))
    assert body["param"] == "n"
    first = client.images.generate(model="dall-e-3", prompt="a cat", n=1).data[0].b64_json
    second = client.images.generate(model="dall-e-3", prompt="a cat", n=1).data[0].b64_json
    assert first != second  # a new image each time, as a real model makes


def test_reasoning_models_refuse_max_tokens_and_temperature(client: openai.OpenAI) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    body = _bad_request(lambda: client.chat.completions.create(model="o3", messages=msgs, max_tokens=5))
    assert body["code"] == "unsupported_parameter"
    assert "Use 'max_completion_tokens' instead" in body["message"]
    body = _bad_request(lambda: client.chat.completions.create(model="gpt-5", messages=msgs, temperature=0.2))
    assert body["code"] == "unsupported_value"
    assert body["param"] == "temperature"
    body = _bad_request(lambda: client.chat.completions.create(model="gpt-4o", messages=msgs,
                                                               reasoning_effort="low"))
    assert body["param"] == "reasoning_effort"
    ok = client.chat.completions.create(model="o3", messages=msgs, max_completion_tokens=50, reasoning_effort="low")
    assert ok.choices[0].finish_reason == "stop"


def test_cut_filtered_and_refused_answers(client: openai.OpenAI) -> None:
    cut = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "one two three four"}],
                                         max_tokens=2)
    assert (cut.choices[0].finish_reason, cut.choices[0].message.content) == ("length", "POLISHED: one ")
    filtered = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a <<filter>> b"}])
    assert (filtered.choices[0].finish_reason, filtered.choices[0].message.content) == (
        "content_filter", "POLISHED: a ")
    refused = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "<<refuse>>"}])
    assert refused.choices[0].message.content is None
    assert refused.choices[0].message.refusal


def test_thinking_models_and_local_servers(client: openai.OpenAI) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    think = client.chat.completions.create(model="deepseek-r1:14b", messages=msgs)
    assert think.choices[0].message.content.startswith("<think>")
    local = client.chat.completions.create(model="local-llama", messages=msgs)
    assert local.usage is None


def test_old_azure_refuses_stream_options(client: openai.OpenAI) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    body = _bad_request(lambda: client.chat.completions.create(
        model="azure-gpt-4o", messages=msgs, stream=True, stream_options={"include_usage": True}))
    assert body["message"].startswith("Unrecognized request argument supplied: stream_options")
    with client.chat.completions.create(model="azure-gpt-4o", messages=msgs, stream=True) as stream:
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "POLISHED: hi"


def test_dropped_streams_and_missing_finish_reasons(server: LoopbackServer, client: openai.OpenAI) -> None:
    import httpx2

    msgs = [{"role": "user", "content": "one two three four five"}]
    server.drop_answers = 1
    with (pytest.raises((httpx2.TransportError, openai.APIConnectionError)),  # the SDK wraps it in 3.x
          client.chat.completions.create(model="m", messages=msgs, stream=True) as stream):
        list(stream)
    server.omit_finish_reason = True
    with client.chat.completions.create(model="m", messages=msgs, stream=True) as stream:
        assert all(c.choices[0].finish_reason is None for c in stream if c.choices)


def test_quota_rate_limit_and_key_echo_helpers(server: LoopbackServer, client: openai.OpenAI) -> None:
    from loopback import key_echo, quota_exhausted, rate_limited

    msgs = [{"role": "user", "content": "hi"}]
    server.fail = lambda i, req: quota_exhausted()
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="m", messages=msgs)
    assert err.value.code == "insufficient_quota"
    server.fail = lambda i, req: rate_limited(42)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="m", messages=msgs)
    assert err.value.response.headers["retry-after"] == "42"
    server.fail = lambda i, req: key_echo(req)
    with pytest.raises(openai.AuthenticationError) as err:
        client.chat.completions.create(model="m", messages=msgs)
    assert "Incorrect API key provided: test." in err.value.message


def test_paths_without_v1_and_servers_without_images(server: LoopbackServer) -> None:
    resp = requests.post(server.root_url + "/chat/completions", json={"model": "m", "messages": []}, timeout=5)
    assert (resp.status_code, resp.text) == (404, "404 page not found")
    server.images_endpoint = False
    resp = requests.post(server.base_url + "/images/generations", json={"prompt": "x"}, timeout=5)
    assert resp.status_code == 404
    assert resp.json()["error"].startswith("Unexpected endpoint or method")


def test_drip_sends_the_answer_a_byte_at_a_time(server: LoopbackServer) -> None:
    server.drip = 0.01
    started = time.monotonic()
    resp = requests.post(server.base_url + "/chat/completions", json={"model": "m", "messages": [
        {"role": "user", "content": "hi"}]}, timeout=10)
    assert resp.json()["choices"][0]["message"]["content"] == "POLISHED: hi"
    assert time.monotonic() - started >= 0.009 * len(resp.content)  # never faster than a byte per 0.01 s
