"""ComfyUI as a local image backend: an API-format workflow with placeholders, queued with `POST /prompt`,
followed through `GET /history/{prompt_id}`, its images fetched with `GET /view`.

Cancel is real: the prompt is taken off the queue (`POST /queue {"delete": [id]}`) and, if it is already rendering,
stopped (`POST /interrupt {"prompt_id": id}`, which leaves other clients' renders alone on current ComfyUI).
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, cast

import requests

from wfdesk.cancel import CancelledError, CancelToken
from wfdesk.errors import UnitError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0  # one API call (not a render): ComfyUI answers these at once
POLL_SECONDS = 0.5
PLACEHOLDERS = ("prompt", "negative_prompt", "width", "height", "batch_size", "seed", "steps", "checkpoint")
MAX_VIEW_BYTES = 50 * 1024 * 1024


class WorkflowError(ValueError):
    """The workflow cannot be used; the message names what is wrong, for the editor."""


def default_workflow() -> dict[str, Any]:
    """The shipped txt2img graph: checkpoint, two prompts, empty latent, KSampler, VAE decode, save."""
    text = (resources.files("wfdesk") / "resources" / "comfyui" / "txt2img.json").read_text(encoding="utf-8")
    graph: dict[str, Any] = json.loads(text)  # a file of our own: a JSON object
    return graph


def load_workflow(spec: dict[str, Any] | str | None) -> dict[str, Any]:
    """A step's `workflow`: an API-format graph inline, the path of its JSON file, or None for the default."""
    if spec is None:
        return default_workflow()
    if isinstance(spec, str):
        try:
            spec = json.loads(Path(spec).expanduser().read_text(encoding="utf-8"))
        except OSError as exc:
            raise WorkflowError(f"cannot read {spec} ({exc.strerror or exc})") from None
        except ValueError:
            raise WorkflowError(f"{spec} is not JSON") from None
    check_workflow(spec)
    return cast("dict[str, Any]", spec)  # check_workflow raised for anything but a graph of nodes


def check_workflow(graph: Any) -> None:
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise WorkflowError("this is a workflow saved for ComfyUI's editor; save it with “Save (API Format)” "
                            "(or Export (API)) and use that file")
    if not isinstance(graph, dict) or not graph or not all(
            isinstance(n, dict) and isinstance(n.get("class_type"), str) and isinstance(n.get("inputs"), dict)
            for n in graph.values()):
        raise WorkflowError("is not a ComfyUI API-format workflow (an object of nodes, each with class_type and "
                            "inputs)")
    if "{{prompt}}" not in json.dumps(graph):
        raise WorkflowError("has no {{prompt}} placeholder, so the section's prompt would not be used; put "
                            "{{prompt}} in the positive prompt's text")


def fill(graph: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the graph with its placeholders replaced: a value that is exactly "{{width}}" becomes the number,
    a placeholder inside longer text is replaced as text."""
    def sub(value: Any) -> Any:
        if isinstance(value, str):
            for key in PLACEHOLDERS:
                token = "{{" + key + "}}"
                if value == token:
                    return values[key]
                if token in value:
                    value = value.replace(token, str(values[key]))
            return value
        if isinstance(value, list):
            return [sub(v) for v in value]
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return value

    filled: dict[str, Any] = sub(copy.deepcopy(graph))  # a dict stays a dict
    return filled


def uses(graph: dict[str, Any], key: str) -> bool:
    return "{{" + key + "}}" in json.dumps(graph)


def checkpoints(base_url: str, timeout: float = READ_TIMEOUT) -> list[str]:
    """The checkpoint names the server offers (`/object_info/CheckpointLoaderSimple`)."""
    root = base_url.rstrip("/")
    data = _json(_call("GET", root, "/object_info/CheckpointLoaderSimple", timeout=timeout), root)
    spec: Any = data.get("CheckpointLoaderSimple")
    for key in ("input", "required", "ckpt_name"):  # {"input": {"required": {"ckpt_name": [[names], {...}]}}}
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, list) or not spec:
        raise UnitError(f"{root} answered, but did not list checkpoints: is it ComfyUI's address?")
    options = spec[0]
    if options == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):  # the newer combo shape
        options = spec[1].get("options")
    return [str(o) for o in options] if isinstance(options, list) else []


def render(base_url: str, graph: dict[str, Any], *, timeout: float, cancel: CancelToken) -> list[bytes]:
    """Queue the filled graph, wait for it (at most `timeout` seconds), and return its output images' bytes."""
    if cancel.cancelled:
        raise CancelledError()  # cancelled while waiting for the server: nothing is sent
    root = base_url.rstrip("/")
    client_id = uuid.uuid4().hex
    resp = _call("POST", root, "/prompt", json={"prompt": graph, "client_id": client_id}, ok=(200, 400))
    answer = _json(resp, root)
    if resp.status_code == 400 or "prompt_id" not in answer:
        raise UnitError(f"ComfyUI at {root} refused the workflow: {_refusal(answer)}")
    prompt_id = str(answer["prompt_id"])
    deadline = time.monotonic() + timeout
    while True:
        if cancel.wait(POLL_SECONDS):
            _withdraw(root, prompt_id)
            raise CancelledError()
        entry = _json(_call("GET", root, f"/history/{prompt_id}"), root).get(prompt_id)
        if entry:
            if not isinstance(entry, dict):
                raise UnitError(f"ComfyUI at {root} answered with a history this version of wfdesk cannot read")
            break
        if time.monotonic() > deadline:
            _withdraw(root, prompt_id)
            raise UnitError(f"ComfyUI at {root} did not finish the image within {timeout:g} s")
    _check_status(root, entry)
    refs = _output_images(entry)
    if not refs:
        raise UnitError(f"ComfyUI at {root} finished, but the workflow saved no image (does it end in SaveImage?)")
    return [_view(root, ref) for ref in refs]


def _withdraw(root: str, prompt_id: str) -> None:
    """Off the queue if still waiting; stopped if rendering. Best effort: the answer is discarded anyway."""
    for path, body in (("/queue", {"delete": [prompt_id]}), ("/interrupt", {"prompt_id": prompt_id})):
        with contextlib.suppress(requests.RequestException):
            requests.post(f"{root}{path}", json=body, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)


def _check_status(root: str, entry: dict[str, Any]) -> None:
    status = entry.get("status")
    status = status if isinstance(status, dict) else {"status_str": str(status or "success")}
    if status.get("status_str", "success") == "success":
        return
    for message in status.get("messages") or []:
        event, data = ([*message, None, None])[:2] if isinstance(message, list) else (None, None)
        if event == "execution_error" and isinstance(data, dict):
            node = data.get("node_type") or data.get("node_id") or "a node"
            raise UnitError(f"ComfyUI at {root} failed in {node}: {str(data.get('exception_message'))[:300]}")
        if event == "execution_interrupted":
            raise UnitError(f"ComfyUI at {root} stopped the render (interrupted on the server)")
    raise UnitError(f"ComfyUI at {root} did not complete the workflow")


def _output_images(entry: dict[str, Any]) -> list[dict[str, str]]:
    """Saved images first; previews (type "temp") only when the workflow saves none. Odd entries are skipped."""
    outputs = entry.get("outputs")
    refs = [img for out in (outputs.values() if isinstance(outputs, dict) else []) if isinstance(out, dict)
            for img in _list_or_empty(out.get("images"))
            if isinstance(img, dict) and isinstance(img.get("filename"), str) and img["filename"]
            and all(isinstance(img.get(k, ""), str) for k in ("subfolder", "type"))]
    saved = [r for r in refs if r.get("type", "output") == "output"]
    return saved or refs


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _view(root: str, ref: dict[str, str]) -> bytes:
    params = {"filename": ref["filename"], "subfolder": ref.get("subfolder", ""), "type": ref.get("type", "output")}
    resp = _call("GET", root, "/view", params=params, stream=True)
    with resp:
        chunks, size = [], 0
        try:
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_VIEW_BYTES:
                    raise UnitError(f"the image {ref['filename']} from {root} is larger than "
                                    f"{MAX_VIEW_BYTES // 2**20} MB")
                chunks.append(chunk)
        except requests.RequestException:
            raise UnitError(f"the download of the image {ref['filename']} from ComfyUI at {root} broke off (or "
                            f"stalled); try again") from None
    return b"".join(chunks)


def _call(method: str, root: str, path: str, *, ok: tuple[int, ...] = (200,), timeout: float = READ_TIMEOUT,
          **kwargs: Any) -> requests.Response:
    try:
        # Not following redirects: ComfyUI never sends one, and the request must not go to another server.
        resp = requests.request(method, f"{root}{path}", timeout=(CONNECT_TIMEOUT, timeout), allow_redirects=False,
                                **kwargs)
    except requests.Timeout:
        raise UnitError(f"ComfyUI at {root} did not answer in time") from None
    except requests.ConnectionError:
        raise UnitError(f"cannot reach {root} (is ComfyUI running there?)") from None
    except requests.RequestException as exc:
        raise UnitError(f"request to ComfyUI at {root} failed: {exc}") from None
    if resp.status_code not in ok:
        resp.close()
        raise UnitError(f"ComfyUI at {root} answered {resp.status_code} to {method} {path.split('?')[0]}")
    return resp


def _json(resp: requests.Response, root: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UnitError(f"{root} sent an answer that is not ComfyUI's (is it ComfyUI's address?)")
    return data


def _refusal(answer: dict[str, Any]) -> str:
    """ComfyUI's validation answer in one line: the error and each node's reasons."""
    error = answer.get("error")
    parts = []
    if isinstance(error, dict):
        parts.append(str(error.get("message") or "invalid workflow"))
    elif error:
        parts.append(str(error))
    for node in (answer.get("node_errors") or {}).values():
        for reason in (node or {}).get("errors") or []:
            parts.append(f"{node.get('class_type', 'node')}: {reason.get('message')} ({reason.get('details')})")
    if len(parts) == 1 and isinstance(error, dict) and error.get("details"):
        parts.append(str(error["details"]))
    return "; ".join(parts)[:500] or "invalid workflow"
