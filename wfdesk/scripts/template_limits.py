"""Limits on what a prompt template may compute: Jinja2's sandbox stops templates reaching Python internals, these
stop them eating the machine. A template is refused before it builds a number, string or list larger than the
limits (`'x' * 10**9`, `10**(10**8)`, `'x'|center(10**9)`), never after the gigabyte was allocated; the time a render
may take is bounded by templates.render's deadline."""

from __future__ import annotations

import contextlib
import functools
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeGuard, TypeVar

from jinja2 import filters as jinja_filters
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace
from typing_extensions import override

MAX_OUTPUT_CHARS = 1_000_000  # far beyond any model's context window (about 250,000 tokens)
MAX_NUMBER_DIGITS = 1_000
MAX_FORMAT_WIDTH = 10_000  # '%0999999999d' and '{:>999999999}' pad to the width they are given
# What one render may build in all, intermediate values included: a loop building a megabyte a thousand times, or a
# list holding one list twice, holding one list twice... (tiny in memory, a terabyte once turned into text or
# compared, in one C call no deadline can stop) are refused while still small.
MAX_RENDER_WORK = 20 * MAX_OUTPUT_CHARS
_render = threading.local()


class TooLargeError(SecurityError):
    """A template asked for something larger than the limits; the message is for the editor."""


def _too_large(what: str) -> TooLargeError:
    return TooLargeError(f"{what} would be too large (a prompt may hold at most {MAX_OUTPUT_CHARS:,} characters and "
                    f"numbers at most {MAX_NUMBER_DIGITS:,} digits)")


def _digits(n: int) -> float:
    return abs(n).bit_length() * math.log10(2)


def _size(value: Any) -> int:
    """A value's weight: characters, plus every element of a container counted as often as it is referenced (a
    list holding the same list twice weighs twice as much: that is what str() or == would walk)."""
    try:
        return _weigh(value, {})[0]
    except RecursionError:
        raise _too_large("the nesting of the values") from None


def _weigh(value: Any, seen: dict[int, tuple[int, bool]]) -> tuple[int, bool]:
    """(weight, whether a namespace is inside: a weight that `set ns.x = ...` may change later).

    `seen` is this weighing's memo (each container weighed once, however often it is referenced: a namespace or list
    holding the same one twice, 40 deep, is weighed in 40 steps, not 2**40); everything in it is reachable from the
    value being weighed, so alive, and no id is reused meanwhile. The render's memo keeps only weights that cannot
    change: a list around a namespace that grows afterwards is weighed afresh, never by its old weight."""
    if isinstance(value, str | bytes):
        return len(value), False
    is_namespace = isinstance(value, Namespace)
    if not is_namespace and not isinstance(value, list | tuple | dict | set | frozenset):
        return 0, False
    if id(value) in seen:
        return seen[id(value)]
    memo = getattr(_render, "weights", None)
    if not is_namespace and memo is not None and id(value) in memo:
        return memo[id(value)][1], False
    parts: Iterable[Any]
    if is_namespace:
        attrs = getattr(value, "_Namespace__attrs", {})
        total, changeable, parts = len(attrs), True, list(attrs.values())
    else:
        total, changeable = len(value), False
        parts = (part for pair in value.items() for part in pair) if isinstance(value, dict) else value
    for item in parts:
        weight, inner = _weigh(item, seen)
        total += weight
        changeable = changeable or inner
        if total > MAX_OUTPUT_CHARS:
            break
    seen[id(value)] = (total, changeable)
    if memo is not None and not changeable:
        memo[id(value)] = (value, total)  # the value is kept alive, so its id is not reused during the render
    return total, changeable


@contextlib.contextmanager
def render_budget() -> Iterator[None]:
    """One render's accounting of everything it builds (see MAX_RENDER_WORK)."""
    _render.weights, _render.work = {}, 0
    try:
        yield
    finally:
        _render.weights, _render.work = None, 0


_T = TypeVar("_T")


def _check_result(value: _T) -> _T:
    size = _size(value)
    if size > MAX_OUTPUT_CHARS:
        raise _too_large("the text")
    if getattr(_render, "weights", None) is not None and size:
        _render.work += len(value) if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) else 0
        if _render.work > MAX_RENDER_WORK:
            raise _too_large("what the template builds in all")
    return value


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_width(width: Any) -> None:
    if _is_int(width) and width > MAX_OUTPUT_CHARS:
        raise _too_large("the text")


_WIDTH_IN_FORMAT = re.compile(r"\d{5,}")


_WIDTH_FROM_ARGUMENT = re.compile(r"%[^%a-zA-Z]*\*|\{[^{}]*:[^{}]*\{")  # '%*d', '%.*f', '{0:{1}}'


def _check_format_string(fmt: Any, *args: Any, **kwargs: Any) -> None:
    """Widths and precisions in a %-format or a str.format string ('%0999999999d', '{:>999999999}'), also those
    taken from the arguments ('%*d' % (10**9, 1), '{0:{1}}'.format(1, 10**9))."""
    if isinstance(fmt, str):
        for number in _WIDTH_IN_FORMAT.findall(fmt):
            if int(number) > MAX_FORMAT_WIDTH:
                raise _too_large("the formatted text")
        if _WIDTH_FROM_ARGUMENT.search(fmt):
            values = [*args, *kwargs.values()]
            for value in values[0] if len(values) == 1 and isinstance(values[0], tuple | dict) else values:
                if _is_int(value) and abs(value) > MAX_FORMAT_WIDTH:
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
        elif (_is_int(right) and _size(left) * right > MAX_OUTPUT_CHARS) or \
                (_is_int(left) and _size(right) * left > MAX_OUTPUT_CHARS):
            raise _too_large("the text")
    elif operator == "%" and isinstance(left, str):
        _check_format_string(left, right)
        _check_result(right)
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
    "format": lambda s, *args, **kwargs: _check_format_string(s, *args, **kwargs),
    "format_map": lambda s, mapping=None, *_: _check_format_string(s, mapping),
    "translate": lambda s, table=None, *_: _check_translate(s, table),
}


def _check_translate(text: str, table: Any) -> None:
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        if len(text) * longest > MAX_OUTPUT_CHARS:
            raise _too_large("the text")


def _check_wordwrap(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None,
                    *_: Any, **__: Any) -> None:
    if (isinstance(s, str) and isinstance(wrapstring, str) and _is_int(width) and width > 0
            and len(s) + (len(s) // width + 1) * len(wrapstring) > MAX_OUTPUT_CHARS):
        raise _too_large("the wrapped text")


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
        _check_format_string(value, *args, **kwargs)
        return _check_result(jinja_filters.do_format(value, *args, **kwargs))

    def replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
        _check_replace(str(s), str(old), str(new), -1 if count is None else count)
        return _check_result(jinja_filters.do_replace(eval_ctx, s, old, new, count))

    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        if attribute is None:
            value = list(value)
            _check_join([str(v) for v in value])
        return _check_result(jinja_filters.sync_do_join(eval_ctx, value, d, attribute))

    def wordwrap(environment: Any, s: str, width: int = 79, break_long_words: bool = True,
                 wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
        _check_wordwrap(s, width, break_long_words, wrapstring if wrapstring is not None else "\n")
        return jinja_filters.do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)

    # attr-defined: Jinja reads which context a filter wants from this attribute of the function.
    replace.jinja_pass_arg = join.jinja_pass_arg = jinja_filters.do_replace.jinja_pass_arg  # type: ignore[attr-defined]
    wordwrap.jinja_pass_arg = jinja_filters.do_wordwrap.jinja_pass_arg  # type: ignore[attr-defined]
    return {"center": center, "indent": indent, "format": format_, "replace": replace, "join": join,
            "wordwrap": wordwrap}


def _checked_filter(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)  # keeps jinja_pass_arg
    def checked(*args: Any, **kwargs: Any) -> Any:
        return _check_result(f(*args, **kwargs))
    return checked


class _CheckedCode(CodeGenerator):
    """Every list, tuple and dict a template writes, and every `~` concatenation, is weighed as it is built:
    `[x, x]` in a loop doubles a value's weight each time without any operator the sandbox could intercept."""

    def _checked(self, visit: Callable[[Any, Frame], None], node: Any, frame: Frame) -> None:
        self.write("environment.checked_value(")
        visit(node, frame)
        self.write(")")

    @override
    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._checked(super().visit_List, node, frame)

    @override
    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._checked(super().visit_Dict, node, frame)

    @override
    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "store":  # an assignment's target (`for a, b in ...`), not a value
            super().visit_Tuple(node, frame)
        else:
            self._checked(super().visit_Tuple, node, frame)

    @override
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self._checked(super().visit_Concat, node, frame)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus size limits. Intercepting the operators also stops Jinja's compiler from
    folding `10**(10**8)` into a constant, which froze even the editor's syntax check."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _CheckedCode

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_check_result, **options)
        self.filters.update(_limited_filters())
        self.filters = {name: _checked_filter(f) for name, f in self.filters.items()}

    @staticmethod
    def checked_value(value: Any) -> Any:
        return _check_result(value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _check_result(super().call_binop(context, operator, left, right))

    # Positional-only, as Jinja's own `__self, __context, __obj`: a template's keyword argument may be called anything.
    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format at attribute access
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            check = _STR_METHODS.get(getattr(method, "__name__", ""))
            if check is not None:
                check(owner, *args, **kwargs)
        return _check_result(super().call(context, obj, *args, **kwargs))
