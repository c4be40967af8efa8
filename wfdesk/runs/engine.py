"""Executing a step run: plan, record, run the section units concurrently, persist each one as it finishes."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from wfdesk.db import content
from wfdesk.db.engine import database_error_message
from wfdesk.db.models import Run, RunUnit, utcnow
from wfdesk.db.storable import unstorable_text
from wfdesk.errors import ConfigError, ConflictError, NotFoundError, UnitError
from wfdesk.media import store
from wfdesk.runs import costs, ledger, result_cache, run_cancel
from wfdesk.runs.events import RunObserver
from wfdesk.runs.outage import DatabaseLostError, OutageGate
from wfdesk.runs.planning import build_job, step_effective_config
from wfdesk.scripts import registry
from wfdesk.scripts.base import CancelledError, CancelToken, Job, SectionHandler, UnitOutcome, UnitPlan
from wfdesk.scripts.config import Parameters, script_type_of
from wfdesk.states import FINAL_UNIT_STATES, RunState, UnitState
from wfdesk.usage import Usage
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
PERSIST_ATTEMPTS = 3


class _NullObserver:
    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None:
        pass

    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        pass

    def text_delta(self, run_id: int, section_id: int | None, text: str, restart: bool = False) -> None:
        pass

    def run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        pass


@dataclass
class RunOptions:
    observer: RunObserver | None = None
    cancel: CancelToken | None = None
    on_run_id: Callable[[int], None] | None = None
    # Set when the app goes away: no new section starts, answers in flight are saved, the run ends interrupted.
    stop: threading.Event | None = None
    # Result cache: True = ask the provider even where an identical earlier answer could be reused (--no-cache).
    fresh_answers: bool = False


def execute_step(ws: Workspace, step_id: int, post_id: int, context: dict[str, Any] | None,
                 options: RunOptions | None = None) -> dict[str, Any]:
    """The engine behind `execute_step_script`: effective config = step, then post override, then context."""
    context = context or {}
    with ws.db.session() as s:
        step, raw = step_effective_config(s, step_id, post_id, context)
        step_name = step.name
    return run_config(ws, raw, post_id, context, step_id=step_id, step_name=step_name, options=options)


def run_config(ws: Workspace, raw_config: dict[str, Any], post_id: int, context: dict[str, Any], *,
               step_id: int | None = None, step_name: str = "", options: RunOptions | None = None
               ) -> dict[str, Any]:
    problems = unstorable_text(raw_config) + unstorable_text(ledger.jsonable(context))
    if problems:  # the run's row keeps both: refused here, in words, rather than by the database
        raise ConfigError(step_name, problems)
    script_type = script_type_of(raw_config)
    handler = registry.get_handler(script_type)
    if isinstance(handler, SectionHandler):
        job = build_job(ws, handler, step_id=step_id, step_name=step_name, raw_config=raw_config,
                        post_id=post_id, context=context)
        plans = handler.plan(job)
        fresh = result_cache.wants_fresh(job, bool(options and options.fresh_answers))
        costs.enforce_budget(ws, post_id, handler.estimate(job, result_cache.to_send(
            ws, handler, job, plans, fresh=fresh)))  # reused answers are free
        owner = ledger.new_owner()
        run_id, unit_ids = ledger.create_run(
            ws, step_id=step_id, post_id=post_id, step_name=step_name, script_type=script_type,
            effective_config=raw_config, context=context, section_ids=[p.section_id for p in plans], owner=owner,
            prompts=[p.payload.get("prompt") for p in plans])
        return _execute_units(ws, handler, job, run_id, list(zip(unit_ids, plans, strict=True)), options, owner)
    return _run_plain(ws, handler, script_type, raw_config, post_id, context, step_id, step_name, options)


def resume_run(ws: Workspace, run_id: int, options: RunOptions | None = None) -> dict[str, Any]:
    """Run again only the units of a run that never finished successfully, in the same ledger row.

    The claim is compare-and-set on the status and owner read here: if anyone claimed or marked the run since,
    this resume is refused (RunBusyError) and sends nothing.
    """
    status, owner = ledger.run_state(ws, run_id)
    if status == RunState.RUNNING:  # a queued run (left to the team's workers) is simply claimed
        if run_id not in ledger.mark_interrupted(ws, run_id):
            raise ledger.RunBusyError(f"Run {run_id} is still running")
        status, owner = ledger.run_state(ws, run_id)
    with ws.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:  # deleted since its state was read
            raise NotFoundError(f"Run {run_id} does not exist")
        pending = [(u.id, u.section_id) for u in run.units if u.status != UnitState.SUCCESS]
        has_units = bool(run.units)
        raw, context = dict(run.effective_config), dict(run.context or {})
        step_id, post_id, step_name, script_type = run.step_id, run.post_id, run.step_name, run.script_type
    if not pending:
        if has_units and status != RunState.SUCCEEDED and script_type_is_sectioned(script_type):
            ledger.close_finished(ws, run_id, status, owner)  # every section finished; only the end was missing
        return ledger.result_of(ws, run_id)
    if post_id is None:  # the post was deleted; the run keeps its row (and its sections' answers) without it
        raise NotFoundError(f"Run {run_id} cannot be resumed: its post was deleted")
    handler = registry.get_handler(script_type)
    if not isinstance(handler, SectionHandler):
        raise UnitError(f"Run {run_id} used the plain handler {script_type!r}, which cannot resume per section")
    section_ids = [sid for _, sid in pending if sid is not None]
    job = build_job(ws, handler, step_id=step_id, step_name=step_name, raw_config=raw, post_id=post_id,
                    context=context, section_ids=section_ids or None)
    plans = {p.section_id: p for p in handler.plan(job)}
    fresh = result_cache.wants_fresh(job, bool(options and options.fresh_answers))
    costs.enforce_budget(ws, post_id, handler.estimate(job, result_cache.to_send(
        ws, handler, job, [plans[sid] for _, sid in pending], fresh=fresh)))  # reused answers are free
    claim = ledger.claim_run(ws, run_id, status, owner)
    ledger.set_prompts(ws, {uid: plans[sid].payload.get("prompt") for uid, sid in pending})
    return _execute_units(ws, handler, job, run_id, [(uid, plans[sid]) for uid, sid in pending], options, claim)


def script_type_is_sectioned(script_type: str) -> bool:
    try:
        return isinstance(registry.get_handler(script_type), SectionHandler)
    except (KeyError, ValueError):
        return False


def _concurrency(ws: Workspace, handler: SectionHandler[Any], job: Job[Any]) -> int:
    params: Parameters = job.parameters
    if params.concurrency:
        return params.concurrency
    provider = getattr(job.parameters, "provider", None)
    try:
        return ws.settings.provider(provider).concurrency
    except KeyError:
        return handler.default_concurrency


@dataclass
class _Run:
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


def _execute_units(ws: Workspace, handler: SectionHandler[Any], job: Job[Any], run_id: int,
                   units: list[tuple[int, UnitPlan]], options: RunOptions | None,
                   owner: str | None = None) -> dict[str, Any]:
    options = options or RunOptions()
    rc = _Run(ws, handler, job, owner, options.observer or _NullObserver(), options.cancel or CancelToken(),
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
            state = _may_start(rc, run_id, unit_id)
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
    beat = threading.Thread(target=_heartbeat, args=(rc, run_id, done), daemon=True, name=f"run{run_id}-beat")
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
            ledger.finish_run(ws, run_id, error=f"the run stopped: {_unit_message(exc)}"[:500], owner=owner)
        except Exception as end_exc:  # noqa: BLE001 - the database itself may be what failed
            log.warning("could not record the end of run %s: %s", run_id, _unit_message(end_exc))
        raise
    finally:
        done.set()
    return _report(rc, run_id, [entries[uid] for uid, _ in units])


def _report(rc: _Run, run_id: int, entries: list[dict[str, Any]]) -> dict[str, Any]:
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


def _live_text(observer: RunObserver, run_id: int) -> Callable[[int | None, str, bool], None] | None:
    """A streaming handler's answer so far goes to the observer as it comes; None when nobody watches (no
    observer, or one from before live text, without text_delta)."""
    text_delta = getattr(observer, "text_delta", None)
    if text_delta is None or isinstance(observer, _NullObserver):
        return None

    def live_text(section_id: int | None, text: str, restart: bool = False) -> None:
        text_delta(run_id, section_id, text, restart)

    return live_text


STOPPED_MESSAGE = "the app closed during the run; the sections that finished are saved, resume the run to do the rest"
TAKEN_MESSAGE = ("another process marked the run interrupted (no sign of life from this one for minutes); "
                 "the sections that finished are saved, resume the run to do the rest")


def _finish(rc: _Run, run_id: int, status: str | None, error: str | None) -> tuple[str, bool]:
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


def _result_in_memory(rc: _Run, run_id: int, entries: list[dict[str, Any]], status: str,
                      error: str | None) -> dict[str, Any]:
    out = {"success": status == RunState.SUCCEEDED, "results": entries, "step": rc.job.step_name,
           "sections_processed": [e["section_id"] for e in entries if e.get("section_id") is not None],
           "run_id": run_id, "status": status}
    if error:
        out["error"] = error
    return out


def _may_start(rc: _Run, run_id: int, unit_id: int) -> str:
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


def _heartbeat(rc: _Run, run_id: int, done: threading.Event) -> None:
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


def _cancel_asked(rc: _Run, run_id: int) -> bool:
    try:
        by = run_cancel.cancel_requested(rc.ws, run_id)
    except Exception:  # noqa: BLE001 - a missed check must never break the run; the next one comes in a second
        log.debug("cancel check failed", exc_info=True)
        return False
    if by is not None:
        log.info("run %s: cancelled by %s", run_id, by)
    return by is not None


def _run_unit(rc: _Run, unit_id: int, plan: UnitPlan) -> dict[str, Any]:
    base = {"section_id": plan.section_id, "unit_id": unit_id}
    what = f"the result of section {plan.section_id}"
    try:
        return _run_unit_once(rc, unit_id, plan, base, what)
    except DatabaseLostError as exc:  # not saved: the unit stays queued, resume sends it again
        return {**base, "status": UnitState.INTERRUPTED, "error": str(exc), "metadata": {}}


def _run_unit_once(rc: _Run, unit_id: int, plan: UnitPlan, base: dict[str, Any], what: str) -> dict[str, Any]:
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
                                                  started_at=started_at, duration_ms=_ms(started)), what)
        return entry
    except DatabaseLostError:
        raise
    except AlreadySavedError:
        log.info("run %s section %s: already saved by another execution of the run", job.run_id, plan.section_id)
        return {**base, "status": UnitState.SUCCESS, "metadata": {}}
    except Exception as exc:  # noqa: BLE001 - one section's failure never stops the others
        message = _unit_message(exc)
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
                                                  started_at=started_at, duration_ms=_ms(started)), what)
        return entry


def _execute_and_persist(rc: _Run, unit_id: int, plan: UnitPlan, started: float,
                         started_at: datetime) -> dict[str, Any]:
    # Result cache: an identical earlier answer is reused (nothing sent), else the handler asks the provider.
    cached = rc.cached.get(unit_id, result_cache.NOT_CACHED)
    outcome = cached.outcome or _storable(rc.handler.execute(rc.job, plan, rc.cancel))
    try:
        if rc.cancel.cancelled:
            raise CancelledError()  # an answer that arrives after a cancel is discarded, never written
        return _persist(rc, unit_id, plan, outcome, started_at, _ms(started), cached)
    except BaseException:
        # A result that is not kept keeps no files either.
        store.discard(rc.ws.data_dir, [w.image for w in outcome.outputs if w.image is not None])
        raise


_HALF_CHARACTER = re.compile("[\ud800-\udfff]")


def _text(value: Any) -> Any:
    """A provider's JSON may spell half a character ("\\ud83d" of a cut emoji), which no database stores as text:
    it becomes U+FFFD, so the paid answer is saved instead of lost to an encoding error."""
    if isinstance(value, str):
        return _HALF_CHARACTER.sub("\ufffd", value) if not value.isascii() else value
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return value


def _storable(outcome: UnitOutcome) -> UnitOutcome:
    for write in outcome.outputs:
        write.text = _text(write.text)
    outcome.entry, outcome.metadata = _text(outcome.entry), _text(outcome.metadata)
    return outcome


def _unit_message(exc: BaseException) -> str:
    """One line for the editor; never SQL, parameters or a whole generated text."""
    if isinstance(exc, UnitError | ValueError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        if "foreign key" in str(getattr(exc, "orig", None) or exc).lower():
            return "the result could not be saved: the section (or post) was deleted during the run"
        return f"the result could not be saved: {database_error_message(exc)}"
    return f"{type(exc).__name__}: {exc}"[:500]


def _persist(rc: _Run, unit_id: int, plan: UnitPlan, outcome: UnitOutcome, started_at: datetime,
             duration_ms: int, cached: result_cache.Probe = result_cache.NOT_CACHED) -> dict[str, Any]:
    """Versions, field values and the unit's row in one transaction: all of it or none of it.

    Another run or editor may write the same field at the same moment (optimistic locking, or two first writes
    racing on the unique index): a run's output is never a stale overwrite, so it simply tries again on top.
    A database outage is ridden out by the run's gate, the answer kept in memory meanwhile.
    """
    job = rc.job
    for attempt in range(1, PERSIST_ATTEMPTS + 1):
        try:
            entry = rc.gate.call(lambda: _persist_once(rc.ws, job, unit_id, plan, outcome, started_at, duration_ms,
                                                       cached), f"the result of section {plan.section_id}")
            break
        except (ConflictError, IntegrityError):
            if attempt == PERSIST_ATTEMPTS:
                raise
            log.info("run %s section %s: concurrent write, retrying", job.run_id, plan.section_id)
    log.info("run %s section %s: success in %d ms", job.run_id, plan.section_id, duration_ms)
    return entry


def _persist_once(ws: Workspace, job: Job[Any], unit_id: int, plan: UnitPlan, outcome: UnitOutcome,
                  started_at: datetime, duration_ms: int,
                  cached: result_cache.Probe = result_cache.NOT_CACHED) -> dict[str, Any]:
    entry: dict[str, Any] = {"section_id": plan.section_id, "unit_id": unit_id,
                             "status": UnitState.SUCCESS, **outcome.entry, "metadata": dict(outcome.metadata)}
    with ws.db.session() as s:
        version_ids = []
        images = []
        output_version_id = None
        for write in outcome.outputs:
            if write.image is not None:
                img = write.image
                asset = content.get_or_create_asset(
                    s, sha256=img.sha256, path=img.rel_path, mime=img.info.mime, width=img.info.width,
                    height=img.info.height, size_bytes=img.size_bytes)
                v = content.add_image(s, job.post.id, plan.section_id, write.field, asset, accept=write.accept,
                                      run_id=job.run_id, unit_id=unit_id, meta=outcome.metadata)
                images.append({"version_id": v.id, "image_url": img.image_url, "status": v.status})
            else:
                v = content.write_text(s, job.post.id, plan.section_id, write.field, write.text or "",
                                       run_id=job.run_id, unit_id=unit_id, meta=outcome.metadata)
                if output_version_id is None and write.text == entry.get("output"):
                    output_version_id = v.id
            version_ids.append(v.id)
        if version_ids:
            entry["version_ids"] = version_ids
        if images:
            entry["images"] = images
        usage = Usage(outcome.metadata.get("model"), outcome.prompt_tokens, outcome.completion_tokens,
                      outcome.images)
        values, flags = costs.ledger_values(ws.settings, usage, plan.payload.get("prompt"), outcome.entry.get("output"))
        values, flags = result_cache.ledger_values(cached, values, flags)  # its key; a reused answer costs nothing
        entry["metadata"].update(flags)
        stored = entry
        if output_version_id is not None:
            # The text is stored once, in its version; the unit's result points at it (ledger rebuilds "output").
            stored = {k: v for k, v in entry.items() if k != "output"}
            stored["output_version_id"] = output_version_id
        if not ledger.record_unit(s, unit_id, "success", stored, started_at=started_at, duration_ms=duration_ms,
                                  **values):
            raise AlreadySavedError()  # rolls back this section's versions: its first answer is already in
    return entry


class AlreadySavedError(Exception):
    """Another execution of the run saved this section first."""


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _run_plain(ws: Workspace, handler: Callable[..., Any], script_type: str, raw_config: dict[str, Any], post_id: int,
               context: dict[str, Any], step_id: int | None, step_name: str,
               options: RunOptions | None) -> dict[str, Any]:
    """A plain handler(step_config, post_id, context) -> dict: called as is, its answer recorded in the ledger."""
    section_ids = list(context.get("section_ids") or [])
    run_id, _ = ledger.create_run(ws, step_id=step_id, post_id=post_id, step_name=step_name,
                                  script_type=script_type, effective_config=raw_config, context=context,
                                  section_ids=[])
    if options and options.on_run_id:
        options.on_run_id(run_id)
    error = None
    started = time.monotonic()
    try:
        result = handler(raw_config, post_id, context)
        if not isinstance(result, dict):
            raise TypeError(f"handler for {script_type!r} returned {type(result).__name__}, not a dict")
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is reported, not raised into the GUI
        log.warning("plain handler %r failed", script_type, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
        result = {"success": False, "results": [], "error": error}
    duration = _ms(started)
    with ws.db.session() as s:
        run = s.get_one(Run, run_id)
        for i, item in enumerate(out_results(result)):
            status = item.get("status", UnitState.SUCCESS)
            unit = RunUnit(section_id=item.get("section_id") if isinstance(item.get("section_id"), int) else None,
                           position=i)
            ledger.finish_unit(unit, status if status in FINAL_UNIT_STATES else UnitState.ERROR, item,
                               error=item.get("error"), duration_ms=duration)
            run.units.append(unit)
    statuses = [u.get("status", UnitState.SUCCESS) for u in out_results(result)]
    if error is None and not result.get("success", True) and not statuses:
        error = str(result.get("error") or "the handler reported failure")
    status = ledger.finish_run(ws, run_id, error=error,
                               status=None if statuses or error else RunState.SUCCEEDED)
    out = dict(result)
    out.setdefault("step", step_name)
    out.setdefault("sections_processed", section_ids)
    out.setdefault("results", [])
    out["success"] = bool(result.get("success", status == RunState.SUCCEEDED))
    out["run_id"] = run_id
    out["status"] = status
    if options and options.observer:
        options.observer.run_finished(run_id, out)
    return out


def out_results(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [item if isinstance(item, dict) else {"output": item} for item in (result.get("results") or [])]
