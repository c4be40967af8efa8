"""A run in progress: what its units share, the signs of life it gives and reads, and how it ends."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from wfdesk.cancel import CancelToken
from wfdesk.runs import ledger, result_cache, run_cancel
from wfdesk.runs.events import RunObserver
from wfdesk.runs.outage import DatabaseLostError, OutageGate
from wfdesk.scripts.base import Job, SectionHandler
from wfdesk.states import RunState, UnitState
from wfdesk.workspace import Workspace

log = logging.getLogger("wfdesk.runs.engine")  # one logger for the engine, whichever module of it writes


@dataclass
class RunContext:
    """What every unit of one execution shares."""

    ws: Workspace
    handler: SectionHandler[Any]
    job: Job[Any]
    owner: str | None
    observer: RunObserver
    cancel: CancelToken
    stop: threading.Event | None  # the caller's: the app went away
    gate: OutageGate = field(default_factory=OutageGate)
    taken: threading.Event = field(default_factory=threading.Event)  # someone else marked the run interrupted
    cached: dict[int, result_cache.Probe] = field(default_factory=dict)  # result cache: per unit id

    def halted(self) -> bool:
        return self.taken.is_set() or bool(self.stop and self.stop.is_set()) or bool(self.gate.lost)


def report(rc: RunContext, run_id: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's end, recorded and told to the observer; `entries` are its units' outcomes, in the plan's order."""
    status: str | None = None
    error: str | None = None
    if any(e["status"] == UnitState.INTERRUPTED for e in entries):
        status = RunState.INTERRUPTED
        error = rc.gate.lost or (TAKEN_MESSAGE if rc.taken.is_set() else STOPPED_MESSAGE)
    status, written = _finish(rc, run_id, status, error)
    if status == RunState.INTERRUPTED:
        error = error or rc.gate.lost or TAKEN_MESSAGE
        log.warning("run %s interrupted: %s", run_id, error)
    result = None
    if written:
        with contextlib.suppress(SQLAlchemyError):
            result = ledger.result_of(rc.ws, run_id)
    if result is None:  # the database is still away: the editor gets what this process knows
        result = _result_in_memory(rc, run_id, entries, status, error)
    log.info("run %s finished: %s", run_id, status)
    rc.observer.run_finished(run_id, result)
    return result


STOPPED_MESSAGE = "the app closed during the run; the sections that finished are saved, resume the run to do the rest"
TAKEN_MESSAGE = ("another process marked the run interrupted (no sign of life from this one for minutes); "
                 "the sections that finished are saved, resume the run to do the rest")


def _finish(rc: RunContext, run_id: int, status: str | None, error: str | None) -> tuple[str, bool]:
    """The run's end, written through the outage gate: (status, written). If the database is gone, the end is
    written later, when it is back (and if this process ends first, the next start marks the run interrupted)."""
    def write() -> str:
        return ledger.finish_run(rc.ws, run_id, error=error, status=status, owner=rc.owner)

    try:
        if rc.gate.lost:
            return write(), True
        return rc.gate.call(write, "the run's end"), True
    except (DatabaseLostError, SQLAlchemyError):
        threading.Thread(target=_write_end_later, args=(write,), daemon=True, name=f"run{run_id}-end").start()
        return "interrupted", False


def _write_end_later(write: Callable[[], str], give_up_after_s: float = 900.0) -> None:
    deadline = time.monotonic() + give_up_after_s
    while time.monotonic() < deadline:
        time.sleep(5)
        try:
            write()
            return
        except SQLAlchemyError:
            continue


def _result_in_memory(rc: RunContext, run_id: int, entries: list[dict[str, Any]], status: str,
                      error: str | None) -> dict[str, Any]:
    out = {"success": status == RunState.SUCCEEDED, "results": entries, "step": rc.job.step_name,
           "sections_processed": [e["section_id"] for e in entries if e.get("section_id") is not None],
           "run_id": run_id, "status": status}
    if error:
        out["error"] = error
    return out


def may_start(rc: RunContext, run_id: int, unit_id: int) -> str:
    """Asked of the ledger before each section: a process that froze (suspended, SIGSTOP) longer than the heartbeat
    allows learns here, not a heartbeat later, that its run was taken over, and sends nothing more."""
    owner = rc.owner
    if owner is None:
        return "go"
    try:
        state = rc.gate.call(lambda: ledger.unit_may_start(rc.ws, run_id, unit_id, owner), "the run's claim")
    except DatabaseLostError:
        return "halted"
    if state == "taken" and not rc.taken.is_set():
        log.warning("run %s: %s", run_id, TAKEN_MESSAGE)
        rc.taken.set()
    return state


def heartbeat(rc: RunContext, run_id: int, done: threading.Event) -> None:
    """Tells other processes sharing the database that this run's process is alive; notices when one of them
    decided otherwise (after a suspend, say), and then starts no new section."""
    next_beat = time.monotonic() + ledger.HEARTBEAT_SECONDS
    while not done.wait(min(run_cancel.CHECK_SECONDS, ledger.HEARTBEAT_SECONDS)):
        # Cancel anywhere: a cancel asked from another process (wfdesk.runs.run_cancel) stops the run as a local one.
        if not rc.cancel.cancelled and _cancel_asked(rc, run_id):
            rc.cancel.cancel()
        if time.monotonic() < next_beat:
            continue
        next_beat = time.monotonic() + ledger.HEARTBEAT_SECONDS
        try:
            if not ledger.heartbeat(rc.ws, run_id, rc.owner):
                log.warning("run %s: %s", run_id, TAKEN_MESSAGE)
                rc.taken.set()
                return
        except Exception:  # noqa: BLE001 - a missed heartbeat must never break the run
            log.debug("heartbeat failed", exc_info=True)


def _cancel_asked(rc: RunContext, run_id: int) -> bool:
    try:
        by = run_cancel.cancel_requested(rc.ws, run_id)
    except Exception:  # noqa: BLE001 - a missed check must never break the run; the next one comes in a second
        log.debug("cancel check failed", exc_info=True)
        return False
    if by is not None:
        log.info("run %s: cancelled by %s", run_id, by)
    return by is not None
