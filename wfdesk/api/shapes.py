"""The engine's results in the API's words: stored image paths become URLs this API serves."""

from __future__ import annotations

import re
from typing import Any

from wfdesk.redact import redact_text
from wfdesk.states import UnitState

STATIC_PREFIX = "/static/"
# What the media store writes: content/posts/<post>[/sections/<section>]/raw/<sha256>.<ext> (content-addressed).
_STORED_IMAGE = re.compile(r"^content/posts/\d+(/sections/\d+)?/raw/[0-9a-f]{64}\.[a-z0-9]{2,5}$")
_ENTRY_KEYS = ("section_id", "status", "image_url", "metadata", "output", "error")


def served_url(value: Any) -> Any:
    """content/posts/53/... -> /static/content/posts/53/... (the reference's image_url); anything else as is."""
    if isinstance(value, str) and _STORED_IMAGE.match(value):
        return STATIC_PREFIX + value
    return value


def section_result(entry: dict[str, Any]) -> dict[str, Any]:
    out = {k: entry[k] for k in _ENTRY_KEYS if k in entry and entry[k] is not None}
    out.setdefault("section_id", entry.get("section_id"))
    out.setdefault("status", entry.get("status", UnitState.QUEUED))
    out.setdefault("metadata", {})
    if "image_url" in out:
        out["image_url"] = served_url(out["image_url"])
    if "error" in out:
        out["error"] = redact_text(str(out["error"]))
    return out


def execute_response(result: dict[str, Any]) -> dict[str, Any]:
    """The reference's response (success, results, step, sections_processed) plus run_id (and error, when the run
    as a whole stopped)."""
    out = {"success": bool(result.get("success")),
           "results": [section_result(e) for e in result.get("results") or []],
           "step": result.get("step") or "",
           "sections_processed": list(result.get("sections_processed") or []),
           "run_id": result.get("run_id")}
    if result.get("error"):
        out["error"] = redact_text(str(result["error"]))
    return out


def with_served_urls(value: Any) -> Any:
    """Every stored image path inside `value` (a run's detail, a post's fields) as its served URL."""
    if isinstance(value, dict):
        return {k: with_served_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_served_urls(v) for v in value]
    return served_url(value)


def errors_redacted(value: Any) -> Any:
    """Every "error" inside `value` (a run's detail) with the password of an address in it as ***."""
    if isinstance(value, dict):
        return {k: redact_text(v) if k == "error" and isinstance(v, str) else errors_redacted(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [errors_redacted(v) for v in value]
    return value
