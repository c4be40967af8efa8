"""Checking a step config without running it (the `validate` command, the config editor's Save)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from wfdesk.errors import ConfigError, Problem
from wfdesk.runs.planning import secret_problems, validate_config
from wfdesk.scripts import registry
from wfdesk.scripts.base import SectionHandler
from wfdesk.scripts.config import parse_parameters, parse_step_config, problems_from, script_type_of
from wfdesk.workspace import Workspace


def validate_step(ws: Workspace, step_name: str, config: Any) -> list[Problem]:
    """Every problem of a step config, each naming its field; an empty list when it can run."""
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


# --- problems in an editor's words --------------------------------------------------------------------------------

# Labels of the fields problems name (the forms show the same labels).
PARAMETER_LABELS = {"n": "Images per section", "auto_accept": "Accept images automatically",
                    "max_tokens": "Max tokens", "timeout": "Timeout (seconds)", "concurrency": "Sections at once",
                    "provider": "Provider profile", "stream": "Streaming", "temperature": "Temperature",
                    "model": "Model", "size": "Size", "quality": "Quality", "backend": "Backend",
                    "steps": "Sampling steps", "negative_prompt": "Negative prompt", "comfyui_url": "ComfyUI URL"}
FIELD_LABELS = {"name": "Name", "stage": "Stage", "script_config.type": "Script type",
                "script_config.action_id": "LLM action", "script_config.custom_endpoint": "Endpoint",
                "inputs": "Inputs", "outputs": "Outputs", "script_config": "Script settings",
                "script_config.parameters": "Parameters", "prompt_template": "Prompt template"}
SPEC_LABELS = {"label": "label", "db_field": "database field", "type": "type"}
# Problems that are not the config's but a setting's: the label, and where the editor sets it.
SETTING_PROBLEMS = {"custom_script base URL": ("The custom-script base URL", "Settings → Custom scripts")}
# What a format (a pydantic pattern) means, in words.
PATTERN_WORDS = {r"^(auto|\d{2,5}x\d{2,5})$": "must be like 1024x1024 or auto",
                 r"^[a-z]{1,20}$": "must be one lowercase word such as standard or hd",
                 r"^[A-Za-z_][A-Za-z0-9_]{0,99}$": "must be a name of letters, digits and underscores (not starting "
                                                   "with a digit)"}
_PHRASES = [  # (pydantic's wording as a regex, the plain words); the first match wins
    (r"^String should match pattern '(.*)'$", None),
    (r"^Input should be less than or equal to (.+)$", r"must be at most \1"),
    (r"^Input should be greater than or equal to (.+)$", r"must be at least \1"),
    (r"^Input should be greater than (.+)$", r"must be more than \1"),
    (r"^Input should be less than (.+)$", r"must be less than \1"),
    (r"^Input should be a valid integer.*$", "must be a whole number"),
    (r"^Input should be a finite number.*$", "must be a number"),
    (r"^Input should be a valid number.*$", "must be a number"),
    (r"^Input should be a valid boolean.*$", "must be on or off (true or false)"),
    (r"^Input should be a valid string.*$", "must be text"),
    (r"^Input should be a valid dictionary.*$", "must be a group of fields (a JSON object)"),
    (r"^String should have at least 1 character.*$", "must not be empty"),
    (r"^String should have at least (\d+) characters$", r"must have at least \1 characters"),
    (r"^String should have at most (\d+) characters$", r"must have at most \1 characters"),
    (r"^Extra inputs are not permitted$", "is not a field this accepts"),
    (r"^Field required$", "is required"),
    (r"^Value error, (.*)$", r"\1"),
    (r"^Input should be (.*)$", r"must be \1"),
]


def plain_message(message: str) -> str:
    """pydantic's "Input should be less than or equal to 2" as "must be at most 2"; formats in words."""
    for pattern, words in _PHRASES:
        match = re.match(pattern, message, re.DOTALL)
        if not match:
            continue
        if words is None:
            return PATTERN_WORDS.get(match.group(1), "is not in the expected format")
        text = match.expand(words)
        # "'openai' or 'a1111'" reads better without the quotes.
        return re.sub(r"'([^']*)'", r"\1", text)
    return message


def field_label(field: str) -> str:
    """A problem's field path as the label the editor sees ("Size", "Output output1 → database field")."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    parts = field.split(".")
    if field.startswith("script_config.parameters.") and len(parts) >= 3:
        return PARAMETER_LABELS.get(parts[2], parts[2].replace("_", " ").capitalize())
    if parts[0] in ("inputs", "outputs") and len(parts) >= 2:
        kind = "Input" if parts[0] == "inputs" else "Output"
        return f"{kind} {parts[1]}" + (f" → {SPEC_LABELS.get(parts[2], parts[2])}" if len(parts) > 2 else "")
    if field.startswith("llm_action["):
        return "The LLM action's " + field.split(".", 1)[-1].replace("_", " ")
    return field.replace("script_config.", "").replace("_", " ").capitalize()


def describe(problem: Problem) -> str:
    """One problem as a sentence: the field's label and plain words."""
    if problem.field in SETTING_PROBLEMS:
        label, where = SETTING_PROBLEMS[problem.field]
        if problem.message.startswith("is not configured"):
            return f"{label} is not set: enter it in {where}"
        return f"{label} {plain_message(problem.message)}: fix it in {where}"
    text = plain_message(problem.message)
    if not problem.field:
        return text[:1].upper() + text[1:]
    return f"{field_label(problem.field)} {text}"


def is_setting_problem(problem: Problem) -> bool:
    """A setting is missing or wrong (fixed in Settings), not the step's config."""
    return problem.field in SETTING_PROBLEMS


def describe_problems(step_name: str, problems: list[Problem]) -> str:
    """Why a step cannot run, naming where each problem is fixed."""
    settings = [describe(p) for p in problems if is_setting_problem(p)]
    # The LLM action's prompt is fixed in the LLM actions manager, not in the step's config.
    actions = [plain_message(p.message) for p in problems if p.field.startswith("llm_action[")]
    config = [describe(p) for p in problems if not is_setting_problem(p) and not p.field.startswith("llm_action[")]
    parts = []
    if config:
        parts.append("Its config needs fixing (Step → Edit step config…): " + "; ".join(config) + ".")
    if actions:
        parts.append("Its LLM action needs fixing (Step → LLM actions…): " + "; ".join(actions) + ".")
    if settings:
        parts.append("; ".join(settings) + ".")
    return f"The step “{step_name}” cannot run. " + " ".join(parts)
