"""The records the config editor loads and saves -- a step, a post's override of a step, an LLM action -- and the
reads every part of the config store shares. Callers import them from wfdesk.services.config_store."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from wfdesk.db.models import LLMAction, WorkflowStepEntity
from wfdesk.errors import ConfigError, NotFoundError, Problem
from wfdesk.scripts.config import deep_merge


class InvalidActionError(ConfigError):
    """An LLM action that cannot be saved; `problems` name the fields (name, model, prompt_template, ...)."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        super().__init__(name, problems)
        self.args = (f"LLM action {name!r} is invalid: " + "; ".join(str(p) for p in problems),)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class StepRecord:
    id: int | None
    name: str
    stage: str
    position: int
    config: dict[str, Any]
    lock_version: int | None  # None: not saved yet


@dataclass(frozen=True)
class OverrideRecord:
    step: StepRecord
    post_id: int
    post_title: str
    override: dict[str, Any]  # what is stored in post_workflow_step_action.config ({} when there is none)
    lock_version: int | None  # None: the post had no override row when loaded

    @property
    def effective(self) -> dict[str, Any]:
        """The step's config with the override on top (what the form shows)."""
        return deep_merge(self.step.config, self.override)


@dataclass(frozen=True)
class ActionRecord:
    id: int | None
    name: str
    prompt_template: str
    model: str = "gpt-4o-mini"
    temperature: float = 0.7
    max_tokens: int | None = None
    lock_version: int | None = None


@dataclass(frozen=True)
class SectionChoice:
    id: int
    post_id: int
    post_title: str
    title: str


@dataclass
class EditorData:
    """Everything the step dialog needs besides the step, read in one background unit of work."""

    actions: list[tuple[int, str]] = field(default_factory=list)
    field_names: list[str] = field(default_factory=list)
    custom_script_base_url: str | None = None


@dataclass(frozen=True)
class TemplateVariable:
    name: str  # what goes between {{ }}
    description: str


def step_record(step: WorkflowStepEntity) -> StepRecord:
    """A detached copy: the editor changes it freely while the row stays as loaded."""
    return StepRecord(step.id, step.name, step.stage or "", step.position, copy.deepcopy(step.config or {}),
                      step.lock_version)


def get_step(session: Session, step_id: int) -> WorkflowStepEntity:
    """The step's row; NotFoundError when it was deleted."""
    step = session.get(WorkflowStepEntity, step_id)
    if step is None:
        raise NotFoundError(f"Step {step_id} does not exist")
    return step


def action_record(a: LLMAction) -> ActionRecord:
    return ActionRecord(a.id, a.name, a.prompt_template, a.model, a.temperature, a.max_tokens, a.lock_version)
