"""Typed step configs: the reference's JSON shape, one parameters model per script type, and the overlay rules."""

from __future__ import annotations

import copy
import re
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wfdesk.errors import ConfigError, Problem

FIELD_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
LEGACY_TYPE = "llm_action"


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200)
    db_field: str = Field(pattern=FIELD_NAME_RE)
    type: Literal["text", "textarea"] = "text"


class Parameters(BaseModel):
    """Base of every type's parameters. Unknown keys are kept (the reference's examples carry free-form ones)."""

    model_config = ConfigDict(extra="allow")

    provider: str | None = Field(None, description="Provider profile name from settings")
    concurrency: int | None = Field(None, ge=1, le=64, description="Sections in flight at once")


class LLMParameters(Parameters):
    model: str | None = Field(None, min_length=1, description="Overrides the LLM action's model")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=200_000)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = Field(
        None, description="Reasoning models only (o-series, gpt-5 and later): how long the model thinks before "
                          "answering; not every model takes every value")
    stream: bool = Field(True, description=(
        "Stream the answer: in the app it appears as it is written, and a cancel stops it at once. Left unset, "
        "runs in the app stream (plain for a server that refuses streaming); the CLI and `wfdesk serve` ask for "
        "plain answers"))
    timeout: float | None = Field(None, gt=0, le=3600, description="Seconds; default from the provider profile")


class ImageParameters(Parameters):
    model: str = Field("gpt-image-1-mini", min_length=1, description=(
        "Image model on the provider. OpenAI: gpt-image-1-mini, gpt-image-1.5, gpt-image-2, gpt-image-2.5-flare, "
        "gpt-image-2.5-sunburst, gpt-image-2.6-flare, gpt-image-2.6-sunburst (dall-e-2/3 and gpt-image-1 are "
        "retired there; other servers may still offer dall-e-3)"))
    size: str = Field("1024x1024", pattern=r"^(auto|\d{2,5}x\d{2,5})$", description=(
        "WIDTHxHEIGHT or auto. GPT image models: 1024x1024, 1536x1024, 1024x1536 or auto (gpt-image-2 and 2.5: "
        "any size with both sides divisible by 16, up to 3840x2160); dall-e-3: 1024x1024, 1792x1024, 1024x1792"),
        examples=["1024x1024", "1536x1024", "1024x1536", "auto"])
    quality: Literal["auto", "low", "medium", "high", "xhigh", "max", "standard", "hd"] | None = Field(
        None, description="GPT image models: low, medium, high or auto (gpt-image-2.5 also xhigh, max); "
                          "dall-e-3: standard or hd")
    background: Literal["auto", "opaque", "transparent"] | None = Field(
        None, description="GPT image models only; transparent needs the png or webp format")
    output_format: Literal["png", "webp", "jpeg"] | None = Field(None, description="GPT image models only")
    output_compression: int | None = Field(None, ge=0, le=100,
                                           description="0-100 %, webp and jpeg only (GPT image models)")
    n: int = Field(1, ge=1, le=10, description="dall-e-3 makes one image per request: n requests are sent")
    timeout: float = Field(180, gt=0, le=3600, description="Seconds to wait for the images; GPT image models "
                                                         "often take a minute or more at high quality")
    auto_accept: bool = False
    backend: Literal["openai", "a1111", "comfyui"] | None = Field(None, description="Default: the image backend "
                                                                                  "in Settings")
    steps: int = Field(20, ge=1, le=150, description="Sampling steps (AUTOMATIC1111, ComfyUI)")
    negative_prompt: str | None = Field(None, description="What to avoid (AUTOMATIC1111, ComfyUI)")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Default: a new random seed (ComfyUI)")
    checkpoint: str | None = Field(None, min_length=1, description="Default: the server's first checkpoint (ComfyUI)")
    workflow: dict[str, Any] | str | None = Field(None, description="API-format workflow: a JSON file's path or the "
                                                                    "graph itself; default: plain txt2img (ComfyUI)")
    comfyui_url: str | None = Field(None, pattern=r"^https?://", description="Default: the ComfyUI address in "
                                                                             "Settings")


class CustomScriptParameters(Parameters):
    timeout: float = Field(30, gt=0, le=3600)


class ScriptConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = LEGACY_TYPE
    action_id: int | None = None
    custom_endpoint: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class StepConfig(BaseModel):
    """The whole `workflow_step_entity.config` document."""

    model_config = ConfigDict(extra="allow")

    inputs: dict[str, FieldSpec] = Field(default_factory=dict)
    outputs: dict[str, FieldSpec] = Field(default_factory=dict)
    script_config: ScriptConfig = Field(default_factory=ScriptConfig)

    @field_validator("inputs", "outputs")
    @classmethod
    def _keys_are_names(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for key in value:
            if not re.match(FIELD_NAME_RE, key):
                raise ValueError(f"key {key!r} is not a valid name (letters, digits, underscore)")
        return value


def problems_from(exc: ValidationError, prefix: str = "") -> list[Problem]:
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "is required"
        out.append(Problem(f"{prefix}{path}" if path else prefix.rstrip("."), msg))
    return out


def parse_step_config(step_name: str, raw: Any) -> StepConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(step_name, [Problem("", "config must be a JSON object")])
    try:
        return StepConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(step_name, problems_from(exc)) from None


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_parameters(step_name: str, model: type[ModelT], raw: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigError(step_name, problems_from(exc, "script_config.parameters.")) from None


def check_endpoint(endpoint: str | None) -> list[Problem]:
    """A custom endpoint is a path under the configured base URL, never an address of its own."""
    field = "script_config.custom_endpoint"
    if not endpoint or not endpoint.strip():
        return [Problem(field, "is required for custom_script steps")]
    parts = urlsplit(endpoint)
    if parts.scheme or parts.netloc or endpoint.startswith("//"):
        return [Problem(field, f"must be a path such as /api/process, not an address ({endpoint!r})")]
    if not endpoint.startswith("/"):
        return [Problem(field, f"must start with '/' ({endpoint!r})")]
    if any(seg == ".." for seg in parts.path.split("/")) or "\\" in endpoint:
        return [Problem(field, f"must not contain '..' or backslashes ({endpoint!r})")]
    return []


def deep_merge(base: dict[str, Any], over: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of base with over laid on top; nested objects merge, everything else replaces."""
    out = copy.deepcopy(base or {})
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Keys of a run context that overlay script_config.parameters. `inputs` and `section_ids` are data, not config.
CONTEXT_PARAMETER_KEYS = ("parameters", "llm_settings")


def effective_config(step_config: dict[str, Any] | None, override: dict[str, Any] | None,
                     context: dict[str, Any] | None) -> dict[str, Any]:
    """Step config, overlaid by the post's override, overlaid by the run context's settings."""
    merged = deep_merge(step_config or {}, override or {})
    context = context or {}
    for key in CONTEXT_PARAMETER_KEYS:
        extra = context.get(key)
        if isinstance(extra, dict) and extra:
            sc = merged.setdefault("script_config", {})
            if isinstance(sc, dict):
                sc["parameters"] = deep_merge(sc.get("parameters") or {}, extra)
    return merged


def script_type_of(config: dict[str, Any] | None) -> str:
    """A step without script_config (or without a type) is a legacy llm_action step."""
    sc = (config or {}).get("script_config")
    if isinstance(sc, dict) and sc.get("type"):
        return str(sc["type"])
    return LEGACY_TYPE
