"""Before/after highlighting: a word diff (difflib) rendered as Qt rich text.

Qt's rich text has no <del>/<ins>, so removed words are struck-through spans and added words are underlined
spans; both carry an opaque background with a matching text colour, which reads on light and dark palettes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

_TOKEN_RE = re.compile(r"\s+|\w+|[^\w\s]")
# A huge text would make SequenceMatcher slow (quadratic worst case): above this, show it without highlights.
MAX_DIFF_TOKENS = 6000


@dataclass(frozen=True)
class DiffColors:
    removed_bg: str
    removed_fg: str
    added_bg: str
    added_fg: str


LIGHT = DiffColors(removed_bg="#ffd7d5", removed_fg="#82071e", added_bg="#ccffd8", added_fg="#055d20")
DARK = DiffColors(removed_bg="#67060c", removed_fg="#ffdcd7", added_bg="#033a16", added_fg="#aff5b4")


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text or "")


def word_diff_html(before: str, after: str, *, dark: bool = False) -> tuple[str, str]:
    """(before_html, after_html): the before text with removed words marked, the after text with added words."""
    colors = DARK if dark else LIGHT
    a, b = tokens(before), tokens(after)
    if len(a) + len(b) > MAX_DIFF_TOKENS:
        return _wrap(_escape(before)), _wrap(_escape(after))
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            left.append(_escape(old))
            right.append(_escape(new))
            continue
        if old:
            left.append(_mark(old, colors.removed_bg, colors.removed_fg, "line-through"))
        if new:
            right.append(_mark(new, colors.added_bg, colors.added_fg, "underline"))
    return _wrap("".join(left)), _wrap("".join(right))


def change_summary(before: str, after: str) -> str:
    """A few words for a status line: how much of the text changed."""
    a, b = tokens(before), tokens(after)
    if not a and not b:
        return "both empty"
    if a == b:
        return "no changes"
    words_a = [t for t in a if not t.isspace()]
    words_b = [t for t in b if not t.isspace()]
    ratio = SequenceMatcher(None, words_a, words_b, autojunk=False).ratio()
    return f"{round((1 - ratio) * 100)}% changed"


def _escape(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _mark(text: str, bg: str, fg: str, decoration: str) -> str:
    if text.isspace():
        # A changed run of whitespace only (e.g. a removed line break): make it visible as a small marker.
        text = "⏎" * text.count("\n") or "·"
    return (f'<span style="background-color:{bg}; color:{fg}; text-decoration:{decoration};">'
            f"{_escape(text)}</span>")


def _wrap(body: str) -> str:
    return f'<div style="white-space:pre-wrap;">{body}</div>'
