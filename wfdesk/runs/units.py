"""Executing a run's section units: concurrently, each one recorded as it finishes, one's failure never the others'."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from wfdesk.cancel import CancelledError, CancelToken
from wfdesk.db.engine import database_error_message
from wfdesk.db.models import utcnow
from wfdesk.errors import UnitError, unexpected_failure
from wfdesk.media import store
from wfdesk.runs import ledger, result_cache
from wfdesk.runs.events import RunObserver
from wfdesk.runs.options import NullObserver, RunOptions
from wfdesk.runs.outage import DatabaseLostError
from wfdesk.runs.recording import AlreadySavedError, elapsed_ms, persist, storable
from wfdesk.runs.run_life import RunContext, heartbeat, may_start, report
from wfdesk.scripts.base import Job, SectionHandler, UnitPlan
from wfdesk.scripts.config import Parameters
from wfdesk.states import UnitState
from wfdesk.workspace import Workspace

log = logging.getLogger("wfdesk.runs.engine")  # one logger for the engine, whichever module of it writes


def _concurrency(ws: Workspace, handler: SectionHandler[Any], job: Job[Any]) -> int:
    params: Parameters = job.parameters
    if params.concurrency:
        return params.concurrency
    provider = getattr(job.parameters, "provider", None)
    try:
        return ws.settings.provider(provider).concurrency
    except KeyError:
        return handler.default_concurrency


def execute_units(ws: Workspace, handler: SectionHandler[Any], job: Job[Any], run_id: int,
                  units: list[tuple[int, UnitPlan]], options: RunOptions | None,
                  owner: str | None = None) -> dict[str, Any]:
    options = options or RunOptions()
    rc = RunContext(ws, handler, job, owner, options.observer or NullObserver(), options.cancel or CancelToken(),
                    options.stop)
    job.run_id = run_id
    job.live_text = _live_text(rc.observer, run_id)
    rc.cached = result_cache.probe_units(ws, handler, job, units,
                                         fresh=result_cache.wants_fresh(job, options.fresh_answers))
    if options.on_run_id:
        options.on_run_id(run_id)
    log.info("run %s: step %r (%s) on post %s, %d unit(s)", run_id, job.step_name, handler.script_type,
             job.post.id, len(units))
    rc.observer.run_started(run_id, [{"unit_id": uid, "section_id": p.section_id} for uid, p in units])
    entries: dict[int, dict[str, Any]] = {}

    def work(item: tuple[int, UnitPlan]) -> None:
        unit_id, plan = item
        state = "go" if rc.gate.wait_reachable(rc.stop) and not rc.halted() else "halted"
        if state == "go":
            state = may_start(rc, run_id, unit_id)
        if state == "done":
            entries[unit_id] = {"section_id": plan.section_id, "unit_id": unit_id,
                                "status": UnitState.SUCCESS, "metadata": {}}
            return
        if state != "go":
            # Not started: it stays queued in the ledger and resume runs it.
            entries[unit_id] = {"section_id": plan.section_id, "unit_id": unit_id,
                                "status": UnitState.INTERRUPTED,
                                "error": "not started", "metadata": {}}
            return
        entries[unit_id] = entry = _run_unit(rc, unit_id, plan)
        rc.observer.unit_changed(run_id, entry)

    workers = max(1, min(_concurrency(ws, handler, job), len(units)))
    done = threading.Event()
    beat = threading.Thread(target=heartbeat, args=(rc, run_id, done), daemon=True, name=f"run{run_id}-beat")
    beat.start()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"run{run_id}") as pool:
            try:
                list(pool.map(work, units))
            except BaseException:
                # Ctrl-C (or the run's own failure): cancel before the pool waits for its workers, so sections in
                # flight stop now (A1111 and ComfyUI get their interrupt) instead of rendering to the end.
                rc.cancel.cancel()
                raise
    except BaseException as exc:
        # A run must never stay "running" because its bookkeeping failed (or Ctrl-C): it ends, resumable.
        try:
            ledger.finish_run(ws, run_id, error=f"the run stopped: {unit_message(exc)}"[:500], owner=owner)
        except Exception as end_exc:  # noqa: BLE001 - the database itself may be what failed
            log.warning("could not record the end of run %s: %s", run_id, unit_message(end_exc))
        raise
    finally:
        done.set()
    return report(rc, run_id, [entries[uid] for uid, _ in units])


def _live_text(observer: RunObserver, run_id: int) -> Callable[[int | None, str, bool], None] | None:
    """A streaming handler's answer so far goes to the observer as it comes; None when nobody watches (no
    observer, or one from before live text, without text_delta)."""
    text_delta = getattr(observer, "text_delta", None)
    if text_delta is None or isinstance(observer, NullObserver):
        return None

    def live_text(section_id: int | None, text: str, restart: bool = False) -> None:
        text_delta(run_id, section_id, text, restart)

    return live_text


def _run_unit(rc: RunContext, unit_id: int, plan: UnitPlan) -> dict[str, Any]:
    base = {"section_id": plan.section_id, "unit_id": unit_id}
    what = f"the result of section {plan.section_id}"
    try:
        return _run_unit_once(rc, unit_id, plan, base, what)
    except DatabaseLostError as exc:  # not saved: the unit stays queued, resume sends it again
        return {**base, "status": UnitState.INTERRUPTED, "error": str(exc), "metadata": {}}


def _run_unit_once(rc: RunContext, unit_id: int, plan: UnitPlan, base: dict[str, Any], what: str) -> dict[str, Any]:
    ws, job, cancel = rc.ws, rc.job, rc.cancel
    if cancel.cancelled:
        entry = {**base, "status": UnitState.CANCELLED, "error": "cancelled before it started", "metadata": {}}
        rc.gate.call(lambda: ledger.unit_finished(ws, unit_id, UnitState.CANCELLED, entry,
                                                          error="cancelled"), what)
        return entry
    assert job.run_id is not None  # _execute_units set it before any unit runs
    rc.observer.unit_changed(job.run_id, {**base, "status": UnitState.RUNNING, "metadata": {}})
    started, started_at = time.monotonic(), utcnow()
    try:
        return _execute_and_persist(rc, unit_id, plan, started, started_at)
    except CancelledError:
        if rc.stop is not None and rc.stop.is_set() and not cancel.cancelled:
            # It gave up waiting to retry because the app went away: not sent, so it stays queued for resume.
            return {**base, "status": UnitState.INTERRUPTED, "error": "not sent: the app closed", "metadata": {}}
        entry = {**base, "status": UnitState.CANCELLED, "error": "cancelled", "metadata": {}}
        rc.gate.call(lambda: ledger.unit_finished(ws, unit_id, UnitState.CANCELLED, entry, error="cancelled",
                                                  started_at=started_at, duration_ms=elapsed_ms(started)), what)
        return entry
    except DatabaseLostError:
        raise
    except AlreadySavedError:
        log.info("run %s section %s: already saved by another execution of the run", job.run_id, plan.section_id)
        return {**base, "status": UnitState.SUCCESS, "metadata": {}}
    except Exception as exc:  # noqa: BLE001 - one section's failure never stops the others
        message = unit_message(exc)
        if isinstance(exc, SQLAlchemyError):
            log.warning("run %s section %s: %s", job.run_id, plan.section_id, message)
            log.debug("details", exc_info=True)
        elif not isinstance(exc, UnitError):
            log.warning("run %s unit %s failed", job.run_id, unit_id, exc_info=True)
        log.info("run %s section %s: error: %s", job.run_id, plan.section_id, message)
        # A cut or filtered answer keeps its partial text here, for inspection only (never a field's value).
        entry = {**base, "status": UnitState.ERROR, "error": message,
                 "metadata": dict(getattr(exc, "details", None) or {})}
        rc.gate.call(lambda: ledger.unit_finished(ws, unit_id, UnitState.ERROR, entry, error=message,
                                                  started_at=started_at, duration_ms=elapsed_ms(started)), what)
        return entry


def _execute_and_persist(rc: RunContext, unit_id: int, plan: UnitPlan, started: float,
                         started_at: datetime) -> dict[str, Any]:
    # Result cache: an identical earlier answer is reused (nothing sent), else the handler asks the provider.
    cached = rc.cached.get(unit_id, result_cache.NOT_CACHED)
    outcome = cached.outcome or storable(rc.handler.execute(rc.job, plan, rc.cancel))
    try:
        if rc.cancel.cancelled:
            raise CancelledError()  # an answer that arrives after a cancel is discarded, never written
        return persist(rc, unit_id, plan, outcome, started_at, elapsed_ms(started), cached)
    except BaseException:
        # A result that is not kept keeps no files either.
        store.discard(rc.ws.data_dir, [w.image for w in outcome.outputs if w.image is not None])
        raise


def unit_message(exc: BaseException) -> str:
    """One line for the editor; never SQL, parameters or a whole generated text."""
    if isinstance(exc, UnitError | ValueError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        if "foreign key" in str(getattr(exc, "orig", None) or exc).lower():
            return "the result could not be saved: the section (or post) was deleted during the run"
        return f"the result could not be saved: {database_error_message(exc)}"
    return unexpected_failure(exc)
