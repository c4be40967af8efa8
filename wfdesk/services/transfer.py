"""JSON import and export of LLM actions, workflow steps, posts with sections, and post overrides.

Import is one transaction (all or nothing), keeps ids, and updates rows that already exist. It reads what exists
and writes what is new in bulk (a few statements per table, not several per row: a round trip per row made a 45 MB
import take minutes on a PostgreSQL server). A file nested deeper than MAX_DEPTH or holding a secret is refused
(transfer_checks); rows are read and written in bulk by transfer_rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, insert, literal, select, text, update
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
from wfdesk.errors import Problem
from wfdesk.services.transfer_checks import (
    MAX_DEPTH,
    TOO_DEEP,
    ActionIn,
    Bundle,
    ImportRefusedError,
    OverrideIn,
    PostIn,
    SectionIn,
    StepIn,
    check_depth,
    parse_bundle,
    read_json,
)
from wfdesk.services.transfer_rows import bulk_insert, chunks, select_in, upsert_all

__all__ = [
    "MAX_DEPTH", "TOO_DEEP", "ActionIn", "Bundle", "ImportRefusedError", "OverrideIn", "PostIn", "SectionIn", "StepIn",
    "check_depth", "export_bundle", "import_bundle", "parse_bundle", "read_json",
]

IMPORT_LOCK_KEY = 0x77666465_696D7074  # "wfdeimpt": the advisory lock only imports take


def import_bundle(session: Session, data: Any) -> dict[str, int]:
    """Validate everything, then write everything in the caller's transaction."""
    bundle = parse_bundle(data)
    if session.get_bind().dialect.name == "postgresql":
        # An import finds the versions it wrote by id (COPY returns none); another import committing meanwhile would
        # lend it its own. One import at a time, until this transaction ends (SQLite serialises writers anyway).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
    upsert_all(session, LLMAction, [(a.id, {"name": a.name, "prompt_template": a.prompt_template, "model": a.model,
                                            "temperature": a.temperature, "max_tokens": a.max_tokens})
                                    for a in bundle.llm_actions])
    upsert_all(session, WorkflowStepEntity, [(st.id, {"name": st.name, "stage": st.stage, "position": st.position,
                                                      "config": st.config}) for st in bundle.workflow_steps])
    upsert_all(session, Post, [(p.id, {"title": p.title, "status": p.status}) for p in bundle.posts])
    sections = [(p.id, s) for p in bundle.posts for s in p.sections]
    owners = dict(select_in(session, select(PostSection.id, PostSection.post_id), PostSection.id,
                            [s.id for _, s in sections]))
    for post_id, s in sections:
        if s.id in owners and owners[s.id] != post_id:
            raise ImportRefusedError([Problem(f"posts[id={post_id}].sections[id={s.id}]",
                                        f"section {s.id} already belongs to post {owners[s.id]}")])
    upsert_all(session, PostSection, [(s.id, {"post_id": post_id, "position": s.position, "title": s.title})
                                      for post_id, s in sections])
    _import_fields(session, [(p.id, None, p.fields) for p in bundle.posts]
                   + [(post_id, s.id, s.fields) for post_id, s in sections])
    _import_overrides(session, bundle.post_step_overrides)
    session.flush()
    _bump_sequences(session)
    return {"llm_actions": len(bundle.llm_actions), "workflow_steps": len(bundle.workflow_steps),
            "posts": len(bundle.posts), "sections": len(sections),
            "post_step_overrides": len(bundle.post_step_overrides)}


def _import_fields(session: Session, targets: list[tuple[int, int | None, dict[str, str | None]]]) -> None:
    """Each imported value becomes the field's accepted version, as content.write_text would make it; unchanged
    values are left alone, and a value that had no version yet keeps one (superseded) so it can be reverted to."""
    existing = {(f.post_id, f.section_id, f.name): f for (f,) in
                select_in(session, select(ContentField), ContentField.post_id, [t[0] for t in targets])}
    versions, writes, superseded = _planned_writes(existing, targets)
    # The versions of fields that exist first; then those of new fields, from which the new fields are made.
    updated = [(key, value) for key, value in writes if key in existing]
    if versions:
        before = session.execute(select(func.coalesce(func.max(ContentVersion.id), 0))).scalar_one()
        bulk_insert(session, ContentVersion.__table__, versions)
        ids = _accepted_ids(session, before, [key[0] for key, _ in updated])
        for key, _ in updated:
            # The text lives in the version only; the field reads it from there (stored once).
            existing[key].value, existing[key].accepted_version_id = None, ids[key]
    for chunk in chunks(superseded):
        session.execute(update(ContentVersion).where(ContentVersion.id.in_(chunk), ContentVersion.status == "accepted")
                        .values(status="superseded").execution_options(synchronize_session=False))
    new = [(key, value) for key, value in writes if key not in existing]
    if new:
        before = session.execute(select(func.coalesce(func.max(ContentVersion.id), 0))).scalar_one()
        bulk_insert(session, ContentVersion.__table__, [_version(key, value, "accepted") for key, value in new])
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
            in select_in(session, stmt, ContentVersion.post_id, post_ids)}


def _version(key: tuple[int, int | None, str], value: str, status: str) -> dict[str, Any]:
    post_id, section_id, name = key
    return {"post_id": post_id, "section_id": section_id, "field": name, "kind": "text", "value": value,
            "status": status, "source": "import", "metadata": {}}


def _import_overrides(session: Session, overrides: list[OverrideIn]) -> None:
    if not overrides:
        return
    known_steps = {i for (i,) in select_in(session, select(WorkflowStepEntity.id), WorkflowStepEntity.id,
                                           [o.step_id for o in overrides])}
    known_posts = {i for (i,) in select_in(session, select(Post.id), Post.id, [o.post_id for o in overrides])}
    rows = {(r.post_id, r.step_id): r for (r,) in select_in(session, select(PostWorkflowStepAction),
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
