"""Cutting a Markdown document into sections at its headings, keeping each section's Markdown exactly as written.

markdown-it-py finds the headings (so a `## ` inside a code block or a quote is not one) and gives their line
ranges; the text between two cuts is sliced from the source lines, untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wfdesk.rendering.markdown import inline_text, parser

INTRODUCTION = "Introduction"


@dataclass
class SplitSection:
    title: str
    body: str


@dataclass
class SplitDocument:
    title: str | None  # the first level-1 heading, when it is not itself a cut
    sections: list[SplitSection]
    headings_found: int  # cuts made at headings (0: the whole text is one section)


def split_markdown(text: str, level: int = 2) -> SplitDocument:
    """Sections cut at headings of `level` and above (a level-1 heading also cuts a level-2 split).

    The first level-1 heading is the document's title when level > 1 (and is not part of any section); text before
    the first cut is a section titled "Introduction".
    """
    if not 1 <= level <= 6:
        raise ValueError("The heading level to split at is between 1 and 6.")
    # Lines as markdown-it counts them: \r\n and \r end a line, but U+2028, form feeds or NEL (str.splitlines)
    # do not -- counting those would shift every cut after them.
    text = re.sub(r"\r\n?", "\n", text)
    lines = text.split("\n")
    tokens = parser().parse(text)
    title: str | None = None
    cuts: list[tuple[int, int, str]] = []  # (first line, line after the heading, title)
    skip: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token.type != "heading_open" or token.level != 0 or token.map is None:
            continue
        depth = int(token.tag[1:])
        words = inline_text(tokens[i + 1])
        if depth == 1 and title is None:
            title = words or None
            if level > 1:
                skip.append((token.map[0], token.map[1]))
                continue
        if depth <= level:
            cuts.append((token.map[0], token.map[1], words))
    sections: list[SplitSection] = []
    first = cuts[0][0] if cuts else len(lines)
    intro = _slice(lines, 0, first, skip)
    if intro.strip():
        sections.append(SplitSection(INTRODUCTION, intro))
    for n, (_start, body_start, heading) in enumerate(cuts):
        end = cuts[n + 1][0] if n + 1 < len(cuts) else len(lines)
        sections.append(SplitSection(heading or f"Section {len(sections) + 1}", _slice(lines, body_start, end, skip)))
    return SplitDocument(title=title, sections=sections, headings_found=len(cuts))


def _slice(lines: list[str], start: int, end: int, skip: list[tuple[int, int]]) -> str:
    kept = [line for n, line in enumerate(lines[start:end], start) if not any(a <= n < b for a, b in skip)]
    return "\n".join(kept).strip("\n").rstrip()
