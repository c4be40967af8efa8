"""Errors as the API answers them: a JSON body naming the field at fault, in words an integrator reads."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from wfdesk.redact import redact_text

log = logging.getLogger(__name__)
# What each field is, for the messages ("post_id (the post's id) must be a whole number").
FIELD_WORDS = {
    "step_id": "the workflow step's id",
    "post_id": "the post's id",
    "context": "the run's context",
    "context.section_ids": "the ids of the sections to run",
    "context.inputs": "the input overrides",
    "context.llm_settings": "the model settings",
    "context.parameters": "the script parameters",
    "wait": "whether to wait for the run's end",
    "run_id": "the run's id",
    "limit": "how many runs to list",
}
_TYPE_WORDS = {
    "int_type": "must be a whole number, such as 53",
    "int_parsing": "must be a whole number, such as 53",
    "int_from_float": "must be a whole number, such as 53",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list, such as [711, 712]",
    "dict_type": "must be a JSON object, such as {\"key\": \"value\"}",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "missing": "is required",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None,
                 problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.problems = status, message, field, problems or []


def error_body(message: str, field: str | None = None, problems: list[dict[str, str]] | None = None
               ) -> dict[str, Any]:
    return {"success": False, "error": message, "field": field, "problems": problems or []}


def _field_of(loc: tuple[Any, ...]) -> str:
    # ("body", "context", "section_ids", 0) -> context.section_ids; ("path", "run_id") -> run_id
    return ".".join(str(p) for p in loc[1:] if not isinstance(p, int))


def _problem(err: dict[str, Any]) -> dict[str, str]:
    kind, loc = err.get("type", ""), tuple(err.get("loc", ()))
    field = _field_of(loc)
    if kind == "json_invalid":
        return {"field": "", "message": "The request body is not valid JSON"}
    if kind == "extra_forbidden":
        where = field.rpartition(".")[0]
        known = [k.rpartition(".")[2] for k in FIELD_WORDS if k.rpartition(".")[0] == where and k != where]
        return {"field": field, "message": f"{field} is not a field of this request (the fields here are "
                                           f"{', '.join(known)})"}
    limit = (err.get("ctx") or {}).get("ge", (err.get("ctx") or {}).get("le"))
    if kind in ("greater_than_equal", "less_than_equal") and limit is not None:
        what = f"must be {limit} or {'more' if kind == 'greater_than_equal' else 'less'}"
    else:
        what = _TYPE_WORDS.get(kind, str(err.get("msg", "is not valid")))
    if not field:
        return {"field": "", "message": f"The request body {what}"}
    prefix = "Each item of " if any(isinstance(p, int) for p in loc) else ""
    words = FIELD_WORDS.get(field)
    subject = f"{field} ({words})" if words else field
    return {"field": field, "message": f"{prefix}{subject} {what}"}


# Starlette types every handler as taking Exception: each narrows to the kind it is installed for.
async def _validation_failed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_problem(e) for e in exc.errors()]
    first = problems[0] if problems else {"field": "", "message": "The request is not valid"}
    message = "; ".join(p["message"] for p in problems) or first["message"]
    return JSONResponse(error_body(message, first["field"] or None, problems), status_code=400)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    problems = [{**p, "message": redact_text(p["message"])} for p in exc.problems]
    return JSONResponse(error_body(redact_text(exc.message), exc.field, problems), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    words = {404: "No such address in this API", 405: "This address does not take that method"}
    return JSONResponse(error_body(words.get(exc.status_code, str(exc.detail))), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Any route that meets a database error: what went wrong in words, never the SQL or its parameters."""
    from wfdesk.db.engine import database_error_message

    log.warning("%s %s: %s", request.method, request.url.path, database_error_message(exc))
    return JSONResponse(error_body(database_error_message(exc)), status_code=503)


def install(app: FastAPI) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
