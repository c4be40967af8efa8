"""A loopback stand-in for ComfyUI's HTTP API, shaped after ComfyUI's server.py and execution.py.

    POST /prompt            {"prompt": graph, "client_id"} -> {"prompt_id", "number", "node_errors": {}}; 400 with
                            {"error": {"type", "message", "details", "extra_info"}, "node_errors"} for a bad graph
    GET  /history/{id}      {} until the prompt is done, then {id: {"prompt", "outputs", "status", "meta"}}
    GET  /view?filename=&subfolder=&type=   the image bytes (404 when unknown, 400 for a path that escapes)
    GET  /queue             {"queue_running": [...], "queue_pending": [...]}
    POST /queue             {"delete": [ids]} or {"clear": true}: removes pending prompts
    POST /interrupt         stops the running prompt (only the given one when the body names a prompt_id)
    GET  /object_info/{node_class}, GET /system_stats

Prompts run one at a time on a worker thread, each for `render_delay` seconds unless interrupted; SaveImage nodes
produce PNGs drawn from the positive prompt's text. Standard library plus Pillow (through loopback.make_png).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback import make_png

KNOWN_NODES = {"CheckpointLoaderSimple", "EmptyLatentImage", "CLIPTextEncode", "KSampler", "VAEDecode", "SaveImage",
               "PreviewImage"}
OUTPUT_NODES = {"SaveImage", "PreviewImage"}


@dataclass
class Recorded:
    method: str
    path: str
    json: Any
    time: float = field(default_factory=time.monotonic)


@dataclass
class _Job:
    number: int
    prompt_id: str
    graph: dict[str, Any]
    extra: dict[str, Any]
    outputs: list[str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Python/3.11 aiohttp/3.11"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError:
            data = None
        owner = self.server.owner
        owner._record(Recorded(self.command, self.path, data))
        if owner.redirect is not None:
            self.send_response(302)
            self.send_header("Location", owner.redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urlsplit(self.path)
        route = parts.path[4:] if parts.path.startswith("/api/") else parts.path  # ComfyUI serves both
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if self.command == "POST" and route == "/prompt":
                self._json(*owner._post_prompt(data))
            elif self.command == "GET" and route.startswith("/history/"):
                self._json(200, owner._history(route.rsplit("/", 1)[1]))
            elif self.command == "GET" and route == "/view":
                self._view(query)
            elif self.command == "GET" and route == "/queue":
                self._json(200, owner._queue_info())
            elif self.command == "POST" and route == "/queue":
                owner._post_queue(data if isinstance(data, dict) else {})
                self._send(200, b"", "text/plain")
            elif self.command == "POST" and route == "/interrupt":
                owner._interrupt(data.get("prompt_id") if isinstance(data, dict) else None)
                self._send(200, b"", "text/plain")
            elif self.command == "GET" and route.startswith("/object_info/"):
                self._json(200, owner._object_info(route.rsplit("/", 1)[1]))
            elif self.command == "GET" and route == "/system_stats":
                self._json(200, {"system": {"os": "posix", "comfyui_version": "0.3.60", "python_version": "3.11"},
                                 "devices": [{"name": "cpu", "type": "cpu", "index": None}]})
            else:
                self._send(404, b"404: Not Found", "text/plain")
        except (ConnectionError, OSError):
            self.close_connection = True

    def _view(self, query: dict[str, str]) -> None:
        filename = query.get("filename", "")
        if not filename:
            self._send(404, b"404: Not Found", "text/plain")
            return
        if filename.startswith("/") or ".." in filename:
            self._send(400, b"", "text/plain")
            return
        data = self.server.owner.files.get((query.get("type", "output"), query.get("subfolder", ""), filename))
        if data is None:
            self._send(404, b"404: Not Found", "text/plain")
        elif self.server.owner.cut_view:  # the server dies half-way through the image
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data) + 10_000))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
        else:
            self._send(200, data, "image/png")

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: ComfyUIServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


class ComfyUIServer:
    """Knobs (plain attributes, read per prompt): render_delay, checkpoints, image_bytes (forced bytes for every
    image), fail_with (an exception message: the KSampler node fails with it), history_entry (served instead of a
    finished prompt's entry), redirect (every request answered 302 to that address), cut_view (/view breaks off
    half-way)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._log: list[Recorded] = []
        self._numbers = itertools.count()
        self._counter = itertools.count(1)
        self.pending: list[_Job] = []
        self.running: _Job | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.client_ids: dict[str, str] = {}
        self.interrupted: list[str] = []
        self.deleted: list[str] = []
        self._interrupt_event = threading.Event()
        self._stopping = False
        self.render_delay = 0.0
        self.checkpoints = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
        self.image_bytes: bytes | None = None
        self.fail_with: str | None = None
        self.history_entry: Any = None  # served instead of a finished prompt's real entry (a broken or odd server)
        self.redirect: str | None = None  # every request is redirected (302) to this address
        self.cut_view = False  # /view breaks off half-way through the image
        self._httpd: _Server | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> ComfyUIServer:
        self._httpd = _Server(self)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        threading.Thread(target=self._worker, daemon=True, name="comfyui-worker").start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        self._interrupt_event.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> ComfyUIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- the request log ------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._log)

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(prefix))

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self._log.append(rec)

    # -- the API ----------------------------------------------------------------------------------------------

    def _post_prompt(self, data: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(data, dict) or "prompt" not in data:
            return 400, {"error": {"type": "no_prompt", "message": "No prompt provided", "details": "",
                                   "extra_info": {}}, "node_errors": {}}
        graph = data["prompt"]
        problem = self._validate(graph) if isinstance(graph, dict) else (
            {"type": "invalid_prompt", "message": "Invalid prompt", "details": "", "extra_info": {}}, {})
        if problem is not None:
            error, node_errors = problem
            return 400, {"error": error, "node_errors": node_errors}
        extra = dict(data.get("extra_data") or {})
        if "client_id" in data:
            extra["client_id"] = data["client_id"]
        job = _Job(next(self._numbers), str(uuid.uuid4()), graph, extra,
                   [k for k, n in graph.items() if n["class_type"] in OUTPUT_NODES])
        with self._lock:
            self.client_ids[job.prompt_id] = data.get("client_id", "")
            self.pending.append(job)
            self._wake.notify_all()
        return 200, {"prompt_id": job.prompt_id, "number": job.number, "node_errors": {}}

    def _validate(self, graph: dict[str, Any]) -> tuple[dict, dict] | None:
        for node_id, node in graph.items():
            if not isinstance(node, dict) or "class_type" not in node:
                return ({"type": "invalid_prompt", "message": "Cannot execute because a node is missing the "
                         "class_type property.", "details": f"Node ID '#{node_id}'", "extra_info": {}}, {})
            if node["class_type"] not in KNOWN_NODES:
                return ({"type": "invalid_prompt", "message": f"Cannot execute because node {node['class_type']} "
                         "does not exist.", "details": f"Node ID '#{node_id}'", "extra_info": {}}, {})
        if not any(n["class_type"] in OUTPUT_NODES for n in graph.values()):
            return ({"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                     "extra_info": {}}, {})
        node_errors = {}
        for node_id, node in graph.items():
            inputs = node.get("inputs") or {}
            if node["class_type"] == "CheckpointLoaderSimple" and inputs.get("ckpt_name") not in self.checkpoints:
                node_errors[node_id] = {"errors": [{
                    "type": "value_not_in_list", "message": "Value not in list",
                    "details": f"ckpt_name: '{inputs.get('ckpt_name')}' not in {self.checkpoints}",
                    "extra_info": {"input_name": "ckpt_name"}}], "dependent_outputs": ["9"],
                    "class_type": "CheckpointLoaderSimple"}
            for key in ("width", "height", "batch_size", "seed", "steps"):
                if key in inputs and not isinstance(inputs[key], int):
                    node_errors[node_id] = {"errors": [{
                        "type": "invalid_input_type", "message": "Failed to convert an input value to a INT value",
                        "details": f"{key}, {inputs[key]}", "extra_info": {"input_name": key}}],
                        "dependent_outputs": ["9"], "class_type": node["class_type"]}
        if node_errors:
            details = "; ".join(e["details"] for n in node_errors.values() for e in n["errors"])
            return ({"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                     "details": details, "extra_info": {}}, node_errors)
        return None

    def _history(self, prompt_id: str) -> dict[str, Any]:
        with self._lock:
            entry = self.history.get(prompt_id)
            if entry and self.history_entry is not None:
                return {prompt_id: self.history_entry}
            return {prompt_id: json.loads(json.dumps(entry))} if entry else {}

    def _queue_info(self) -> dict[str, Any]:
        def row(job: _Job) -> list[Any]:
            return [job.number, job.prompt_id, job.graph, job.extra, job.outputs]

        with self._lock:
            return {"queue_running": [row(self.running)] if self.running else [],
                    "queue_pending": [row(j) for j in self.pending]}

    def _post_queue(self, data: dict[str, Any]) -> None:
        with self._lock:
            if data.get("clear"):
                self.pending.clear()
            for prompt_id in data.get("delete") or []:
                self.deleted.append(prompt_id)
                self.pending = [j for j in self.pending if j.prompt_id != prompt_id]

    def _interrupt(self, prompt_id: str | None) -> None:
        with self._lock:
            running = self.running
            self.interrupted.append(prompt_id or "")
            if running is not None and (prompt_id is None or prompt_id == running.prompt_id):
                self._interrupt_event.set()

    def _object_info(self, node_class: str) -> dict[str, Any]:
        if node_class != "CheckpointLoaderSimple":
            return {}
        return {"CheckpointLoaderSimple": {
            "input": {"required": {"ckpt_name": [list(self.checkpoints),
                                                 {"tooltip": "The name of the checkpoint (model) to load."}]}},
            "input_order": {"required": ["ckpt_name"]}, "output": ["MODEL", "CLIP", "VAE"],
            "output_is_list": [False, False, False], "output_name": ["MODEL", "CLIP", "VAE"],
            "name": "CheckpointLoaderSimple", "display_name": "Load Checkpoint",
            "description": "Loads a diffusion model checkpoint.", "python_module": "nodes", "category": "loaders",
            "output_node": False}}

    # -- execution --------------------------------------------------------------------------------------------

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self.pending and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self.pending.pop(0)
                self.running = job
                self._interrupt_event.clear()
            interrupted = self._interrupt_event.wait(self.render_delay) if self.render_delay else False
            entry = self._finish(job, interrupted)
            with self._lock:
                self.history[job.prompt_id] = entry
                self.running = None

    def _finish(self, job: _Job, interrupted: bool) -> dict[str, Any]:
        now = int(time.time() * 1000)
        messages: list[list[Any]] = [["execution_start", {"prompt_id": job.prompt_id, "timestamp": now}],
                                     ["execution_cached", {"nodes": [], "prompt_id": job.prompt_id,
                                                           "timestamp": now}]]
        base = {"prompt": [job.number, job.prompt_id, job.graph, job.extra, job.outputs], "meta": {}}
        sampler = next((k for k, n in job.graph.items() if n["class_type"] == "KSampler"), "3")
        if interrupted:
            messages.append(["execution_interrupted", {"prompt_id": job.prompt_id, "node_id": sampler,
                                                       "node_type": "KSampler", "executed": ["4", "5"],
                                                       "timestamp": now}])
            return {**base, "outputs": {}, "status": {"status_str": "error", "completed": False,
                                                      "messages": messages}}
        if self.fail_with:
            messages.append(["execution_error", {
                "prompt_id": job.prompt_id, "node_id": sampler, "node_type": "KSampler", "executed": [],
                "exception_message": self.fail_with, "exception_type": "torch.OutOfMemoryError",
                "traceback": ["Traceback (most recent call last):\n", "..."], "current_inputs": {},
                "current_outputs": {}, "timestamp": now}])
            return {**base, "outputs": {}, "status": {"status_str": "error", "completed": False,
                                                      "messages": messages}}
        outputs = {}
        for node_id in job.outputs:
            node = job.graph[node_id]
            prompt, width, height, count = self._render_inputs(job.graph, node)
            kind = "output" if node["class_type"] == "SaveImage" else "temp"
            prefix = node["inputs"].get("filename_prefix", "ComfyUI")
            images = []
            for i in range(count):
                name = f"{prefix}_{next(self._counter):05d}_.png"
                data = self.image_bytes if self.image_bytes is not None else make_png(prompt, i, width, height)
                with self._lock:
                    self.files[(kind, "", name)] = data
                images.append({"filename": name, "subfolder": "", "type": kind})
            outputs[node_id] = {"images": images}
        messages.append(["execution_success", {"prompt_id": job.prompt_id, "timestamp": now}])
        return {**base, "outputs": outputs, "status": {"status_str": "success", "completed": True,
                                                       "messages": messages}}

    @staticmethod
    def _render_inputs(graph: dict[str, Any], output_node: dict[str, Any]) -> tuple[str, int, int, int]:
        """Follow the links back from an output node: the positive prompt's text and the latent's size."""
        def node(ref: Any) -> dict[str, Any]:
            return graph[ref[0]] if isinstance(ref, list) else {}

        decode = node(output_node["inputs"].get("images"))
        sampler = node(decode.get("inputs", {}).get("samples"))
        inputs = sampler.get("inputs", {})
        prompt = node(inputs.get("positive")).get("inputs", {}).get("text", "")
        latent = node(inputs.get("latent_image")).get("inputs", {})
        width, height = min(int(latent.get("width", 512)), 64), min(int(latent.get("height", 512)), 64)
        return str(prompt), width, height, int(latent.get("batch_size", 1))
