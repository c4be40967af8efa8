"""The run ledger: one row per run, one per section unit, each change committed at once (crash-safe).

Who executes a run is its `owner`: "host:pid:start:claim" (the process's start time tells a reused pid apart, the
claim tells two executions by one process apart). Every change of a run's status by someone other than its current
executor is compare-and-set: UPDATE ... WHERE status and owner are what was read, and the row count says who won.
"""

from __future__ import annotations

import functools
import getpass
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psutil
from sqlalchemy import CursorResult, String, Update, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from wfdesk.db.content import with_output
from wfdesk.db.engine import db_utcnow
from wfdesk.db.models import ContentVersion, Run, RunUnit, utcnow
from wfdesk.errors import NotFoundError, WfdeskError
from wfdesk.states import RunState, UnitState, overall_run_state
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
HOST = socket.gethostname()
def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container, say)
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


# Who starts runs from this process: "user@host". The runs view marks runs started by anyone else as a colleague's.
STARTED_BY = f"{_user()}@{HOST}"
OWNER = f"{HOST}:{os.getpid()}"  # this process, in the older "host:pid" form some rows still carry
HEARTBEAT_SECONDS = 15.0
STALE_AFTER = timedelta(minutes=2)  # a run whose heartbeat is older than this was interrupted, whatever its pid says
_MODEL_TYPE = RunUnit.__table__.c.model.type
MODEL_COLUMN_CHARS = (_MODEL_TYPE.length if isinstance(_MODEL_TYPE, String) else None) or 200
START_TIME_SLACK_S = 2  # process start times are derived from the boot time, which clock adjustments can move


def _rows_updated(session: Session, stmt: Update) -> int:
    """The row count that says who won. Session.execute is typed as returning a Result; an UPDATE's is a
    CursorResult, which has the count."""
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount


rows_updated = _rows_updated


def owner_of(pid: int | None = None) -> str | None:
    """A new claim's owner string for process `pid` (default: this one); None when that process does not exist."""
    pid = os.getpid() if pid is None else pid
    try:
        started = int(psutil.Process(pid).create_time())
    except psutil.Error:
        return None
    return f"{HOST}:{pid}:{started}:{uuid.uuid4().hex[:8]}"


def new_owner() -> str:
    return owner_of() or OWNER


def parse_owner(owner: str | None) -> tuple[str, int | None, int | None, str | None]:
    """(host, pid, start time, claim); the older "host:pid" form has no start time nor claim."""
    text = owner or ""
    parts = text.rsplit(":", 3)
    if len(parts) == 4 and parts[1].isdigit() and parts[2].lstrip("-").isdigit():
        return parts[0], int(parts[1]), int(parts[2]), parts[3]
    host, _, pid = text.rpartition(":")
    return (host, int(pid), None, None) if pid.isdigit() else (text, None, None, None)


def create_run(ws: Workspace, *, step_id: int | None, post_id: int, step_name: str, script_type: str,
               effective_config: dict[str, Any], context: dict[str, Any],
               section_ids: list[int | None], owner: str | None = None,
               prompts: list[str | None] | None = None) -> tuple[int, list[int]]:
    """`prompts`: each unit's rendered prompt, as it will be sent (kept for the runs view)."""
    sent = prompts or [None] * len(section_ids)
    with ws.db.session() as s:
        run = Run(step_id=step_id, post_id=post_id, step_name=step_name, script_type=script_type,
                  status=RunState.RUNNING, effective_config=effective_config, context=jsonable(context),
                  started_at=utcnow(), owner=owner or new_owner(), heartbeat_at=db_utcnow(), started_by=STARTED_BY)
        run.units = [RunUnit(section_id=sid, position=i, prompt=prompt)
                     for i, (sid, prompt) in enumerate(zip(section_ids, sent, strict=True))]
        s.add(run)
        s.flush()
        return run.id, [u.id for u in run.units]


def set_prompts(ws: Workspace, prompts: dict[int, str | None]) -> None:
    """A resume renders its sections' prompts again (the text may have changed): keep the ones sent now."""
    with ws.db.session() as s:
        for unit_id, prompt in prompts.items():
            s.execute(update(RunUnit).where(RunUnit.id == unit_id).values(prompt=prompt))


def reopen_run(ws: Workspace, run_id: int) -> str:
    """Claims a finished or interrupted run for resuming; returns the claim's owner string."""
    status, owner = run_state(ws, run_id)
    return claim_run(ws, run_id, status, owner)


def run_state(ws: Workspace, run_id: int) -> tuple[str, str | None]:
    with ws.db.session() as s:
        row = s.execute(select(Run.status, Run.owner).where(Run.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"Run {run_id} does not exist")
    return row.status, row.owner


def claim_run(ws: Workspace, run_id: int, status: str, owner: str | None) -> str:
    """Compare-and-set: the run is ours only if nobody changed its status or owner since we read them, so of two
    resumes (or a resume and a stale interrupted-marking) exactly one wins. A queued run (left to the team's
    workers) is claimed the same way by the worker that takes it."""
    if status == RunState.RUNNING:
        raise RunBusyError(f"Run {run_id} is still running")
    claim = new_owner()
    with ws.db.session() as s:
        stmt = update(Run).where(Run.id == run_id, Run.status == status, Run.owner.is_not_distinct_from(owner))
        if status != RunState.CANCELLED:  # a cancel asked meanwhile is refused; resuming a cancelled run is asked for
            stmt = stmt.where(Run.cancel_requested_at.is_(None))
        won = _rows_updated(s, stmt.values(
            status=RunState.RUNNING, owner=claim, heartbeat_at=db_utcnow(), finished_at=None, error=None,
            started_at=func.coalesce(Run.started_at, utcnow()), cancel_requested_at=None, cancel_requested_by=None))
        cancelled = won != 1 and s.scalar(select(Run.cancel_requested_at).where(Run.id == run_id)) is not None
    if cancelled:
        raise RunCancelledError(f"Run {run_id} was cancelled")
    if won != 1:
        raise RunBusyError(f"Run {run_id} is being resumed elsewhere")
    return claim


def close_finished(ws: Workspace, run_id: int, status: str, owner: str | None) -> bool:
    """A run whose sections all succeeded but whose end was never written (killed in between): it succeeded."""
    with ws.db.session() as s:
        return _rows_updated(s, update(Run).where(Run.id == run_id, Run.status == status,
                                                  Run.owner.is_not_distinct_from(owner)).values(
            status=RunState.SUCCEEDED, finished_at=utcnow(), error=None)) == 1


class RunBusyError(WfdeskError):
    pass


class RunCancelledError(WfdeskError):
    """Someone cancelled the run before this process could claim it (a queued worker run, say)."""


def unit_finished(ws: Workspace, unit_id: int, status: str, entry: dict[str, Any], *, error: str | None = None,
                  started_at: datetime | None = None, duration_ms: int | None = None) -> None:
    with ws.db.session() as s:
        record_unit(s, unit_id, status, entry, error=error, started_at=started_at, duration_ms=duration_ms)


def record_unit(session: Session, unit_id: int, status: str, entry: dict[str, Any], *, error: str | None = None,
                started_at: datetime | None = None, **values: Any) -> bool:
    """A unit's outcome in one UPDATE. A unit has no "running" row state: it is written once, when it ends,
    so a crash leaves it queued and resume runs it again. A unit that already succeeded is never written again
    (two executions of one run, after a takeover): False then, and the caller rolls its writes back."""
    if isinstance(values.get("model"), str):  # whatever a provider calls its model must not cost the saved answer
        values["model"] = values["model"][:MODEL_COLUMN_CHARS]
    values.update(status=status, error=error, result=jsonable(entry), started_at=started_at, finished_at=utcnow())
    params = {f"new_{key}": value for key, value in values.items()}
    result = session.execute(_record_statement(tuple(sorted(values))), {"unit_id": unit_id, **params})
    return cast("CursorResult[Any]", result).rowcount == 1


@functools.cache
def _record_statement(columns: tuple[str, ...]) -> Update:
    """The UPDATE record_unit sends, built once per set of columns: building it (SQLAlchemy coercing each value)
    cost more CPU than SQLite took to run it, once per section. No session synchronizing: the session holds no
    RunUnit, and looking would cost a third of the statement's time again."""
    return (update(RunUnit).where(RunUnit.id == bindparam("unit_id"), RunUnit.status != UnitState.SUCCESS)
            .values({column: bindparam(f"new_{column}") for column in columns})
            .execution_options(synchronize_session=False))


def finish_unit(unit: RunUnit, status: str, entry: dict[str, Any], *, error: str | None = None,
                duration_ms: int | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
                images: int = 0) -> None:
    unit.status, unit.error, unit.result = status, error, jsonable(entry)
    unit.finished_at = utcnow()
    unit.duration_ms = duration_ms
    unit.prompt_tokens, unit.completion_tokens, unit.images = prompt_tokens, completion_tokens, images


def finish_run(ws: Workspace, run_id: int, *, error: str | None = None, status: str | None = None,
               owner: str | None = None) -> str:
    """Writes the run's end. With `owner`, only while the run is still that claim's (someone may have marked it
    interrupted meanwhile, e.g. after a long outage): returns the status the run has afterwards."""
    with ws.db.session() as s:
        statuses = list(s.scalars(select(RunUnit.status).where(RunUnit.run_id == run_id)))
        final = status or overall_run_state(statuses, error)
        stmt = update(Run).where(Run.id == run_id).values(status=final, error=error, finished_at=utcnow())
        if owner is not None:
            stmt = stmt.where(Run.owner == owner, Run.status == RunState.RUNNING)
        if _rows_updated(s, stmt) == 1:
            return final
    current = run_state(ws, run_id)[0]
    log.info("run %s was taken over (%s) before its end was written", run_id, current)
    return current


def heartbeat(ws: Workspace, run_id: int, owner: str | None = None) -> bool:
    """Tells others the run's executor is alive. False when the run is no longer this claim's."""
    with ws.db.session() as s:
        stmt = update(Run).where(Run.id == run_id, Run.status == RunState.RUNNING).values(heartbeat_at=db_utcnow())
        if owner is not None:
            stmt = stmt.where(Run.owner == owner)
        return _rows_updated(s, stmt) == 1


def unit_may_start(ws: Workspace, run_id: int, unit_id: int, owner: str) -> str:
    """Asked before each section starts: "go"; "taken" when the run is no longer this claim's (this process froze
    and another one took the run over); "done" when another execution already saved the section."""
    with ws.db.session() as s:
        row = s.execute(_MAY_START, {"run_id": run_id, "unit_id": unit_id}).first()
    if row is None or row.status != RunState.RUNNING or row.owner != owner:
        return "taken"
    return "done" if row.unit == "success" else "go"


# Built once: it is asked before every section (Core columns, so no ORM compilation on the way).
_runs, _units = Run.__table__, RunUnit.__table__
_MAY_START = (select(_runs.c.status, _runs.c.owner, _units.c.status.label("unit"))
              .select_from(_runs.join(_units, _units.c.run_id == _runs.c.id))
              .where(_runs.c.id == bindparam("run_id"), _units.c.id == bindparam("unit_id")))


def mark_interrupted(ws: Workspace, run_id: int | None = None) -> list[int]:
    """Runs left 'running' by a process that no longer exists were interrupted (crash, kill -9, power loss).

    The owner is dead when, on this host, its pid is gone, a zombie, or another process started at another time
    (a reused pid); and anywhere when its heartbeat is older than STALE_AFTER. Each marking is compare-and-set on
    what was read, so it never overwrites a resume that claimed the run in between.
    """
    with ws.db.session() as s:  # the heartbeats' age by the database's clock, which wrote them
        stmt = select(Run.id, Run.status, Run.owner, Run.heartbeat_at, db_utcnow().label("now")).where(
            Run.status == RunState.RUNNING)  # a queued run has no executor yet: it waits for a worker
        if run_id is not None:
            stmt = stmt.where(Run.id == run_id)
        rows = s.execute(stmt).all()
    found = []
    for row in rows:
        if not _owner_dead(row.owner, row.heartbeat_at, row.now):
            continue
        with ws.db.session() as s:
            marked = _rows_updated(s, update(Run).where(
                Run.id == row.id, Run.status == row.status, Run.owner.is_not_distinct_from(row.owner),
                Run.heartbeat_at.is_not_distinct_from(row.heartbeat_at)).values(
                # A run someone asked to stop that died first ends cancelled, as it would have (run_cancel).
                status=case((Run.cancel_requested_at.is_not(None), RunState.CANCELLED), else_=RunState.INTERRUPTED)))
        if marked == 1:  # its unfinished units are still "queued": resume runs them
            found.append(row.id)
    return found


def _owner_dead(owner: str | None, beat: datetime | None, now: datetime) -> bool:
    if beat is not None and beat.tzinfo is None:  # SQLite gives naive datetimes back
        beat = beat.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if beat is None or now - beat > STALE_AFTER:
        return True
    return owner_alive(owner) is False


def owner_alive(owner: str | None) -> bool | None:
    """None when this host cannot tell (the owner runs on another machine)."""
    host, pid, started, _ = parse_owner(owner)
    if host != HOST or pid is None:
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped by its parent
            return False
        if started is not None and abs(int(process.create_time()) - started) > START_TIME_SLACK_S:
            return False  # the pid was reused by a process started later (after a reboot, say)
    except psutil.NoSuchProcess:  # includes ZombieProcess
        return False
    except psutil.AccessDenied:
        return True  # it exists; the heartbeat still tells if it stalled
    return True


def list_runs(ws: Workspace, limit: int = 50) -> list[dict[str, Any]]:
    with ws.db.session() as s:
        runs = list(s.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))
        counts: dict[int, dict[str, int]] = {}
        if runs:
            rows = s.execute(select(RunUnit.run_id, RunUnit.status, func.count())
                             .where(RunUnit.run_id.in_([r.id for r in runs]))
                             .group_by(RunUnit.run_id, RunUnit.status))
            for run_id, status, n in rows:
                counts.setdefault(run_id, {})[status] = n
        return [run_summary(r, counts.get(r.id, {})) for r in runs]


def run_summary(run: Run, counts: dict[str, int]) -> dict[str, Any]:
    return {"id": run.id, "status": run.status, "step_id": run.step_id, "step": run.step_name,
            "post_id": run.post_id, "script_type": run.script_type,
            "created_at": _iso(run.created_at), "finished_at": _iso(run.finished_at),
            "where": where_it_runs(run.status, run.on_workers, run.owner),
            "counts": {"total": sum(counts.values()), **counts}}


def where_it_runs(status: str, on_workers: bool, owner: str | None) -> str:
    """Where a run left to the team's workers executes, in the editor's words ("" for a run of its own process)."""
    if not on_workers:
        return ""
    if status == RunState.QUEUED:
        return "queued for the team's workers"
    host = parse_owner(owner)[0]
    return f"on worker {host}" if host else "on the team's workers"


def run_detail(ws: Workspace, run_id: int) -> dict[str, Any]:
    with ws.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"Run {run_id} does not exist")
        counts: dict[str, int] = {}
        for u in run.units:
            counts[u.status] = counts.get(u.status, 0) + 1
        out = run_summary(run, counts)
        out.update(effective_config=run.effective_config, context=run.context, error=run.error,
                   started_at=_iso(run.started_at), started_by=run.started_by)
        out["units"] = [{"id": u.id, "section_id": u.section_id, "status": u.status, "error": u.error,
                         "duration_ms": u.duration_ms, "model": u.model, "cost": u.cost, "prompt": u.prompt,
                         "prompt_tokens": u.prompt_tokens,
                         "completion_tokens": u.completion_tokens, "images": u.images,
                         "cache_hit": u.cache_hit,  # result cache: the answer was reused, nothing sent
                         "started_at": _iso(u.started_at), "finished_at": _iso(u.finished_at),
                         "result": with_output(s, u.result)} for u in run.units]
        return out


def result_of(ws: Workspace, run_id: int) -> dict[str, Any]:
    """The reference's response shape, rebuilt from the ledger."""
    with ws.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"Run {run_id} does not exist")
        loaded = _load_output_versions(s, run.units)  # held: the session keeps only weak references
        results = [with_output(s, u.result) or {"section_id": u.section_id, "status": u.status, "metadata": {}}
                   for u in run.units]
        out = {"success": run.status == RunState.SUCCEEDED, "results": results, "step": run.step_name,
               "sections_processed": [u.section_id for u in run.units if u.section_id is not None],
               "run_id": run.id, "status": run.status}
        if run.error:
            out["error"] = run.error
        del loaded
        return out


def _load_output_versions(session: Session, units: list[RunUnit]) -> list[ContentVersion]:
    """The versions holding the units' answers in one query (with_output then finds them in the session)."""
    ids = sorted({u.result["output_version_id"] for u in units
                  if isinstance(u.result, dict) and isinstance(u.result.get("output_version_id"), int)})
    loaded: list[ContentVersion] = []
    for i in range(0, len(ids), 500):
        loaded += session.scalars(select(ContentVersion).where(ContentVersion.id.in_(ids[i:i + 500])))
    return loaded


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def jsonable(value: Any) -> Any:
    """Drop anything that is not plain JSON (a context may carry callbacks in process)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if _is_plain(v)}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value if _is_plain(v)]
    return value


def _is_plain(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | dict | list | tuple)
