"""A Hugo / Jekyll page bundle: a folder named after the post with index.md and its images beside it."""

from __future__ import annotations

from typing import Any

from wfdesk.content.export_markdown import render_markdown
from wfdesk.rendering.post_read import ExportPost


def bundle_front_matter(post: ExportPost) -> dict[str, Any]:
    # Hugo reads `draft`; Jekyll reads `published`. Keys kept from the draft win over both.
    published = post.status == "published"
    return {"draft": not published, "published": published}


def render_index(post: ExportPost) -> str:
    return render_markdown(post, bundle_front_matter(post))
