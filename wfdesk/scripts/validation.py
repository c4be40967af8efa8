"""Checking a step config without running it (the `validate` command, the config editor's Save)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from wfdesk.errors import ConfigError, Problem
from wfdesk.scripts import registry
from wfdesk.scripts.base import SectionHandler
from wfdesk.scripts.config import parse_parameters, parse_step_config, problems_from, script_type_of
from wfdesk.workspace import Workspace


def validate_step(ws: Workspace, step_name: str, config: Any) -> list[Problem]:
    """Every problem of a step config, each naming its field; an empty list when it can run."""
    from wfdesk.runs.planning import secret_problems, validate_config

    if config is not None and not isinstance(config, dict):
        return [Problem("", "config must be a JSON object")]
    script_type = script_type_of(config)
    try:
        handler = registry.get_handler(script_type)
    except ValueError as exc:
        return [Problem("script_config.type", str(exc))]
    try:
        if isinstance(handler, SectionHandler):
            validate_config(ws, handler, step_name, config or {})
        else:
            parsed = parse_step_config(step_name, config)
            problems = secret_problems(config or {})
            if problems:
                return problems
            model: type[BaseModel] = registry.type_info(script_type).parameters_model
            parse_parameters(step_name, model, parsed.script_config.parameters)
    except ConfigError as exc:
        return exc.problems
    except ValidationError as exc:  # pragma: no cover - parse_* convert these already
        return problems_from(exc)
    return []
