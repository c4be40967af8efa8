"""`custom_script`: POST a section's inputs to a configured HTTP endpoint and keep its answer."""

from __future__ import annotations

import json
from typing import Any

import requests

from wfdesk.errors import Problem, UnitError
from wfdesk.scripts.base import CancelToken, Job, OutputWrite, SectionHandler, UnitOutcome, UnitPlan
from wfdesk.scripts.config import CustomScriptParameters, Parameters, StepConfig, check_endpoint
from wfdesk.workspace import Workspace

INTERNAL_PARAMETERS = {"provider", "concurrency"}


def endpoint_url(base_url: str, endpoint: str) -> str:
    """Endpoints are paths under the base URL; check_endpoint has already refused anything with a host."""
    return base_url.rstrip("/") + "/" + endpoint.lstrip("/")


class CustomScriptHandler(SectionHandler):
    script_type = "custom_script"
    description = "POSTs each section's inputs to a configured HTTP endpoint."
    parameters_model = CustomScriptParameters

    def check_config(self, ws: Workspace, config: StepConfig, params: Parameters) -> list[Problem]:
        problems = check_endpoint(config.script_config.custom_endpoint)
        base = ws.settings.custom_script_base_url
        if not base:
            problems.append(Problem("custom_script base URL", "is not configured: set it in Settings or "
                                                              "WFDESK_CUSTOM_SCRIPT_BASE_URL"))
        elif not base.startswith(("http://", "https://")):
            problems.append(Problem("custom_script base URL", f"must be an http(s) URL, not {base!r}"))
        return problems

    def plan(self, job: Job) -> list[UnitPlan]:
        return [UnitPlan(section_id=s.id if s else None) for s in (job.sections or [None])]

    def execute(self, job: Job, unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        params: CustomScriptParameters = job.parameters
        url = endpoint_url(job.workspace.settings.custom_script_base_url, job.config.script_config.custom_endpoint)
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
            raise UnitError(f"cannot reach {url}: {_short(exc)}") from None
        except requests.RequestException as exc:
            raise UnitError(f"request to {url} failed: {_short(exc)}") from None
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


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"


execute_custom_script = CustomScriptHandler()
PLUGIN = execute_custom_script.as_plugin()
