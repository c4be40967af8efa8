"""Read models for the window: posts, a post's sections with their fields, steps and each step's state.

Plain dicts out, shaped by wfdesk.services.shapes (never ORM objects: the GUI reads on a worker thread and shows
on another), and a constant number of queries whatever the number of sections, so a long post loads as fast as a
short one.
"""

from __future__ import annotations

from sqlalchemy import func, select

from wfdesk.db.models import ContentField, ContentVersion, Post, PostSection, Run, RunUnit, WorkflowStepEntity
from wfdesk.errors import NotFoundError
from wfdesk.runs.ledger import where_it_runs
from wfdesk.scripts.config import script_type_of
from wfdesk.services.shapes import FieldValue, PostDetail, PostRow, SectionDetail, StepRow, StepStateInfo
from wfdesk.states import ACTIVE_RUN_STATES, FINAL_UNIT_STATES, STEP_STATE_OF_RUN, StepState
from wfdesk.workspace import Workspace

# The statuses offered by the filter; any other status found in the database is offered too.
POST_STATUSES = ("draft", "review", "published")

# A step's state for one post, as shown next to the step. Keys are stable (the GUI maps them to icons).
STATE_LABELS: dict[str, str] = {
    StepState.NEVER: "never run",
    StepState.RUNNING: "running",
    StepState.DONE: "done",
    StepState.FAILED: "failed",
    StepState.PARTIAL: "partial",
    StepState.CANCELLED: "cancelled",
    StepState.REVIEW: "awaiting review",
    StepState.INTERRUPTED: "interrupted",
}


def is_empty(ws: Workspace) -> bool:
    """No posts and no steps: a first start, where the demo is worth offering."""
    with ws.db.session() as s:
        has_post = s.execute(select(Post.id).limit(1)).first() is not None
        has_step = s.execute(select(WorkflowStepEntity.id).limit(1)).first() is not None
    return not has_post and not has_step


def list_posts(ws: Workspace, search: str = "", status: str | None = None) -> list[PostRow]:
    """Posts, newest change first, with their section count; search matches the title (case-insensitive)."""
    counts = (select(PostSection.post_id, func.count(PostSection.id).label("n"))
              .group_by(PostSection.post_id).subquery())
    stmt = (select(Post.id, Post.title, Post.status, Post.updated_at, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.post_id == Post.id)
            .order_by(Post.updated_at.desc(), Post.id.desc()))
    words = search.split()
    for word in words:
        stmt = stmt.where(func.lower(Post.title).contains(word.lower(), autoescape=True))
    if status:
        stmt = stmt.where(Post.status == status)
    with ws.db.session() as s:
        rows = s.execute(stmt).all()
    return [PostRow(id=pid, title=title, status=st, updated_at=updated, sections=n)
            for pid, title, st, updated, n in rows]


def post_statuses(ws: Workspace) -> list[str]:
    """The usual statuses followed by any other status a post has."""
    with ws.db.session() as s:
        found = [st for (st,) in s.execute(select(Post.status).distinct()) if st]
    return list(POST_STATUSES) + sorted(set(found) - set(POST_STATUSES))


def post_detail(ws: Workspace, post_id: int) -> PostDetail:
    """A post with its ordered sections, each with `fields` {name: text} and `locks` {name: lock_version}.

    `field_names` is the union of the field names the sections use, in first-seen order. Three queries.
    """
    with ws.db.session() as s:
        post = s.execute(select(Post.id, Post.title, Post.status, Post.lock_version)
                         .where(Post.id == post_id)).first()
        if post is None:
            raise NotFoundError(f"Post {post_id} does not exist")
        sections = s.execute(select(PostSection.id, PostSection.position, PostSection.title,
                                    PostSection.lock_version)
                             .where(PostSection.post_id == post_id)
                             .order_by(PostSection.position, PostSection.id)).all()
        fields = s.execute(select(ContentField.section_id, ContentField.name, ContentField.value,
                                  ContentField.lock_version)
                           .where(ContentField.post_id == post_id)
                           .order_by(ContentField.id)).all()
    texts: dict[int | None, dict[str, str | None]] = {}
    locks: dict[int | None, dict[str, int]] = {}
    names: dict[str, None] = {}
    for section_id, name, value, lock in fields:
        texts.setdefault(section_id, {})[name] = value
        locks.setdefault(section_id, {})[name] = lock
        if section_id is not None:
            names[name] = None
    out_sections = [SectionDetail(id=sid, position=position, title=title, lock_version=lock,
                                  fields=texts.get(sid, {}), locks=locks.get(sid, {}))
                    for sid, position, title, lock in sections]
    return PostDetail(id=post.id, title=post.title, status=post.status, lock_version=post.lock_version,
                      fields=texts.get(None, {}), locks=locks.get(None, {}),
                      sections=out_sections, field_names=list(names))


def list_steps(ws: Workspace) -> list[StepRow]:
    """Every workflow step in workflow order."""
    with ws.db.session() as s:
        rows = s.execute(select(WorkflowStepEntity.id, WorkflowStepEntity.name, WorkflowStepEntity.stage,
                                WorkflowStepEntity.position, WorkflowStepEntity.config)
                         .order_by(WorkflowStepEntity.position, WorkflowStepEntity.id)).all()
    return [StepRow(id=sid, name=name, stage=stage or "", position=position, config=config or {},
                    script_type=script_type_of(config)) for sid, name, stage, position, config in rows]


def step_states(ws: Workspace, post_id: int) -> dict[int, StepStateInfo]:
    """The state of every step for one post, from the step's latest run there and its pending image candidates.

    Each value: state (a STATE_LABELS key), label (text for a person), run_id, done, total, pending, error.
    """
    latest = (select(Run.step_id, func.max(Run.id).label("run_id"))
              .where(Run.post_id == post_id, Run.step_id.is_not(None))
              .group_by(Run.step_id).subquery())
    with ws.db.session() as s:
        step_ids = [sid for (sid,) in s.execute(select(WorkflowStepEntity.id))]
        rows = s.execute(select(latest.c.step_id, Run.id, Run.status, Run.error, Run.on_workers, Run.owner)
                         .join(Run, Run.id == latest.c.run_id)).all()
        runs = {step_id: (run_id, status, error) for step_id, run_id, status, error, *_ in rows}
        # Where a run left to the team's workers executes ("on worker host-x"), while it is queued or running.
        where = {step_id: where_it_runs(status, on_workers, owner) for step_id, _, status, _, on_workers, owner
                 in rows if status in ACTIVE_RUN_STATES}
        counts: dict[int, dict[str, int]] = {}
        if runs:
            for run_id, status, n in s.execute(
                    select(RunUnit.run_id, RunUnit.status, func.count())
                    .where(RunUnit.run_id.in_([r[0] for r in runs.values()]))
                    .group_by(RunUnit.run_id, RunUnit.status)):
                counts.setdefault(run_id, {})[status] = n
        # Candidates of any run of the step count: an image from an earlier run may still await review.
        pending = dict(s.execute(
            select(Run.step_id, func.count(ContentVersion.id))
            .join(Run, Run.id == ContentVersion.run_id)
            .where(ContentVersion.post_id == post_id, ContentVersion.status == "candidate")
            .group_by(Run.step_id)).all())
    states = {sid: _state(runs.get(sid), counts, pending.get(sid, 0)) for sid in step_ids}
    for sid, text in where.items():
        if text and sid in states:  # "queued for the team's workers", "running 3/8 on worker host-x"
            queued = text.startswith("queued")
            states[sid]["label"] = text if queued else f"{states[sid]['label']} {text}"
    return states


def _state(run: tuple[int, str, str | None] | None, counts: dict[int, dict[str, int]],
           pending: int) -> StepStateInfo:
    if run is None:
        state = StepState.REVIEW if pending else StepState.NEVER
        return _state_dict(state, None, 0, 0, pending, None)
    run_id, status, error = run
    unit_counts = counts.get(run_id, {})
    total = sum(unit_counts.values())
    done = sum(n for st, n in unit_counts.items() if st in FINAL_UNIT_STATES)
    state = STEP_STATE_OF_RUN.get(status, StepState.FAILED)
    if pending and state in (StepState.DONE, StepState.PARTIAL, StepState.CANCELLED):
        state = StepState.REVIEW  # an interrupted run stays "interrupted" (its label counts the images to review)
    return _state_dict(state, run_id, done, total, pending, error)


def _state_dict(state: str, run_id: int | None, done: int, total: int, pending: int,
                error: str | None) -> StepStateInfo:
    return StepStateInfo(state=state, label=state_label(state, done, total, pending), run_id=run_id,
                         done=done, total=total, pending=pending, error=error)


def state_label(state: str, done: int = 0, total: int = 0, pending: int = 0) -> str:
    """'running 3/8', 'awaiting review (2 images)', 'done'..."""
    label = STATE_LABELS.get(state, state)
    if state == StepState.RUNNING and total:
        return f"{label} {done}/{total}"
    if state == StepState.REVIEW and pending:
        return f"{label} ({pending} image{'s' if pending != 1 else ''})"
    if state == StepState.INTERRUPTED and pending:
        return f"{label} ({pending} image{'s' if pending != 1 else ''} to review)"
    return label


def field_value(ws: Workspace, post_id: int, section_id: int | None, name: str) -> FieldValue:
    """One field's current text and lock_version (None for both when the field does not exist yet)."""
    stmt = select(ContentField.value, ContentField.lock_version).where(ContentField.post_id == post_id,
                                                                       ContentField.name == name)
    stmt = stmt.where(ContentField.section_id.is_(None) if section_id is None
                      else ContentField.section_id == section_id)
    with ws.db.session() as s:
        row = s.execute(stmt).first()
    return FieldValue(value=row[0] if row else None, lock_version=row[1] if row else None)


def step_field_names(ws: Workspace, kinds: tuple[str, ...] = ("inputs", "outputs")) -> list[str]:
    """The db_field names the steps read (inputs) and write (outputs), in workflow order: suggestions for field
    columns, and the columns a post without any field text starts with."""
    names: dict[str, None] = {}
    for step in list_steps(ws):
        for key in kinds:
            specs = step["config"].get(key) or {}
            if isinstance(specs, dict):
                for spec in specs.values():
                    if isinstance(spec, dict) and isinstance(spec.get("db_field"), str):
                        names[spec["db_field"]] = None
    return list(names)
