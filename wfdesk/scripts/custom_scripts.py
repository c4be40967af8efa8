"""`custom_script`: POST a section's inputs to a configured HTTP endpoint and keep its answer."""

from __future__ import annotations

import json
import posixpath
import socket
import ssl
import unicodedata
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests

from wfdesk.errors import Problem, UnitError
from wfdesk.scripts.base import CancelToken, Job, OutputWrite, SectionHandler, UnitOutcome, UnitPlan
from wfdesk.scripts.config import CustomScriptParameters, StepConfig, check_endpoint
from wfdesk.workspace import Workspace

INTERNAL_PARAMETERS = {"provider", "concurrency"}


ENDPOINT_FIELD = "script_config.custom_endpoint"
OUTSIDE_BASE = "must stay under the base address: it may not contain '.' or '..' parts, also not percent-encoded"


def _fully_decoded(text: str) -> str:
    # Decoded until stable: "%252e" is "%2e" after one round, "." after two, and some servers decode twice.
    for _ in range(10):
        decoded = unquote(text)
        if decoded == text:
            return decoded
        text = decoded
    raise ValueError(f"must stay under the base address: it is percent-encoded too many times ({text!r})")


def endpoint_url(base_url: str, endpoint: str) -> str:
    """The endpoint path under the base URL. Percent-encoding is decoded first (HTTP clients and servers decode
    "%2e%2e" to ".." and "%2f" to "/"), so a dot segment in any spelling is refused, and the path that goes out is
    re-encoded from the decoded one: what the server receives is what was checked. Raises ValueError."""
    parts = urlsplit(endpoint)
    if parts.scheme or parts.netloc:  # "//host/x" and "http://host/x" would silently lose their host
        raise ValueError(f"must be a path under the base address, not a full address ({endpoint!r})")
    decoded = _fully_decoded(parts.path)
    if any(unicodedata.category(ch) == "Cc" for ch in decoded):
        raise ValueError("may not contain control characters (such as a line break or NUL)")
    # Servers differ in what they take for a dot segment: "．．" or "‥" once normalised, "..;x" on Java servers.
    segments = [unicodedata.normalize("NFKC", seg).split(";", 1)[0] for seg in decoded.split("/")]
    if "\\" in decoded or any(seg in (".", "..") for seg in segments):
        raise ValueError(OUTSIDE_BASE)
    base = urlsplit(base_url.rstrip("/"))
    path = base.path + "/" + quote(decoded.lstrip("/"), safe="/:@!$&'()*+,;=-._~")
    if posixpath.normpath(path) != path.rstrip("/") and path != "/":
        raise ValueError(OUTSIDE_BASE)  # belt and braces: nothing the path says may move it
    query = f"?{parts.query}" if parts.query else ""
    return base._replace(path=path, query="", fragment="").geturl() + query


class CustomScriptHandler(SectionHandler[CustomScriptParameters]):
    script_type = "custom_script"
    description = "POSTs each section's inputs to a configured HTTP endpoint."
    parameters_model = CustomScriptParameters

    def check_config(self, ws: Workspace, config: StepConfig, params: CustomScriptParameters) -> list[Problem]:
        endpoint = config.script_config.custom_endpoint
        problems = check_endpoint(endpoint)
        if endpoint and not problems:
            try:
                endpoint_url("http://base.invalid/base", endpoint)
            except ValueError as exc:
                problems.append(Problem(ENDPOINT_FIELD, str(exc)))
        base = ws.settings.custom_script_base_url
        if not base:
            problems.append(Problem("custom_script base URL", "is not configured: set it in Settings or "
                                                              "WFDESK_CUSTOM_SCRIPT_BASE_URL"))
        elif not base.startswith(("http://", "https://")):
            problems.append(Problem("custom_script base URL", f"must be an http(s) URL, not {base!r}"))
        return problems

    def plan(self, job: Job[CustomScriptParameters]) -> list[UnitPlan]:
        return [UnitPlan(section_id=s.id if s else None) for s in job.sections_or_post()]

    def execute(self, job: Job[CustomScriptParameters], unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        params: CustomScriptParameters = job.parameters
        base, endpoint = job.workspace.settings.custom_script_base_url, job.config.script_config.custom_endpoint
        assert base
        assert endpoint  # check_config refused the step without them
        url = endpoint_url(base, endpoint)
        section = self.section(job, unit.section_id)
        values = job.input_values(section)
        inputs = {spec.db_field: values.get(spec.db_field, "") for spec in job.config.inputs.values()}
        for key, value in (job.context.get("inputs") or {}).items():
            if key not in job.config.inputs:
                inputs.setdefault(key, value)
        body = {"post_id": job.post.id, "section_id": unit.section_id, "inputs": inputs,
                "parameters": {k: v for k, v in params.model_dump(exclude_none=True).items()
                               if k not in INTERNAL_PARAMETERS}}
        try:
            resp = requests.post(url, json=body, timeout=params.timeout)
        except requests.Timeout:
            raise UnitError(f"{url} did not answer within {params.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise UnitError(f"cannot reach {url}: {connection_problem(exc)}") from None
        except requests.RequestException as exc:
            raise UnitError(f"request to {url} failed: {connection_problem(exc)}") from None
        if resp.status_code >= 400:
            raise UnitError(f"{url} answered {resp.status_code}: {resp.text[:300]}")
        try:
            answer = resp.json()
        except ValueError:
            raise UnitError(f"{url} did not answer with JSON: {resp.text[:200]!r}") from None
        output = answer.get("output", answer) if isinstance(answer, dict) else answer
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, indent=2)
        metadata: dict[str, Any] = {"endpoint": job.config.script_config.custom_endpoint,
                                    "status_code": resp.status_code,
                                    "elapsed_ms": int(resp.elapsed.total_seconds() * 1000)}
        return UnitOutcome(outputs=[OutputWrite(field=f, text=text) for f in job.output_fields()],
                           entry={"output": text, "response": answer}, metadata=metadata)


def connection_problem(exc: BaseException) -> str:
    """Why a request failed, in words: the root cause under requests' and urllib3's wrappers, whose own text is
    a chain of class names ("Max retries exceeded ... NewConnectionError(...)")."""
    causes: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(causes) < 20:
        causes.append(seen)
        seen = seen.__cause__ or seen.__context__
    for cause in reversed(causes):  # the innermost first
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused (is the service running?)"
        if isinstance(cause, socket.gaierror):
            return "the host name could not be found"
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return "the connection timed out"
        if isinstance(cause, ConnectionResetError):
            return "the connection was reset by the other side"
        if isinstance(cause, ssl.SSLError):
            return f"the secure connection failed ({cause.reason or 'certificate or protocol problem'})"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror[0].lower() + cause.strerror[1:]
    return "the connection failed"


execute_custom_script = CustomScriptHandler()
PLUGIN = execute_custom_script.as_plugin()
