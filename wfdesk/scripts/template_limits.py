"""Limits on what a prompt template may compute: Jinja2's sandbox stops templates reaching Python internals, these
stop them eating the machine. A template is refused before it builds a number, string or list larger than the
limits (`'x' * 10**9`, `10**(10**8)`, `'x'|center(10**9)`), never after the gigabyte was allocated; the time a render
may take is bounded by templates.render's deadline."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from jinja2 import filters as jinja_filters
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_OUTPUT_CHARS = 1_000_000  # far beyond any model's context window (about 250,000 tokens)
MAX_NUMBER_DIGITS = 1_000
MAX_FORMAT_WIDTH = 10_000  # '%0999999999d' and '{:>999999999}' pad to the width they are given


class TooLarge(SecurityError):
    """A template asked for something larger than the limits; the message is for the editor."""


def _too_large(what: str) -> TooLarge:
    return TooLarge(f"{what} would be too large (a prompt may hold at most {MAX_OUTPUT_CHARS:,} characters and "
                    f"numbers at most {MAX_NUMBER_DIGITS:,} digits)")


def _digits(n: int) -> float:
    return abs(n).bit_length() * math.log10(2)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _check_result(value: Any) -> Any:
    if _size(value) > MAX_OUTPUT_CHARS:
        raise _too_large("the text")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_width(width: Any) -> None:
    if _is_int(width) and width > MAX_OUTPUT_CHARS:
        raise _too_large("the text")


_WIDTH_IN_FORMAT = re.compile(r"\d{5,}")


def _check_format_string(fmt: Any) -> None:
    """Widths and precisions in a %-format or a str.format string ('%0999999999d', '{:>999999999}')."""
    if isinstance(fmt, str):
        for number in _WIDTH_IN_FORMAT.findall(fmt):
            if int(number) > MAX_FORMAT_WIDTH:
                raise _too_large("the formatted text")


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        hits = text.count(old) if old else len(text) + 1
        if _is_int(count) and count >= 0:
            hits = min(hits, count)
        if len(text) + hits * (len(new) - len(old)) > MAX_OUTPUT_CHARS:
            raise _too_large("the text")


def _check_join(items: Any) -> None:
    if isinstance(items, (list, tuple)) and sum(len(x) if isinstance(x, str) else 20 for x in items) > \
            MAX_OUTPUT_CHARS:
        raise _too_large("the joined text")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**" and _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
        if right * math.log10(abs(left)) > MAX_NUMBER_DIGITS:
            raise _too_large("the number")
    elif operator == "*":
        if _is_int(left) and _is_int(right):
            if _digits(left) + _digits(right) > MAX_NUMBER_DIGITS:
                raise _too_large("the number")
        elif _is_int(right) and _size(left) * right > MAX_OUTPUT_CHARS or \
                _is_int(left) and _size(right) * left > MAX_OUTPUT_CHARS:
            raise _too_large("the text")
    elif operator == "%" and isinstance(left, str):
        _check_format_string(left)
    elif operator == "+" and _size(left) + _size(right) > MAX_OUTPUT_CHARS:
        raise _too_large("the text")


# Methods of str a template may call whose result can be far larger than their inputs, and how to check them.
_STR_METHODS: dict[str, Callable[..., None]] = {
    "center": lambda s, width=0, *_: _check_width(width),
    "ljust": lambda s, width=0, *_: _check_width(width),
    "rjust": lambda s, width=0, *_: _check_width(width),
    "zfill": lambda s, width=0, *_: _check_width(width),
    "expandtabs": lambda s, tabsize=8, *_: _check_width(tabsize * s.count("\t") if _is_int(tabsize) else 0),
    "replace": lambda s, old="", new="", count=-1, *_: _check_replace(s, old, new, count),
    "join": lambda s, items=(), *_: _check_join(items),
    "format": lambda s, *_, **__: _check_format_string(s),
    "format_map": lambda s, *_: _check_format_string(s),
}


def _limited_filters() -> dict[str, Callable[..., Any]]:
    """Jinja's own filters that can pad or multiply text, checked first (they are also folded at compile time)."""

    def center(value: Any, width: int = 80) -> str:
        _check_width(width)
        return _check_result(jinja_filters.do_center(value, width))

    def indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
        _check_width(width if _is_int(width) else len(width) if isinstance(width, str) else 0)
        if _is_int(width) and isinstance(s, str):
            _check_width(width * (s.count("\n") + 1) + len(s))
        return _check_result(jinja_filters.do_indent(s, width, first, blank))

    def format_(value: str, *args: Any, **kwargs: Any) -> str:
        _check_format_string(value)
        return _check_result(jinja_filters.do_format(value, *args, **kwargs))

    def replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
        _check_replace(str(s), str(old), str(new), -1 if count is None else count)
        return _check_result(jinja_filters.do_replace(eval_ctx, s, old, new, count))

    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        if attribute is None:
            value = list(value)
            _check_join([str(v) for v in value])
        return _check_result(jinja_filters.sync_do_join(eval_ctx, value, d, attribute))

    replace.jinja_pass_arg = join.jinja_pass_arg = jinja_filters.do_replace.jinja_pass_arg  # type: ignore[attr-defined]
    return {"center": center, "indent": indent, "format": format_, "replace": replace, "join": join}


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus size limits. Intercepting the operators also stops Jinja's compiler from
    folding `10**(10**8)` into a constant, which froze even the editor's syntax check."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters.update(_limited_filters())

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format at attribute access
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            check = _STR_METHODS.get(getattr(method, "__name__", ""))
            if check is not None:
                check(owner, *args, **kwargs)
        return _check_result(super().call(__context, __obj, *args, **kwargs))
