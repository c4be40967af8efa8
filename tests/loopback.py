"""Loopback OpenAI-compatible HTTP server for the test suite.

The real ``openai`` SDK and ``requests`` talk to it over real HTTP on 127.0.0.1 (nothing is patched).
Standard library only, plus Pillow to draw PNGs.

    with LoopbackServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        server.fail = lambda i, req: (500, {}, b'{"error": {"message": "boom"}}') if i == 1 else None
        ...

Endpoints: POST /v1/chat/completions (plain and SSE streaming), POST /v1/images/generations,
GET /v1/models, GET /files/<name> (images produced in url mode); any other POST is a "custom script"
endpoint; any other GET is a 404 in OpenAI's error shape.
"""

from __future__ import annotations

import base64
import functools
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

__all__ = ["IMAGE_MODES", "LoopbackServer", "RecordedRequest", "RequestHeaders", "make_png"]

IMAGE_MODES = ("b64_json", "url", "data_url")
DEFAULT_MODEL = "test-model"


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
        except Exception as exc:  # a bug or a raising test hook: answer 500 and keep it for inspection
            owner.errors.append(exc)
            if self._started:
                self.close_connection = True
            else:
                try:
                    self._send_error(500, f"loopback handler error: {exc!r}", "server_error")
                except OSError:
                    self.close_connection = True

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
            if path == "/v1/chat/completions":
                self._chat(rec)
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
        reply_fn = owner.chat_reply
        if reply_fn is not None:
            reply = reply_fn(req)
        else:
            users = [m for m in messages if m.get("role") == "user"]
            reply = "POLISHED: " + (_text_of(users[-1].get("content")) if users else "")
        prompt_tokens = sum(len(_text_of(m.get("content")).split()) for m in messages)
        completion_tokens = len(reply.split())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid = f"chatcmpl-loopback-{owner._next_id()}"
        created = int(time.time())
        model = req.get("model") or DEFAULT_MODEL
        if req.get("stream"):
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            self._chat_stream(cid, created, model, reply, usage if include_usage else None)
            return
        message = {"role": "assistant", "content": reply, "refusal": None}
        self._send_json(200, {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
        })

    def _chat_stream(self, cid: str, created: int, model: str, reply: str, usage: dict | None) -> None:
        owner = self.server.owner

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

        # Like OpenAI: a role chunk, one chunk per word (with its trailing whitespace), a finish chunk,
        # optionally a usage chunk with empty choices, then [DONE].
        events: list[Any] = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in re.split(r"(?<=\s)(?=\S)", reply) if piece]
        events.append(chunk({}, "stop"))
        if usage is not None:
            events.append({**chunk({}), "choices": [], "usage": usage})
        events.append("[DONE]")

        self._started = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, event in enumerate(events):
            if i and not owner._sleep(owner.stream_delay):
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
        mode = owner.image_mode
        if mode == "b64_json":  # honour the request; b64_json when it does not say
            fmt = req.get("response_format") or "b64_json"
            if fmt not in ("b64_json", "url"):
                self._send_error(400, f"Invalid 'response_format': {fmt!r}")
                return
        elif mode in ("url", "data_url"):
            fmt = mode
        else:
            raise ValueError(f"unknown image_mode {mode!r}; expected one of {IMAGE_MODES}")
        forced = owner.image_bytes
        width, height = _parse_size(req.get("size"), owner.image_max_side)
        items = []
        for i in range(n):
            data = forced if forced is not None else make_png(prompt, i, width, height)
            if fmt == "url":
                item = {"url": f"{owner.root_url}/files/{owner._store_file(data)}"}
            elif fmt == "data_url":
                item = {"url": "data:image/png;base64," + base64.b64encode(data).decode("ascii")}
            else:
                item = {"b64_json": base64.b64encode(data).decode("ascii")}
            item["revised_prompt"] = "Revised: " + prompt
            items.append(item)
        self._send_json(200, {"created": int(time.time()), "data": items})

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
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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
        self._reset_knobs()

    # -- internals used by the handler ----------------------------------------------------------------

    def _record(self, rec: RecordedRequest) -> int:
        with self._lock:
            self._log.append(rec)
            self._index += 1
            return self._index

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

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
