"""The checks a JSON import passes before anything is written: the document's shape (pydantic models, no unknown
key), its depth, text a database can store, field names, duplicate ids and secrets. Importable from
wfdesk.services.transfer too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wfdesk.errors import Problem, WfdeskError
from wfdesk.scripts.config import FIELD_NAME_RE
from wfdesk.scripts.secret_scan import find_secrets

MAX_DEPTH = 64  # a real bundle nests about 6 levels; Python's own recursion gives out near 1,000
TOO_DEEP = (f"the file is nested too deeply (more than {MAX_DEPTH} levels of objects and lists): it is not a wfdesk "
            "export")

ID = Field(ge=1, le=2**31 - 1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionIn(_Strict):
    id: int = ID
    name: str = Field(min_length=1, max_length=200)
    prompt_template: str
    model: str = Field("gpt-4o-mini", min_length=1, max_length=200)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=200_000)


class StepIn(_Strict):
    id: int = ID
    name: str = Field(min_length=1, max_length=200)
    stage: str = Field("", max_length=200)
    position: int = 0
    config: dict[str, Any] = Field(default_factory=dict)


class SectionIn(_Strict):
    id: int = ID
    position: int = 0
    title: str = Field("", max_length=500)
    fields: dict[str, str | None] = Field(default_factory=dict)


class PostIn(_Strict):
    id: int = ID
    title: str = Field(min_length=1, max_length=500)
    status: str = Field("draft", max_length=40)
    fields: dict[str, str | None] = Field(default_factory=dict)
    sections: list[SectionIn] = Field(default_factory=list)


class OverrideIn(_Strict):
    post_id: int = ID
    step_id: int = ID
    config: dict[str, Any] = Field(default_factory=dict)


class Bundle(_Strict):
    llm_actions: list[ActionIn] = Field(default_factory=list)
    workflow_steps: list[StepIn] = Field(default_factory=list)
    posts: list[PostIn] = Field(default_factory=list)
    post_step_overrides: list[OverrideIn] = Field(default_factory=list)


class ImportRefusedError(WfdeskError, ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("Import refused, nothing was changed: " + "; ".join(str(p) for p in problems[:20]))


def read_json(text_: str | bytes) -> Any:
    """The JSON document in a file's text; not JSON, or nested too deeply, is an ImportRefusedError in words."""
    try:
        data = json.loads(text_)
    except RecursionError:
        raise ImportRefusedError([Problem("", TOO_DEEP)]) from None
    except json.JSONDecodeError as exc:
        raise ImportRefusedError([Problem("", f"not a JSON file (line {exc.lineno}, column {exc.colno}: "
                                        f"{exc.msg})")]) from None
    check_depth(data)
    return data


def check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than `limit` (walked without recursion, so any depth is safe to check), and text
    holding a NUL character, which PostgreSQL cannot store (refused here rather than half-way through writing)."""
    stack = [("", data, 1)]
    while stack:
        path, node, depth = stack.pop()
        if depth > limit:
            raise ImportRefusedError([Problem("", TOO_DEEP)])
        if isinstance(node, dict):
            items: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, value in items:
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, (dict, list)):
                stack.append((where, value, depth + 1))
            elif (isinstance(value, str) and "\x00" in value) or (isinstance(key, str) and "\x00" in key):
                raise ImportRefusedError([Problem(where, "contains a NUL character (\\0), which text cannot hold")])
            if _not_text(value) or _not_text(key):
                raise ImportRefusedError([Problem(where, "is not valid text: it holds half of a character (a lone "
                                                   "surrogate, such as \\ud800 in JSON), which no database stores")])


def _not_text(value: Any) -> bool:
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_bundle(data: Any) -> Bundle:
    if not isinstance(data, dict):
        raise ImportRefusedError([Problem("", "the file must hold a JSON object")])
    check_depth(data)
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as exc:
        raise ImportRefusedError([Problem(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]) from None
    problems = _field_name_problems(bundle) + _duplicate_id_problems(bundle)
    for i, step in enumerate(bundle.workflow_steps):
        problems += find_secrets(step.config, f"workflow_steps.{i}.config")
    for i, o in enumerate(bundle.post_step_overrides):
        problems += find_secrets(o.config, f"post_step_overrides.{i}.config")
    if problems:
        raise ImportRefusedError(problems)
    return bundle


def _field_name_problems(bundle: Bundle) -> list[Problem]:
    problems = []
    for pi, post in enumerate(bundle.posts):
        names = [("fields", post.fields)] + [(f"sections.{si}.fields", s.fields)
                                             for si, s in enumerate(post.sections)]
        for where, fields in names:
            problems += [Problem(f"posts.{pi}.{where}.{key}", "is not a valid field name")
                         for key in fields if not re.match(FIELD_NAME_RE, key)]
    return problems


def _duplicate_id_problems(bundle: Bundle) -> list[Problem]:
    problems = []
    with_ids: tuple[tuple[str, Sequence[ActionIn | StepIn | PostIn]], ...] = (
        ("llm_actions", bundle.llm_actions), ("workflow_steps", bundle.workflow_steps), ("posts", bundle.posts))
    for kind, items in with_ids:
        seen: set[int] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                problems.append(Problem(f"{kind}.{i}.id", f"id {item.id} appears twice"))
            seen.add(item.id)
    section_ids: set[int] = set()
    for pi, post in enumerate(bundle.posts):
        for si, section in enumerate(post.sections):
            if section.id in section_ids:
                problems.append(Problem(f"posts.{pi}.sections.{si}.id", f"section id {section.id} appears twice"))
            section_ids.add(section.id)
    return problems
