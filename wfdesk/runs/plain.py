"""A plain handler's run: `handler(step_config, post_id, context) -> dict`, called as is, its answer recorded."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from wfdesk.db.models import Run, RunUnit
from wfdesk.errors import unexpected_failure
from wfdesk.runs import ledger
from wfdesk.runs.options import RunOptions
from wfdesk.runs.recording import elapsed_ms
from wfdesk.states import FINAL_UNIT_STATES, RunState, UnitState
from wfdesk.workspace import Workspace

log = logging.getLogger("wfdesk.runs.engine")  # one logger for the engine, whichever module of it writes


def run_plain(ws: Workspace, handler: Callable[..., Any], script_type: str, raw_config: dict[str, Any], post_id: int,
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
        error = unexpected_failure(exc)
        result = {"success": False, "results": [], "error": error}
    duration = elapsed_ms(started)
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
