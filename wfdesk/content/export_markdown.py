"""A post as one Markdown file: front matter, then `## Title` and the body of each section, images beside it."""

from __future__ import annotations

import re
from typing import Any

from wfdesk.rendering.post_fields import dump_front_matter
from wfdesk.rendering.post_read import ExportPost


def front_matter(post: ExportPost, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """title and status first, then the keys kept from the draft (which never replace those two)."""
    keys: dict[str, Any] = {"title": post.title, "status": post.status}
    for key, value in {**(extra or {}), **post.kept}.items():
        keys.setdefault(key, value)
    return keys


def render_markdown(post: ExportPost, extra_front_matter: dict[str, Any] | None = None) -> str:
    blocks = ["---\n" + dump_front_matter(front_matter(post, extra_front_matter)) + "\n---"]
    for section in post.sections:
        blocks.append(f"## {heading_text(section.title)}".rstrip())
        if section.image is not None:
            blocks.append(f"![{_alt(section.image.alt)}]({section.image.name})")
        if section.body.strip():
            blocks.append(section.body.strip("\n").rstrip())
    return "\n\n".join(blocks) + "\n"


def heading_text(title: str) -> str:
    """A section title as Markdown that reads back as the same words: marks that would format it (`code`, *stars*,
    [links], <tags>, &entities;) and a closing run of #'s are escaped; ordinary prose is left alone."""
    text = " ".join(title.split())
    text = re.sub(r"([\\`*\[\]<~])", r"\\\1", text)
    text = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)
    text = re.sub(r"&(?=#?\w+;)", r"\\&", text)
    return re.sub(r"(^|\s)(#+)$", lambda m: m.group(1) + "".join("\\#" for _ in m.group(2)), text)


def _alt(text: str) -> str:
    # Square brackets and line breaks would end the alt text early; the words are kept.
    return " ".join(text.split()).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
