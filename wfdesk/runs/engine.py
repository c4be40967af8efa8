"""Executing a step run: plan, record, run the section units concurrently, persist each one as it finishes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from wfdesk.db import content
from wfdesk.db.models import Run, RunUnit, utcnow
from wfdesk.errors import ConflictError, NotFoundError, UnitError
from wfdesk.runs import costs, ledger
from wfdesk.runs.planning import build_job, step_effective_config
from wfdesk.scripts import registry
from wfdesk.scripts.base import Cancelled, CancelToken, Job, SectionHandler, UnitOutcome, UnitPlan
from wfdesk.scripts.config import script_type_of
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
PERSIST_ATTEMPTS = 3


class RunObserver(Protocol):
    """Progress callbacks. Called from worker threads: a GUI must hop to its own thread (Qt signals do)."""

    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None: ...
    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None: ...
    def run_finished(self, run_id: int, result: dict[str, Any]) -> None: ...


class _NullObserver:
    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None:
        pass

    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        pass

    def run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        pass


@dataclass
class RunOptions:
    observer: RunObserver | None = None
    cancel: CancelToken | None = None
    on_run_id: Callable[[int], None] | None = None


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
    script_type = script_type_of(raw_config)
    handler = registry.get_handler(script_type)
    if isinstance(handler, SectionHandler):
        job = build_job(ws, handler, step_id=step_id, step_name=step_name, raw_config=raw_config,
                        post_id=post_id, context=context)
        plans = handler.plan(job)
        costs.enforce_budget(ws, post_id, handler.estimate(job, plans))
        run_id, unit_ids = ledger.create_run(
            ws, step_id=step_id, post_id=post_id, step_name=step_name, script_type=script_type,
            effective_config=raw_config, context=context, section_ids=[p.section_id for p in plans])
        return _execute_units(ws, handler, job, run_id, list(zip(unit_ids, plans, strict=True)), options)
    return _run_plain(ws, handler, script_type, raw_config, post_id, context, step_id, step_name, options)


def resume_run(ws: Workspace, run_id: int, options: RunOptions | None = None) -> dict[str, Any]:
    """Run again only the units of a run that never finished successfully, in the same ledger row."""
    with ws.db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"Run {run_id} does not exist")
        if run.status == "running" and not _owned_by_dead_process(ws, run_id):
            raise ledger.RunBusy(f"Run {run_id} is still running")
        pending = [(u.id, u.section_id) for u in run.units if u.status != "success"]
        raw, context = dict(run.effective_config), dict(run.context or {})
        step_id, post_id, step_name, script_type = run.step_id, run.post_id, run.step_name, run.script_type
    if not pending:
        return ledger.result_of(ws, run_id)
    handler = registry.get_handler(script_type)
    if not isinstance(handler, SectionHandler):
        raise UnitError(f"Run {run_id} used the plain handler {script_type!r}, which cannot resume per section")
    section_ids = [sid for _, sid in pending if sid is not None]
    job = build_job(ws, handler, step_id=step_id, step_name=step_name, raw_config=raw, post_id=post_id,
                    context=context, section_ids=section_ids or None)
    plans = {p.section_id: p for p in handler.plan(job)}
    costs.enforce_budget(ws, post_id, handler.estimate(job, [plans[sid] for _, sid in pending]))
    ledger.reopen_run(ws, run_id)
    return _execute_units(ws, handler, job, run_id, [(uid, plans[sid]) for uid, sid in pending], options)


def _owned_by_dead_process(ws: Workspace, run_id: int) -> bool:
    return run_id in ledger.mark_interrupted(ws)


def _concurrency(ws: Workspace, handler: SectionHandler, job: Job) -> int:
    if job.parameters.concurrency:
        return job.parameters.concurrency
    provider = getattr(job.parameters, "provider", None)
    try:
        return ws.settings.provider(provider).concurrency
    except KeyError:
        return handler.default_concurrency


def _execute_units(ws: Workspace, handler: SectionHandler, job: Job, run_id: int,
                   units: list[tuple[int, UnitPlan]], options: RunOptions | None) -> dict[str, Any]:
    options = options or RunOptions()
    observer = options.observer or _NullObserver()
    cancel = options.cancel or CancelToken()
    job.run_id = run_id
    if options.on_run_id:
        options.on_run_id(run_id)
    log.info("run %s: step %r (%s) on post %s, %d unit(s)", run_id, job.step_name, handler.script_type,
             job.post.id, len(units))
    observer.run_started(run_id, [{"unit_id": uid, "section_id": p.section_id} for uid, p in units])

    def work(item: tuple[int, UnitPlan]) -> None:
        unit_id, plan = item
        entry = _run_unit(ws, handler, job, unit_id, plan, cancel, observer)
        observer.unit_changed(run_id, entry)

    workers = max(1, min(_concurrency(ws, handler, job), len(units)))
    done = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ws, run_id, done), daemon=True, name=f"run{run_id}-beat")
    beat.start()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"run{run_id}") as pool:
            list(pool.map(work, units))
    except BaseException as exc:
        # A run must never stay "running" because its bookkeeping failed (or Ctrl-C): it ends, resumable.
        try:
            ledger.finish_run(ws, run_id, error=f"the run stopped: {type(exc).__name__}: {exc}"[:500])
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            log.warning("could not record the end of run %s", run_id, exc_info=True)
        raise
    finally:
        done.set()
    status = ledger.finish_run(ws, run_id)
    result = ledger.result_of(ws, run_id)
    log.info("run %s finished: %s", run_id, status)
    observer.run_finished(run_id, result)
    return result


def _heartbeat(ws: Workspace, run_id: int, done: threading.Event) -> None:
    """Tells other machines sharing the database that this run's process is alive."""
    while not done.wait(ledger.HEARTBEAT_SECONDS):
        try:
            ledger.heartbeat(ws, run_id)
        except Exception:  # noqa: BLE001 - a missed heartbeat must never break the run
            log.debug("heartbeat failed", exc_info=True)


def _run_unit(ws: Workspace, handler: SectionHandler, job: Job, unit_id: int, plan: UnitPlan,
              cancel: CancelToken, observer: RunObserver) -> dict[str, Any]:
    base = {"section_id": plan.section_id, "unit_id": unit_id}
    if cancel.cancelled:
        entry = {**base, "status": "cancelled", "error": "cancelled before it started", "metadata": {}}
        ledger.unit_finished(ws, unit_id, "cancelled", entry, error="cancelled")
        return entry
    observer.unit_changed(job.run_id, {**base, "status": "running", "metadata": {}})
    started, started_at = time.monotonic(), utcnow()
    try:
        outcome = handler.execute(job, plan, cancel)
        if cancel.cancelled:
            raise Cancelled()  # an answer that arrives after a cancel is discarded, never written
        return _persist(ws, job, unit_id, plan, outcome, started_at, _ms(started))
    except Cancelled:
        entry = {**base, "status": "cancelled", "error": "cancelled", "metadata": {}}
        ledger.unit_finished(ws, unit_id, "cancelled", entry, error="cancelled", started_at=started_at,
                             duration_ms=_ms(started))
        return entry
    except Exception as exc:  # noqa: BLE001 - one section's failure never stops the others
        message = _unit_message(exc)
        if not isinstance(exc, UnitError):
            log.warning("run %s unit %s failed", job.run_id, unit_id, exc_info=True)
        log.info("run %s section %s: error: %s", job.run_id, plan.section_id, message)
        # A cut or filtered answer keeps its partial text here, for inspection only (never a field's value).
        entry = {**base, "status": "error", "error": message, "metadata": dict(getattr(exc, "details", None) or {})}
        ledger.unit_finished(ws, unit_id, "error", entry, error=message, started_at=started_at,
                             duration_ms=_ms(started))
        return entry


def _unit_message(exc: Exception) -> str:
    """One line for the editor; never SQL, parameters or a whole generated text."""
    if isinstance(exc, UnitError | ValueError):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        if "foreign key" in detail.lower():
            return "the result could not be saved: the section (or post) was deleted during the run"
        return f"the result could not be saved: {detail}"
    return f"{type(exc).__name__}: {exc}"[:500]


def _persist(ws: Workspace, job: Job, unit_id: int, plan: UnitPlan, outcome: UnitOutcome,
             started_at: datetime, duration_ms: int) -> dict[str, Any]:
    """Versions, field values and the unit's row in one transaction: all of it or none of it.

    Another run or editor may write the same field at the same moment (optimistic locking, or two first writes
    racing on the unique index): a run's output is never a stale overwrite, so it simply tries again on top.
    """
    for attempt in range(1, PERSIST_ATTEMPTS + 1):
        try:
            entry = _persist_once(ws, job, unit_id, plan, outcome, started_at, duration_ms)
            break
        except (ConflictError, IntegrityError):
            if attempt == PERSIST_ATTEMPTS:
                raise
            log.info("run %s section %s: concurrent write, retrying", job.run_id, plan.section_id)
    log.info("run %s section %s: success in %d ms", job.run_id, plan.section_id, duration_ms)
    return entry


def _persist_once(ws: Workspace, job: Job, unit_id: int, plan: UnitPlan, outcome: UnitOutcome,
                  started_at: datetime, duration_ms: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"section_id": plan.section_id, "unit_id": unit_id, "status": "success",
                             **outcome.entry, "metadata": dict(outcome.metadata)}
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
        usage = costs.Usage(outcome.metadata.get("model"), outcome.prompt_tokens, outcome.completion_tokens,
                            outcome.images)
        stored = entry
        if output_version_id is not None:
            # The text is stored once, in its version; the unit's result points at it (ledger rebuilds "output").
            stored = {k: v for k, v in entry.items() if k != "output"}
            stored["output_version_id"] = output_version_id
        ledger.record_unit(s, unit_id, "success", stored, started_at=started_at, duration_ms=duration_ms,
                           prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                           images=usage.images, model=usage.model, cost=costs.cost_of(ws.settings, usage))
    return entry


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _run_plain(ws: Workspace, handler: Callable, script_type: str, raw_config: dict[str, Any], post_id: int,
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
        run = s.get(Run, run_id)
        for i, item in enumerate(out_results(result)):
            status = item.get("status", "success")
            unit = RunUnit(section_id=item.get("section_id") if isinstance(item.get("section_id"), int) else None,
                           position=i)
            ledger.finish_unit(unit, status if status in ("success", "error", "cancelled") else "error", item,
                               error=item.get("error"), duration_ms=duration)
            run.units.append(unit)
    statuses = [u.get("status", "success") for u in out_results(result)]
    if error is None and not result.get("success", True) and not statuses:
        error = str(result.get("error") or "the handler reported failure")
    status = ledger.finish_run(ws, run_id, error=error,
                               status=None if statuses or error else "succeeded")
    out = dict(result)
    out.setdefault("step", step_name)
    out.setdefault("sections_processed", section_ids)
    out.setdefault("results", [])
    out["success"] = bool(result.get("success", status == "succeeded"))
    out["run_id"] = run_id
    out["status"] = status
    if options and options.observer:
        options.observer.run_finished(run_id, out)
    return out


def out_results(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [item if isinstance(item, dict) else {"output": item} for item in (result.get("results") or [])]
