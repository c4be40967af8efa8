"""Prompt templates: Jinja2's sandbox with strict undefined, so a missing variable is caught before any call."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateProblem(ValueError):
    pass


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    # Immutable sandbox: templates may read what they are given but never call into Python internals or mutate.
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _compile(source: str):
    return environment().from_string(source)


def render(source: str, variables: dict[str, Any]) -> str:
    try:
        return _compile(source).render(**variables)
    except TemplateError as exc:
        raise TemplateProblem(_describe(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a template's own runtime error (1/0, huge range) is a user error
        raise TemplateProblem(f"the prompt template failed: {type(exc).__name__}: {exc}") from None


def variables_used(source: str) -> set[str]:
    """Top-level names a template refers to (for the editor's variable list and for validation)."""
    try:
        return meta.find_undeclared_variables(environment().parse(source))
    except TemplateError as exc:
        raise TemplateProblem(_describe(exc)) from None


def _describe(exc: TemplateError) -> str:
    msg = exc.message or str(exc)
    if type(exc).__name__ == "UndefinedError":
        return f"the prompt template uses an unknown variable: {msg}"
    if type(exc).__name__ == "SecurityError":
        return f"the prompt template tried something unsafe: {msg}"
    line = getattr(exc, "lineno", None)
    return f"the prompt template has an error{f' on line {line}' if line else ''}: {msg}"
