"""One run request ({"action": "start"|"resume", ...}) executed to its end, reported as events.

The run process executes every request of the app here; the window executes here too the few it keeps in its own
process (handlers registered at run time there). Whatever happens, the sink gets exactly one final event:
RunFinished, RunRefusedError or RunFailed — and errors are sorted into "refused" and "failed" here, in one place.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from wfdesk.cancel import CancelToken
from wfdesk.runs.events import EventObserver, RunCreated, RunFailed, RunFinished, RunRefusedError, Sink
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


def ending_of(exc: Exception, what: str = "a run") -> RunRefusedError | RunFailed:
    """A request's exception as the event that ends it: refused (nothing was sent) or failed, in words."""
    from sqlalchemy.exc import SQLAlchemyError

    from wfdesk.db.engine import database_error_message
    from wfdesk.errors import ConfigError, NotFoundError, WfdeskError, unexpected_failure
    from wfdesk.runs.costs import BudgetError

    if isinstance(exc, ConfigError | NotFoundError | BudgetError | ValueError):
        return RunRefusedError(str(exc))
    if isinstance(exc, WfdeskError):
        return RunFailed(str(exc))
    if isinstance(exc, SQLAlchemyError):  # one line in words: never the SQL or its parameters
        log.warning("%s: %s", what, database_error_message(exc))
        return RunFailed(database_error_message(exc))
    log.error("%s failed", what, exc_info=exc)  # the details go to the log, the editor gets one line
    return RunFailed(unexpected_failure(exc))


def target_of(ws: Workspace, request: dict[str, Any]) -> tuple[int | None, int | None, str | None, dict[str, Any]]:
    """(step id, post id, script type, step config) of a request: a resume's from its run."""
    from wfdesk.db.models import Run, WorkflowStepEntity
    from wfdesk.scripts.config import script_type_of

    with ws.db.session() as s:
        if request.get("action") == "resume":
            run = s.get(Run, int(request["run_id"]))
            if run is None:
                return None, None, None, {}
            return run.step_id, run.post_id, run.script_type, dict(run.effective_config or {})
        step = s.get(WorkflowStepEntity, int(request["step_id"]))
        config = dict(step.config or {}) if step is not None else {}
        return request.get("step_id"), request.get("post_id"), script_type_of(config) if step else None, config


def provider_address(ws: Workspace, script_type: str | None, config: dict[str, Any]) -> str | None:
    """The provider address a step talks to, as engine errors name it (None: none, e.g. a custom script's own
    endpoint, or an image step on AUTOMATIC1111 or ComfyUI)."""
    from wfdesk.providers.openai_compat import resolve_base_url
    from wfdesk.scripts import registry

    params = (config.get("script_config") or {}).get("parameters") or {}
    try:
        model = registry.type_info(script_type or "").parameters_model
    except ValueError:
        return None
    if "provider" not in getattr(model, "model_fields", {}):
        return None
    if script_type == "image_generation" and \
            (params.get("backend") or ws.settings.image_backend) in ("a1111", "comfyui"):
        return None
    try:
        profile = ws.settings.provider(params.get("provider"))
    except KeyError:
        return None
    return resolve_base_url(profile) or "the OpenAI API"


def _created(ws: Workspace, request: dict[str, Any], run_id: int) -> RunCreated:
    try:
        step_id, post_id, script_type, config = target_of(ws, request)
        return RunCreated(run_id, step_id, post_id, provider_address(ws, script_type, config))
    except Exception:  # noqa: BLE001 - knowing the provider is a nicety: the run goes ahead without it
        log.debug("cannot tell the target of run %s", run_id, exc_info=True)
        return RunCreated(run_id, request.get("step_id"), request.get("post_id"))


def execute_request(ws: Workspace, request: dict[str, Any], sink: Sink, cancel: CancelToken,
                    stop: threading.Event | None = None, what: str = "a run") -> None:
    from wfdesk.runs.engine import RunOptions, execute_step, resume_run

    observer = EventObserver(sink)
    created: list[int] = []

    def run_id_known(run_id: int) -> None:
        if run_id not in created:
            created.append(run_id)
            sink(_created(ws, request, run_id))

    options = RunOptions(observer=observer, cancel=cancel, stop=stop, on_run_id=run_id_known)
    try:
        if request.get("action") == "resume":
            result = resume_run(ws, int(request["run_id"]), options)
        else:
            result = execute_step(ws, int(request["step_id"]), int(request["post_id"]),
                                  request.get("context") or {}, options)
        if not observer.finished:  # e.g. a resume with nothing left to run
            sink(RunFinished(int(result.get("run_id") or 0), result))
    except Exception as exc:  # noqa: BLE001 - every request ends with one event, whatever went wrong
        sink(ending_of(exc, what))
