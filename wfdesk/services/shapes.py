"""The shapes of what the service layer's reads return: posts, sections, steps, step states, a step panel's data,
versions, a deleted section's snapshot, a workflow import's counts.

TypedDicts, not dataclasses: these values also go straight to JSON in the CLI and the HTTP API, and the window
indexes them with ["key"] in about a hundred places. A TypedDict is still a plain dict at run time (json.dumps and
every caller keep working unchanged) while mypy checks each key and the type of its value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict

# --- posts and steps (wfdesk.services.queries) -----------------------------------------------------------------


class PostRow(TypedDict):
    """A post in the post list."""
    id: int
    title: str
    status: str
    updated_at: datetime
    sections: int  # how many sections the post has


class SectionDetail(TypedDict):
    id: int
    position: int
    title: str
    lock_version: int
    fields: dict[str, str | None]  # field name -> text
    locks: dict[str, int]  # field name -> the field's lock_version


class PostDetail(TypedDict):
    """A post with its post-level fields and its ordered sections."""
    id: int
    title: str
    status: str
    lock_version: int
    fields: dict[str, str | None]
    locks: dict[str, int]
    sections: list[SectionDetail]
    field_names: list[str]  # the names the sections use, in first-seen order


class ShownPost(PostDetail):
    """A post as the sections table shows it: its fields in workflow order, headed by the labels the steps give
    them; for a post without fields yet, the fields the workflow reads (offered for typing drafts at once)."""
    labels: dict[str, str]
    suggested_fields: NotRequired[list[str]]


class StepRow(TypedDict):
    """A workflow step, in workflow order."""
    id: int
    name: str
    stage: str
    position: int
    config: dict[str, Any]
    script_type: str


class StepStateInfo(TypedDict):
    """A step's state for one post."""
    state: str  # a queries.STATE_LABELS key
    label: str  # text for a person
    run_id: int | None
    done: int
    total: int
    pending: int  # image candidates awaiting review
    error: str | None


class FieldValue(TypedDict):
    """One field's text and lock_version; None for both when the field does not exist yet."""
    value: str | None
    lock_version: int | None


# --- a step panel (wfdesk.services.review) --------------------------------------------------------------------


class ActionInfo(TypedDict):
    """The LLM action a step uses."""
    id: int
    name: str
    model: str
    temperature: float


class PanelStep(TypedDict):
    id: int
    name: str
    stage: str
    script_type: str
    config: dict[str, Any]  # effective for the post
    config_error: str | None
    action: ActionInfo | None
    description: str
    inputs: dict[str, dict[str, Any]]  # input key -> its spec (model_dump); {} when the config is invalid
    outputs: dict[str, dict[str, Any]]


class PanelPost(TypedDict):
    id: int
    title: str
    status: str


class LastUnit(TypedDict):
    """A section's newest unit among the recent runs of a step on a post."""
    run_id: int
    status: str
    error: str | None
    result: dict[str, Any]  # with "output" brought back from the unit's version


class PanelSection(TypedDict):
    id: int
    title: str
    position: int
    preview: str  # one line of the first input
    inputs: dict[str, str | None]  # db_field -> text
    outputs: dict[str, str | None]
    last: LastUnit | None


class Offline(TypedDict):
    address: str  # "" when the error names none
    sections: int


class LatestRun(TypedDict):
    """The newest run of a step on a post, summed up."""
    run_id: int
    status: str
    total: int
    done: int
    failed: int
    cancelled: int
    unfinished: int
    unfinished_section_ids: list[int]
    first_error: str | None
    offline: Offline | None
    resumable: bool


class PanelData(TypedDict):
    step: PanelStep
    post: PanelPost
    sections: list[PanelSection]
    post_last: LastUnit | None
    latest_run: LatestRun | None


class Asset(TypedDict):
    path: str
    sha256: str
    width: int
    height: int


class Version(TypedDict):
    """A version of a field, as the review panels and the gallery show it."""
    id: int
    section_id: int | None
    field: str
    kind: str  # text | image
    value: str | None
    status: str
    source: str
    run_id: int | None
    meta: dict[str, Any]
    created_at: str | None  # ISO 8601
    current: bool  # it is the field's value
    starred: bool
    asset: NotRequired[Asset]  # image versions only


class VersionOutcome(TypedDict):
    """After accept / reject / unreject: the version's new status and its field's value."""
    version_id: int
    section_id: int | None
    field: str
    status: str
    field_value: str | None


class SectionReview(TypedDict):
    section_id: int | None
    values: dict[str, str | None]
    versions: list[Version]  # newest first
    last: LastUnit | None


# --- the editor's writes (wfdesk.services.editing) ------------------------------------------------------------


class SavedField(TypedDict):
    version_id: int
    previous_version_id: int | None  # what an undo re-accepts
    lock_version: int


class SnapshotField(TypedDict):
    name: str
    value: str | None
    stored_value: str | None  # None when the text lives in the accepted version
    accepted_version_id: int | None


class SnapshotVersion(TypedDict):
    """A version row as stored (editing._VERSION_COLUMNS)."""
    id: int
    field: str
    kind: str
    value: str | None
    asset_id: int | None
    status: str
    source: str
    run_id: int | None
    unit_id: int | None
    meta: dict[str, Any]
    created_at: datetime
    starred: bool


class SectionSnapshot(TypedDict):
    """A deleted section with its fields and every version of them: what restore_section brings back."""
    id: int
    post_id: int
    position: int
    title: str
    fields: list[SnapshotField]
    versions: list[SnapshotVersion]


# --- imports (wfdesk.services.workflows) ----------------------------------------------------------------------


class WorkflowImported(TypedDict):
    llm_actions: int
    workflow_steps: int
    step_ids: list[int]
    action_ids: dict[int, int]  # id in the document -> new id


# --- the run history (wfdesk.services.run_history) ------------------------------------------------------------


class RunSummary(TypedDict):
    """`wfdesk runs list --json`'s entry."""
    id: int
    status: str
    step_id: int | None
    step: str
    post_id: int | None
    script_type: str
    created_at: str | None
    finished_at: str | None
    counts: dict[str, int]  # "total" and unit status -> number of sections
    started_by: str
    mine: bool
