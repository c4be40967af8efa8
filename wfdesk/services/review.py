"""Read models for a step panel: what the editor reviews (sections, previews, versions) in a constant number of
queries, and the accept / reject / unreject / revert actions. Qt-free: the GUI calls these from BackgroundOps."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wfdesk.db import content
from wfdesk.db.models import ContentField, ContentVersion, ImageAsset, LLMAction, Post, PostSection, Run, RunUnit
from wfdesk.errors import ConfigError, NotFoundError
from wfdesk.runs.planning import step_effective_config
from wfdesk.scripts import registry
from wfdesk.scripts.base import SectionHandler
from wfdesk.scripts.config import ImageParameters, StepConfig, parse_step_config, script_type_of
from wfdesk.services.changes import Changes, FieldRef, announce
from wfdesk.services.shapes import (
    ActionInfo,
    Asset,
    LastUnit,
    LatestRun,
    Offline,
    PanelData,
    PanelPost,
    PanelSection,
    PanelStep,
    SectionReview,
    Version,
    VersionOutcome,
)
from wfdesk.services.validation import describe_problems, validate_step
from wfdesk.states import RESUMABLE_RUN_STATES, UnitState
from wfdesk.workspace import Workspace

PREVIEW_CHARS = 160
RECENT_RUNS = 20  # a section's last state comes from this many latest runs of the step on the post
VERSION_ACTIONS = ("accept", "reject", "unreject")
# The engine's wording when a provider cannot be reached (openai_compat, custom_scripts, a1111, resilience).
_UNREACHABLE = re.compile(r"cannot reach (\S+?)(?=:?\s|;|\(|$)")


def preview(text: str | None, limit: int = PREVIEW_CHARS) -> str:
    """One line of a field's value: whitespace collapsed, cut with an ellipsis (the view elides further)."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def panel_data(ws: Workspace, step_id: int, post_id: int) -> PanelData:
    """Everything a step panel shows before any run: the step (effective config for this post, parsed where
    valid), the post's sections with their field values and input preview, and each section's last run state."""
    with ws.db.session() as s:
        step, raw = step_effective_config(s, step_id, post_id, {})
        post = s.get(Post, post_id)
        if post is None:
            raise NotFoundError(f"Post {post_id} does not exist")
        config, config_error = _parse(step.name, raw)
        action = _action_of(s, config)
        sections = list(s.scalars(select(PostSection).where(PostSection.post_id == post_id)
                                  .order_by(PostSection.position, PostSection.id)))
        values: dict[int | None, dict[str, str | None]] = defaultdict(dict)
        for f in s.scalars(select(ContentField).where(ContentField.post_id == post_id)):
            values[f.section_id][f.name] = f.value
        last = _last_units(s, step_id, post_id)
        latest = _latest_run(s, step_id, post_id)
        info = PanelStep(
            id=step.id, name=step.name, stage=step.stage, script_type=script_type_of(raw),
            config=raw, config_error=config_error, action=action,
            description=describe_step(raw, config, action),
            inputs={k: spec.model_dump() for k, spec in config.inputs.items()} if config else {},
            outputs={k: spec.model_dump() for k, spec in config.outputs.items()} if config else {})
        post_info = PanelPost(id=post.id, title=post.title, status=post.status)
    if config_error is None:
        # Beyond the schema: the action exists, the endpoint is a path, settings it needs are there.
        problems = validate_step(ws, info["name"], raw)
        if problems:
            info["config_error"] = describe_problems(info["name"], problems)
    inputs, outputs = list(info["inputs"].values()), list(info["outputs"].values())
    first_input = inputs[0]["db_field"] if inputs else None
    rows = []
    for sec in sections:
        fields = values.get(sec.id, {})
        rows.append(PanelSection(id=sec.id, title=sec.title or f"Section {sec.position}", position=sec.position,
                                 preview=preview(fields.get(first_input)) if first_input else "",
                                 inputs={i["db_field"]: fields.get(i["db_field"]) for i in inputs},
                                 outputs={o["db_field"]: fields.get(o["db_field"]) for o in outputs},
                                 last=last.get(sec.id)))
    return PanelData(step=info, post=post_info, sections=rows, post_last=last.get(None), latest_run=latest)


def latest_run(ws: Workspace, step_id: int, post_id: int) -> LatestRun | None:
    """The newest run of a step on a post, summed up for the panel's resume / offline notice (one query)."""
    with ws.db.session() as s:
        return _latest_run(s, step_id, post_id)


def unreachable_address(error: str | None) -> str | None:
    """The address in an engine error saying a provider cannot be reached ("" when offline but unnamed)."""
    if not error:
        return None
    match = _UNREACHABLE.search(error)
    if match:
        return match.group(1)
    return "" if "looks offline" in error else None


def _latest_run(s: Session, step_id: int, post_id: int) -> LatestRun | None:
    newest = (select(Run.id).where(Run.step_id == step_id, Run.post_id == post_id)
              .order_by(Run.id.desc()).limit(1).scalar_subquery())
    rows = list(s.execute(select(Run.id, Run.status, Run.script_type, Run.error,
                                 RunUnit.section_id, RunUnit.status, RunUnit.error)
                          .outerjoin(RunUnit, RunUnit.run_id == Run.id).where(Run.id == newest)
                          .order_by(RunUnit.position, RunUnit.id)))
    if not rows:
        return None
    run_id, status, script_type, run_error = rows[0][:4]
    units = [(sid, unit_status, error) for *_, sid, unit_status, error in rows if unit_status is not None]
    counts: dict[str, int] = defaultdict(int)
    for _, unit_status, _ in units:
        counts[unit_status] += 1
    unfinished = [(sid, unit_status, error) for sid, unit_status, error in units if unit_status != UnitState.SUCCESS]
    errors = [error for _, unit_status, error in unfinished if unit_status == UnitState.ERROR and error]
    addresses = [a for a in map(unreachable_address, errors) if a is not None]
    offline: Offline | None = None
    if addresses:
        named = [a for a in addresses if a]
        offline = Offline(address=named[0] if named else "", sections=len(addresses))
    return LatestRun(run_id=run_id, status=status, total=len(units), done=counts[UnitState.SUCCESS],
                     failed=counts[UnitState.ERROR], cancelled=counts[UnitState.CANCELLED],
                     unfinished=len(unfinished),
                     unfinished_section_ids=[sid for sid, _, _ in unfinished if sid is not None],
                     first_error=errors[0] if errors else run_error, offline=offline,
                     resumable=status in RESUMABLE_RUN_STATES and bool(unfinished)
                     and _resumes_per_section(script_type))


def _resumes_per_section(script_type: str) -> bool:
    """Only section handlers resume (a plain handler's run is one call); a type no longer installed cannot."""
    try:
        return isinstance(registry.get_handler(script_type), SectionHandler)
    except ValueError:
        return False


def _parse(step_name: str, raw: dict[str, Any]) -> tuple[StepConfig | None, str | None]:
    try:
        return parse_step_config(step_name, raw), None
    except ConfigError as exc:
        return None, describe_problems(step_name, exc.problems)


def _action_of(s: Session, config: StepConfig | None) -> ActionInfo | None:
    if config is None or config.script_config.action_id is None:
        return None
    action = s.get(LLMAction, config.script_config.action_id)
    if action is None:
        return None
    return ActionInfo(id=action.id, name=action.name, model=action.model, temperature=action.temperature)


def _last_units(s: Session, step_id: int, post_id: int, only: int | bool | None = False
                ) -> dict[int | None, LastUnit]:
    """The newest unit per section among the recent runs of this step on this post (one query).
    `only` restricts it to one section id (None: the post-level unit); False means every section."""
    recent = (select(Run.id).where(Run.step_id == step_id, Run.post_id == post_id)
              .order_by(Run.id.desc()).limit(RECENT_RUNS).scalar_subquery())
    stmt = (select(RunUnit.section_id, RunUnit.run_id, RunUnit.status, RunUnit.error, RunUnit.result)
            .where(RunUnit.run_id.in_(recent)).order_by(RunUnit.id.desc()))
    if only is None:
        stmt = stmt.where(RunUnit.section_id.is_(None))
    elif only is not False:
        stmt = stmt.where(RunUnit.section_id == only)
    rows = s.execute(stmt)
    out: dict[int | None, LastUnit] = {}
    for section_id, run_id, status, error, result in rows:
        if section_id not in out:
            out[section_id] = LastUnit(run_id=run_id, status=status, error=error, result=result or {})
    # A unit's text is stored once, in its version: bring it back with one query for all sections (always one, so
    # the number of queries never depends on the content).
    ids = {u["result"]["output_version_id"] for u in out.values() if "output_version_id" in u["result"]}
    found = s.execute(select(ContentVersion.id, ContentVersion.value).where(ContentVersion.id.in_(ids)))
    values = dict(found.all())
    for unit in out.values():
        if (vid := unit["result"].get("output_version_id")) is not None and "output" not in unit["result"]:
            unit["result"] = {**unit["result"], "output": values.get(vid)}
    return out


def describe_step(raw: dict[str, Any], config: StepConfig | None, action: ActionInfo | None) -> str:
    """One line an editor understands: what the step does with which fields."""
    if isinstance(description := raw.get("description"), str) and description.strip():
        return description.strip()
    if config is None:
        return "This step's config is invalid; edit the step to fix it."
    ins = ", ".join(spec.label for spec in config.inputs.values()) or "the post"  # labels: the editor's words
    outs = ", ".join(spec.label for spec in config.outputs.values()) or "its result (no field)"
    kind = script_type_of(raw)
    params = config.script_config.parameters or {}
    if kind == "llm_action":
        action_id = config.script_config.action_id
        if action_id is None:
            return f"Runs an LLM action on each selected section ({ins} → {outs}); no action is chosen yet: " \
                   f"edit the step."
        name = f"“{action['name']}” ({action['model']})" if action else f"#{action_id} (which does not exist)"
        return f"Runs the LLM action {name} on each selected section: {ins} → {outs}."
    if kind == "image_generation":
        model = params.get("model") or ImageParameters.model_fields["model"].default
        return f"Generates an image per selected section from {ins} with {model}; the accepted image goes to {outs}."
    if kind == "custom_script":
        return f"Sends {ins} of each selected section to {config.script_config.custom_endpoint}; the answer goes " \
               f"to {outs}."
    try:
        what = registry.type_info(kind).description.strip().rstrip(".")  # a plugin says what it does
    except ValueError:
        what = ""
    if what and not config.inputs:
        return f"{what}. The result goes to {outs}."
    if what:
        return f"{what}: {ins} → {outs}."
    return f"Runs the “{kind}” script on the selected sections: {ins} → {outs}."


def field_versions(ws: Workspace, post_id: int, field: str, section_ids: list[int] | None = None
                   ) -> dict[int | None, list[Version]]:
    """Every version of one field per section, newest first, with its image asset (two queries)."""
    with ws.db.session() as s:
        stmt = (select(ContentVersion, ImageAsset)
                .outerjoin(ImageAsset, ContentVersion.asset_id == ImageAsset.id)
                .where(ContentVersion.post_id == post_id, ContentVersion.field == field)
                .order_by(ContentVersion.id.desc()))
        current_stmt = select(ContentField.section_id, ContentField.accepted_version_id).where(
            ContentField.post_id == post_id, ContentField.name == field)
        if section_ids is not None:
            stmt = stmt.where(ContentVersion.section_id.in_(section_ids))
            current_stmt = current_stmt.where(ContentField.section_id.in_(section_ids))
        # Versions first, then which is current: a run that saves a version between the two reads then leaves
        # none of the listed ones marked current, never an older one next to the newer current one.
        rows = s.execute(stmt).all()
        current = {sid: vid for sid, vid in s.execute(current_stmt)}
        out: dict[int | None, list[Version]] = defaultdict(list)
        for v, asset in rows:
            out[v.section_id].append(_version_dict(v, asset, current.get(v.section_id)))
    return dict(out)


def _version_dict(v: ContentVersion, asset: ImageAsset | None, current_id: int | None) -> Version:
    out = Version(id=v.id, section_id=v.section_id, field=v.field, kind=v.kind, value=v.value, status=v.status,
                  source=v.source, run_id=v.run_id, meta=dict(v.meta or {}),
                  created_at=v.created_at.isoformat() if v.created_at else None, current=v.id == current_id,
                  starred=bool(v.starred))
    if asset is not None:
        out["asset"] = Asset(path=asset.path, sha256=asset.sha256, width=asset.width, height=asset.height)
    return out


def version_action(ws: Workspace, version_id: int, action: str) -> VersionOutcome:
    """accept (also revert to an earlier text), reject, or unreject (undo of a reject); one transaction.
    Returns the version's new status and the field's value afterwards."""
    if action not in VERSION_ACTIONS:
        raise ValueError(f"Unknown version action {action!r}")
    with ws.db.session() as s:
        fn = {"accept": content.accept_version, "reject": content.reject_version,
              "unreject": content.unreject_version}[action]
        v = fn(s, version_id)
        s.flush()
        field = content.get_field(s, v.post_id, v.section_id, v.field)
        result = _outcome(v, field)
    announce(ws, Changes.of(fields=[FieldRef(v.post_id, v.section_id, v.field)]))
    return result


def _outcome(v: ContentVersion, field: ContentField | None) -> VersionOutcome:
    return VersionOutcome(version_id=v.id, section_id=v.section_id, field=v.field, status=v.status,
                          field_value=field.value if field else None)


def section_review(ws: Workspace, step_id: int, post_id: int, section_id: int | None, fields: list[str],
                   versions_field: str | None) -> SectionReview:
    """One section's current field values, the versions of its output field (newest first) and its last unit
    of this step -- what a panel's detail view shows (four queries)."""
    versions = field_versions(ws, post_id, versions_field, None if section_id is None else [section_id]) \
        if versions_field else {}
    with ws.db.session() as s:
        stmt = select(ContentField.name, ContentField.value).where(
            ContentField.post_id == post_id, ContentField.name.in_(fields),
            ContentField.section_id.is_(None) if section_id is None else ContentField.section_id == section_id)
        values = {name: value for name, value in s.execute(stmt)}
        last = _last_units(s, step_id, post_id, section_id).get(section_id)
    return SectionReview(section_id=section_id, values={f: values.get(f) for f in fields},
                         versions=versions.get(section_id, []), last=last)


def undo_reject(ws: Workspace, version_id: int, reaccept: bool) -> VersionOutcome:
    """Undo of a reject in one transaction: a candidate again, and the field's value again when it was."""
    with ws.db.session() as s:
        v = content.unreject_version(s, version_id)
        if reaccept:
            content.accept_version(s, version_id)
        s.flush()
        field = content.get_field(s, v.post_id, v.section_id, v.field)
        result = _outcome(v, field)
    announce(ws, Changes.of(fields=[FieldRef(v.post_id, v.section_id, v.field)]))
    return result


def set_starred(ws: Workspace, version_id: int, starred: bool) -> bool:
    """Star or unstar a version (the editor's mark among candidates); returns the stored mark. Status and the
    field's value are untouched, so accept / reject work as before."""
    with ws.db.session() as s:
        v = s.get(ContentVersion, version_id)
        if v is None:
            raise NotFoundError(f"Version {version_id} does not exist")
        v.starred = bool(starred)
        stored, ref = v.starred, FieldRef(v.post_id, v.section_id, v.field)
    announce(ws, Changes.of(fields=[ref]))  # a colleague's gallery shows the star too
    return stored
