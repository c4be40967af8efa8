"""`OPENAI_BASE_URL` pointing at Ollama or LM Studio: the server is recognised from its own API and its preset applies
(one request at a time, a long read timeout), so a run against a server that answers one request at a time queues
instead of timing out."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from wfdesk.providers import local_servers, openai_compat
from wfdesk.scripts.registry import execute_step_script
from wfdesk.settings import ProviderProfile, Settings


class SerialServer:
    """A local model server that answers one chat request at a time, each after `delay` seconds.

    kind "ollama": GET /api/version -> {"version"}; unknown paths: 404 "404 page not found" (text/plain).
    kind "lmstudio": GET /api/v0/models -> its richer model list; unknown paths: 200 {"error": "Unexpected
    endpoint or method. (GET /x)"}, as LM Studio answers.
    """

    MODEL: ClassVar[dict[str, str]] = {"ollama": "llama3.2:3b", "lmstudio": "qwen2.5-7b-instruct"}

    def __init__(self, kind: str, delay: float = 0.0) -> None:
        self.kind, self.delay = kind, delay
        self.busy = threading.Lock()  # the one model: a second request waits for the first
        self.in_flight = self.max_in_flight = 0
        self.paths: list[str] = []
        self._count_lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.paths.append(self.path)
                owner.get(self)

            def do_POST(self) -> None:
                owner.paths.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.post(self, json.loads(body or b"{}"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> SerialServer:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def get(self, h: BaseHTTPRequestHandler) -> None:
        model = self.MODEL[self.kind]
        if self.kind == "ollama" and h.path == "/api/version":
            self.send(h, 200, {"version": "0.12.6"})
        elif self.kind == "lmstudio" and h.path == "/api/v0/models":
            self.send(h, 200, {"object": "list", "data": [{
                "id": model, "object": "model", "type": "llm", "publisher": "lmstudio-community", "arch": "qwen2",
                "compatibility_type": "gguf", "quantization": "Q4_K_M", "state": "loaded",
                "max_context_length": 32768}]})
        elif h.path == "/v1/models":
            self.send(h, 200, {"object": "list", "data": [{"id": model, "object": "model", "created": 0,
                                                           "owned_by": "library"}]})
        elif self.kind == "ollama":
            self.send(h, 404, b"404 page not found", "text/plain")
        else:
            self.send(h, 200, {"error": f"Unexpected endpoint or method. (GET {h.path})"})

    def post(self, h: BaseHTTPRequestHandler, req: dict[str, Any]) -> None:
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            with self.busy:
                time.sleep(self.delay)
                text = "POLISHED: " + req["messages"][-1]["content"]
                self.send(h, 200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                    "model": req["model"], "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}})
        finally:
            with self._count_lock:
                self.in_flight -= 1


@pytest.fixture
def settings(loopback):
    # The editor changed nothing but the read timeout, scaled down here from minutes to seconds; the address comes
    # from OPENAI_BASE_URL, as a local server's instructions say.
    return Settings(custom_script_base_url=loopback.root_url,
                    providers={"default": ProviderProfile(name="default", max_retries=0, read_timeout=2.5)})


@pytest.fixture
def settings_with_address(loopback):
    return Settings(providers={"default": ProviderProfile(name="default", base_url=loopback.base_url)})


@pytest.mark.parametrize("kind", ["ollama", "lmstudio"])
def test_a_serial_local_server_via_openai_base_url_queues_instead_of_timing_out(demo, monkeypatch, kind):
    with SerialServer(kind, delay=1.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.root + "/v1")
        result = execute_step_script(1, 53, {"section_ids": [711, 712, 713],
                                             "llm_settings": {"model": SerialServer.MODEL[kind]}})
        assert [r["status"] for r in result["results"]] == ["success"] * 3, result
        assert server.max_in_flight == 1  # one request at a time: the others waited here, not at the server
        profile = openai_compat.profile_for(demo, None)
        assert profile.concurrency == 1
        assert profile.read_timeout == 2.5  # what the editor set stays theirs


def test_without_the_preset_the_same_server_times_out(demo, monkeypatch):
    """What happened before: eight requests at once against a one-at-a-time server, the last ones time out."""
    demo.settings.providers["default"] = ProviderProfile(name="default", max_retries=0, read_timeout=2.5,
                                                         concurrency=8, kind="openai")
    with SerialServer("ollama", delay=1.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.root + "/v1")
        result = execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    failed = [r for r in result["results"] if r["status"] == "error"]
    assert failed
    assert all("time" in r["error"] for r in failed)  # timed out waiting behind the others


@pytest.mark.parametrize("kind", ["ollama", "lmstudio"])
def test_the_server_is_recognised_from_its_own_api(kind):
    with SerialServer(kind) as server:
        assert local_servers.detect(server.root + "/v1") == kind
        assert local_servers.detect(server.root) == kind


def test_other_servers_are_left_alone(demo, loopback, monkeypatch):
    assert local_servers.detect(loopback.base_url) is None  # an OpenAI-compatible server of another kind
    assert local_servers.detect("http://127.0.0.1:9/v1") is None  # nothing there
    loopback.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.base_url)
    profile = openai_compat.profile_for(demo, None)
    assert profile.concurrency == 8
    assert profile.read_timeout == 2.5
    assert execute_step_script(1, 53, {"section_ids": [711]})["success"]
    assert execute_step_script(1, 53, {"section_ids": [712]})["success"]
    assert loopback.count("/api/") == 2  # Ollama's and LM Studio's question, asked once per workspace


def test_an_explicit_setting_wins_over_the_preset(demo, monkeypatch):
    demo.settings.providers["default"] = ProviderProfile(name="default", concurrency=3)
    with SerialServer("ollama") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.root + "/v1")
        profile = openai_compat.profile_for(demo, None)
    assert profile.concurrency == 3
    assert profile.read_timeout == local_servers.PRESET["read_timeout"]


def test_a_profile_with_its_own_address_is_not_probed(demo, loopback, settings_with_address):
    """Set up in Settings (where Ollama and LM Studio are presets to choose): used as it is, nothing is asked."""
    demo.settings.providers = settings_with_address.providers
    profile = openai_compat.profile_for(demo, None)
    assert profile.base_url == loopback.base_url
    assert profile.concurrency == 8
    assert loopback.count("/api/") == 0


def test_a_server_slow_to_answer_the_question_is_asked_once(demo, monkeypatch):
    # A busy server that does not answer /api/version in time: the run goes on with the profile as it is, and does not
    # wait a second time for LM Studio's question on the same server.
    server = SerialServer("ollama")
    release = threading.Event()
    server.get = lambda handler: release.wait(30)  # every GET hangs until the test ends
    with server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.root + "/v1")
        try:
            profile = openai_compat.profile_for(demo, None)
            assert profile.concurrency == ProviderProfile.model_fields["concurrency"].default
            assert server.paths == ["/api/version"]
            openai_compat.profile_for(demo, None)
            assert server.paths == ["/api/version"]  # remembered for the workspace: asked once
        finally:
            release.set()
