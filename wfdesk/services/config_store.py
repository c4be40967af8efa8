"""Loading and saving what the config editor edits: steps, a post's override of a step, LLM actions.

Qt-free, so the CLI and tests use the same rules as the dialogs. Every save validates first (nothing invalid is
written) and checks the lock_version the caller loaded (nobody's work is silently overwritten).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from wfdesk.db.models import ContentField, LLMAction, Post, PostSection, PostWorkflowStepAction, WorkflowStepEntity
from wfdesk.db.notify import STEPS
from wfdesk.db.storable import unstorable_text
from wfdesk.errors import ConfigError, ConflictError, NotFoundError, Problem, WfdeskError
from wfdesk.scripts.config import check_endpoint, deep_merge, parse_step_config, script_type_of
from wfdesk.scripts.secret_scan import find_secrets
from wfdesk.scripts.templates import PromptTemplateError, render, variables_used
from wfdesk.services.changes import Changes, announce
from wfdesk.services.validation import validate_step
from wfdesk.workspace import Workspace


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


# --- steps ---------------------------------------------------------------------------------------------------

def _step_record(step: WorkflowStepEntity) -> StepRecord:
    return StepRecord(step.id, step.name, step.stage or "", step.position, copy.deepcopy(step.config or {}),
                      step.lock_version)


def _get_step(session: Session, step_id: int) -> WorkflowStepEntity:
    step = session.get(WorkflowStepEntity, step_id)
    if step is None:
        raise NotFoundError(f"Step {step_id} does not exist")
    return step


def load_step(ws: Workspace, step_id: int) -> StepRecord:
    with ws.db.session() as s:
        return _step_record(_get_step(s, step_id))


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
                step = _get_step(s, step_id)
                if lock_version is not None and step.lock_version != lock_version:
                    raise ConflictError(f"Step {step.name!r}", mine=mine, theirs=_theirs_step(step))
                step.name, step.stage = name.strip(), stage.strip()
                step.config = copy.deepcopy(config)  # reassigned: nested JSON edits are not tracked
            s.flush()
            record = _step_record(step)
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
        step = _get_step(s, step_id)
        post = s.get(Post, post_id)
        if post is None:
            raise NotFoundError(f"Post {post_id} does not exist")
        row = _override_row(s, step_id, post_id)
        return OverrideRecord(_step_record(step), post_id, post.title,
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
        step = _get_step(s, step_id)
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


# --- LLM actions ---------------------------------------------------------------------------------------------

def list_actions(ws: Workspace) -> list[tuple[int, str]]:
    with ws.db.session() as s:
        return [(a.id, a.name) for a in s.scalars(select(LLMAction).order_by(LLMAction.name, LLMAction.id))]


def _action_record(a: LLMAction) -> ActionRecord:
    return ActionRecord(a.id, a.name, a.prompt_template, a.model, a.temperature, a.max_tokens, a.lock_version)


def load_action(ws: Workspace, action_id: int) -> ActionRecord:
    with ws.db.session() as s:
        action = s.get(LLMAction, action_id)
        if action is None:
            raise NotFoundError(f"LLM action {action_id} does not exist")
        return _action_record(action)


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
                    raise ConflictError(what, mine=action, theirs=_action_record(row))
            row.name, row.prompt_template, row.model = action.name.strip(), action.prompt_template, action.model.strip()
            row.temperature, row.max_tokens = float(action.temperature), action.max_tokens
            s.flush()
            record = _action_record(row)
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
        return [_step_record(st) for st in steps
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


# --- suggestions and previews --------------------------------------------------------------------------------

def field_suggestions(ws: Workspace) -> list[str]:
    """Field names sections already have, plus the db_fields steps read or write (outputs exist only after a run)."""
    with ws.db.session() as s:
        names = set(s.scalars(select(ContentField.name).where(ContentField.section_id.is_not(None)).distinct()))
        for config in s.scalars(select(WorkflowStepEntity.config)):
            for group in ("inputs", "outputs"):
                for spec in ((config or {}).get(group) or {}).values():
                    if isinstance(spec, dict) and isinstance(spec.get("db_field"), str):
                        names.add(spec["db_field"])
    return sorted(names, key=str.lower)


def editor_data(ws: Workspace) -> EditorData:
    return EditorData(list_actions(ws), field_suggestions(ws), ws.settings.custom_script_base_url)


def section_choices(ws: Workspace, post_id: int | None = None, limit: int = 500) -> list[SectionChoice]:
    with ws.db.session() as s:
        stmt = (select(PostSection.id, PostSection.post_id, Post.title, PostSection.title)
                .join(Post, Post.id == PostSection.post_id)
                .order_by(PostSection.post_id.desc(), PostSection.position, PostSection.id).limit(limit))
        if post_id is not None:
            stmt = stmt.where(PostSection.post_id == post_id)
        return [SectionChoice(*row) for row in s.execute(stmt)]


@dataclass(frozen=True)
class TemplateVariable:
    name: str  # what goes between {{ }}
    description: str


def template_variable_list(ws: Workspace, action_id: int | None, post_id: int | None = None
                           ) -> list[TemplateVariable]:
    """The names a prompt template may use: the inputs of the steps using the action, section and post fields."""
    out: dict[str, str] = {}
    for step in steps_using_action(ws, action_id):
        for key, spec in (step.config.get("inputs") or {}).items():
            label = spec.get("label", key) if isinstance(spec, dict) else key
            out.setdefault(key, f"input “{label}” of step {step.name}")
            if isinstance(spec, dict) and spec.get("db_field"):
                out.setdefault(spec["db_field"], f"the field read by input {key} of step {step.name}")
    out.update({"section.title": "the section's title", "section.id": "the section's id",
                "section.position": "the section's position in the post"})
    with ws.db.session() as s:
        stmt = select(ContentField.name, ContentField.section_id.is_(None)).distinct()
        if post_id is not None:
            stmt = stmt.where(ContentField.post_id == post_id)
        for name, is_post_field in s.execute(stmt):
            if is_post_field:
                out.setdefault(f"post.{name}", "a field of the post")
            else:
                out.setdefault(name, "a field of the section")
    out.update({"post.title": "the post's title", "post.id": "the post's id", "post.status": "the post's status"})
    return [TemplateVariable(k, v) for k, v in out.items()]


def preview_prompt(ws: Workspace, action_template: str, section_id: int, step_id: int | None = None) -> str:
    """The prompt the engine would send for this section, rendered exactly as a run does. Nothing is sent.

    With step_id, the step's inputs (with the post's override) provide input1 etc.; without, the post and section
    fields exist and input1 etc. show as placeholders. Raises PromptTemplateError for an unknown variable or a syntax
    error.
    """
    from wfdesk.runs.planning import snapshot, step_effective_config
    from wfdesk.scripts.base import Job
    from wfdesk.scripts.config import Parameters
    from wfdesk.scripts.llm_actions import template_variables

    with ws.db.session() as s:
        section = s.get(PostSection, section_id)
        if section is None:
            raise NotFoundError(f"Section {section_id} does not exist")
        post_id = section.post_id
        raw: dict[str, Any] = {}
        name = ""
        if step_id is not None:
            step, raw = step_effective_config(s, step_id, post_id, {})
            name = step.name
        post, sections = snapshot(s, post_id, [section_id])
    config = parse_step_config(name, raw)
    job = Job(workspace=ws, step_id=step_id, step_name=name, post=post, sections=sections, config=config,
              parameters=Parameters(), raw_config=raw, context={})
    variables = template_variables(job, section_id)
    if step_id is None:
        # No step uses the action yet: show where each step input will go (saving accepts them too).
        from wfdesk.scripts.templates import variables_used

        for used in variables_used(action_template):
            if re.fullmatch(r"input\d+", used) and used not in variables:
                variables[used] = f"[{used}: filled in by the step that uses this action]"
    return render(action_template, variables)
