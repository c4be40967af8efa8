"""Prompt templates: Jinja2's sandbox with strict undefined, so a missing variable is caught before any call, and
with limits (template_limits) so a template can neither run for ever nor build a gigabyte prompt.

Rendering is plain Python and safe on any thread but the GUI's: the desktop renders previews on a worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import threading
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, meta

from wfdesk.scripts.template_limits import MAX_OUTPUT_CHARS, LimitedSandbox, TooLargeError, render_budget

RENDER_SECONDS = 3.0  # an ordinary prompt renders in well under a millisecond
SLOW_MEMORY_SECONDS = 60.0  # a template that ran out of time fails at once for this long (a run renders per section)
_out_of_time: dict[str, float] = {}  # source -> when it last ran out of time


class PromptTemplateError(ValueError):
    pass


class _OutOfTime(BaseException):
    """Raised inside the rendering thread at the deadline; a BaseException so no `except Exception` in Jinja or a
    filter swallows it."""


@lru_cache(maxsize=1)
def environment() -> LimitedSandbox:
    # Immutable sandbox: templates may read what they are given but never call into Python internals or mutate.
    return LimitedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    return environment().from_string(source)


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise _OutOfTime in this thread if the block runs longer than `seconds`.

    A Jinja template compiles to plain Python, so an exception set asynchronously on the thread stops a runaway loop
    at its next bytecode (CPython's PyThreadState_SetAsyncExc); long single C operations are what the size limits
    prevent. Hand-written because the one library doing this (stopit) is unmaintained and can fire after the block.
    """
    thread_id = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, ctypes.py_object(_OutOfTime))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["done"] = True
            if state["fired"]:  # fired but not raised yet: withdraw it, the block is over
                ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, None)


def render(source: str, variables: dict[str, Any], *, seconds: float | None = None) -> str:
    """The rendered prompt. Raises PromptTemplateError (a message for the editor) for an unknown variable, a syntax
    error, a result over the size limits or a render taking longer than RENDER_SECONDS."""
    limit = RENDER_SECONDS if seconds is None else seconds
    if time.monotonic() - _out_of_time.get(source, float("-inf")) < SLOW_MEMORY_SECONDS:
        raise PromptTemplateError(_too_slow(limit))
    try:
        with _deadline(limit), render_budget():
            chunks, size = [], 0
            for chunk in _compile(source).generate(**variables):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise PromptTemplateError(f"the prompt template makes a text too long for a prompt (more than "
                                          f"{MAX_OUTPUT_CHARS:,} characters)")
                chunks.append(chunk)
            return "".join(chunks)
    except _OutOfTime:
        if len(_out_of_time) > 100:
            _out_of_time.clear()
        _out_of_time[source] = time.monotonic()
        raise PromptTemplateError(_too_slow(limit)) from None
    except PromptTemplateError:
        raise
    except TemplateError as exc:
        raise PromptTemplateError(_describe(exc)) from None
    except OverflowError as exc:
        raise PromptTemplateError(f"the prompt template failed: {_plain(exc)}") from None
    except MemoryError:
        raise PromptTemplateError("the prompt template makes something too large to hold in memory") from None
    except Exception as exc:  # noqa: BLE001 - a template's own runtime error (1/0, a bad call) is a user error
        raise PromptTemplateError(f"the prompt template failed: {_plain(exc)}") from None


def variables_used(source: str) -> set[str]:
    """Top-level names a template refers to (for the editor's variable list and for validation). Parsing only:
    with the limited sandbox nothing in the template is evaluated, so this is fast on any input."""
    try:
        with _deadline(RENDER_SECONDS):
            return meta.find_undeclared_variables(environment().parse(source))
    except _OutOfTime:
        raise PromptTemplateError("the prompt template is too complex to check") from None
    except TemplateError as exc:
        raise PromptTemplateError(_describe(exc)) from None
    except RecursionError:
        raise PromptTemplateError("the prompt template is nested too deeply") from None


def _too_slow(limit: float) -> str:
    return f"the prompt template took too long to render (more than {limit:g} s): look for loops inside loops"


def _plain(exc: BaseException) -> str:
    text = str(exc).strip() or "it could not be rendered"
    if "range too big" in text.lower():
        return "a range() may count at most 100,000 numbers"
    return text


def _describe(exc: TemplateError) -> str:
    msg = exc.message or str(exc)
    if isinstance(exc, TooLargeError):
        return f"the prompt template is refused: {msg}"
    if type(exc).__name__ == "UndefinedError":
        named = re.match(r"^'([^']+)' is undefined$", msg)
        if named:
            return (f"the prompt uses {{{{ {named.group(1)} }}}}, an unknown variable: it is neither a field of the "
                    "section nor an input of the step")
        return f"the prompt template uses an unknown variable: {msg}"
    if type(exc).__name__ == "SecurityError":
        return f"the prompt template tried something unsafe: {msg}"
    line = getattr(exc, "lineno", None)
    return f"the prompt template has an error{f' on line {line}' if line else ''}: {msg}"
