"""Helpers for the HTTP API tests: the reference's request and response (copied from the reference document,
script-registry-reference.md, "API Integration"), and a shape comparison."""

from __future__ import annotations

import time
from typing import Any

import requests

# The reference's request body, verbatim but for step_id: 123 is the reference's example id; in the demo the
# reference's image step (section_illustrations) is step 2.
REFERENCE_REQUEST = {
    "step_id": 2,
    "post_id": 53,
    "context": {
        "section_ids": [711, 712, 713],
        "inputs": {"image_prompts": "Scottish highland landscape"},
        "llm_settings": {"model": "dall-e-3", "temperature": 0.7},
    },
}
# The reference's response, verbatim.
REFERENCE_RESPONSE = {
    "success": True,
    "results": [{
        "section_id": 711,
        "status": "success",
        "image_url": "/static/content/posts/53/sections/711/raw/image.png",
        "metadata": {"model": "dall-e-3", "generation_time": "2025-07-26T07:06:40Z"},
    }],
    "step": "section_illustrations",
    "sections_processed": [711, 712, 713],
}


def same_shape(reference: Any, actual: Any, where: str = "response") -> list[str]:
    """Every field of `reference` is in `actual` with the same JSON type, recursively (lists: each item against
    the reference's first). Returns the differences, in words."""
    if isinstance(reference, dict):
        if not isinstance(actual, dict):
            return [f"{where} is {type(actual).__name__}, not an object"]
        out = []
        for key, value in reference.items():
            if key not in actual:
                out.append(f"{where}.{key} is missing")
            else:
                out += same_shape(value, actual[key], f"{where}.{key}")
        return out
    if isinstance(reference, list):
        if not isinstance(actual, list):
            return [f"{where} is {type(actual).__name__}, not a list"]
        if reference and not actual:
            return [f"{where} is empty"]
        return [d for i, item in enumerate(actual) for d in same_shape(reference[0], item, f"{where}[{i}]")]
    if type(reference) is not type(actual) and not (isinstance(reference, int | float)
                                                    and isinstance(actual, int | float)
                                                    and not isinstance(actual, bool)):
        return [f"{where} is {type(actual).__name__}, the reference has {type(reference).__name__}"]
    return []


class Client:
    """requests against one server, with the token."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.http = requests.Session()

    def headers(self, token: str | None = "<own>", **extra: str) -> dict[str, str]:
        token = self.token if token == "<own>" else token
        return {**({"Authorization": f"Bearer {token}"} if token else {}), **extra}

    def get(self, path: str, token: str | None = "<own>", **kw) -> requests.Response:
        return self.http.get(self.url + path, headers=self.headers(token), timeout=60, **kw)

    def post(self, path: str, body: Any = None, token: str | None = "<own>", **kw) -> requests.Response:
        return self.http.post(self.url + path, json=body, headers=self.headers(token), timeout=60, **kw)

    def wait_for_run(self, run_id: int, timeout_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            detail = self.get(f"/api/workflow/runs/{run_id}").json()
            if detail["status"] not in ("queued", "running") or time.monotonic() > deadline:
                return detail
            time.sleep(0.1)
