"""The one Markdown parser of wfdesk, for reading drafts and rendering posts (markdown-it-py: CommonMark with tables
and strikethrough)."""

from __future__ import annotations

from collections.abc import Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token


def parser() -> MarkdownIt:
    """A parser whose link destinations are left as written, so image paths can be found and rewritten in place.

    Raw HTML inside Markdown is escaped, not passed through: an exported page or a WordPress post never carries a
    script that came in with a draft.
    """
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    # method-assign: markdown-it-py's way to change link normalisation is to replace these methods on the instance.
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    md.normalizeLinkText = lambda link: link  # type: ignore[method-assign]
    return md


def render_html(text: str) -> str:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    html: str = md.render(text or "")
    return html


def image_tokens(tokens: list[Token]) -> Iterator[Token]:
    """Every image of a parsed document, in reading order."""
    for token in tokens:
        if token.type == "inline" and token.children:
            yield from _images(token.children)


def _images(children: list[Token]) -> Iterator[Token]:
    for child in children:
        if child.type == "image":
            yield child
        if child.children:
            yield from _images(child.children)


def inline_text(token: Token) -> str:
    """The plain words of an inline token (a heading's title without its emphasis or code marks)."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return " ".join("".join(parts).split())
