"""JSON import and export of LLM actions, workflow steps, posts with sections, and post overrides.

Import is one transaction (all or nothing), keeps ids, and updates rows that already exist. It reads what exists
and writes what is new in bulk (a few statements per table, not several per row: a round trip per row made a 45 MB
import take minutes on a PostgreSQL server). A file nested deeper than MAX_DEPTH or holding a secret is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from wfdesk.db.models import (
    ContentField,
    ContentVersion,
    LLMAction,
    Post,
    PostSection,
    PostWorkflowStepAction,
    WorkflowStepEntity,
)
from wfdesk.errors import Problem, WfdeskError
from wfdesk.scripts.config import FIELD_NAME_RE
from wfdesk.scripts.secret_scan import find_secrets

MAX_DEPTH = 64  # a real bundle nests about 6 levels; Python's own recursion gives out near 1,000
CHUNK = 500  # ids per IN (...) list
TOO_DEEP = (f"the file is nested too deeply (more than {MAX_DEPTH} levels of objects and lists): it is not a wfdesk "
            "export")

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


def read_json(text_: str | bytes) -> Any:
    """The JSON document in a file's text; not JSON, or nested too deeply, is an ImportError_ in words."""
    try:
        data = json.loads(text_)
    except RecursionError:
        raise ImportError_([Problem("", TOO_DEEP)]) from None
    except json.JSONDecodeError as exc:
        raise ImportError_([Problem("", f"not a JSON file (line {exc.lineno}, column {exc.colno}: "
                                        f"{exc.msg})")]) from None
    check_depth(data)
    return data


def check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than `limit` (walked without recursion, so any depth is safe to check)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise ImportError_([Problem("", TOO_DEEP)])
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))


def parse_bundle(data: Any) -> Bundle:
    if not isinstance(data, dict):
        raise ImportError_([Problem("", "the file must hold a JSON object")])
    check_depth(data)
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
    for i, step in enumerate(bundle.workflow_steps):
        problems += find_secrets(step.config, f"workflow_steps.{i}.config")
    for i, o in enumerate(bundle.post_step_overrides):
        problems += find_secrets(o.config, f"post_step_overrides.{i}.config")
    if problems:
        raise ImportError_(problems)
    return bundle


def import_bundle(session: Session, data: Any) -> dict[str, int]:
    """Validate everything, then write everything in the caller's transaction."""
    bundle = parse_bundle(data)
    _upsert_all(session, LLMAction, [(a.id, {"name": a.name, "prompt_template": a.prompt_template, "model": a.model,
                                             "temperature": a.temperature, "max_tokens": a.max_tokens})
                                     for a in bundle.llm_actions])
    _upsert_all(session, WorkflowStepEntity, [(st.id, {"name": st.name, "stage": st.stage, "position": st.position,
                                                       "config": st.config}) for st in bundle.workflow_steps])
    _upsert_all(session, Post, [(p.id, {"title": p.title, "status": p.status}) for p in bundle.posts])
    sections = [(p.id, s) for p in bundle.posts for s in p.sections]
    owners = dict(_select_in(session, select(PostSection.id, PostSection.post_id), PostSection.id,
                             [s.id for _, s in sections]))
    for post_id, s in sections:
        if s.id in owners and owners[s.id] != post_id:
            raise ImportError_([Problem(f"posts[id={post_id}].sections[id={s.id}]",
                                        f"section {s.id} already belongs to post {owners[s.id]}")])
    _upsert_all(session, PostSection, [(s.id, {"post_id": post_id, "position": s.position, "title": s.title})
                                       for post_id, s in sections])
    _import_fields(session, [(p.id, None, p.fields) for p in bundle.posts]
                   + [(post_id, s.id, s.fields) for post_id, s in sections])
    _import_overrides(session, bundle.post_step_overrides)
    session.flush()
    _bump_sequences(session)
    return {"llm_actions": len(bundle.llm_actions), "workflow_steps": len(bundle.workflow_steps),
            "posts": len(bundle.posts), "sections": len(sections),
            "post_step_overrides": len(bundle.post_step_overrides)}


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _select_in(session: Session, stmt: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """Rows of `stmt` whose `column` is one of `values`, a chunk of ids per query."""
    rows: list[Any] = []
    for chunk in _chunks(sorted(set(values))):
        rows.extend(session.execute(stmt.where(column.in_(chunk))).all())
    return rows


def _upsert_all(session: Session, table: type, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Existing rows (read in bulk) are updated where a value differs; new rows are inserted in one statement."""
    if not rows:
        return
    existing = {obj.id: obj for (obj,) in _select_in(session, select(table), table.id, [i for i, _ in rows])}
    new = []
    for row_id, values in rows:
        obj = existing.get(row_id)
        if obj is None:
            new.append({"id": row_id, **values})
            continue
        for key, value in values.items():
            if getattr(obj, key) != value:
                setattr(obj, key, value)
    if new:
        session.execute(insert(table.__table__), new)  # Core executemany: batched, and every row has every key


def _import_fields(session: Session, targets: list[tuple[int, int | None, dict[str, str | None]]]) -> None:
    """Each imported value becomes the field's accepted version, as content.write_text would make it; unchanged
    values are left alone, and a value that had no version yet keeps one (superseded) so it can be reverted to."""
    existing = {(f.post_id, f.section_id, f.name): f for (f,) in
                _select_in(session, select(ContentField), ContentField.post_id, [t[0] for t in targets])}
    versions: list[dict[str, Any]] = []
    writes: list[tuple[tuple[int, int | None, str], str]] = []  # field key, value
    superseded: list[int] = []
    for post_id, section_id, fields in targets:
        for name, value in fields.items():
            key = (post_id, section_id, name)
            current = existing.get(key)
            if current is not None and current.value == value:
                continue
            if value is None:
                if current is not None:
                    current.value, current.accepted_version_id = None, None  # earlier versions stay in the history
                continue
            if current is not None and current.value is not None and current.accepted_version_id is None:
                versions.append(_version(key, current.value, "superseded"))
            elif current is not None and current.accepted_version_id is not None:
                superseded.append(current.accepted_version_id)
            versions.append(_version(key, value, "accepted"))
            writes.append((key, value))
    if not versions:
        return
    ids = _insert_versions(session, versions)
    for chunk in _chunks(superseded):
        session.execute(update(ContentVersion).where(ContentVersion.id.in_(chunk), ContentVersion.status == "accepted")
                        .values(status="superseded").execution_options(synchronize_session=False))
    new_fields = []
    for key, value in writes:
        current = existing.get(key)
        if current is None:
            post_id, section_id, name = key
            new_fields.append({"post_id": post_id, "section_id": section_id, "name": name, "value": value,
                               "accepted_version_id": ids[key]})
        else:
            current.value, current.accepted_version_id = value, ids[key]
    if new_fields:
        session.execute(insert(ContentField.__table__), new_fields)


def _version(key: tuple[int, int | None, str], value: str, status: str) -> dict[str, Any]:
    post_id, section_id, name = key
    return {"post_id": post_id, "section_id": section_id, "field": name, "kind": "text", "value": value,
            "status": status, "source": "import", "metadata": {}}


def _insert_versions(session: Session, versions: list[dict[str, Any]]) -> dict[tuple[int, int | None, str], int]:
    """Insert in one batched statement, then read back the accepted versions' ids by field. (RETURNING in
    parameter order is batched on PostgreSQL but one statement per row on SQLite.) This import writes one accepted
    version per field, so the newest accepted import version above the old maximum id is ours."""
    before = session.scalar(select(func.coalesce(func.max(ContentVersion.id), 0)))
    session.execute(insert(ContentVersion.__table__), versions)
    ids: dict[tuple[int, int | None, str], int] = {}
    stmt = (select(ContentVersion.id, ContentVersion.post_id, ContentVersion.section_id, ContentVersion.field)
            .where(ContentVersion.id > before, ContentVersion.source == "import",
                   ContentVersion.status == "accepted").order_by(ContentVersion.id))
    for version_id, post_id, section_id, name in _select_in(session, stmt, ContentVersion.post_id,
                                                            [v["post_id"] for v in versions]):
        ids[(post_id, section_id, name)] = version_id
    return ids


def _import_overrides(session: Session, overrides: list[OverrideIn]) -> None:
    if not overrides:
        return
    known_steps = {i for (i,) in _select_in(session, select(WorkflowStepEntity.id), WorkflowStepEntity.id,
                                            [o.step_id for o in overrides])}
    known_posts = {i for (i,) in _select_in(session, select(Post.id), Post.id, [o.post_id for o in overrides])}
    rows = {(r.post_id, r.step_id): r for (r,) in _select_in(session, select(PostWorkflowStepAction),
                                                             PostWorkflowStepAction.post_id,
                                                             [o.post_id for o in overrides])}
    for i, o in enumerate(overrides):
        if o.step_id not in known_steps or o.post_id not in known_posts:
            raise ImportError_([Problem(f"post_step_overrides.{i}", f"refers to post {o.post_id} / step "
                                                                    f"{o.step_id}, which do not exist")])
        row = rows.get((o.post_id, o.step_id))
        if row is None:
            rows[(o.post_id, o.step_id)] = row = PostWorkflowStepAction(post_id=o.post_id, step_id=o.step_id,
                                                                        config=o.config)
            session.add(row)
        else:
            row.config = o.config


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
