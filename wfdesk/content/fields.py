"""Which field of a section is its body (for export and publishing) and which holds its image."""

from __future__ import annotations

from typing import Any

from wfdesk.content.post_fields import DEFAULT_IMAGE_FIELD
from wfdesk.workspace import Workspace

DRAFT = "draft"
_NOT_TEXT = ("image_generation", "wordpress_publish")


def body_candidates(ws: Workspace, chosen: str | None = None) -> list[str]:
    """The chosen field then `draft`; without a choice, the text outputs of the steps in workflow order, then
    `draft` (e.g. polished, then draft)."""
    if chosen:
        return list(dict.fromkeys([chosen, DRAFT]))
    from wfdesk.services.queries import list_steps

    names: list[str] = []
    for step in list_steps(ws):
        if step["script_type"] in _NOT_TEXT:
            continue
        for spec in (step["config"].get("outputs") or {}).values():
            if isinstance(spec, dict) and isinstance(spec.get("db_field"), str):
                names.append(spec["db_field"])
    return list(dict.fromkeys([*names, DRAFT]))


def choose_body(fields: dict[str, Any], candidates: list[str]) -> tuple[str | None, str, bool]:
    """(field used, its text, fell back?) -- the first candidate with text; fell back when it is not the first."""
    for n, name in enumerate(candidates):
        text = fields.get(name)
        if isinstance(text, str) and text.strip():
            return name, text, n > 0
    return None, "", True


def image_fields(ws: Workspace) -> list[str]:
    """Image fields in workflow order (the outputs of image steps), then the field imports attach images to."""
    return list(dict.fromkeys([*_image_step_fields(ws, "outputs"), DEFAULT_IMAGE_FIELD]))


def image_prompt_fields(ws: Workspace) -> list[str]:
    """The fields image steps read their prompt from (an exported image's alt text when it has none of its own)."""
    return _image_step_fields(ws, "inputs")


def _image_step_fields(ws: Workspace, kind: str) -> list[str]:
    from wfdesk.services.queries import list_steps

    names: list[str] = []
    for step in list_steps(ws):
        if step["script_type"] == "image_generation":
            for spec in (step["config"].get(kind) or {}).values():
                if isinstance(spec, dict) and isinstance(spec.get("db_field"), str):
                    names.append(spec["db_field"])
    return names
