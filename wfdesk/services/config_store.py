"""Loading and saving what the config editor edits: steps, a post's override of a step, LLM actions.

Qt-free, so the CLI and tests use the same rules as the dialogs. Every save validates first (nothing invalid is
written) and checks the lock_version the caller loaded (nobody's work is silently overwritten). The records live in
config_records, LLM actions in action_store, the editor's suggestions and prompt previews in config_hints; all are
importable from here, where callers import them.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from wfdesk.db.models import Post, PostWorkflowStepAction, WorkflowStepEntity
from wfdesk.db.storable import unstorable_text
from wfdesk.errors import ConfigError, ConflictError, NotFoundError, Problem
from wfdesk.scripts.config import check_endpoint, deep_merge, script_type_of
from wfdesk.scripts.secret_scan import find_secrets
from wfdesk.services.action_store import (
    ActionInUseError,
    action_problems,
    action_users,
    delete_action,
    list_actions,
    load_action,
    save_action,
    steps_using_action,
)
from wfdesk.services.changes import Changes, announce
from wfdesk.services.config_hints import (
    editor_data,
    field_suggestions,
    preview_prompt,
    section_choices,
    template_variable_list,
)
from wfdesk.services.config_records import (
    ActionRecord,
    EditorData,
    InvalidActionError,
    OverrideRecord,
    SectionChoice,
    StepRecord,
    TemplateVariable,
    get_step,
    step_record,
)
from wfdesk.services.validation import validate_step
from wfdesk.workspace import Workspace

__all__ = [
    "ActionInUseError", "ActionRecord", "EditorData", "InvalidActionError", "OverrideRecord", "SectionChoice",
    "StepRecord", "TemplateVariable", "action_problems", "action_users", "config_diff", "delete_action",
    "editor_data", "field_suggestions", "list_actions", "load_action", "load_override", "load_step",
    "preview_prompt", "save_action", "save_override", "save_step", "section_choices", "step_problems",
    "steps_using_action", "template_variable_list",
]


# --- steps ---------------------------------------------------------------------------------------------------

def load_step(ws: Workspace, step_id: int) -> StepRecord:
    with ws.db.session() as s:
        return step_record(get_step(s, step_id))


def step_problems(ws: Workspace, name: str, stage: str, config: Any) -> list[Problem]:
    """validate_step plus the columns beside the config."""
    problems = []
    if not name or not name.strip():
        problems.append(Problem("name", "is required"))
    elif len(name) > 200:
        problems.append(Problem("name", "is longer than 200 characters"))
    if len(stage or "") > 200:
        problems.append(Problem("stage", "is longer than 200 characters"))
    unstorable = unstorable_text({"name": name, "stage": stage}) + unstorable_text(config)
    if unstorable:  # nothing else about such a config can be checked or kept
        return problems + unstorable
    problems += validate_step(ws, name or "", config)
    problems += _secrets_not_yet_named(config, problems)
    # validate_step stops at the first failing stage (schema, parameters, then the type's own checks); the
    # editor wants every field marked at once, so the type's cheap checks are added when they were skipped.
    fields = {p.field for p in problems}
    sc = (config or {}).get("script_config") if isinstance(config, dict) else None
    sc = sc if isinstance(sc, dict) else {}
    kind = script_type_of(config if isinstance(config, dict) else None)
    if kind == "llm_action" and sc.get("action_id") is None and "script_config.action_id" not in fields:
        problems.append(Problem("script_config.action_id", "is required for llm_action steps"))
    if kind == "custom_script" and "script_config.custom_endpoint" not in fields:
        endpoint = sc.get("custom_endpoint")
        problems += check_endpoint(endpoint if isinstance(endpoint, str) else None)
    return problems


def save_step(ws: Workspace, step_id: int | None, *, name: str, stage: str, config: dict[str, Any],
              lock_version: int | None) -> StepRecord:
    """Create (step_id None) or update a step. Raises ConfigError (nothing saved) or ConflictError."""
    problems = step_problems(ws, name, stage, config)
    if problems:
        raise ConfigError(name, problems)
    mine = {"name": name, "stage": stage, "config": config}
    try:
        with ws.db.session() as s:
            if step_id is None:
                last = s.scalar(select(func.max(WorkflowStepEntity.position))) or 0
                step = WorkflowStepEntity(name=name.strip(), stage=stage.strip(), position=last + 1,
                                          config=copy.deepcopy(config))
                s.add(step)
            else:
                step = get_step(s, step_id)
                if lock_version is not None and step.lock_version != lock_version:
                    raise ConflictError(f"Step {step.name!r}", mine=mine, theirs=_theirs_step(step))
                step.name, step.stage = name.strip(), stage.strip()
                step.config = copy.deepcopy(config)  # reassigned: nested JSON edits are not tracked
            s.flush()
            record = step_record(step)
    except StaleDataError:
        # Another session committed between our read and our UPDATE: report what is there now.
        raise ConflictError(f"Step {name!r}", mine=mine, theirs=_current_step_or_none(ws, step_id)) from None
    announce(ws, Changes.of(steps=[record.id] if record.id is not None else []))
    return record


def _secrets_not_yet_named(config: Any, problems: list[Problem]) -> list[Problem]:
    """Secrets anywhere in the config (x-api-key headers, tokens in lists, sk-... values), beyond the key names
    validate_step knows; nothing holding one is saved."""
    named = {p.field for p in problems}
    return [p for p in find_secrets(config) if p.field not in named] if isinstance(config, dict) else []


def _theirs_step(step: WorkflowStepEntity) -> dict[str, Any]:
    return {"name": step.name, "stage": step.stage, "config": copy.deepcopy(step.config or {}),
            "lock_version": step.lock_version}


def _current_step_or_none(ws: Workspace, step_id: int | None) -> dict[str, Any] | None:
    if step_id is None:
        return None
    with ws.db.session() as s:
        step = s.get(WorkflowStepEntity, step_id)
        return _theirs_step(step) if step else None


# --- a post's override of a step -----------------------------------------------------------------------------

def _override_row(session: Session, step_id: int, post_id: int) -> PostWorkflowStepAction | None:
    return session.scalars(select(PostWorkflowStepAction).where(
        PostWorkflowStepAction.post_id == post_id, PostWorkflowStepAction.step_id == step_id)).first()


def load_override(ws: Workspace, step_id: int, post_id: int) -> OverrideRecord:
    with ws.db.session() as s:
        step = get_step(s, step_id)
        post = s.get(Post, post_id)
        if post is None:
            raise NotFoundError(f"Post {post_id} does not exist")
        row = _override_row(s, step_id, post_id)
        return OverrideRecord(step_record(step), post_id, post.title,
                              copy.deepcopy(row.config or {}) if row else {}, row.lock_version if row else None)


def config_diff(base: dict[str, Any], full: dict[str, Any]) -> dict[str, Any]:
    """The smallest overlay `d` with deep_merge(base, d) == full, as far as an overlay can say it.

    An overlay cannot delete a key, so a key the editor removed becomes null (for parameters: "use the default").
    """
    out: dict[str, Any] = {}
    for key, value in full.items():
        if key not in base:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(base[key], dict):
            sub = config_diff(base[key], value)
            if sub:
                out[key] = sub
        elif value != base[key]:
            out[key] = copy.deepcopy(value)
    for key in base:
        if key not in full and base[key] is not None:
            out[key] = None
    return out


def save_override(ws: Workspace, step_id: int, post_id: int, effective: dict[str, Any],
                  lock_version: int | None) -> OverrideRecord:
    """Save what `effective` changes relative to the step's config as the post's override.

    lock_version is the override row's version when loaded (None: there was none). An empty difference removes
    the override. Raises ConfigError when the resulting effective config is invalid, ConflictError when the
    override (or its absence) changed meanwhile.
    """
    with ws.db.session() as s:
        step = get_step(s, step_id)
        step_config, step_name = copy.deepcopy(step.config or {}), step.name
    diff = config_diff(step_config, effective)
    problems = [Problem(group, f"{key!r} comes from the step and cannot be removed for one post; edit the step "
                               "itself instead")
                for group in ("inputs", "outputs") for key, value in (diff.get(group) or {}).items() if value is None]
    problems = problems or unstorable_text(diff) or validate_step(ws, step_name, deep_merge(step_config, diff))
    problems = problems + _secrets_not_yet_named(diff, problems)
    if problems:
        raise ConfigError(step_name, problems)
    what = f"The override of step {step_name!r} for post {post_id}"
    try:
        with ws.db.session() as s:
            row = _override_row(s, step_id, post_id)
            current = row.lock_version if row else None
            if current != lock_version:
                raise ConflictError(what, mine=diff, theirs=copy.deepcopy(row.config) if row else None)
            if not diff:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(PostWorkflowStepAction(post_id=post_id, step_id=step_id, config=diff))
            else:
                row.config = diff
            s.flush()
    except (StaleDataError, IntegrityError):
        # StaleDataError: the row changed between our read and our UPDATE. IntegrityError: another editor created
        # the post's override between our read ("none yet") and our INSERT (the unique post/step pair).
        raise ConflictError(what, mine=diff, theirs=load_override(ws, step_id, post_id).override) from None
    announce(ws, Changes.of(steps=[step_id]))
    return load_override(ws, step_id, post_id)
