"""Shareable workflows: steps and the LLM actions they use, without posts, as one JSON document.

Importing adds new rows (ids are assigned here and `action_id` references follow them), so a workflow can be shared
between teams whose databases number things differently. One transaction; every step is validated first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wfdesk.db.models import LLMAction, WorkflowStepEntity
from wfdesk.errors import Problem
from wfdesk.scripts.secret_scan import find_secrets
from wfdesk.scripts.templates import PromptTemplateError, variables_used
from wfdesk.services.shapes import WorkflowImported
from wfdesk.services.transfer_checks import ActionIn, ImportRefusedError, StepIn, check_depth

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

FORMAT = "wfdesk-workflow"


class WorkflowDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = Field(FORMAT, pattern=f"^{FORMAT}$")
    version: int = Field(1, ge=1, le=1)
    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)
    llm_actions: list[ActionIn] = Field(default_factory=list)
    workflow_steps: list[StepIn] = Field(default_factory=list)


def export_workflow(session: Session, name: str = "", description: str = "",
                    step_ids: list[int] | None = None) -> dict[str, Any]:
    stmt = select(WorkflowStepEntity).order_by(WorkflowStepEntity.position, WorkflowStepEntity.id)
    if step_ids:
        stmt = stmt.where(WorkflowStepEntity.id.in_(step_ids))
    steps = list(session.scalars(stmt))
    action_ids = {(s.config.get("script_config") or {}).get("action_id") for s in steps
                  if isinstance(s.config, dict) and isinstance(s.config.get("script_config") or {}, dict)}
    actions = session.scalars(select(LLMAction).where(LLMAction.id.in_([a for a in action_ids if a]))
                              .order_by(LLMAction.id))
    return {"format": FORMAT, "version": 1, "name": name, "description": description,
            "llm_actions": [{"id": a.id, "name": a.name, "prompt_template": a.prompt_template, "model": a.model,
                             "temperature": a.temperature, "max_tokens": a.max_tokens} for a in actions],
            "workflow_steps": [{"id": s.id, "name": s.name, "stage": s.stage, "position": s.position,
                                "config": s.config} for s in steps]}


def import_workflow(session: Session, data: Any, ws: Workspace | None = None) -> WorkflowImported:
    """Adds the workflow's actions and steps (new ids). Refuses the whole document if any part is invalid."""
    check_depth(data)
    try:
        doc = WorkflowDoc.model_validate(data)
    except ValidationError as exc:
        raise ImportRefusedError([Problem(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]) from None
    known = {a.id for a in doc.llm_actions}
    problems = [p for i, step in enumerate(doc.workflow_steps)
                for p in find_secrets(step.config, f"workflow_steps.{i}.config")]
    for i, a in enumerate(doc.llm_actions):
        try:
            variables_used(a.prompt_template)
        except PromptTemplateError as exc:
            problems.append(Problem(f"llm_actions.{i}.prompt_template", str(exc)))
    for i, step in enumerate(doc.workflow_steps):
        ref = (step.config.get("script_config") or {}).get("action_id") if isinstance(step.config, dict) else None
        if ref is not None and ref not in known:
            problems.append(Problem(f"workflow_steps.{i}.config.script_config.action_id",
                                    f"refers to LLM action {ref}, which the workflow does not include"))
    if problems:
        raise ImportRefusedError(problems)
    id_map: dict[int, int] = {}
    for a in doc.llm_actions:
        action = LLMAction(name=a.name, prompt_template=a.prompt_template, model=a.model, temperature=a.temperature,
                           max_tokens=a.max_tokens)
        session.add(action)
        session.flush()
        id_map[a.id] = action.id
    offset = session.execute(select(func.coalesce(func.max(WorkflowStepEntity.position), 0))).scalar_one()
    new_steps = []
    for step in doc.workflow_steps:
        config = json.loads(json.dumps(step.config))
        sc = config.get("script_config")
        if isinstance(sc, dict) and sc.get("action_id") in id_map:
            sc["action_id"] = id_map[sc["action_id"]]
        row = WorkflowStepEntity(name=step.name, stage=step.stage, position=offset + step.position, config=config)
        session.add(row)
        new_steps.append(row)
    session.flush()
    if ws is not None:
        from wfdesk.services.validation import validate_step

        problems = [Problem(f"workflow_steps.{i} ({row.name}).{p.field}", p.message)
                    for i, row in enumerate(new_steps) for p in _validate_in(session, ws, validate_step, row)]
        if problems:
            raise ImportRefusedError(problems)
    return WorkflowImported(llm_actions=len(id_map), workflow_steps=len(new_steps),
                            step_ids=[s.id for s in new_steps], action_ids=id_map)


def _validate_in(session: Session, ws: Workspace, validate_step: Callable[[Workspace, str, Any], list[Problem]],
                 row: WorkflowStepEntity) -> list[Problem]:
    # The new actions are only flushed in this transaction; validation opens its own sessions, so LLM actions
    # are checked here against this session instead.
    sc = row.config.get("script_config") if isinstance(row.config, dict) else None
    problems = [p for p in validate_step(ws, row.name, row.config) if p.field != "script_config.action_id"]
    if isinstance(sc, dict) and sc.get("action_id") is not None and session.get(LLMAction, sc["action_id"]) is None:
        problems.append(Problem("script_config.action_id", f"LLM action {sc['action_id']} does not exist"))
    return problems


def templates() -> dict[str, dict[str, Any]]:
    """The workflows that ship with wfdesk, by name."""
    folder = resources.files("wfdesk") / "resources" / "templates"
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            out[entry.name[:-5]] = json.loads(entry.read_text(encoding="utf-8"))
    return out
