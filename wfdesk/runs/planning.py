"""Turning (step, post, context) into a validated Job before anything is sent or recorded."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wfdesk.db.models import ContentField, Post, PostSection, PostWorkflowStepAction, WorkflowStepEntity
from wfdesk.errors import ConfigError, NotFoundError, Problem
from wfdesk.scripts.base import Job, PostData, SectionData, SectionHandler
from wfdesk.scripts.config import (
    Parameters,
    StepConfig,
    effective_config,
    parse_parameters,
    parse_step_config,
)
from wfdesk.scripts.secret_scan import find_secrets
from wfdesk.workspace import Workspace


def load_step(session: Session, step_id: int) -> WorkflowStepEntity:
    step = session.get(WorkflowStepEntity, step_id)
    if step is None:
        raise NotFoundError(f"Step {step_id} does not exist")
    return step


def step_effective_config(session: Session, step_id: int, post_id: int, context: dict[str, Any]
                          ) -> tuple[WorkflowStepEntity, dict[str, Any]]:
    step = load_step(session, step_id)
    override = session.scalars(select(PostWorkflowStepAction).where(
        PostWorkflowStepAction.post_id == post_id, PostWorkflowStepAction.step_id == step_id)).first()
    return step, effective_config(step.config, override.config if override else None, context)


def snapshot(session: Session, post_id: int, section_ids: list[int] | None
             ) -> tuple[PostData, list[SectionData]]:
    """Post and selected sections with their current field values, in three queries whatever the size."""
    post = session.get(Post, post_id)
    if post is None:
        raise NotFoundError(f"Post {post_id} does not exist")
    sections = list(session.scalars(
        select(PostSection).where(PostSection.post_id == post_id).order_by(PostSection.position, PostSection.id)))
    fields: dict[int | None, dict[str, str | None]] = defaultdict(dict)
    for f in session.scalars(select(ContentField).where(ContentField.post_id == post_id)):
        fields[f.section_id][f.name] = f.value
    by_id = {s.id: s for s in sections}
    if section_ids:
        missing = [sid for sid in section_ids if sid not in by_id]
        if missing:
            raise NotFoundError(f"Section(s) {', '.join(map(str, missing))} not in post {post_id}")
        wanted = set(section_ids)
        sections = [s for s in sections if s.id in wanted]
    else:
        sections = []
    post_data = PostData(id=post.id, title=post.title, status=post.status, fields=dict(fields[None]))
    return post_data, [SectionData(id=s.id, position=s.position, title=s.title, fields=dict(fields[s.id]))
                       for s in sections]


def check_context(step_name: str, context: Any) -> dict[str, Any]:
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise ConfigError(step_name, [Problem("context", "must be a JSON object")])
    problems = []
    ids = context.get("section_ids")
    if ids is not None and (not isinstance(ids, list)
                            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
        problems.append(Problem("context.section_ids", "must be a list of section ids (integers)"))
    for key in ("inputs", "llm_settings", "parameters"):
        if context.get(key) is not None and not isinstance(context[key], dict):
            problems.append(Problem(f"context.{key}", "must be a JSON object"))
    if problems:
        raise ConfigError(step_name, problems)
    return context


def secret_problems(config: dict[str, Any], prefix: str = "") -> list[Problem]:
    """API keys belong in the keyring or the environment, never in a config that lands in the database: the same
    scan as imports and saves (key names like x-api-key or access_token, values shaped like keys, inside lists too)."""
    return find_secrets(config or {}, prefix)


def validate_config(ws: Workspace, handler: SectionHandler[Any], step_name: str, raw_config: dict[str, Any]
                    ) -> tuple[StepConfig, Parameters]:
    """Schema, parameters and the handler's own checks; raises ConfigError naming every field at fault."""
    config = parse_step_config(step_name, raw_config)
    problems = secret_problems(raw_config)
    if problems:
        raise ConfigError(step_name, problems)
    params = parse_parameters(step_name, handler.parameters_model, config.script_config.parameters)
    problems = handler.check_config(ws, config, params)
    if problems:
        raise ConfigError(step_name, problems)
    return config, params


def build_job(ws: Workspace, handler: SectionHandler[Any], *, step_id: int | None, step_name: str,
              raw_config: dict[str, Any], post_id: int, context: dict[str, Any],
              section_ids: list[int] | None = None) -> Job[Any]:
    context = check_context(step_name, context)
    config, params = validate_config(ws, handler, step_name, raw_config)
    ids = section_ids if section_ids is not None else context.get("section_ids")
    with ws.db.session() as session:
        post, sections = snapshot(session, post_id, ids)
    job = Job(workspace=ws, step_id=step_id, step_name=step_name, post=post, sections=sections, config=config,
              parameters=params, raw_config=raw_config, context=context)
    problems = handler.check(job)
    if problems:
        raise ConfigError(step_name, problems)
    return job
