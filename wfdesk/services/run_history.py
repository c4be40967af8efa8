"""The run history, for the runs view and `wfdesk runs list/show`: pages of runs, newest first, filtered by post,
step, status, date and who started them; runs in progress; one run in detail with each section's prompt as sent.

Paged by keyset (`id < before_id`, newest first), so page 200 costs what page 1 costs; each page is two queries
(the runs, then their sections' counts, tokens and costs grouped) whatever the number of runs in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from wfdesk.db.content import with_output
from wfdesk.db.models import Post, PostSection, Run, RunUnit
from wfdesk.errors import NotFoundError
from wfdesk.runs import ledger
from wfdesk.services.shapes import RunSummary
from wfdesk.states import ACTIVE_RUN_STATES, RESUMABLE_RUN_STATES, WORKED_ON_UNIT_STATES, RunState, UnitState
from wfdesk.workspace import Workspace

PAGE_SIZE = 50
IN_PROGRESS_LIMIT = 200  # runs in progress at once, on a whole team's database: more would be a leak, not work

# A run's status as an editor reads it.
RUN_STATE_LABELS: dict[str, str] = {
    RunState.QUEUED: "queued", RunState.RUNNING: "running", RunState.SUCCEEDED: "done",
    RunState.PARTIAL: "partly done", RunState.FAILED: "failed", RunState.CANCELLED: "cancelled",
    RunState.INTERRUPTED: "interrupted"}


@dataclass(frozen=True)
class RunFilter:
    """What the history shows; every field left empty matches every run."""
    post: str = ""  # words of the post's title (all of them, any case)
    post_id: int | None = None
    step_id: int | None = None
    status: str | None = None  # a RunState
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    mine_only: bool = False


@dataclass(frozen=True)
class RunRow:
    id: int
    status: str
    step_id: int | None
    step_name: str
    post_id: int | None
    post_title: str
    script_type: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    started_by: str  # "user@host", or the host alone for runs older than the column
    mine: bool
    error: str | None
    counts: dict[str, int] = field(default_factory=dict)  # unit status -> number of sections
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for st, n in self.counts.items() if st in WORKED_ON_UNIT_STATES)

    @property
    def failed(self) -> int:
        return self.counts.get(UnitState.ERROR, 0)

    @property
    def status_label(self) -> str:
        return RUN_STATE_LABELS.get(self.status, self.status)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


@dataclass(frozen=True)
class RunPage:
    rows: list[RunRow]
    next_before: int | None  # pass as before_id for the next (older) page; None on the last page


@dataclass(frozen=True)
class UnitDetail:
    id: int
    section_id: int | None
    section_title: str
    status: str
    prompt: str | None
    answer: str | None
    error: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    images: int
    cost: float
    duration_ms: int | None
    result: dict[str, Any]


@dataclass(frozen=True)
class RunDetail:
    run: RunRow
    where: str  # the process that executes (or last executed) it: host and process id
    effective_config: dict[str, Any]
    context: dict[str, Any]
    units: list[UnitDetail]

    @property
    def failed_section_ids(self) -> list[int]:
        return [u.section_id for u in self.units if u.status == UnitState.ERROR and u.section_id is not None]

    @property
    def resumable(self) -> bool:
        return self.run.status in RESUMABLE_RUN_STATES and any(u.status != UnitState.SUCCESS for u in self.units)


def is_mine(started_by: str | None, owner: str | None) -> bool:
    """Started by this user on this machine; a run older than `started_by` is mine when this machine ran it."""
    if started_by:
        return started_by == ledger.STARTED_BY
    return ledger.parse_owner(owner)[0] == ledger.HOST


def _who(started_by: str | None, owner: str | None) -> str:
    return started_by or ledger.parse_owner(owner)[0] or "unknown"


def _base() -> Select[*tuple[Any, ...]]:
    return (select(Run.id, Run.status, Run.step_id, Run.step_name, Run.post_id, Post.title, Run.script_type,
                   Run.created_at, Run.started_at, Run.finished_at, Run.started_by, Run.owner, Run.error)
            .outerjoin(Post, Post.id == Run.post_id))


def _filtered(stmt: Select[*tuple[Any, ...]], flt: RunFilter) -> Select[*tuple[Any, ...]]:
    for word in flt.post.split():
        stmt = stmt.where(func.lower(Post.title).contains(word.lower(), autoescape=True))
    if flt.post_id is not None:
        stmt = stmt.where(Run.post_id == flt.post_id)
    if flt.step_id is not None:
        stmt = stmt.where(Run.step_id == flt.step_id)
    if flt.status:
        stmt = stmt.where(Run.status == flt.status)
    if flt.since is not None:
        stmt = stmt.where(Run.created_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(Run.created_at < flt.until)
    if flt.mine_only:
        stmt = stmt.where(Run.started_by == ledger.STARTED_BY)
    return stmt


def list_runs(ws: Workspace, flt: RunFilter | None = None, *, before_id: int | None = None,
              limit: int = PAGE_SIZE) -> RunPage:
    """One page of runs, newest first: those older than `before_id` when given."""
    stmt = _filtered(_base(), flt or RunFilter())
    if before_id is not None:
        stmt = stmt.where(Run.id < before_id)
    stmt = stmt.order_by(Run.id.desc()).limit(limit + 1)  # one more tells whether another page follows
    with ws.db.session() as s:
        found = s.execute(stmt).all()
        rows = _with_counts(s, found[:limit])
    return RunPage(rows, rows[-1].id if len(found) > limit and rows else None)


def runs_in_progress(ws: Workspace) -> list[RunRow]:
    """Every run queued or running on this database, anyone's, newest first."""
    stmt = _base().where(Run.status.in_(ACTIVE_RUN_STATES)).order_by(Run.id.desc()).limit(IN_PROGRESS_LIMIT)
    with ws.db.session() as s:
        return _with_counts(s, s.execute(stmt).all())


def _with_counts(s: Any, found: Sequence[Any]) -> list[RunRow]:
    if not found:
        return []
    totals: dict[int, dict[str, Any]] = {}
    for run_id, status, n, pt, ct, cost in s.execute(
            select(RunUnit.run_id, RunUnit.status, func.count(), func.sum(RunUnit.prompt_tokens),
                   func.sum(RunUnit.completion_tokens), func.sum(RunUnit.cost))
            .where(RunUnit.run_id.in_([r.id for r in found]))
            .group_by(RunUnit.run_id, RunUnit.status)):
        t = totals.setdefault(run_id, {"counts": {}, "pt": 0, "ct": 0, "cost": 0.0})
        t["counts"][status] = n
        t["pt"] += pt or 0
        t["ct"] += ct or 0
        t["cost"] += cost or 0.0
    return [_row(r, totals.get(r.id, {})) for r in found]


def _row(r: Any, t: dict[str, Any]) -> RunRow:
    return RunRow(id=r.id, status=r.status, step_id=r.step_id, step_name=r.step_name or "", post_id=r.post_id,
                  post_title=r.title or ("(deleted post)" if r.post_id is None else ""),
                  script_type=r.script_type, created_at=r.created_at, started_at=r.started_at,
                  finished_at=r.finished_at, started_by=_who(r.started_by, r.owner),
                  mine=is_mine(r.started_by, r.owner), error=r.error, counts=dict(t.get("counts", {})),
                  prompt_tokens=t.get("pt", 0), completion_tokens=t.get("ct", 0), cost=t.get("cost", 0.0))


def run_detail(ws: Workspace, run_id: int) -> RunDetail:
    """One run with each section's prompt as sent, answer, tokens, cost, duration and error."""
    with ws.db.session() as s:
        found = s.execute(_base().where(Run.id == run_id)).first()
        if found is None:
            raise NotFoundError(f"Run {run_id} does not exist")
        config, context = s.execute(select(Run.effective_config, Run.context).where(Run.id == run_id)).one()
        units = list(s.scalars(select(RunUnit).where(RunUnit.run_id == run_id).order_by(RunUnit.position)))
        titles = dict(s.execute(select(PostSection.id, PostSection.title).where(
            PostSection.id.in_([u.section_id for u in units if u.section_id is not None]))).all())
        details = [_unit(u, titles, with_output(s, u.result) or {}) for u in units]
        row = _with_counts(s, [found])[0]
    host, pid, _, _ = ledger.parse_owner(found.owner)
    where = f"{host}, process {pid}" if pid is not None else (host or "unknown")
    return RunDetail(row, where, dict(config or {}), dict(context or {}), details)


def _unit(u: RunUnit, titles: dict[int, str], result: dict[str, Any]) -> UnitDetail:
    answer = result.get("output")
    if answer is None and result.get("images"):
        answer = "\n".join(str(i.get("image_url", "")) for i in result["images"] if isinstance(i, dict))
    title = titles.get(u.section_id, "(deleted section)") if u.section_id is not None else "The whole post"
    return UnitDetail(id=u.id, section_id=u.section_id, section_title=title or f"Section {u.position + 1}",
                      status=u.status, prompt=u.prompt, answer=answer if isinstance(answer, str) else None,
                      error=u.error, model=u.model, prompt_tokens=u.prompt_tokens or 0,
                      completion_tokens=u.completion_tokens or 0, images=u.images or 0, cost=u.cost or 0.0,
                      duration_ms=u.duration_ms, result=result)


def section_ids_of(ws: Workspace, post_ids: list[int]) -> dict[int, list[int]]:
    """Each post's sections in order (one query): what a run over a whole post is given."""
    out: dict[int, list[int]] = {pid: [] for pid in post_ids}
    with ws.db.session() as s:
        for post_id, section_id in s.execute(select(PostSection.post_id, PostSection.id)
                                             .where(PostSection.post_id.in_(post_ids))
                                             .order_by(PostSection.post_id, PostSection.position, PostSection.id)):
            out[post_id].append(section_id)
    return out


def summary_json(row: RunRow) -> RunSummary:
    """The CLI's `runs list --json` shape (kept), with who started it."""
    return RunSummary(id=row.id, status=row.status, step_id=row.step_id, step=row.step_name, post_id=row.post_id,
                      script_type=row.script_type,
                      created_at=row.created_at.isoformat() if row.created_at else None,
                      finished_at=row.finished_at.isoformat() if row.finished_at else None,
                      counts={"total": row.total, **row.counts}, started_by=row.started_by, mine=row.mine)
