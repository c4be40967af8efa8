"""The FastAPI application: the reference's execute-step endpoint, the run ledger, steps, posts, stored images.

FastAPI (on Starlette, served by uvicorn) because the request and response bodies are pydantic models, which the
project already uses for its settings and configs, and the OpenAPI document follows from them; sync handlers run on
its thread pool, where the engine's blocking database calls belong.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Body, FastAPI, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from wfdesk.api import errors, shapes
from wfdesk.api.errors import ApiError
from wfdesk.api.guards import DEFAULT_MAX_BODY, BearerAuth, BodyLimit
from wfdesk.api.models import (
    Accepted,
    CancelAnswer,
    ErrorBody,
    ExecuteStepRequest,
    ExecuteStepResponse,
    ResumeRequest,
)
from wfdesk.api.runner import RunTicket, StepRunner
from wfdesk.api.server import LOOPBACK_NAMES
from wfdesk.api.token import ApiToken
from wfdesk.db.engine import database_error_message
from wfdesk.errors import ConfigError, NotFoundError
from wfdesk.runs import ledger, run_cancel
from wfdesk.runs.costs import BudgetError
from wfdesk.states import ACTIVE_RUN_STATES, RunState

log = logging.getLogger(__name__)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A field is wrong; `field` names it"},
    401: {"model": ErrorBody, "description": "No token, or a wrong one"},
    404: {"model": ErrorBody, "description": "The step, post, section or run does not exist"},
    409: {"model": ErrorBody, "description": "The run is not in a state that allows this"},
    413: {"model": ErrorBody, "description": "The request is too large"},
    500: {"model": ErrorBody, "description": "The run failed (the details are in the server's log)"},
    503: {"model": ErrorBody, "description": "The database is unavailable"}}


def create_app(runner: StepRunner, token: Callable[[], ApiToken], *, cors_origins: Sequence[str] = (),
               max_body: int = DEFAULT_MAX_BODY, allowed_hosts: Sequence[str] = LOOPBACK_NAMES) -> FastAPI:
    """allowed_hosts: the Host header values answered (wfdesk.api.server.allowed_hosts); the loopback names by
    default, as the app serves only 127.0.0.1."""
    app = FastAPI(title="wfdesk", version="1", docs_url=None, redoc_url=None,
                  description="Run workflow steps on posts (the Script Registry reference's execute-step endpoint). "
                              "Every request carries `Authorization: Bearer <token>`.")
    errors.install(app)
    _routes(app, runner)
    _document_bearer(app)
    # The last added is the outermost: the Host header is checked, then CORS answers preflights (which carry no
    # token), then the token is checked, then the size limit (so a stranger's large body gets 401 unread).
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(BearerAuth, token=token)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    # Outermost: a request naming another host (a page whose name was pointed at this address) gets nothing.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app


def _document_bearer(app: FastAPI) -> None:
    """The OpenAPI document says every operation needs the bearer token (the middleware enforces it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _routes(app: FastAPI, runner: StepRunner) -> None:
    _run_routes(app, runner)
    _read_routes(app, runner)


def _run_routes(app: FastAPI, runner: StepRunner) -> None:
    """Start, cancel and resume runs."""

    @app.post("/api/workflow/execute-step", response_model=ExecuteStepResponse,
              responses={202: {"model": Accepted, "description": "`wait: false`: the run is going"}, **ERRORS},
              summary="Run a workflow step on a post (the reference's request and response)")
    async def execute_step(body: ExecuteStepRequest) -> Any:
        context = body.context.model_dump(exclude_none=True)
        await run_in_threadpool(_check_targets, runner, body.step_id, body.post_id, context.get("section_ids"))
        await run_in_threadpool(_check_config, runner, body.step_id, body.post_id, context)
        ticket = runner.start(body.step_id, body.post_id, context)
        return await _answer(ticket, body.wait)

    @app.post("/api/workflow/runs/{run_id}/cancel", response_model=CancelAnswer, responses=ERRORS, status_code=202,
              summary="Stop a run, wherever it executes: sections waiting do not start, late answers are dropped")
    def cancel(run_id: int = Path(ge=1)) -> Any:
        if runner.cancel(run_id):
            return {"run_id": run_id, "cancelling": True, "status": RunState.RUNNING}
        # Started elsewhere (the window, a terminal, a colleague, the team's workers): asked through the ledger.
        try:
            outcome = run_cancel.request_cancel(runner.ws, run_id)
        except NotFoundError as exc:
            raise ApiError(404, str(exc), "run_id") from None
        except run_cancel.RunNotCancellableError as exc:
            raise ApiError(409, str(exc), "run_id") from None
        return {"run_id": run_id, "cancelling": outcome.requested, "status": outcome.status}

    @app.post("/api/workflow/runs/{run_id}/resume", response_model=ExecuteStepResponse,
              responses={202: {"model": Accepted}, **ERRORS},
              summary="Run again the sections of a run that did not finish (same run id)")
    async def resume(run_id: int = Path(ge=1), body: ResumeRequest | None = Body(None)) -> Any:
        await run_in_threadpool(_check_resumable, runner, run_id)
        return await _answer(runner.resume(run_id), body.wait if body else True)



def _read_routes(app: FastAPI, runner: StepRunner) -> None:
    """The ledger, the steps, the posts and the stored images."""

    @app.get("/api/workflow/runs", summary="The run ledger, newest first")
    def list_runs(limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = shapes.errors_redacted(ledger.list_runs(runner.ws, limit))
        return runs

    @app.get("/api/workflow/runs/{run_id}", responses=ERRORS,
             summary="One run: its sections, and `result` in the execute-step response's shape")
    def run_detail(run_id: int = Path(ge=1)) -> dict[str, Any]:
        try:
            detail = ledger.run_detail(runner.ws, run_id)
            result = ledger.result_of(runner.ws, run_id)
        except NotFoundError as exc:
            raise ApiError(404, str(exc), "run_id") from None
        served: dict[str, Any] = shapes.errors_redacted(shapes.with_served_urls(detail))
        served["result"] = shapes.execute_response(result)
        return served

    @app.get("/api/workflow/steps", summary="The workflow's steps, in order, with their configs")
    def steps() -> list[dict[str, Any]]:
        return _steps(runner)

    @app.get("/api/posts/{post_id}", responses=ERRORS, summary="A post with its sections and their fields")
    def post(post_id: int = Path(ge=1)) -> dict[str, Any]:
        return _post(runner, post_id)

    @app.get("/static/content/{path:path}", responses=ERRORS, response_class=FileResponse,
             summary="A stored image (the results' image_url)")
    def stored_image(path: str) -> Any:
        from wfdesk.media.store import resolve_image_path

        try:  # contained in the content folder itself: a link elsewhere in the data folder serves nothing
            file = resolve_image_path(pathlib.Path(runner.ws.data_dir) / "content", path)
        except ValueError:
            raise ApiError(404, "No such image", "image_url") from None
        if not file.is_file():
            raise ApiError(404, "No such image", "image_url")
        # Content-addressed (the name is the bytes' sha256): it never changes, clients may keep it.
        return FileResponse(file, headers={"Cache-Control": "private, max-age=31536000, immutable"})


async def _answer(ticket: RunTicket, wait: bool) -> Any:
    """wait: the run's end, as the reference answers it; else 202 with the run id as soon as the ledger has it."""
    try:
        run_id = await asyncio.wrap_future(ticket.run_id) if not wait else None
        if not wait and run_id is not None:
            return JSONResponse(Accepted(run_id=run_id, status=RunState.RUNNING,
                                         url=f"/api/workflow/runs/{run_id}").model_dump(), status_code=202)
        result = await asyncio.wrap_future(ticket.result)  # (a run the ledger never had: its answer, at its end)
    except Exception as exc:  # noqa: BLE001 - mapped to an answer here; nothing was sent when it was refused
        raise _refusal(exc) from None
    # As built (not re-serialised through the model): a field is left out when it does not apply (image_url of a
    # text step), never sent as null.
    return JSONResponse(shapes.execute_response(result))


def _refusal(exc: BaseException) -> ApiError:
    if isinstance(exc, NotFoundError):
        return ApiError(404, str(exc), _field_named_by(str(exc)))
    if isinstance(exc, ledger.RunBusyError):
        return ApiError(409, str(exc), "run_id")
    if isinstance(exc, ConfigError):
        problems = [{"field": p.field, "message": p.message} for p in exc.problems]
        return ApiError(400, str(exc), "step_id", problems)
    if isinstance(exc, BudgetError):
        return ApiError(400, str(exc), "post_id")
    if isinstance(exc, ValueError):  # "Unknown script type: …" (the reference's words) and the like
        return ApiError(400, str(exc), "step_id")
    if isinstance(exc, SQLAlchemyError):  # never SQL or its parameters in an answer: the database is unavailable
        log.warning("a run failed: %s", database_error_message(exc))
        return ApiError(503, database_error_message(exc))
    # Anything else is a bug or an environment problem: its text stays in the log (with the traceback), the
    # client learns only that the run failed.
    log.error("a run failed", exc_info=(type(exc), exc, exc.__traceback__))
    return ApiError(500, "The run failed")


def _field_named_by(message: str) -> str | None:
    for word, field in (("Step", "step_id"), ("Post", "post_id"), ("Section", "context.section_ids"),
                        ("Run", "run_id")):
        if message.startswith(word):
            return field
    return None


def _check_targets(runner: StepRunner, step_id: int, post_id: int, section_ids: list[int] | None) -> None:
    """404 naming the field, before a run is recorded: the step, the post, and each section in that post."""
    from wfdesk.db.models import Post, PostSection, WorkflowStepEntity

    with runner.ws.db.session() as s:
        if s.get(WorkflowStepEntity, step_id) is None:
            raise ApiError(404, f"Step {step_id} does not exist", "step_id")
        if s.get(Post, post_id) is None:
            raise ApiError(404, f"Post {post_id} does not exist", "post_id")
        if section_ids:
            found = set(s.scalars(select(PostSection.id).where(PostSection.post_id == post_id,
                                                                PostSection.id.in_(section_ids))))
            missing = [sid for sid in section_ids if sid not in found]
            if missing:
                raise ApiError(404, f"Section(s) {', '.join(map(str, missing))} not in post {post_id}",
                               "context.section_ids")


def _check_config(runner: StepRunner, step_id: int, post_id: int, context: dict[str, Any]) -> None:
    """The effective config's problems, each with its field, before anything is recorded or sent: the app's run
    process would report them as one line (the engine checks them again there)."""
    from wfdesk.runs.planning import check_context, step_effective_config, validate_config
    from wfdesk.scripts import registry
    from wfdesk.scripts.base import SectionHandler
    from wfdesk.scripts.config import script_type_of

    ws = runner.ws
    try:
        with ws.db.session() as s:
            step, raw = step_effective_config(s, step_id, post_id, context)
            name = step.name
        check_context(name, context)
        handler = registry.get_handler(script_type_of(raw))
        if isinstance(handler, SectionHandler):
            validate_config(ws, handler, name, raw)
    except (ConfigError, ValueError, NotFoundError) as exc:
        raise _refusal(exc) from None


def _check_resumable(runner: StepRunner, run_id: int) -> None:
    """404 for no such run, 409 for one still going (here or in a process that is alive); a run whose process died
    is marked interrupted now, as the engine would, and resumes."""
    try:
        status = ledger.run_state(runner.ws, run_id)[0]
    except NotFoundError as exc:
        raise ApiError(404, str(exc), "run_id") from None
    if status not in ACTIVE_RUN_STATES:
        return
    if runner.is_live(run_id) or run_id not in ledger.mark_interrupted(runner.ws, run_id):
        raise ApiError(409, f"Run {run_id} is still running", "run_id")


def _steps(runner: StepRunner) -> list[dict[str, Any]]:
    from wfdesk.db.models import WorkflowStepEntity
    from wfdesk.scripts.config import script_type_of

    with runner.ws.db.session() as s:
        rows = s.scalars(select(WorkflowStepEntity).order_by(WorkflowStepEntity.position, WorkflowStepEntity.id))
        return [{"id": st.id, "name": st.name, "stage": st.stage, "position": st.position,
                 "script_type": script_type_of(st.config), "config": st.config} for st in rows]


def _post(runner: StepRunner, post_id: int) -> dict[str, Any]:
    from wfdesk.db.models import PostSection
    from wfdesk.runs.planning import snapshot

    with runner.ws.db.session() as s:
        ids = list(s.scalars(select(PostSection.id).where(PostSection.post_id == post_id)))
        try:
            post, sections = snapshot(s, post_id, ids or None)
        except NotFoundError as exc:
            raise ApiError(404, str(exc), "post_id") from None
    served: dict[str, Any] = shapes.with_served_urls({
        "id": post.id, "title": post.title, "status": post.status, "fields": post.fields,
        "sections": [{"id": sec.id, "position": sec.position, "title": sec.title, "fields": sec.fields}
                     for sec in sections]})
    return served
