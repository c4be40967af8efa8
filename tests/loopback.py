"""Loopback OpenAI-compatible HTTP server for the test suite.

The real ``openai`` SDK and ``requests`` talk to it over real HTTP on 127.0.0.1 (nothing is patched).
Standard library only, plus Pillow to draw PNGs.

    with LoopbackServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        server.fail = lambda i, req: (500, {}, b'{"error": {"message": "boom"}}') if i == 1 else None
        ...

Endpoints: POST /v1/chat/completions (plain and SSE streaming), POST /v1/images/generations,
GET /v1/models, GET /files/<name> (images produced in url mode); any other POST is a "custom script"
endpoint; any other GET is a 404 in OpenAI's error shape. The OpenAI paths without /v1 answer 404 as Go and
FastAPI servers do ("404 page not found").

It answers the way today's providers do, keyed on the model name and the prompt (see PROVIDER QUIRKS below):
GPT image models refuse `response_format`; dall-e-3 refuses n > 1; reasoning models (o-series, gpt-5 on) refuse
`max_tokens` and any temperature but 1; a `max_tokens` below the reply's length cuts it (finish_reason
"length"); prompts holding <<filter>> / <<refuse>> are filtered / refused; thinking models put <think> blocks in
the content; "local-*" models send no usage; "azure-*" models refuse `stream_options`. Knobs add dropped
connections, slow drips, streams held mid-answer (`stream_hold`) and missing finish reasons; helpers build quota,
Retry-After and key-echo errors.
`in_flight` / `max_in_flight` (and `_by` client, i.e. API key) count the requests being answered at once.

Seen on real third-party servers (LiteLLM proxy, @dwmkerr/mock-llm, Azure OpenAI), keyed on the model name:
"proxy-error-*" answers 200 with an `{"error": {...}}` body, or a stream whose only event is an error;
"web-page-*" answers 200 with an HTML page (a web UI where the API was expected); "gzip-*" sends its answer
gzip-encoded; "*prompt-filter*" streams open with Azure's chunk of empty choices and prompt_filter_results.
"no-stream-*" models refuse `stream: true` with a 400 naming streaming (servers without SSE).
"ping-forever-*" streams a first chunk, then SSE keep-alive comments every 0.2 s and never ends.
"missing-*" models are not on the server: Ollama's 404 "model … not found, try pulling it first".
"litellm-*" models are LiteLLM proxy aliases (model_name -> an OpenAI model) refusing in LiteLLM's own words:
"litellm-o*" a temperature other than 1, "litellm-image*" `response_format`, other "litellm-*" `reasoning_effort`.
`rate_limited_by_headers` is OpenAI's 429 with only x-ratelimit-reset-* headers (no Retry-After).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import hashlib
import io
import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from PIL.PngImagePlugin import PngInfo

__all__ = ["IMAGE_MODES", "LoopbackServer", "RecordedRequest", "RequestHeaders", "key_echo", "make_png",
           "quota_exhausted", "rate_limited", "rate_limited_by_headers"]

IMAGE_MODES = ("b64_json", "url", "data_url")
DEFAULT_MODEL = "test-model"

# --- PROVIDER QUIRKS (wordings as OpenAI, Azure OpenAI and local servers send them) ------------------------------
GPT_IMAGE_RE = re.compile(r"^(gpt-image|chatgpt-image)")
REASONING_RE = re.compile(r"^(o\d+(-|$)|gpt-[5-9])")  # OpenAI's o-series and gpt-5 onwards
THINKING_RE = re.compile(r"(-r1|qwq|think|qwen3)")  # local reasoning models without a reasoning parser
FILTER_MARK, REFUSE_MARK = "<<filter>>", "<<refuse>>"
AZURE_STREAM_OPTIONS = ("Unrecognized request argument supplied: stream_options. Please contact us through an "
                        "Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 for further "
                        "questions.")
PROXY_ERROR_MESSAGE = "Upstream model is overloaded, try later"
WEB_PAGE = (b"<!DOCTYPE html><html><head><title>Open WebUI</title></head><body><div id=\"app\"></div>"
            b"<script src=\"/_app/start.js\"></script></body></html>")
QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more "
                 "information on this error, read the docs: "
                 "https://platform.openai.com/docs/guides/error-codes/api-errors.")


def _openai_error(message: str, type_: str = "invalid_request_error", param: str | None = None,
                  code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


def quota_exhausted() -> tuple[int, dict[str, str], bytes]:
    """OpenAI's answer when the account has no credit left (retrying cannot help)."""
    return 429, {}, _openai_error(QUOTA_MESSAGE, "insufficient_quota", None, "insufficient_quota")


def rate_limited(retry_after: float | str, status: int = 429) -> tuple[int, dict[str, str], bytes]:
    return status, {"Retry-After": str(retry_after)}, _openai_error(
        "Rate limit reached for requests. Please try again later.", "requests", None, "rate_limit_exceeded")


def rate_limited_by_headers(reset_requests: str = "2s") -> tuple[int, dict[str, str], bytes]:
    """OpenAI's 429 as it often comes: no Retry-After, the wait only in x-ratelimit-reset-requests ("2s",
    "6m0s", "120ms") and in the message's words."""
    return 429, {"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0",
                 "x-ratelimit-reset-requests": reset_requests, "x-ratelimit-reset-tokens": "0s"}, _openai_error(
        f"Rate limit reached for gpt-4o-mini in organization org-abc on requests per min (RPM): Limit 3, Used 3, "
        f"Requested 1. Please try again in {reset_requests}.", "requests", "requests", "rate_limit_exceeded")


def key_echo(rec: RecordedRequest, *, whole_header: bool = False) -> tuple[int, dict[str, str], bytes]:
    """A proxy that echoes the whole key it was sent (OpenAI masks it; some gateways do not). whole_header:
    the whole Authorization header, "Bearer sk-…", as @dwmkerr/mock-llm's documented 401 template does."""
    key = rec.headers.get("authorization", "").strip()
    if not whole_header:
        key = key.removeprefix("Bearer ").strip()
    return 401, {}, _openai_error(f"Incorrect API key provided: {key}. You can find your API key at "
                                  f"https://platform.openai.com/account/api-keys.", "invalid_request_error",
                                  None, "invalid_api_key")


class RequestHeaders(dict[str, str]):
    """Plain dict of request headers, keys lower-cased; lookups are case-insensitive."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # raw request path, query string included
    headers: dict[str, str]  # a RequestHeaders: case-insensitive lookups
    json: Any  # parsed JSON body (normally a dict); None if the body is empty or not valid JSON
    time: float  # time.monotonic() when the request arrived
    body: bytes = field(default=b"", repr=False)


Response = tuple[int, dict[str, str], bytes]
FailHook = Callable[[int, RecordedRequest], Response | None]
ChatReply = Callable[[dict[str, Any]], str]
CustomReply = Callable[[RecordedRequest], Response]


@functools.lru_cache(maxsize=256)
def make_png(prompt: str, index: int, width: int, height: int) -> bytes:
    """Deterministic PNG: colour and a text chunk derive from (prompt, index), so bytes differ per pair."""
    digest = hashlib.sha256(f"{index}\x00{prompt}".encode()).digest()
    info = PngInfo()
    info.add_text("loopback", digest.hex())
    buf = io.BytesIO()
    Image.new("RGB", (width, height), tuple(digest[:3])).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _parse_size(size: Any, max_side: int) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size) if isinstance(size, str) else None
    w, h = (int(m.group(1)), int(m.group(2))) if m else (1024, 1024)  # "auto"/missing -> 1024x1024
    cap = max(1, int(max_side))
    return max(1, min(w, cap)), max(1, min(h, cap))


def _text_of(content: Any) -> str:
    """Text of a message's content: a string, or a list of content parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _error_body(message: str, type_: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": None, "code": None}}).encode()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind: its socket.getfqdn() reverse lookup can be slow in sandboxes.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # stay quiet on stderr; handler errors are answered with 500 and kept in owner.errors


class _AbortError(Exception):
    """The server is stopping (or the client left): drop the connection without answering."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive like the real API; streams use chunked encoding
    server_version = "LoopbackOpenAI/1.0"
    disable_nagle_algorithm = True
    timeout = 30  # idle keep-alive connections give up eventually
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        pass

    def setup(self) -> None:
        super().setup()
        self._started = False
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    do_PUT = do_PATCH = do_DELETE = do_GET

    # -- plumbing -------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        owner = self.server.owner
        self._started = False
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        parsed: Any = None
        bad_json = False
        if body.strip():
            try:
                parsed = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                bad_json = True
        rec = RecordedRequest(
            self.command, self.path, RequestHeaders(self.headers.items()), parsed, time.monotonic(), body
        )
        index = owner._record(rec)
        owner._arrived(rec)
        try:
            if not owner._sleep(owner.latency):
                raise _AbortError
            hook = owner.fail
            injected = hook(index, rec) if hook is not None else None
            if injected is not None:
                self._send(*injected)
            elif bad_json:
                self._send_error(400, "We could not parse the JSON body of your request.")
            else:
                self._route(rec)
        except (_AbortError, ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug or a raising test hook: answer 500 and keep it for inspection
            owner.errors.append(exc)
            if self._started:
                self.close_connection = True
            else:
                try:
                    self._send_error(500, f"loopback handler error: {exc!r}", "server_error")
                except OSError:
                    self.close_connection = True
        finally:
            owner._answered(rec)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self._started = True
        self.send_response(status)
        given = {k.lower() for k in headers}
        if "content-type" not in given:
            self.send_header("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, str(value))
        if "content-length" not in given:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any) -> None:
        self._send(status, {}, json.dumps(obj).encode())

    def _send_error(self, status: int, message: str, type_: str = "invalid_request_error") -> None:
        self._send(status, {}, _error_body(message, type_))

    def _write_chunk(self, data: bytes) -> None:
        # HTTP/1.1 chunked framing; empty data writes the terminating chunk.
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n" if data else b"0\r\n\r\n")
        self.wfile.flush()

    # -- routes ---------------------------------------------------------------------------------------

    def _route(self, rec: RecordedRequest) -> None:
        path = urlsplit(rec.path).path.rstrip("/") or "/"
        if rec.method == "GET":
            if path == "/v1/models":
                model = {"id": DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "loopback"}
                self._send_json(200, {"object": "list", "data": [model]})
            elif path.startswith("/files/"):
                data = self.server.owner.files.get(path[len("/files/") :])
                if data is None:
                    self._send_error(404, f"No such file: {path}")
                else:
                    self._send(200, {"Content-Type": "image/png"}, data)
            else:
                self._send_error(404, f"Unknown request URL: GET {path}.")
        elif rec.method == "POST":
            if path in ("/chat/completions", "/images/generations"):
                self._send(404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found")
            elif path == "/v1/chat/completions":
                self._chat(rec)
            elif path == "/v1/images/generations" and not self.server.owner.images_endpoint:
                # LM Studio's wording: a string where OpenAI has an object.
                self._send_json(404, {"error": f"Unexpected endpoint or method. (POST {path})"})
            elif path == "/v1/images/generations":
                self._images(rec)
            elif path == "/sdapi/v1/txt2img":
                self._a1111_txt2img(rec)
            elif path == "/sdapi/v1/interrupt":
                self.server.owner.a1111_interrupt.set()
                self._send_json(200, {})
            else:
                self._custom(rec)
        else:
            self._send_error(405, f"Method {rec.method} not allowed.")

    def _chat(self, rec: RecordedRequest) -> None:
        owner = self.server.owner
        req = rec.json
        if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
            self._send_error(400, "'messages' is a required property")
            return
        messages = [m for m in req["messages"] if isinstance(m, dict)]
        model = str(req.get("model") or DEFAULT_MODEL)
        if self._chat_answered_otherwise(req, model):
            return
        reply, refusal, finish = self._chat_reply(req, messages, model)
        prompt_tokens = sum(len(_text_of(m.get("content")).split()) for m in messages)
        completion_tokens = len(reply.split())
        usage: dict[str, Any] | None = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if model.startswith("local-") or not owner.send_usage:
            usage = None  # llama.cpp-style servers and many local ones report no usage
        cid = f"chatcmpl-loopback-{owner._next_id()}"
        created = int(time.time())
        if req.get("stream"):
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            self._chat_stream(cid, created, model, reply, usage if include_usage else None, finish, refusal)
            return
        message = {"role": "assistant", "content": reply if refusal is None else None, "refusal": refusal}
        send = self._send_gzipped if model.startswith("gzip-") else self._send_body
        send(200, json.dumps({
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": None if owner.omit_finish_reason else finish}],
            "usage": usage,
        }).encode())

    def _chat_answered_otherwise(self, req: dict[str, Any], model: str) -> bool:
        """The models whose name asks for another kind of answer (a proxy's error, a web page, a refusal...)."""
        if model.startswith("proxy-error"):
            self._proxy_error(bool(req.get("stream")))
            return True
        if model.startswith("web-page"):
            self._send(200, {"Content-Type": "text/html; charset=utf-8"}, WEB_PAGE)
            return True
        if model.startswith("ping-forever") and req.get("stream"):
            self._ping_forever(model)
            return True
        if model.startswith("missing-"):
            self._send(404, {}, _openai_error(f'model "{model}" not found, try pulling it first',
                                              "not_found_error"))
            return True
        if model.startswith("litellm-") and self._litellm_refused(req, model):
            return True
        return self._chat_refused(req, model)

    def _chat_reply(self, req: dict[str, Any], messages: list[dict[str, Any]], model: str
                    ) -> tuple[str, str | None, str]:
        """(reply, refusal, finish_reason) for the last user message."""
        reply_fn = self.server.owner.chat_reply
        users = [m for m in messages if m.get("role") == "user"]
        prompt = _text_of(users[-1].get("content")) if users else ""
        reply = reply_fn(req) if reply_fn is not None else "POLISHED: " + prompt
        refusal, finish = None, "stop"
        if REFUSE_MARK in prompt:
            reply, refusal = "", "I'm sorry, but I can't help with that request."
        elif FILTER_MARK in prompt:
            reply, finish = reply.split(FILTER_MARK)[0], "content_filter"  # partial text, then the filter
        if THINKING_RE.search(model) and reply:
            reply = "<think>\nThe editor wants this polished. Keep the meaning.\n</think>\n\n" + reply
        limit = req.get("max_completion_tokens") or req.get("max_tokens")
        words = re.split(r"(?<=\s)(?=\S)", reply)
        if isinstance(limit, int) and 0 < limit < len(words):
            reply, finish = "".join(words[:limit]), "length"  # one "token" a word, cut like a real server
        return reply, refusal, finish

    def _litellm_refused(self, req: dict[str, Any], model: str) -> bool:
        """LiteLLM's UnsupportedParamsError wordings (checked against litellm 1.x's proxy), as a 400."""
        tail = (f"\n\nLiteLLM: model group '{model}' failed with the error above. No fallback was attempted.")
        if model.startswith("litellm-o") and req.get("temperature") not in (None, 1, 1.0):
            message = (f"litellm.UnsupportedParamsError: O-series models don't support temperature="
                       f"{req['temperature']}. Only temperature=1 is supported. To drop unsupported openai params "
                       f"from the call, set `litellm.drop_params = True`")
        elif model.startswith("litellm-image") and "response_format" in req:
            message = ("litellm.UnsupportedParamsError: Setting `response_format` is not supported by openai, "
                       "gpt-image-1-mini. To drop it from the call, set `litellm.drop_params = True`.")
        elif not model.startswith(("litellm-o", "litellm-image")) and "reasoning_effort" in req:
            message = (f"litellm.UnsupportedParamsError: openai does not support parameters: ['reasoning_effort'], "
                       f"for model={model}. To drop these, set `litellm.drop_params=True` or for proxy:\n\n"
                       f"`litellm_settings:\n drop_params: true`\n")
        else:
            return False
        self._send(400, {}, json.dumps({"error": {"message": message + tail, "type": "invalid_request_error",
                                                  "param": None, "code": "400"}}).encode())
        return True

    def _chat_refused(self, req: dict[str, Any], model: str) -> bool:
        """The 400s real providers send for parameters a model does not take."""
        if REASONING_RE.match(model) and "max_tokens" in req:
            self._send(400, {}, _openai_error(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' "
                "instead.", param="max_tokens", code="unsupported_parameter"))
        elif REASONING_RE.match(model) and req.get("temperature") not in (None, 1, 1.0):
            self._send(400, {}, _openai_error(
                f"Unsupported value: 'temperature' does not support {req['temperature']} with this model. Only "
                f"the default (1) value is supported.", param="temperature", code="unsupported_value"))
        elif model.startswith("azure-") and "stream_options" in req:
            self._send(400, {}, _openai_error(AZURE_STREAM_OPTIONS))
        elif model.startswith("no-stream-") and req.get("stream"):
            self._send(400, {}, _openai_error("Streaming is not supported by this server.", param="stream"))
        elif "reasoning_effort" in req and not REASONING_RE.match(model):
            self._send(400, {}, _openai_error(
                "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                param="reasoning_effort", code="unsupported_parameter"))
        else:
            return False
        return True

    def _proxy_error(self, stream: bool) -> None:
        """What LiteLLM, mock-llm and other proxies do: the upstream's error inside a 200 (a stream's one event)."""
        error = {"error": {"message": PROXY_ERROR_MESSAGE, "type": "server_error", "param": None,
                           "code": "overloaded"}}
        if not stream:
            self._send_json(200, error)
            return
        self._started = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._write_chunk(f"data: {json.dumps(error)}\n\n".encode())
        self._write_chunk(b"")

    def _ping_forever(self, model: str) -> None:
        """A stream that stays open: one chunk, then ": ping" comments (as proxies keep idle streams alive)."""
        owner = self.server.owner
        self._started = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        first = {"id": "chatcmpl-ping", "object": "chat.completion.chunk", "created": 0, "model": model,
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Half"}, "finish_reason": None}]}
        self._write_chunk(f"data: {json.dumps(first)}\n\n".encode())
        while owner._sleep(0.2):
            self._write_chunk(b": ping\n\n")  # a client that left makes this raise: the handler ends
        raise _AbortError

    def _send_gzipped(self, status: int, body: bytes) -> None:
        """The answer gzip-encoded when the client accepts it, as nginx/Cloudflare in front of a server do."""
        if "gzip" not in (self.headers.get("Accept-Encoding") or ""):
            self._send(status, {}, body)
            return
        self._send(status, {"Content-Encoding": "gzip"}, gzip.compress(body, compresslevel=6))

    def _send_body(self, status: int, body: bytes) -> None:
        """A JSON answer, or (knobs) one dripped a byte at a time, or cut off half-way."""
        owner = self.server.owner
        if owner._take_drop():
            self._started = True
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            raise _AbortError  # the connection closes mid-body
        if owner.header_drip:
            self._started = True
            head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                    f"X-Padding: {'p' * 2000}\r\n\r\n").encode()
            for i in range(len(head)):  # the headers themselves never quite end
                if not owner._sleep(owner.header_drip):
                    raise _AbortError
                self.wfile.write(head[i : i + 1])
                self.wfile.flush()
            self.wfile.write(body)
            return
        if not owner.drip:
            self._send(status, {}, body)
            return
        self._started = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for i in range(len(body)):
            if not owner._sleep(owner.drip):
                raise _AbortError
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()

    def _chat_stream(self, cid: str, created: int, model: str, reply: str, usage: dict | None,
                     finish: str = "stop", refusal: str | None = None) -> None:
        owner = self.server.owner
        events = _stream_events(cid, created, model, reply, usage, None if owner.omit_finish_reason else finish,
                                refusal)
        drop_at = 3 if owner._take_drop() else None  # the connection dies after a few chunks

        self._started = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        hold, hold_at = owner.stream_hold, 1 + owner.stream_hold_after + ("prompt-filter" in model)
        for i, event in enumerate(events):
            if i and not owner._sleep(owner.stream_delay):
                raise _AbortError
            if i == drop_at:
                raise _AbortError
            if hold is not None and i == hold_at:
                while not hold.wait(0.05):  # mid-answer, as a slow model is; the client may go away meanwhile
                    if owner._stopping.is_set():
                        raise _AbortError
            data = event if isinstance(event, str) else json.dumps(event)
            self._write_chunk(f"data: {data}\n\n".encode())
        self._write_chunk(b"")

    def _images(self, rec: RecordedRequest) -> None:
        owner = self.server.owner
        req = rec.json
        if not isinstance(req, dict) or not isinstance(req.get("prompt"), str) or not req["prompt"]:
            self._send_error(400, "'prompt' is a required property")
            return
        prompt: str = req["prompt"]
        try:
            n = int(req.get("n") or 1)
        except (TypeError, ValueError):
            n = 0
        if n < 1:
            self._send_error(400, f"Invalid 'n': {req.get('n')!r}")
            return
        model = str(req.get("model") or "")
        if self._images_refused(req, model, n):
            return
        fmt = self._image_format(req)
        if fmt is None:
            return
        forced = owner.image_bytes
        width, height = _parse_size(req.get("size"), owner.image_max_side)
        # A model that makes one image a request still makes a new one each time.
        first = owner._image_serial(prompt) if n == 1 and model.startswith("dall-e-3") else 0
        items = []
        for i in range(first, first + n):
            data = forced if forced is not None else make_png(prompt, i, width, height)
            if fmt == "url":
                item = {"url": f"{owner.root_url}/files/{owner._store_file(data)}"}
            elif fmt == "data_url":
                item = {"url": "data:image/png;base64," + base64.b64encode(data).decode("ascii")}
            else:
                item = {"b64_json": base64.b64encode(data).decode("ascii")}
            item["revised_prompt"] = "Revised: " + prompt
            items.append(item)
        answer: dict[str, Any] = {"created": int(time.time()), "data": items}
        if GPT_IMAGE_RE.match(model):
            answer["usage"] = {"input_tokens": len(prompt.split()), "output_tokens": 272 * n,
                               "total_tokens": len(prompt.split()) + 272 * n}
        self._send_body(200, json.dumps(answer).encode())

    def _images_refused(self, req: dict[str, Any], model: str, n: int) -> bool:
        """The image models whose name asks for another answer, and what OpenAI refuses per model."""
        if model.startswith("proxy-error"):
            self._proxy_error(False)
            return True
        if model.startswith("web-page"):
            self._send(200, {"Content-Type": "text/html; charset=utf-8"}, WEB_PAGE)
            return True
        if model.startswith("litellm-image") and self._litellm_refused(req, model):
            return True
        if GPT_IMAGE_RE.match(model) and "response_format" in req:
            # What OpenAI answers: GPT image models always return base64 and know no response_format.
            self._send(400, {}, _openai_error("Unknown parameter: 'response_format'.", param="response_format",
                                              code="unknown_parameter"))
            return True
        if model.startswith("dall-e-3") and n > 1:
            self._send(400, {}, _openai_error("You must provide n=1 for this model.", param="n",
                                              code="invalid_value"))
            return True
        return False

    def _image_format(self, req: dict[str, Any]) -> str | None:
        """b64_json, url or data_url, as the server's image_mode says; None when the request was refused."""
        mode = self.server.owner.image_mode
        if mode == "b64_json":  # honour the request; b64_json when it does not say
            fmt = req.get("response_format") or "b64_json"
            if fmt not in ("b64_json", "url"):
                self._send_error(400, f"Invalid 'response_format': {fmt!r}")
                return None
            return str(fmt)
        if mode in ("url", "data_url"):
            return str(mode)
        raise ValueError(f"unknown image_mode {mode!r}; expected one of {IMAGE_MODES}")

    def _a1111_txt2img(self, rec: RecordedRequest) -> None:
        """A stand-in for AUTOMATIC1111's txt2img: base64 PNGs without a data: prefix, after `a1111_delay`
        seconds unless /sdapi/v1/interrupt arrives first (then it answers at once, as A1111 does)."""
        owner = self.server.owner
        req = rec.json if isinstance(rec.json, dict) else {}
        if not isinstance(req.get("prompt"), str) or not req["prompt"]:
            self._send_json(422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]})
            return
        owner.a1111_interrupt.clear()
        interrupted = owner.a1111_interrupt.wait(owner.a1111_delay) if owner.a1111_delay else False
        width = min(int(req.get("width") or 512), owner.image_max_side)
        height = min(int(req.get("height") or 512), owner.image_max_side)
        count = int(req.get("batch_size") or 1) * int(req.get("n_iter") or 1)
        images = [base64.b64encode(make_png(req["prompt"], i, width, height)).decode("ascii") for i in range(count)]
        info = {"prompt": req["prompt"], "seed": 1234, "interrupted": interrupted}
        self._send_json(200, {"images": images, "parameters": req, "info": json.dumps(info)})

    def _custom(self, rec: RecordedRequest) -> None:
        hook = self.server.owner.custom_reply
        if hook is not None:
            self._send(*hook(rec))
            return
        request_json = rec.json if isinstance(rec.json, dict) else {}
        output = "processed: " + json.dumps(request_json.get("inputs"), sort_keys=True)
        self._send_json(200, {"output": output, "echo": request_json})


class LoopbackServer:
    """OpenAI-compatible HTTP server on 127.0.0.1:<random port>, served from a daemon thread.

    Behaviour knobs are plain attributes, read per request, so tests may change them at any time;
    ``reset()`` restores them (and clears the request log, counters and served files).
    """

    # Behaviour knobs (defaults are applied by _reset_knobs).
    latency: float  # seconds slept before answering each request (interrupted by stop())
    fail: FailHook | None  # (1-based request index, request) -> (status, headers, body) to send instead
    image_mode: str  # "b64_json" (honour request's response_format), or force "url" / "data_url"
    image_bytes: bytes | None  # exact bytes to return as every image (e.g. to test bad bytes)
    image_max_side: int  # cap on each side of generated PNGs
    chat_reply: ChatReply | None  # request json -> reply text (default "POLISHED: <last user message>")
    stream_delay: float  # seconds slept between SSE chunks
    custom_reply: CustomReply | None  # request -> (status, headers, body) for non-OpenAI POST paths
    a1111_delay: float  # seconds the A1111 stand-in "renders" before answering (cut short by an interrupt)
    drop_answers: int  # the next N chat/image answers lose their connection half-way (streams after 3 chunks)
    drip: float  # seconds between the bytes of chat/image JSON answers (a server that never quite stops)
    header_drip: float  # seconds between the bytes of the answer's status line and headers (2 KB of them)
    send_usage: bool  # False: no usage in chat answers (as many local servers)
    omit_finish_reason: bool  # True: chat answers (and streams) end without any finish_reason
    stream_hold: threading.Event | None  # set: streams pause after `stream_hold_after` pieces of text until it is set
    stream_hold_after: int
    images_endpoint: bool  # False: /v1/images/generations answers 404 (a chat-only server)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._index = 0
        self._ids = 0
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self.files: dict[str, bytes] = {}  # name -> bytes served under /files/<name>
        self.errors: list[BaseException] = []  # exceptions raised while handling (answered as 500)
        # Requests between arrival (body read) and the end of their answer: now, and the most at once since the last
        # reset; also per client (the API key the request carries, "" without one).
        self.in_flight = 0
        self.max_in_flight = 0
        self.in_flight_by: dict[str, int] = {}
        self.max_in_flight_by: dict[str, int] = {}
        self._reset_knobs()

    def _reset_knobs(self) -> None:
        self.latency = 0.0
        self.fail = None
        self.image_mode = "b64_json"
        self.image_bytes = None
        self.image_max_side = 64
        self.chat_reply = None
        self.stream_delay = 0.0
        self.custom_reply = None
        self.a1111_delay = 0.0
        self.a1111_interrupt = threading.Event()
        self.drop_answers = 0
        self.drip = 0.0
        self.header_drip = 0.0
        self.send_usage = True
        self.omit_finish_reason = False
        if getattr(self, "stream_hold", None) is not None:
            self.stream_hold.set()  # a stream still held from the last test goes on (and ends)
        self.stream_hold = None
        self.stream_hold_after = 1
        self.images_endpoint = True
        self._serials: dict[str, int] = {}

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        if self._httpd is not None:
            raise RuntimeError("LoopbackServer already started")
        self._stopping = threading.Event()
        httpd = _HTTPServer(self)
        self._httpd = httpd
        self._port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="loopback-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly: wakes sleeping handlers and closes open connections. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """"http://127.0.0.1:PORT" (still valid after stop(), handy for connection-refused tests)."""
        if self._port is None:
            raise RuntimeError("LoopbackServer not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    # -- request log ----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of all requests received so far, in arrival order."""
        with self._lock:
            return list(self._log)

    def count(self, path_prefix: str = "") -> int:
        """Number of requests whose path starts with path_prefix (all requests by default)."""
        with self._lock:
            return sum(1 for r in self._log if r.path.startswith(path_prefix))

    def reset(self) -> None:
        """Clear the log, counters, served files and errors; restore default behaviour."""
        with self._lock:
            self._log.clear()
            self._index = 0
            self._ids = 0
            self.files.clear()
            self.errors.clear()
            self.max_in_flight = self.in_flight
            self.max_in_flight_by = dict(self.in_flight_by)
        self._reset_knobs()

    @staticmethod
    def client_of(rec: RecordedRequest) -> str:
        """Whose request it is, for the per-client counts: the API key it carries."""
        return rec.headers.get("authorization", "").removeprefix("Bearer ").strip()

    # -- internals used by the handler ----------------------------------------------------------------

    def _record(self, rec: RecordedRequest) -> int:
        with self._lock:
            self._log.append(rec)
            self._index += 1
            return self._index

    def _arrived(self, rec: RecordedRequest) -> None:
        client = self.client_of(rec)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.in_flight_by[client] = now = self.in_flight_by.get(client, 0) + 1
            self.max_in_flight_by[client] = max(self.max_in_flight_by.get(client, 0), now)

    def _answered(self, rec: RecordedRequest) -> None:
        client = self.client_of(rec)
        with self._lock:
            self.in_flight -= 1
            self.in_flight_by[client] -= 1

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _take_drop(self) -> bool:
        with self._lock:
            if self.drop_answers > 0:
                self.drop_answers -= 1
                return True
            return False

    def _image_serial(self, prompt: str) -> int:
        with self._lock:
            serial = self._serials.get(prompt, 0)
            self._serials[prompt] = serial + 1
            return serial

    def _store_file(self, data: bytes) -> str:
        name = f"img-{self._next_id():04d}-{hashlib.sha256(data).hexdigest()[:12]}.png"
        with self._lock:
            self.files[name] = data
        return name

    def _sleep(self, seconds: float) -> bool:
        """Sleep, waking at once if the server stops; False means "stopping, abandon the request"."""
        if seconds and seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


def _stream_events(cid: str, created: int, model: str, reply: str, usage: dict | None, finish: str | None,
                   refusal: str | None) -> list[Any]:
    """Like OpenAI: a role chunk, one chunk per word (with its trailing whitespace), a finish chunk (None: left
    out), optionally a usage chunk with empty choices, then [DONE]."""

    def chunk(delta: dict, finish: str | None = None) -> dict:
        obj: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            obj["usage"] = None  # OpenAI sends usage: null on every chunk but the last one
        return obj

    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    if "prompt-filter" in model:  # Azure OpenAI: a first chunk with no choices, only the prompt's filter results
        events.insert(0, {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                          "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
                              "hate": {"filtered": False, "severity": "safe"}}}]})
    events += [chunk({"content": piece}) for piece in re.split(r"(?<=\s)(?=\S)", reply) if piece]
    if refusal is not None:
        events.append(chunk({"refusal": refusal}))
    if finish is not None:
        events.append(chunk({}, finish))
    if usage is not None:
        events.append({**chunk({}), "choices": [], "usage": usage})
    events.append("[DONE]")
    return events
