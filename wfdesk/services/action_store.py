"""LLM actions in the config editor: list, load, validate, save (checking the lock_version loaded) and delete what
nothing uses. Qt-free; importable from wfdesk.services.config_store too."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from wfdesk.db.models import LLMAction, Post, PostWorkflowStepAction, WorkflowStepEntity
from wfdesk.db.notify import STEPS
from wfdesk.db.storable import unstorable_text
from wfdesk.errors import ConflictError, NotFoundError, Problem, WfdeskError
from wfdesk.scripts.config import script_type_of
from wfdesk.scripts.templates import PromptTemplateError, variables_used
from wfdesk.services.changes import Changes, announce
from wfdesk.services.config_records import ActionRecord, InvalidActionError, StepRecord, action_record, step_record
from wfdesk.workspace import Workspace


def list_actions(ws: Workspace) -> list[tuple[int, str]]:
    with ws.db.session() as s:
        return [(a.id, a.name) for a in s.scalars(select(LLMAction).order_by(LLMAction.name, LLMAction.id))]


def load_action(ws: Workspace, action_id: int) -> ActionRecord:
    with ws.db.session() as s:
        action = s.get(LLMAction, action_id)
        if action is None:
            raise NotFoundError(f"LLM action {action_id} does not exist")
        return action_record(action)


def action_problems(action: ActionRecord) -> list[Problem]:
    problems = unstorable_text({"name": action.name, "model": action.model, "prompt_template": action.prompt_template})
    if problems:
        return problems
    if not action.name.strip():
        problems.append(Problem("name", "is required"))
    elif len(action.name) > 200:
        problems.append(Problem("name", "is longer than 200 characters"))
    if not action.model.strip():
        problems.append(Problem("model", "is required"))
    elif len(action.model) > 200:  # the column's size: PostgreSQL would refuse it with its own words
        problems.append(Problem("model", "is longer than 200 characters"))
    if not 0 <= action.temperature <= 2:
        problems.append(Problem("temperature", "must be between 0 and 2"))
    if action.max_tokens is not None and not 1 <= action.max_tokens <= 200_000:
        problems.append(Problem("max_tokens", "must be between 1 and 200000, or empty for no limit"))
    if not action.prompt_template.strip():
        problems.append(Problem("prompt_template", "is required"))
    else:
        try:
            variables_used(action.prompt_template)
        except PromptTemplateError as exc:
            problems.append(Problem("prompt_template", str(exc)))
    return problems


def save_action(ws: Workspace, action: ActionRecord) -> ActionRecord:
    """Create (id None) or update an LLM action; action.lock_version is the version that was loaded."""
    problems = action_problems(action)
    if problems:
        raise InvalidActionError(action.name, problems)
    what = f"LLM action {action.name!r}"
    try:
        with ws.db.session() as s:
            row: LLMAction | None
            if action.id is None:
                row = LLMAction()
                s.add(row)
            else:
                row = s.get(LLMAction, action.id)
                if row is None:
                    raise NotFoundError(f"LLM action {action.id} does not exist")
                if action.lock_version is not None and row.lock_version != action.lock_version:
                    raise ConflictError(what, mine=action, theirs=action_record(row))
            row.name, row.prompt_template, row.model = action.name.strip(), action.prompt_template, action.model.strip()
            row.temperature, row.max_tokens = float(action.temperature), action.max_tokens
            s.flush()
            record = action_record(row)
    except StaleDataError:
        # Only an update (of a row with an id) can find it changed meanwhile.
        theirs = load_action(ws, action.id) if action.id is not None else None
        raise ConflictError(what, mine=action, theirs=theirs) from None
    announce(ws, Changes.of(broad=[STEPS]))  # the steps using it now run another prompt
    return record


def steps_using_action(ws: Workspace, action_id: int | None) -> list[StepRecord]:
    """Steps whose config names this action (legacy steps without script_config are llm_action too)."""
    if action_id is None:
        return []
    with ws.db.session() as s:
        steps = s.scalars(select(WorkflowStepEntity).order_by(WorkflowStepEntity.position, WorkflowStepEntity.id))
        return [step_record(st) for st in steps
                if script_type_of(st.config) == "llm_action"
                and (st.config or {}).get("script_config", {}).get("action_id") == action_id]


class ActionInUseError(WfdeskError):
    """An LLM action that steps (or posts' overrides) still use cannot be deleted."""


def action_users(ws: Workspace, action_id: int) -> list[str]:
    """Who uses the action, by title: "step “polish_sections”", "the override of step “x” for post “y”"."""
    users = [f"step “{st.name}”" for st in steps_using_action(ws, action_id)]
    with ws.db.session() as s:
        rows = s.execute(select(PostWorkflowStepAction.config, WorkflowStepEntity.name, Post.title)
                         .join(WorkflowStepEntity, WorkflowStepEntity.id == PostWorkflowStepAction.step_id)
                         .join(Post, Post.id == PostWorkflowStepAction.post_id))
        for config, step_name, post_title in rows:
            if ((config or {}).get("script_config") or {}).get("action_id") == action_id:
                users.append(f"the override of step “{step_name}” for post “{post_title}”")
    return users


def delete_action(ws: Workspace, action_id: int) -> None:
    """Delete an LLM action nothing uses; refused (ActionInUseError, naming the users) otherwise."""
    name = load_action(ws, action_id).name
    users = action_users(ws, action_id)
    if users:
        raise ActionInUseError(f"“{name}” is used by {', '.join(users)}. Choose another LLM action there first "
                          "(Step → Edit step config…); nothing was deleted.")
    with ws.db.session() as s:
        row = s.get(LLMAction, action_id)
        if row is not None:
            s.delete(row)
    announce(ws, Changes.of(broad=[STEPS]))
