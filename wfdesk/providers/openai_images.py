"""Image requests to OpenAI-compatible servers, shaped per model family, and the limits OpenAI's API documents.

GPT image models (gpt-image-1.5, -1-mini, -2, -2.5, -2.6, chatgpt-image-latest) always answer base64 and refuse
`response_format`; they take quality low/medium/high/auto, background, output_format and output_compression.
dall-e-3 (retired by OpenAI on 2026-05-12, still served under that name by LocalAI and others) makes one image
per request, so n candidates are n requests.
"""

from __future__ import annotations

from typing import Any

from wfdesk.errors import Problem
from wfdesk.providers.models import ImageModelSpec, image_model_spec, size_problem

FIELD = "script_config.parameters."
CURRENT_MODELS = "gpt-image-1-mini, gpt-image-1.5 or gpt-image-2"


def image_requests(params: Any, prompt: str) -> list[dict[str, Any]]:
    """One request per call the step needs (a model that makes one image per request gets n of them)."""
    spec = image_model_spec(params.model)
    per_request = min(params.n, spec.max_n)
    request: dict[str, Any] = {"model": params.model, "prompt": prompt, "n": per_request, "size": params.size}
    if spec.takes_response_format:
        request["response_format"] = "b64_json"  # URLs expire; a server that refuses it is adapted to
    if params.quality:
        request["quality"] = params.quality
    for key in ("background", "output_format", "output_compression"):
        value = getattr(params, key, None)
        if value is not None:
            request[key] = value
    counts = [per_request] * (params.n // per_request)
    if params.n % per_request:
        counts.append(params.n % per_request)
    return [{**request, "n": count} for count in counts]


def option_problems(params: Any) -> list[Problem]:
    """Combinations no server can honour, whoever serves the model."""
    spec = image_model_spec(params.model)
    problems = []
    fmt = params.output_format
    if params.background == "transparent" and fmt == "jpeg":
        problems.append(Problem(FIELD + "background", "a transparent background needs the png or webp format"))
    if params.output_compression is not None and fmt not in ("webp", "jpeg"):
        problems.append(Problem(FIELD + "output_compression", "applies only to the webp and jpeg formats"))
    if spec.family in ("dall-e-2", "dall-e-3"):
        for key in ("background", "output_format", "output_compression"):
            if getattr(params, key) is not None:
                problems.append(Problem(FIELD + key, f"is only for GPT image models, not {params.model}"))
    return problems


def openai_api_problems(params: Any) -> list[Problem]:
    """What OpenAI's own API would refuse for this model, told before anything is sent."""
    spec: ImageModelSpec = image_model_spec(params.model)
    if spec.retired:
        return [Problem(FIELD + "model", f"{params.model} was retired by OpenAI on {spec.retired}; choose a "
                                         f"current model such as {CURRENT_MODELS}")]
    problems = []
    if (why := size_problem(spec, params.size)) is not None:
        problems.append(Problem(FIELD + "size", f"{params.size}: {why}"))
    if params.quality and spec.qualities is not None and params.quality not in spec.qualities:
        problems.append(Problem(FIELD + "quality", f"{params.quality} is not offered by {params.model}; choose "
                                                   f"one of {', '.join(spec.qualities)}"))
    return problems
