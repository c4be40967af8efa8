"""What a section-at-a-time handler sees and returns. Plain data only: no ORM objects cross threads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

__all__ = ["CancelToken", "Cancelled", "CancelledError", "Job", "OutputWrite", "PostData", "ScriptTypePlugin",
           "SectionData", "SectionHandler", "UnitOutcome", "UnitPlan"]

# re-exported: handlers and plugins import them from here (Cancelled is CancelledError's old name)
from wfdesk.cancel import Cancelled, CancelledError, CancelToken
from wfdesk.errors import Problem
from wfdesk.scripts.config import Parameters, StepConfig

if TYPE_CHECKING:
    from wfdesk.media.store import StoredImage
    from wfdesk.usage import Usage
    from wfdesk.workspace import Workspace

# A script type's parameters model: its handler sees jobs whose parameters are of that model.
ParamsT = TypeVar("ParamsT", bound=Parameters)


@dataclass(frozen=True)
class SectionData:
    id: int
    position: int
    title: str
    fields: dict[str, str | None]

    def as_template_var(self) -> dict[str, Any]:
        return {**self.fields, "id": self.id, "position": self.position, "title": self.title,
                "fields": dict(self.fields)}


@dataclass(frozen=True)
class PostData:
    id: int
    title: str
    status: str
    fields: dict[str, str | None]

    def as_template_var(self) -> dict[str, Any]:
        return {**self.fields, "id": self.id, "title": self.title, "status": self.status,
                "fields": dict(self.fields)}


@dataclass
class Job(Generic[ParamsT]):
    """One run of one step on one post, as planned: validated config and a snapshot of the content."""

    workspace: Workspace
    step_id: int | None
    step_name: str
    post: PostData
    sections: list[SectionData]  # the selected sections, in order; empty = the post as a whole
    config: StepConfig
    parameters: ParamsT
    raw_config: dict[str, Any]
    context: dict[str, Any]
    run_id: int | None = None
    state: dict[str, Any] = field(default_factory=dict)  # what a handler's check() prepared for execute()
    # Set by the engine: a streaming handler hands on a section's answer as it comes (section id, more text,
    # whether the text starts over); None when nobody watches.
    live_text: Callable[[int | None, str, bool], None] | None = None

    def input_values(self, section: SectionData | None) -> dict[str, Any]:
        """Input key -> value and db_field -> value for a section (or the post), with context.inputs on top."""
        source = section.fields if section is not None else self.post.fields
        values: dict[str, Any] = {}
        for key, spec in self.config.inputs.items():
            values[key] = values[spec.db_field] = source.get(spec.db_field) or ""
        overrides = self.context.get("inputs") or {}
        for key, value in overrides.items():
            values[key] = value
            if key in self.config.inputs:
                values[self.config.inputs[key].db_field] = value
            for in_key, spec in self.config.inputs.items():
                if spec.db_field == key:
                    values[in_key] = value
        return values

    def sections_or_post(self) -> list[SectionData | None]:
        """The selected sections, or [None] for the post as a whole when none is selected."""
        return [*self.sections] or [None]

    def output_fields(self) -> list[str]:
        return [spec.db_field for spec in self.config.outputs.values()]


@dataclass
class UnitPlan:
    section_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class OutputWrite:
    field: str
    text: str | None = None
    image: StoredImage | None = None
    accept: bool = True


@dataclass
class UnitOutcome:
    outputs: list[OutputWrite] = field(default_factory=list)
    entry: dict[str, Any] = field(default_factory=dict)  # extra keys of the result entry (output, image_url)
    metadata: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0


class SectionHandler(Generic[ParamsT]):
    """A handler that plans one unit per section, so the engine can run them concurrently, report progress,
    cancel and resume per section. Instances are also plain `handler(step_config, post_id, context)` callables."""

    script_type: ClassVar[str]
    description: ClassVar[str] = ""
    parameters_model: ClassVar[type[Parameters]] = Parameters
    default_concurrency: ClassVar[int] = 8

    def check_config(self, ws: Workspace, config: StepConfig, params: ParamsT) -> list[Problem]:
        """Problems of the config alone, beyond its schema (referenced rows exist, endpoints are paths)."""
        return []

    def check(self, job: Job[ParamsT]) -> list[Problem]:
        """Problems of this config with this post's content (prompts render). Nothing is sent before this."""
        return []

    def plan(self, job: Job[ParamsT]) -> list[UnitPlan]:
        if job.sections:
            return [UnitPlan(section_id=s.id) for s in job.sections]
        return [UnitPlan(section_id=None)]

    def execute(self, job: Job[ParamsT], unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        raise NotImplementedError

    def estimate(self, job: Job[ParamsT], plans: list[UnitPlan]) -> list[Usage]:
        """Expected usage of the planned units, for budgets checked before anything is sent."""
        return []

    def reusable_request(self, job: Job[ParamsT], unit: UnitPlan) -> dict[str, Any] | None:
        """For the result cache (wfdesk/runs/result_cache.py): everything that decides this unit's answer — the
        provider's address (never its key), the model, the parameters that change the answer, the rendered prompt
        under "request" — or None when answers must never be reused (the default). A handler that returns a
        description answers with text in `entry["output"]`, written to each output field."""
        return None

    def as_plugin(self, panel: str | None = None) -> ScriptTypePlugin:
        return ScriptTypePlugin(self.script_type, self, self.parameters_model, panel, self.description)

    def section(self, job: Job[ParamsT], section_id: int | None) -> SectionData | None:
        if section_id is None:
            return None
        return next(s for s in job.sections if s.id == section_id)

    def __call__(self, step_config: dict[str, Any], post_id: int, context: dict[str, Any]) -> dict[str, Any]:
        from wfdesk.scripts.step_runner import step_runner
        from wfdesk.workspace import current

        return step_runner().run_config(current(), step_config, post_id, context or {},
                                        (context or {}).get("step_name", ""))


@dataclass(frozen=True)
class ScriptTypePlugin:
    """What a package declares under the `wfdesk.script_types` entry-point group (built-ins do the same).

    handler: `handler(step_config, post_id, context) -> dict`, or a SectionHandler for per-section progress.
    parameters_model: a pydantic model of `script_config.parameters`; it validates configs and generates the form.
    panel: optional "module:Class" of a Qt panel widget (a subclass of wfdesk.ui.panels.base.StepPanel).
    """

    name: str
    handler: Any
    parameters_model: type[Parameters] | None = None
    panel: str | None = None
    description: str = ""
