"""The run ledger: one row per run, one per section unit, each change committed at once (crash-safe)."""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from wfdesk.db.content import with_output
from wfdesk.db.models import Run, RunUnit, utcnow
from wfdesk.errors import NotFoundError, WfdeskError
from wfdesk.workspace import Workspace

ACTIVE = ("queued", "running")
OWNER = f"{socket.gethostname()}:{os.getpid()}"
HEARTBEAT_SECONDS = 15.0
STALE_AFTER = timedelta(minutes=2)  # a run on another machine with no heartbeat for this long was interrupted


def create_run(ws: Workspace, *, step_id: int | None, post_id: int, step_name: str, script_type: str,
               effective_config: dict[str, Any], context: dict[str, Any],
               section_ids: list[int | None]) -> tuple[int, list[int]]:
    with ws.db.session() as s:
        run = Run(step_id=step_id, post_id=post_id, step_name=step_name, script_type=script_type,
                  status="running", effective_config=effective_config, context=_jsonable(context),
                  started_at=utcnow(), owner=OWNER, heartbeat_at=utcnow())
        run.units = [RunUnit(section_id=sid, position=i) for i, sid in enumerate(section_ids)]
        s.add(run)
        s.flush()
        return run.id, [u.id for u in run.units]


def reopen_run(ws: Workspace, run_id: int) -> None:
    """Claims a finished or interrupted run for resuming; exactly one process wins when two try at once."""
    with ws.db.session() as s:
        claimed = s.execute(update(Run).where(Run.id == run_id, Run.status != "running").values(
            status="running", owner=OWNER, heartbeat_at=utcnow(), finished_at=None, error=None)).rowcount
    if claimed != 1:
        raise RunBusy(f"Run {run_id} is being resumed elsewhere")


class RunBusy(WfdeskError):
    pass


def unit_finished(ws: Workspace, unit_id: int, status: str, entry: dict[str, Any], *, error: str | None = None,
                  started_at: datetime | None = None, duration_ms: int | None = None) -> None:
    with ws.db.session() as s:
        record_unit(s, unit_id, status, entry, error=error, started_at=started_at, duration_ms=duration_ms)


def record_unit(session: Session, unit_id: int, status: str, entry: dict[str, Any], *, error: str | None = None,
                started_at: datetime | None = None, **values: Any) -> None:
    """A unit's outcome in one UPDATE. A unit has no "running" row state: it is written once, when it ends,
    so a crash leaves it queued and resume runs it again."""
    session.execute(update(RunUnit).where(RunUnit.id == unit_id).values(
        status=status, error=error, result=_jsonable(entry), started_at=started_at, finished_at=utcnow(),
        **values))


def finish_unit(unit: RunUnit, status: str, entry: dict[str, Any], *, error: str | None = None,
                duration_ms: int | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
                images: int = 0) -> None:
    unit.status, unit.error, unit.result = status, error, _jsonable(entry)
    unit.finished_at = utcnow()
    unit.duration_ms = duration_ms
    unit.prompt_tokens, unit.completion_tokens, unit.images = prompt_tokens, completion_tokens, images


def finish_run(ws: Workspace, run_id: int, *, error: str | None = None, status: str | None = None) -> str:
    with ws.db.session() as s:
        run = s.get(Run, run_id)
        run.status = status or overall_status([u.status for u in run.units], error)
        run.error = error
        run.finished_at = utcnow()
        return run.status


def overall_status(statuses: list[str], error: str | None = None) -> str:
    if error or not statuses:
        return "failed"
    if all(st == "success" for st in statuses):
        return "succeeded"
    if "cancelled" in statuses and "error" not in statuses:
        return "cancelled"
    if "success" in statuses:
        return "partial"
    return "failed"


def heartbeat(ws: Workspace, run_id: int) -> None:
    with ws.db.session() as s:
        run = s.get(Run, run_id)
        if run is not None and run.status == "running":
            run.heartbeat_at = utcnow()


def mark_interrupted(ws: Workspace) -> list[int]:
    """Runs left 'running' by a process that no longer exists were interrupted (crash, kill -9, power loss).

    On this host the owner's pid tells; for runs of other machines on a shared database, a stale heartbeat.
    """
    host = socket.gethostname()
    now = utcnow()
    found = []
    with ws.db.session() as s:
        for run in s.scalars(select(Run).where(Run.status.in_(ACTIVE))):
            owner_host, _, pid = (run.owner or "").rpartition(":")
            alive = _pid_alive(int(pid)) if owner_host == host and pid.isdigit() else None
            if alive is not None:
                dead = not alive
            else:
                beat = run.heartbeat_at
                if beat is not None and beat.tzinfo is None:  # SQLite gives naive datetimes back
                    beat = beat.replace(tzinfo=UTC)
                dead = beat is None or now - beat > STALE_AFTER
            if dead:
                run.status = "interrupted"  # its unfinished units are still "queued": resume runs them
                found.append(run.id)
    return found


def _pid_alive(pid: int) -> bool | None:
    """None when this platform cannot tell (Windows: os.kill(pid, 0) would send a console Ctrl-C)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
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
            "counts": {"total": sum(counts.values()), **counts}}


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
                   started_at=_iso(run.started_at))
        out["units"] = [{"id": u.id, "section_id": u.section_id, "status": u.status, "error": u.error,
                         "duration_ms": u.duration_ms, "model": u.model, "cost": u.cost,
                         "prompt_tokens": u.prompt_tokens,
                         "completion_tokens": u.completion_tokens, "images": u.images,
                         "started_at": _iso(u.started_at), "finished_at": _iso(u.finished_at),
                         "result": with_output(s, u.result)} for u in run.units]
        return out


def result_of(ws: Workspace, run_id: int) -> dict[str, Any]:
    """The reference's response shape, rebuilt from the ledger."""
    with ws.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"Run {run_id} does not exist")
        results = [with_output(s, u.result) or {"section_id": u.section_id, "status": u.status, "metadata": {}}
                   for u in run.units]
        out = {"success": run.status == "succeeded", "results": results, "step": run.step_name,
               "sections_processed": [u.section_id for u in run.units if u.section_id is not None],
               "run_id": run.id, "status": run.status}
        if run.error:
            out["error"] = run.error
        return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _jsonable(value: Any) -> Any:
    """Drop anything that is not plain JSON (a context may carry callbacks in process)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if _is_plain(v)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value if _is_plain(v)]
    return value


def _is_plain(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | dict | list | tuple)
