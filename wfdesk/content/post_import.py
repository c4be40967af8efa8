"""A draft becomes a post: plan everything (split, read and verify every image) first, then write the post, its
sections, their text and images in one transaction -- a bad draft leaves nothing behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfdesk.content.draft_read import DraftError, DraftText, read_draft_file, read_pasted
from wfdesk.content.fields import image_fields
from wfdesk.content.images import DraftImage, collect_images
from wfdesk.content.post_fields import FRONT_MATTER, dump_front_matter
from wfdesk.content.splitter import split_markdown
from wfdesk.workspace import Workspace

# A post's sections are worked on one by one in the window; thousands are a split at the wrong level (or a list).
MAX_SECTIONS = 1000


@dataclass
class ImportOptions:
    split_level: int = 2
    field: str = "draft"  # the section field the text goes to
    image_field: str | None = None  # default: the workflow's first image field, else "image"


@dataclass
class PlannedSection:
    title: str
    body: str
    images: list[DraftImage]


@dataclass
class DraftPlan:
    title: str
    status: str | None
    front_matter: dict[str, Any]
    sections: list[PlannedSection]
    notes: list[str] = field(default_factory=list)


def plan_draft(draft: DraftText, split_level: int = 2) -> DraftPlan:
    """Everything the post will hold, checked; raises DraftError before anything is written."""
    if not 1 <= split_level <= 6:
        raise DraftError("The heading level to split at must be between 1 and 6.")
    meta = dict(draft.front_matter)
    fm_title = meta.pop("title", None)
    if isinstance(fm_title, list | dict):
        raise DraftError(f"The front matter's title in “{draft.name}” must be a single line of text, not a list.")
    status = meta.pop("status", None)
    doc = split_markdown(draft.markdown, split_level)
    if not doc.sections:
        raise DraftError(f"“{draft.name}” has no text.")
    if len(doc.sections) > MAX_SECTIONS:
        raise DraftError(f"Split at level {split_level}, “{draft.name}” would make {len(doc.sections)} sections; a "
                         f"post can have at most {MAX_SECTIONS}. Split at a higher level (a smaller number) or "
                         f"divide the draft into several files.")
    title = (str(fm_title).strip() if fm_title not in (None, "") else None) or doc.title or draft.title_hint \
        or Path(draft.name).stem or draft.name
    notes = list(draft.notes)
    if doc.headings_found == 0:
        notes.append(f"“{draft.name}” has no headings of level {split_level} or above: its text is one section.")
    sections = []
    for sec in doc.sections:
        found = collect_images(sec.body, draft.base_dir, draft.name)
        notes.extend(found.notes)
        sections.append(PlannedSection(sec.title[:500], found.body, found.images))
    try:
        dump_front_matter(meta)
    except Exception as exc:  # noqa: BLE001 - a value YAML cannot write back is named, not half-kept
        raise DraftError(f"The front matter of “{draft.name}” holds a value that cannot be kept: {exc}") from None
    status = str(status).strip() if isinstance(status, str) and 0 < len(status.strip()) <= 40 else None
    return DraftPlan(title=title[:500], status=status, front_matter=meta, sections=sections, notes=notes)


def import_draft(ws: Workspace, draft: DraftText, options: ImportOptions | None = None,
                 into_post_id: int | None = None) -> dict[str, Any]:
    """Create the post (or fill `into_post_id`, which must have no sections yet; its title stays); returns
    {"post_id", "title", "sections": [{"id", "title"}], "notes": [...]}."""
    from wfdesk.db import content
    from wfdesk.db.models import Post, PostSection
    from wfdesk.media.store import store_image
    from wfdesk.services.editing import check_field_name

    options = options or ImportOptions()
    target = check_field_name(options.field)
    plan = plan_draft(draft, options.split_level)
    image_field = check_field_name(options.image_field) if options.image_field else image_fields(ws)[0]
    with ws.db.session() as s:
        if into_post_id is not None:
            post = s.get(Post, into_post_id)
            if post is None:
                raise DraftError("The post to paste into no longer exists.")
            if post.sections:
                raise DraftError(f"“{post.title}” already has sections: a draft can be pasted into an empty post "
                                 f"only. Use File → New post from file… for a new post.")
        else:
            post = Post(title=plan.title, status=plan.status or "draft")
            s.add(post)
            s.flush()
        if plan.front_matter:
            content.write_text(s, post.id, None, FRONT_MATTER, dump_front_matter(plan.front_matter), source="import")
        out_sections = []
        for position, planned in enumerate(plan.sections, start=1):
            row = PostSection(post_id=post.id, position=position, title=planned.title)
            s.add(row)
            s.flush()
            if planned.body:
                content.write_text(s, post.id, row.id, target, planned.body, source="import")
            for n, image in enumerate(planned.images):
                stored = store_image(ws.data_dir, post.id, row.id, image.data)
                asset = content.get_or_create_asset(
                    s, sha256=stored.sha256, path=stored.rel_path, mime=stored.info.mime, width=stored.info.width,
                    height=stored.info.height, size_bytes=stored.size_bytes)
                version = content.add_image(s, post.id, row.id, image_field, asset, accept=n == 0,
                                            meta={"alt": image.alt, "from": image.source})
                version.source = "import"
            out_sections.append({"id": row.id, "title": row.title})
        post_id, title = post.id, post.title
    return {"post_id": post_id, "title": title, "sections": out_sections, "notes": plan.notes}


def import_file(ws: Workspace, path: Path, options: ImportOptions | None = None) -> dict[str, Any]:
    return import_draft(ws, read_draft_file(Path(path)), options)


def import_pasted(ws: Workspace, text: str, is_html: bool, options: ImportOptions | None = None,
                  into_post_id: int | None = None) -> dict[str, Any]:
    return import_draft(ws, read_pasted(text, is_html), options, into_post_id)
