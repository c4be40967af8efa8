"""JSON import and export of LLM actions, workflow steps, posts with sections, and post overrides.

Import is one transaction (all or nothing), keeps ids, and updates rows that already exist.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from wfdesk.db import content
from wfdesk.db.models import (
    ContentField,
    LLMAction,
    Post,
    PostSection,
    PostWorkflowStepAction,
    WorkflowStepEntity,
)
from wfdesk.errors import Problem, WfdeskError
from wfdesk.scripts.config import FIELD_NAME_RE

ID = Field(ge=1, le=2**31 - 1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionIn(_Strict):
    id: int = ID
    name: str = Field(min_length=1, max_length=200)
    prompt_template: str
    model: str = Field("gpt-4o-mini", min_length=1, max_length=200)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=200_000)


class StepIn(_Strict):
    id: int = ID
    name: str = Field(min_length=1, max_length=200)
    stage: str = Field("", max_length=200)
    position: int = 0
    config: dict[str, Any] = Field(default_factory=dict)


class SectionIn(_Strict):
    id: int = ID
    position: int = 0
    title: str = Field("", max_length=500)
    fields: dict[str, str | None] = Field(default_factory=dict)


class PostIn(_Strict):
    id: int = ID
    title: str = Field(min_length=1, max_length=500)
    status: str = Field("draft", max_length=40)
    fields: dict[str, str | None] = Field(default_factory=dict)
    sections: list[SectionIn] = Field(default_factory=list)


class OverrideIn(_Strict):
    post_id: int = ID
    step_id: int = ID
    config: dict[str, Any] = Field(default_factory=dict)


class Bundle(_Strict):
    llm_actions: list[ActionIn] = Field(default_factory=list)
    workflow_steps: list[StepIn] = Field(default_factory=list)
    posts: list[PostIn] = Field(default_factory=list)
    post_step_overrides: list[OverrideIn] = Field(default_factory=list)


class ImportError_(WfdeskError, ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("Import refused, nothing was changed: " + "; ".join(str(p) for p in problems[:20]))


def parse_bundle(data: Any) -> Bundle:
    if not isinstance(data, dict):
        raise ImportError_([Problem("", "the file must hold a JSON object")])
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as exc:
        raise ImportError_([Problem(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]) from None
    problems = []


    for pi, post in enumerate(bundle.posts):
        names = [("fields", post.fields)] + [(f"sections.{si}.fields", s.fields)
                                             for si, s in enumerate(post.sections)]
        for where, fields in names:
            for key in fields:
                if not re.match(FIELD_NAME_RE, key):
                    problems.append(Problem(f"posts.{pi}.{where}.{key}", "is not a valid field name"))
    for kind, items in (("llm_actions", bundle.llm_actions), ("workflow_steps", bundle.workflow_steps),
                        ("posts", bundle.posts)):
        seen: set[int] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                problems.append(Problem(f"{kind}.{i}.id", f"id {item.id} appears twice"))
            seen.add(item.id)
    section_ids: set[int] = set()
    for pi, post in enumerate(bundle.posts):
        for si, section in enumerate(post.sections):
            if section.id in section_ids:
                problems.append(Problem(f"posts.{pi}.sections.{si}.id", f"section id {section.id} appears twice"))
            section_ids.add(section.id)
    from wfdesk.runs.planning import secret_problems

    for i, step in enumerate(bundle.workflow_steps):
        problems += [Problem(f"workflow_steps.{i}.config.{p.field}", p.message) for p in secret_problems(step.config)]
    for i, o in enumerate(bundle.post_step_overrides):
        problems += [Problem(f"post_step_overrides.{i}.config.{p.field}", p.message)
                     for p in secret_problems(o.config)]
    if problems:
        raise ImportError_(problems)
    return bundle


def import_bundle(session: Session, data: Any) -> dict[str, int]:
    """Validate everything, then write everything in the caller's transaction."""
    bundle = parse_bundle(data)
    for a in bundle.llm_actions:
        _upsert(session, LLMAction, a.id, name=a.name, prompt_template=a.prompt_template, model=a.model,
                temperature=a.temperature, max_tokens=a.max_tokens)
    for st in bundle.workflow_steps:
        _upsert(session, WorkflowStepEntity, st.id, name=st.name, stage=st.stage, position=st.position,
                config=st.config)
    session.flush()
    for p in bundle.posts:
        _upsert(session, Post, p.id, title=p.title, status=p.status)
        session.flush()
        _set_fields(session, p.id, None, p.fields)
        for s in p.sections:
            existing = session.get(PostSection, s.id)
            if existing is not None and existing.post_id != p.id:
                raise ImportError_([Problem(f"posts[id={p.id}].sections[id={s.id}]",
                                            f"section {s.id} already belongs to post {existing.post_id}")])
            _upsert(session, PostSection, s.id, post_id=p.id, position=s.position, title=s.title)
            session.flush()
            _set_fields(session, p.id, s.id, s.fields)
    known_steps = {sid for (sid,) in session.execute(select(WorkflowStepEntity.id))}
    known_posts = {pid for (pid,) in session.execute(select(Post.id))}
    for i, o in enumerate(bundle.post_step_overrides):
        if o.step_id not in known_steps or o.post_id not in known_posts:
            raise ImportError_([Problem(f"post_step_overrides.{i}", f"refers to post {o.post_id} / step "
                                                                    f"{o.step_id}, which do not exist")])
        row = session.scalars(select(PostWorkflowStepAction).where(
            PostWorkflowStepAction.post_id == o.post_id, PostWorkflowStepAction.step_id == o.step_id)).first()
        if row is None:
            session.add(PostWorkflowStepAction(post_id=o.post_id, step_id=o.step_id, config=o.config))
        else:
            row.config = o.config
    session.flush()
    _bump_sequences(session)
    return {"llm_actions": len(bundle.llm_actions), "workflow_steps": len(bundle.workflow_steps),
            "posts": len(bundle.posts), "sections": sum(len(p.sections) for p in bundle.posts),
            "post_step_overrides": len(bundle.post_step_overrides)}


def _upsert(session: Session, table: type, row_id: int, **values: Any) -> Any:
    row = session.get(table, row_id)
    if row is None:
        row = table(id=row_id, **values)
        session.add(row)
    else:
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
    return row


def _set_fields(session: Session, post_id: int, section_id: int | None, fields: dict[str, str | None]) -> None:
    for name, value in fields.items():
        current = content.get_field(session, post_id, section_id, name)
        if current is not None and current.value == value:
            continue
        if value is None:
            if current is not None:
                current.value, current.accepted_version_id = None, None  # earlier versions stay in the history
            continue
        content.write_text(session, post_id, section_id, name, value, source="import")


def _bump_sequences(session: Session) -> None:
    """Rows inserted with explicit ids leave PostgreSQL's sequences behind; move them past the highest id."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ("llm_action", "workflow_step_entity", "post", "post_section"):
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"))


def export_bundle(session: Session) -> dict[str, Any]:
    """Everything, with each field's current (accepted) value."""
    fields: dict[tuple[int, int | None], dict[str, str | None]] = {}
    for f in session.scalars(select(ContentField).order_by(ContentField.id)):
        fields.setdefault((f.post_id, f.section_id), {})[f.name] = f.value
    sections: dict[int, list[PostSection]] = {}
    for s in session.scalars(select(PostSection).order_by(PostSection.position, PostSection.id)):
        sections.setdefault(s.post_id, []).append(s)
    return {
        "llm_actions": [{"id": a.id, "name": a.name, "prompt_template": a.prompt_template, "model": a.model,
                         "temperature": a.temperature, "max_tokens": a.max_tokens}
                        for a in session.scalars(select(LLMAction).order_by(LLMAction.id))],
        "workflow_steps": [{"id": s.id, "name": s.name, "stage": s.stage, "position": s.position,
                            "config": s.config}
                           for s in session.scalars(select(WorkflowStepEntity).order_by(WorkflowStepEntity.id))],
        "posts": [{"id": p.id, "title": p.title, "status": p.status, "fields": fields.get((p.id, None), {}),
                   "sections": [{"id": s.id, "position": s.position, "title": s.title,
                                 "fields": fields.get((p.id, s.id), {})} for s in sections.get(p.id, [])]}
                  for p in session.scalars(select(Post).order_by(Post.id))],
        "post_step_overrides": [{"post_id": o.post_id, "step_id": o.step_id, "config": o.config}
                                for o in session.scalars(select(PostWorkflowStepAction)
                                                         .order_by(PostWorkflowStepAction.id))],
    }
