"""A post's sections as HTML, rendered from Markdown: what an exported page's article and a WordPress post's
content hold."""

from __future__ import annotations

import html
from collections.abc import Callable

from wfdesk.rendering.markdown import render_html
from wfdesk.rendering.post_read import ExportImage, ExportPost


def sections_html(post: ExportPost, src_of: Callable[[ExportImage], str], heading: str = "h2") -> str:
    """The sections as HTML (what a page's article or a WordPress post's content holds)."""
    parts = []
    for section in post.sections:
        body = render_html(section.body)
        for image in section.inline:
            body = body.replace(f'src="{html.escape(image.name)}"', f'src="{html.escape(src_of(image))}"')
        part = [f"<section>\n<{heading}>{html.escape(section.title)}</{heading}>"]
        if section.image is not None:
            part.append(f'<figure><img src="{html.escape(src_of(section.image))}" '
                        f'alt="{html.escape(section.image.alt)}"></figure>')
        part.append(body.rstrip() + "\n</section>")
        parts.append("\n".join(part))
    return "\n".join(parts) + "\n"
