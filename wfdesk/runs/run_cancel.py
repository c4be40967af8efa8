"""Cancel anywhere: a cancel asked of a run that another process executes (a colleague's window, `wfdesk run-step`
in a terminal, a team worker).

The request is a mark in the ledger (workflow_run.cancel_requested_at/by). A run nobody executes yet (queued for the
team's workers) or any more (interrupted) is cancelled at once, and its waiting worker job is removed. A running run
is cancelled by its executor: the engine's heartbeat thread reads the mark (one primary-key lookup a second) and
trips the run's CancelToken, so sections in flight stop as they do for a local cancel and finished sections stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from wfdesk.db.models import Run, RunUnit, utcnow
from wfdesk.errors import NotFoundError, WfdeskError
from wfdesk.runs import ledger
from wfdesk.states import RunState, UnitState
from wfdesk.workspace import Workspace

CHECK_SECONDS = 1.0  # how often an executor looks for a cancel request: an editor expects a stop within ~2 s
# Runs nobody executes right now: cancelled at once, without waiting for an executor to notice.
_NOBODY_EXECUTES = (RunState.QUEUED, RunState.INTERRUPTED)


class RunNotCancellableError(WfdeskError):
    """The run has already ended."""


@dataclass(frozen=True)
class CancelOutcome:
    run_id: int
    status: str  # the run's status afterwards: "cancelled", or "running" until its executor stops it
    requested: bool  # True: the executor was asked and stops the run within seconds

    @property
    def message(self) -> str:
        if self.requested:
            return f"Run {self.run_id}: asked to stop; it stops within seconds (finished sections are kept)"
        return f"Run {self.run_id} cancelled"


def request_cancel(ws: Workspace, run_id: int, by: str = ledger.STARTED_BY) -> CancelOutcome:
    """Cancels run `run_id` whoever executes it. Raises RunNotCancellableError when it has already ended."""
    for _ in range(3):  # the run's status may change between the read and the compare-and-set: read again
        status, owner = ledger.run_state(ws, run_id)
        if status in _NOBODY_EXECUTES:
            if _cancel_now(ws, run_id, status, owner, by):
                return CancelOutcome(run_id, RunState.CANCELLED, requested=False)
            continue
        if status != RunState.RUNNING:
            raise RunNotCancellableError(f"Run {run_id} has already ended ({status})")
        with ws.db.session() as s:
            asked = ledger.rows_updated(s, update(Run).where(Run.id == run_id, Run.status == RunState.RUNNING).values(
                cancel_requested_at=utcnow(), cancel_requested_by=by))
        if asked == 1:
            if ledger.mark_interrupted(ws, run_id):  # its executor is gone (crashed, silent for minutes): ends now
                return CancelOutcome(run_id, RunState.CANCELLED, requested=False)
            return CancelOutcome(run_id, RunState.RUNNING, requested=True)
    raise RunNotCancellableError(f"Run {run_id} keeps changing; try again")


def _cancel_now(ws: Workspace, run_id: int, status: str, owner: str | None, by: str) -> bool:
    """Compare-and-set, with its waiting worker job removed in the same transaction (both, or neither)."""
    from wfdesk.runs import team_queue

    with ws.db.session() as s:
        won = ledger.rows_updated(s, update(Run).where(
            Run.id == run_id, Run.status == status, Run.owner.is_not_distinct_from(owner)).values(
            status=RunState.CANCELLED, cancel_requested_at=utcnow(), cancel_requested_by=by, finished_at=utcnow(),
            error=f"cancelled by {by}"))
        if won != 1:
            return False
        s.execute(update(RunUnit).where(RunUnit.run_id == run_id, RunUnit.status == UnitState.QUEUED).values(
            status=UnitState.CANCELLED, error="cancelled before it started", finished_at=utcnow()))
        on_workers = s.scalar(select(Run.on_workers).where(Run.id == run_id))
        if on_workers:
            team_queue.drop_waiting_job(s, run_id)
    return True


def cancel_requested(ws: Workspace, run_id: int) -> str | None:
    """Who asked run `run_id` to stop ("user@host"), None when nobody did. One primary-key lookup."""
    with ws.db.session() as s:
        row = s.execute(select(Run.cancel_requested_at, Run.cancel_requested_by).where(Run.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"Run {run_id} does not exist")
    return None if row.cancel_requested_at is None else (row.cancel_requested_by or "someone")
