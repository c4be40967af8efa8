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
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (3, 4, 7)

    # Raw wire format, as OpenAI sends it.
    raw = requests.post(
        server.base_url + "/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        timeout=5,
    )
    assert raw.headers["Content-Type"].startswith("text/event-stream")
    assert raw.text.startswith("data: {") and raw.text.endswith("data: [DONE]\n\n")


def test_images_b64_json(server: LoopbackServer, client: openai.OpenAI) -> None:
    resp = client.images.generate(prompt="a cat", response_format="b64_json", size="1536x1024")
    (item,) = resp.data
    assert item.revised_prompt == "Revised: a cat"
    assert item.b64_json is not None
    data = base64.b64decode(item.b64_json)
    img = _open(data)
    assert img.format == "PNG" and img.size == (64, 64)

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
    assert url is not None and url.startswith(server.root_url + "/files/")
    got = requests.get(url, timeout=5)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
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
    assert len(blobs) == 2 and blobs[0] != blobs[1]
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
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    bad = requests.post(
        server.base_url + "/chat/completions",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert server.requests[-1].json is None and server.requests[-1].body == b"{nope"


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
    assert server.count() == 0 and server.requests == []
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
    assert outcome and isinstance(outcome[0], requests.RequestException)
