"""AUTOMATIC1111's web UI API (`POST /sdapi/v1/txt2img`) as a local, offline image backend.

Cancel is real here: when the editor cancels, `/sdapi/v1/interrupt` stops the render on the server.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
from typing import Any

import requests

from wfdesk.cancel import CancelledError, CancelToken
from wfdesk.errors import UnitError

CONNECT_TIMEOUT = 5.0
INTERRUPT_REPEAT = 1.0


def txt2img(base_url: str, *, prompt: str, width: int, height: int, n: int, steps: int, timeout: float,
            cancel: CancelToken, negative_prompt: str | None = None) -> tuple[list[bytes], dict[str, Any]]:
    if cancel.cancelled:
        raise CancelledError()  # cancelled while waiting for the server: nothing is sent
    root = base_url.rstrip("/")
    payload: dict[str, Any] = {"prompt": prompt, "width": width, "height": height, "batch_size": n, "n_iter": 1,
                               "steps": steps}
    if negative_prompt:
        payload["negative_prompt"] = negative_prompt
    finished = threading.Event()
    watcher = threading.Thread(target=_interrupt_on_cancel, args=(root, cancel, finished), daemon=True)
    watcher.start()
    try:
        resp = requests.post(f"{root}/sdapi/v1/txt2img", json=payload, timeout=(CONNECT_TIMEOUT, timeout))
    except requests.Timeout:
        raise UnitError(f"{root} did not finish the image within {timeout:g} s") from None
    except requests.ConnectionError:
        raise UnitError(f"cannot reach {root} (is AUTOMATIC1111 running with --api?)") from None
    except requests.RequestException as exc:
        raise UnitError(f"request to {root} failed: {exc}") from None
    finally:
        finished.set()
    if resp.status_code >= 400:
        raise UnitError(f"{root} answered {resp.status_code}: {resp.text[:300]}")
    try:
        answer = resp.json()
        images = [_decode(item) for item in answer["images"]]
    except (ValueError, KeyError, TypeError):
        raise UnitError(f"{root} sent an answer that is not a txt2img result") from None
    if not images:
        raise UnitError(f"{root} sent no image")
    info = answer.get("info")
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            info = {"info": info}
    return images, info if isinstance(info, dict) else {}


def _decode(item: str) -> bytes:
    if item.startswith("data:"):
        item = item.split(",", 1)[1]
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def _interrupt_on_cancel(root: str, cancel: CancelToken, finished: threading.Event) -> None:
    """After a cancel, /interrupt until the request ends: A1111 forgets an interrupt that arrives before the render
    starts (it resets the flag when a job begins), so one early interrupt is not enough."""
    while not finished.is_set():
        if cancel.wait(0.2):
            while not finished.is_set():
                # The render may already be over; the late answer is discarded anyway.
                with contextlib.suppress(requests.RequestException):
                    requests.post(f"{root}/sdapi/v1/interrupt", timeout=CONNECT_TIMEOUT)
                finished.wait(INTERRUPT_REPEAT)
            return
