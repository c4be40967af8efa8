"""Request and response bodies of the HTTP API, as pydantic models (FastAPI builds the OpenAPI document from them).

The execute-step request and response are the reference document's (script-registry-reference.md, "API
Integration"); wfdesk adds `wait` to the request and `run_id` to the response.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class ExecutionContext(BaseModel):
    """The reference's `context`: which sections, input overrides and model settings."""

    model_config = ConfigDict(extra="forbid")

    section_ids: list[StrictInt] | None = Field(
        None, description="Sections to run; leave out (or empty) to run the step on the post as a whole.",
        examples=[[711, 712, 713]])
    inputs: dict[str, Any] | None = Field(
        None, description="Input overrides, keyed by the step's input key or its db_field.",
        examples=[{"image_prompts": "Scottish highland landscape"}])
    llm_settings: dict[str, Any] | None = Field(
        None, description="Model settings for this run: model, temperature, max_tokens.",
        examples=[{"model": "dall-e-3", "temperature": 0.7}])
    parameters: dict[str, Any] | None = Field(
        None, description="wfdesk addition: the step's script parameters for this run (e.g. concurrency).")


class ExecuteStepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "step_id": 2, "post_id": 53, "context": {
            "section_ids": [711, 712, 713], "inputs": {"image_prompts": "Scottish highland landscape"},
            "llm_settings": {"model": "dall-e-3", "temperature": 0.7}}}]})

    step_id: StrictInt = Field(description="The workflow step to run.")
    post_id: StrictInt = Field(description="The post to run it on.")
    context: ExecutionContext = Field(default_factory=ExecutionContext)
    wait: bool = Field(True, description="wfdesk addition: false answers 202 with the run_id at once; poll "
                                         "GET /api/workflow/runs/{run_id} for the outcome.")


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wait: bool = True


class SectionResult(BaseModel):
    """One section's outcome. `image_url` is this API's URL of the stored image (image steps only)."""

    model_config = ConfigDict(extra="allow")  # `output` (a text step's answer), `error` (why it failed)

    section_id: int | None
    status: str = Field(description="success, error, cancelled or interrupted")
    image_url: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ExecuteStepResponse(BaseModel):
    success: bool
    results: list[SectionResult]
    step: str
    sections_processed: list[int]
    run_id: int | None = None
    error: str | None = Field(None, description="Why the run as a whole stopped, when it did.")


class Accepted(BaseModel):
    """`wait: false`: the run is going; its outcome is at `url`."""

    run_id: int
    status: str
    url: str


class FieldProblem(BaseModel):
    field: str = Field(description="Where in the request, e.g. context.section_ids")
    message: str


class ErrorBody(BaseModel):
    success: bool = False
    error: str = Field(description="What is wrong, in words")
    field: str | None = Field(None, description="The request field at fault, when one is")
    problems: list[FieldProblem] = Field(default_factory=list)


class CancelAnswer(BaseModel):
    run_id: int
    cancelling: bool
    status: str
