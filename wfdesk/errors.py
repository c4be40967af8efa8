"""Errors the engine raises for the caller to show as a message (never as a traceback)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wfdesk.redact import redact_text


class WfdeskError(Exception):
    """Base for errors whose message is meant for a person."""


class NotFoundError(WfdeskError, LookupError):
    """A step, post, section, run or version id that does not exist."""


@dataclass(frozen=True)
class Problem:
    field: str  # dotted path inside the step config, e.g. "script_config.action_id"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(WfdeskError, ValueError):
    """A step config (or run request) that cannot run. Names the step and every field at fault."""

    def __init__(self, step: str, problems: list[Problem]) -> None:
        self.step = step
        self.problems = problems
        where = f"Step {step!r}" if step else "Step config"
        super().__init__(f"{where} is invalid: " + "; ".join(str(p) for p in problems))


class ConflictError(WfdeskError):
    """Someone else saved the same row first (optimistic locking). Carries both versions for display."""

    def __init__(self, what: str, mine: object, theirs: object) -> None:
        self.what, self.mine, self.theirs = what, mine, theirs
        super().__init__(f"{what} was changed by someone else since you opened it.")


class UnitError(WfdeskError):
    """One section failed; the message says what happened (and where, for network errors).

    details: plain JSON kept in the failed unit's result for inspection (e.g. the partial text of a cut answer).
    """

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(redact_text(message))  # a provider's address may carry a password: never shown
        self.details = details or {}


def unexpected_failure(exc: BaseException) -> str:
    """A failure nobody foresaw (a plugin's bug, say), in words for the editor: its own message with any password
    in an address blanked, never its Python name; the log keeps the traceback."""
    words = exception_words(exc)
    return (f"it failed unexpectedly: {words}" if words
            else "it failed unexpectedly, without saying why (the log has the details)")[:500]


def exception_words(exc: BaseException) -> str:
    """An exception's own message, passwords in addresses blanked; never its Python name."""
    words = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError's str quotes
    return redact_text(words.strip())
