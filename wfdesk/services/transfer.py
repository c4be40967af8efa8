"""JSON import and export of LLM actions, workflow steps, posts with sections, and post overrides.

Import is one transaction (all or nothing), keeps ids, and updates rows that already exist. It reads what exists
and writes what is new in bulk (a few statements per table, not several per row: a round trip per row made a 45 MB
import take minutes on a PostgreSQL server). A file nested deeper than MAX_DEPTH or holding a secret is refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import String, Table, Text, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from wfdesk.db.models import (
    ContentField,
    ContentVersion,
    LLMAction,
    Post,
    PostSection,
    PostWorkflowStepAction,
    WorkflowStepEntity,
    utcnow,
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


class ImportRefusedError(WfdeskError, ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("Import refused, nothing was changed: " + "; ".join(str(p) for p in problems[:20]))


def read_json(text_: str | bytes) -> Any:
    """The JSON document in a file's text; not JSON, or nested too deeply, is an ImportRefusedError in words."""
    try:
        data = json.loads(text_)
    except RecursionError:
        raise ImportRefusedError([Problem("", TOO_DEEP)]) from None
    except json.JSONDecodeError as exc:
        raise ImportRefusedError([Problem("", f"not a JSON file (line {exc.lineno}, column {exc.colno}: "
                                        f"{exc.msg})")]) from None
    check_depth(data)
    return data


def check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than `limit` (walked without recursion, so any depth is safe to check), and text
    holding a NUL character, which PostgreSQL cannot store (refused here rather than half-way through writing)."""
    stack = [("", data, 1)]
    while stack:
        path, node, depth = stack.pop()
        if depth > limit:
            raise ImportRefusedError([Problem("", TOO_DEEP)])
        if isinstance(node, dict):
            items: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, value in items:
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, (dict, list)):
                stack.append((where, value, depth + 1))
            elif (isinstance(value, str) and "\x00" in value) or (isinstance(key, str) and "\x00" in key):
                raise ImportRefusedError([Problem(where, "contains a NUL character (\\0), which text cannot hold")])
            if _not_text(value) or _not_text(key):
                raise ImportRefusedError([Problem(where, "is not valid text: it holds half of a character (a lone "
                                                   "surrogate, such as \\ud800 in JSON), which no database stores")])


def _not_text(value: Any) -> bool:
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_bundle(data: Any) -> Bundle:
    if not isinstance(data, dict):
        raise ImportRefusedError([Problem("", "the file must hold a JSON object")])
    check_depth(data)
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as exc:
        raise ImportRefusedError([Problem(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]) from None
    problems = _field_name_problems(bundle) + _duplicate_id_problems(bundle)
    for i, step in enumerate(bundle.workflow_steps):
        problems += find_secrets(step.config, f"workflow_steps.{i}.config")
    for i, o in enumerate(bundle.post_step_overrides):
        problems += find_secrets(o.config, f"post_step_overrides.{i}.config")
    if problems:
        raise ImportRefusedError(problems)
    return bundle


def _field_name_problems(bundle: Bundle) -> list[Problem]:
    problems = []
    for pi, post in enumerate(bundle.posts):
        names = [("fields", post.fields)] + [(f"sections.{si}.fields", s.fields)
                                             for si, s in enumerate(post.sections)]
        for where, fields in names:
            problems += [Problem(f"posts.{pi}.{where}.{key}", "is not a valid field name")
                         for key in fields if not re.match(FIELD_NAME_RE, key)]
    return problems


def _duplicate_id_problems(bundle: Bundle) -> list[Problem]:
    problems = []
    with_ids: tuple[tuple[str, Sequence[ActionIn | StepIn | PostIn]], ...] = (
        ("llm_actions", bundle.llm_actions), ("workflow_steps", bundle.workflow_steps), ("posts", bundle.posts))
    for kind, items in with_ids:
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
    return problems


IMPORT_LOCK_KEY = 0x77666465_696D7074  # "wfdeimpt": the advisory lock only imports take


def import_bundle(session: Session, data: Any) -> dict[str, int]:
    """Validate everything, then write everything in the caller's transaction."""
    bundle = parse_bundle(data)
    if session.get_bind().dialect.name == "postgresql":
        # An import finds the versions it wrote by id (COPY returns none); another import committing meanwhile would
        # lend it its own. One import at a time, until this transaction ends (SQLite serialises writers anyway).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
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
            raise ImportRefusedError([Problem(f"posts[id={post_id}].sections[id={s.id}]",
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


def _upsert_all(session: Session, table: type[LLMAction | WorkflowStepEntity | Post | PostSection],
                rows: list[tuple[int, dict[str, Any]]]) -> None:
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
        _bulk_insert(session, table.__table__, new)


def _import_fields(session: Session, targets: list[tuple[int, int | None, dict[str, str | None]]]) -> None:
    """Each imported value becomes the field's accepted version, as content.write_text would make it; unchanged
    values are left alone, and a value that had no version yet keeps one (superseded) so it can be reverted to."""
    existing = {(f.post_id, f.section_id, f.name): f for (f,) in
                _select_in(session, select(ContentField), ContentField.post_id, [t[0] for t in targets])}
    versions, writes, superseded = _planned_writes(existing, targets)
    # The versions of fields that exist first; then those of new fields, from which the new fields are made.
    updated = [(key, value) for key, value in writes if key in existing]
    if versions:
        before = session.execute(select(func.coalesce(func.max(ContentVersion.id), 0))).scalar_one()
        _bulk_insert(session, ContentVersion.__table__, versions)
        ids = _accepted_ids(session, before, [key[0] for key, _ in updated])
        for key, _ in updated:
            # The text lives in the version only; the field reads it from there (stored once).
            existing[key].value, existing[key].accepted_version_id = None, ids[key]
    for chunk in _chunks(superseded):
        session.execute(update(ContentVersion).where(ContentVersion.id.in_(chunk), ContentVersion.status == "accepted")
                        .values(status="superseded").execution_options(synchronize_session=False))
    new = [(key, value) for key, value in writes if key not in existing]
    if new:
        before = session.execute(select(func.coalesce(func.max(ContentVersion.id), 0))).scalar_one()
        _bulk_insert(session, ContentVersion.__table__, [_version(key, value, "accepted") for key, value in new])
        _insert_new_fields(session, before)


FieldKey = tuple[int, int | None, str]


def _planned_writes(existing: dict[FieldKey, ContentField],
                    targets: list[tuple[int, int | None, dict[str, str | None]]]
                    ) -> tuple[list[dict[str, Any]], list[tuple[FieldKey, str]], list[int]]:
    """(versions of fields that exist already, the values to write by field, accepted versions to supersede).
    A value cleared to None is cleared here at once; its earlier versions stay in the history."""
    versions: list[dict[str, Any]] = []
    writes: list[tuple[FieldKey, str]] = []
    superseded: list[int] = []
    for post_id, section_id, fields in targets:
        for name, value in fields.items():
            key = (post_id, section_id, name)
            current = existing.get(key)
            if current is not None and current.value == value:
                continue
            if value is None:
                if current is not None:
                    current.value, current.accepted_version_id = None, None
                continue
            if current is not None:
                if current.value is not None and current.accepted_version_id is None:
                    versions.append(_version(key, current.value, "superseded"))
                elif current.accepted_version_id is not None:
                    superseded.append(current.accepted_version_id)
                versions.append(_version(key, value, "accepted"))
            writes.append((key, value))
    return versions, writes, superseded


def _insert_new_fields(session: Session, before: int) -> None:
    """The new fields, made on the server from their versions just written (ids above `before`): the text is
    sent once and stored once, in the version (the field's own value stays NULL)."""
    v, f = ContentVersion.__table__, ContentField.__table__
    assert isinstance(f, Table)  # a declarative model's table (typed as any FromClause)
    rows = (select(v.c.post_id, v.c.section_id, v.c.field, v.c.id, literal(1), literal(utcnow()))
            .where(v.c.id > before, v.c.source == "import", v.c.status == "accepted"))
    session.execute(insert(f).from_select(["post_id", "section_id", "name", "accepted_version_id",
                                           "lock_version", "updated_at"], rows))


def _accepted_ids(session: Session, before: int, post_ids: list[int]) -> dict[tuple[int, int | None, str], int]:
    """Ids of the accepted versions this import wrote (above `before`), by field."""
    stmt = (select(ContentVersion.id, ContentVersion.post_id, ContentVersion.section_id, ContentVersion.field)
            .where(ContentVersion.id > before, ContentVersion.source == "import",
                   ContentVersion.status == "accepted").order_by(ContentVersion.id))
    return {(post_id, section_id, name): version_id for version_id, post_id, section_id, name
            in _select_in(session, stmt, ContentVersion.post_id, post_ids)}


def _bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Thousands of rows: PostgreSQL's COPY, several times faster there than batched INSERTs; elsewhere one
    executemany. Every row gets the same keys, the columns' Python-side defaults filled in (COPY applies none)."""
    rows = _with_defaults(table, rows)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    # CSV with every value quoted; NULL is "\N", honoured (FORCE_NULL) only in the columns that are not text.
    nullable = [c for c in columns if not isinstance(table.c[c].type, (String, Text))]
    encode = {c: (json.dumps if isinstance(rows[0][c], (dict, list)) else
                  (lambda v: v.isoformat()) if isinstance(rows[0][c], datetime) else None) for c in columns}
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([NULL if (v := row[c]) is None else enc(v) if (enc := encode[c]) else v for c in columns]
                     for row in rows)
    buffer.seek(0)
    force_null = f", FORCE_NULL ({', '.join(nullable)})" if nullable else ""
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}'{force_null})"
    cursor = session.connection().connection.cursor()
    try:
        if hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(statement, buffer)
        else:  # psycopg 3
            with cursor.copy(statement) as copy:
                copy.write(buffer.getvalue())
    finally:
        cursor.close()


NULL = "\\N"


def _with_defaults(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the columns' Python-side defaults where a row lacks the key (computed once: one import, one
    timestamp)."""
    keys = set().union(*rows)
    defaults = {}
    for column in table.columns:
        default = column.default
        if column.name in keys or default is None:
            continue
        if getattr(default, "is_scalar", False):
            defaults[column.name] = default.arg
        elif getattr(default, "is_callable", False):
            defaults[column.name] = default.arg(None)
    return [{**row, **defaults} for row in rows] if defaults else rows


def _version(key: tuple[int, int | None, str], value: str, status: str) -> dict[str, Any]:
    post_id, section_id, name = key
    return {"post_id": post_id, "section_id": section_id, "field": name, "kind": "text", "value": value,
            "status": status, "source": "import", "metadata": {}}


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
            raise ImportRefusedError([Problem(f"post_step_overrides.{i}", f"refers to post {o.post_id} / step "
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
