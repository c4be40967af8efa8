"""What the config editor offers while editing: field name suggestions, sections to preview with, the variables a
prompt template may use, and the prompt a run would send. Qt-free; importable from wfdesk.services.config_store."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from wfdesk.db.models import ContentField, Post, PostSection, WorkflowStepEntity
from wfdesk.errors import NotFoundError
from wfdesk.scripts.config import parse_step_config
from wfdesk.scripts.templates import render
from wfdesk.services.action_store import list_actions, steps_using_action
from wfdesk.services.config_records import EditorData, SectionChoice, TemplateVariable
from wfdesk.workspace import Workspace


def field_suggestions(ws: Workspace) -> list[str]:
    """Field names sections already have, plus the db_fields steps read or write (outputs exist only after a run)."""
    with ws.db.session() as s:
        names = set(s.scalars(select(ContentField.name).where(ContentField.section_id.is_not(None)).distinct()))
        for config in s.scalars(select(WorkflowStepEntity.config)):
            for group in ("inputs", "outputs"):
                for spec in ((config or {}).get(group) or {}).values():
                    if isinstance(spec, dict) and isinstance(spec.get("db_field"), str):
                        names.add(spec["db_field"])
    return sorted(names, key=str.lower)


def editor_data(ws: Workspace) -> EditorData:
    return EditorData(list_actions(ws), field_suggestions(ws), ws.settings.custom_script_base_url)


def section_choices(ws: Workspace, post_id: int | None = None, limit: int = 500) -> list[SectionChoice]:
    with ws.db.session() as s:
        stmt = (select(PostSection.id, PostSection.post_id, Post.title, PostSection.title)
                .join(Post, Post.id == PostSection.post_id)
                .order_by(PostSection.post_id.desc(), PostSection.position, PostSection.id).limit(limit))
        if post_id is not None:
            stmt = stmt.where(PostSection.post_id == post_id)
        return [SectionChoice(*row) for row in s.execute(stmt)]


def template_variable_list(ws: Workspace, action_id: int | None, post_id: int | None = None
                           ) -> list[TemplateVariable]:
    """The names a prompt template may use: the inputs of the steps using the action, section and post fields."""
    out: dict[str, str] = {}
    for step in steps_using_action(ws, action_id):
        for key, spec in (step.config.get("inputs") or {}).items():
            label = spec.get("label", key) if isinstance(spec, dict) else key
            out.setdefault(key, f"input “{label}” of step {step.name}")
            if isinstance(spec, dict) and spec.get("db_field"):
                out.setdefault(spec["db_field"], f"the field read by input {key} of step {step.name}")
    out.update({"section.title": "the section's title", "section.id": "the section's id",
                "section.position": "the section's position in the post"})
    with ws.db.session() as s:
        stmt = select(ContentField.name, ContentField.section_id.is_(None)).distinct()
        if post_id is not None:
            stmt = stmt.where(ContentField.post_id == post_id)
        for name, is_post_field in s.execute(stmt):
            if is_post_field:
                out.setdefault(f"post.{name}", "a field of the post")
            else:
                out.setdefault(name, "a field of the section")
    out.update({"post.title": "the post's title", "post.id": "the post's id", "post.status": "the post's status"})
    return [TemplateVariable(k, v) for k, v in out.items()]


def preview_prompt(ws: Workspace, action_template: str, section_id: int, step_id: int | None = None) -> str:
    """The prompt the engine would send for this section, rendered exactly as a run does. Nothing is sent.

    With step_id, the step's inputs (with the post's override) provide input1 etc.; without, the post and section
    fields exist and input1 etc. show as placeholders. Raises PromptTemplateError for an unknown variable or a syntax
    error.
    """
    from wfdesk.runs.planning import snapshot, step_effective_config
    from wfdesk.scripts.base import Job
    from wfdesk.scripts.config import Parameters
    from wfdesk.scripts.llm_actions import template_variables

    with ws.db.session() as s:
        section = s.get(PostSection, section_id)
        if section is None:
            raise NotFoundError(f"Section {section_id} does not exist")
        post_id = section.post_id
        raw: dict[str, Any] = {}
        name = ""
        if step_id is not None:
            step, raw = step_effective_config(s, step_id, post_id, {})
            name = step.name
        post, sections = snapshot(s, post_id, [section_id])
    config = parse_step_config(name, raw)
    job = Job(workspace=ws, step_id=step_id, step_name=name, post=post, sections=sections, config=config,
              parameters=Parameters(), raw_config=raw, context={})
    variables = template_variables(job, section_id)
    if step_id is None:
        # No step uses the action yet: show where each step input will go (saving accepts them too).
        from wfdesk.scripts.templates import variables_used

        for used in variables_used(action_template):
            if re.fullmatch(r"input\d+", used) and used not in variables:
                variables[used] = f"[{used}: filled in by the step that uses this action]"
    return render(action_template, variables)
