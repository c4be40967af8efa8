"""Which field of a section is its body (for export and publishing) and which holds its image."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from wfdesk.db.models import WorkflowStepEntity
from wfdesk.rendering.post_fields import DEFAULT_IMAGE_FIELD
from wfdesk.workspace import Workspace

DRAFT = "draft"
_NOT_TEXT = ("image_generation", "wordpress_publish")


def body_candidates(ws: Workspace, chosen: str | None = None) -> list[str]:
    """The chosen field then `draft`; without a choice, the text outputs of the steps in workflow order, then
    `draft` (e.g. polished, then draft)."""
    if chosen:
        return list(dict.fromkeys([chosen, DRAFT]))
    names: list[str] = []
    for script_type, config in _steps(ws):
        if script_type in _NOT_TEXT:
            continue
        for spec in (config.get("outputs") or {}).values():
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
    names: list[str] = []
    for script_type, config in _steps(ws):
        if script_type == "image_generation":
            for spec in (config.get(kind) or {}).values():
                if isinstance(spec, dict) and isinstance(spec.get("db_field"), str):
                    names.append(spec["db_field"])
    return names


def _steps(ws: Workspace) -> list[tuple[str | None, dict[str, Any]]]:
    """(script type, config) of every step, in workflow order. The type is only compared with the image and
    publishing types here, so a step without one (a legacy llm_action) needs no default."""
    with ws.db.session() as s:
        configs = s.scalars(select(WorkflowStepEntity.config)
                            .order_by(WorkflowStepEntity.position, WorkflowStepEntity.id)).all()
    steps: list[tuple[str | None, dict[str, Any]]] = []
    for config in configs:
        config = config if isinstance(config, dict) else {}
        script = config.get("script_config")
        steps.append((script.get("type") if isinstance(script, dict) else None, config))
    return steps
