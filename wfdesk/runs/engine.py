"""Executing a step run: plan it and record it in the ledger here; its section units run in wfdesk.runs.units
(liveness and the run's end in run_life, each answer's recording in recording), a plain handler in wfdesk.runs.plain.

Importing this module binds the engine to the scripts layer (wfdesk.scripts.step_runner), which the reference's
`execute_step_script` and a SectionHandler called as a plain handler run through.
"""

from __future__ import annotations

from typing import Any

from wfdesk.db.models import Run
from wfdesk.db.storable import unstorable_text
from wfdesk.errors import ConfigError, NotFoundError, UnitError
from wfdesk.runs import costs, ledger, result_cache
from wfdesk.runs.options import RunOptions
from wfdesk.runs.plain import out_results, run_plain
from wfdesk.runs.planning import build_job, step_effective_config
from wfdesk.runs.units import execute_units
from wfdesk.scripts import registry
from wfdesk.scripts.base import SectionHandler
from wfdesk.scripts.config import script_type_of
from wfdesk.scripts.step_runner import set_step_runner
from wfdesk.states import RunState, UnitState
from wfdesk.workspace import Workspace

__all__ = ["RunOptions", "bind", "execute_step", "out_results", "resume_run", "run_config",
           "script_type_is_sectioned"]


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
        return execute_units(ws, handler, job, run_id, list(zip(unit_ids, plans, strict=True)), options, owner)
    return run_plain(ws, handler, script_type, raw_config, post_id, context, step_id, step_name, options)


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
    return execute_units(ws, handler, job, run_id, [(uid, plans[sid]) for uid, sid in pending], options, claim)


def script_type_is_sectioned(script_type: str) -> bool:
    try:
        return isinstance(registry.get_handler(script_type), SectionHandler)
    except (KeyError, ValueError):
        return False


class _Engine:
    """The engine as wfdesk.scripts.step_runner.StepRunner. It looks the functions up when called, so what runs is
    always this module's execute_step and run_config."""

    def execute_step(self, ws: Workspace, step_id: int, post_id: int, context: dict[str, Any],
                     **options: Any) -> dict[str, Any]:
        return execute_step(ws, step_id, post_id, context, RunOptions(**options))

    def run_config(self, ws: Workspace, step_config: dict[str, Any], post_id: int, context: dict[str, Any],
                   step_name: str) -> dict[str, Any]:
        return run_config(ws, step_config, post_id, context, step_name=step_name)


def bind() -> None:
    """Bind this engine to the scripts layer (done on import; again after a test bound another)."""
    set_step_runner(_Engine())


bind()
