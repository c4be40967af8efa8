"""How a run ended, in a line an editor reads at a glance ("polish_sections: 12 sections done, 1 failed — Post
title"): what the window's end-of-run notice says. Read from the run ledger in one query. Qt-free."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from wfdesk.db.models import Post, Run, RunUnit, WorkflowStepEntity
from wfdesk.states import RunState, UnitState
from wfdesk.workspace import Workspace

_RUN_WORDS: dict[str, str] = {RunState.SUCCEEDED: "done", RunState.CANCELLED: "cancelled",
                              RunState.PARTIAL: "partly done", RunState.INTERRUPTED: "interrupted"}
_DID_NOT_RUN = "failed"  # a refused run, or one whose state is unknown


@dataclass(frozen=True)
class RunOutcome:
    run_id: int | None
    step_id: int | None
    post_id: int | None
    step_name: str
    post_title: str
    status: str  # a RunState, or "" when the run never started
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    unfinished: int = 0  # interrupted or never ended

    @property
    def ok(self) -> bool:
        return self.status == RunState.SUCCEEDED

    def title(self) -> str:
        if self.status == RunState.SUCCEEDED:
            return "Run finished"
        if self.status == RunState.CANCELLED:
            return "Run cancelled"
        if self.status == RunState.PARTIAL:
            return "Run finished with failures"
        return "Run failed" if self.status in (RunState.FAILED, "") else "Run stopped"

    def summary(self) -> str:
        """The notice's line: the step, how its sections went, the post."""
        if self._any_counted():
            counts = [f"{self.done} {_sections(self.done)} done"] if self.done else []
            counts += [f"{n} {what}" for n, what in ((self.failed, "failed"), (self.cancelled, "cancelled"),
                                                      (self.unfinished, "not finished")) if n]
        else:
            counts = [_RUN_WORDS.get(self.status, _DID_NOT_RUN)]  # a run without sections (a plain handler)
        post = f" — {self.post_title}" if self.post_title else ""
        return f"{self.step_name or 'A step'}: {', '.join(counts)}{post}"

    def _any_counted(self) -> bool:
        return bool(self.done or self.failed or self.cancelled or self.unfinished)


def _sections(n: int) -> str:
    return "section" if n == 1 else "sections"


def run_outcome(ws: Workspace, run_id: int) -> RunOutcome:
    """The outcome of a finished run, counted per section from its units."""
    stmt = (select(Run.step_id, Run.post_id, Run.step_name, Run.status, Post.title, RunUnit.status)
            .outerjoin(Post, Post.id == Run.post_id).outerjoin(RunUnit, RunUnit.run_id == Run.id)
            .where(Run.id == run_id))
    with ws.db.session() as s:
        rows = s.execute(stmt).all()
    if not rows:
        return RunOutcome(run_id, None, None, "", "", "")
    step_id, post_id, step_name, status, title = rows[0][:5]
    counts = Counter(unit for *_, unit in rows if unit is not None)
    unfinished = sum(n for state, n in counts.items()
                     if state not in (UnitState.SUCCESS, UnitState.ERROR, UnitState.CANCELLED))
    return RunOutcome(run_id, step_id, post_id, step_name or "", title or "", status,
                      done=counts[UnitState.SUCCESS], failed=counts[UnitState.ERROR],
                      cancelled=counts[UnitState.CANCELLED], unfinished=unfinished)


def not_started(ws: Workspace, step_id: int | None, post_id: int | None) -> RunOutcome:
    """A run refused or failed before it had a ledger row: the step's and post's names."""
    with ws.db.session() as s:
        step = s.get(WorkflowStepEntity, step_id) if step_id else None
        post = s.get(Post, post_id) if post_id else None
        return RunOutcome(None, step_id, post_id, step.name if step else "", post.title if post else "", "")
