"""Small helpers shared by the engine tests."""

from __future__ import annotations

from wfdesk.db.models import LLMAction, WorkflowStepEntity

from loopback import make_png  # noqa: F401 - re-exported for tests


def set_step_config(ws, step_id: int, config: dict) -> None:
    with ws.db.session() as s:
        s.get(WorkflowStepEntity, step_id).config = config


def set_action_template(ws, action_id: int, template: str) -> None:
    with ws.db.session() as s:
        s.get(LLMAction, action_id).prompt_template = template
