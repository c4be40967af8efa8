"""A post as the exports see it: title, status, kept front matter, and each section's body and accepted image."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from wfdesk.db.models import ContentField, ContentVersion, ImageAsset, Post, PostSection
from wfdesk.errors import NotFoundError
from wfdesk.media.store import resolve_image_path
from wfdesk.rendering.fields import body_candidates, choose_body, image_fields, image_prompt_fields
from wfdesk.rendering.post_fields import FRONT_MATTER, load_front_matter
from wfdesk.workspace import Workspace

# An image's name in an export (and in a draft that came from one): images/<first 16 hex of its sha256>.<ext>.
IMAGES_DIR = "images"
PORTABLE_RE = re.compile(r"images/([0-9a-f]{16})\.(png|jpg|webp|gif)")


def portable_name(sha256: str, ext: str) -> str:
    return f"{IMAGES_DIR}/{sha256[:16]}.{ext}"


@dataclass
class ExportImage:
    path: Path  # the file in the store
    name: str  # images/<sha16>.<ext>, the name it is exported under
    alt: str
    mime: str
    sha256: str


@dataclass
class ExportSection:
    id: int
    title: str
    body: str
    field: str | None  # the field the body came from (None: every candidate was empty)
    fell_back: bool
    image: ExportImage | None  # the accepted image, unless the body already shows it
    # Images the body refers to by their portable name (dataclasses.field in full: `field` is a member here).
    inline: list[ExportImage] = dataclasses.field(default_factory=list)


@dataclass
class ExportPost:
    id: int
    title: str
    status: str
    kept: dict[str, Any]
    sections: list[ExportSection]
    candidates: list[str]
    post_fields: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def fell_back(self) -> list[ExportSection]:
        return [s for s in self.sections if s.fell_back]

    def images(self) -> list[ExportImage]:
        """Every image the export writes, once each."""
        seen: dict[str, ExportImage] = {}
        for section in self.sections:
            for image in ([section.image] if section.image else []) + section.inline:
                seen.setdefault(image.name, image)
        return list(seen.values())


def read_post(ws: Workspace, post_id: int, body_field: str | None = None) -> ExportPost:
    detail = _post(ws, post_id)
    candidates = body_candidates(ws, body_field)
    preferred_images = image_fields(ws)
    prompt_fields = image_prompt_fields(ws)
    with ws.db.session() as s:
        rows = s.execute(select(ContentVersion.section_id, ContentVersion.field, ContentVersion.id,
                                ContentVersion.meta, ImageAsset.path, ImageAsset.sha256, ImageAsset.mime)
                         .join(ImageAsset, ImageAsset.id == ContentVersion.asset_id)
                         .where(ContentVersion.post_id == post_id, ContentVersion.kind == "image")).all()
        accepted = set(s.scalars(select(ContentField.accepted_version_id)
                                 .where(ContentField.post_id == post_id,
                                        ContentField.accepted_version_id.is_not(None))))
    notes: list[str] = []
    by_name: dict[str, tuple[Any, ...]] = {}
    accepted_by_section: dict[int | None, list[tuple[Any, ...]]] = {}
    for row in rows:
        section_id, _fname, vid, _meta, path, sha, _mime = row
        by_name.setdefault(portable_name(sha, path.rsplit(".", 1)[-1]), row)
        if vid in accepted:
            accepted_by_section.setdefault(section_id, []).append(row)

    def image_of(row: tuple[Any, ...], fallback_alt: str) -> ExportImage | None:
        _sid, _f, _vid, meta, path, sha, mime = row
        try:
            file = resolve_image_path(ws.data_dir, path)
        except ValueError:
            file = None
        if file is None or not file.is_file():
            notes.append(f"An image of “{fallback_alt}” is missing from the image folder and was left out.")
            return None
        meta = meta or {}
        alt = meta.get("alt") or meta.get("revised_prompt") or meta.get("prompt") or fallback_alt
        return ExportImage(path=file, name=portable_name(sha, path.rsplit(".", 1)[-1]), alt=str(alt),
                           mime=mime, sha256=sha)

    sections = []
    for sec in detail["sections"]:
        used, text, fell_back = choose_body(sec["fields"], candidates)
        prompt = next((sec["fields"][k] for k in prompt_fields if sec["fields"].get(k)), None)
        inline = []
        for name in dict.fromkeys(m.group(0) for m in PORTABLE_RE.finditer(text)):
            if name in by_name and (img := image_of(by_name[name], prompt or sec["title"])) is not None:
                inline.append(img)
        chosen = sorted(accepted_by_section.get(sec["id"], []),
                        key=lambda r: preferred_images.index(r[1]) if r[1] in preferred_images else 99)
        image = image_of(chosen[0], prompt or sec["title"]) if chosen else None
        if image is not None and any(i.name == image.name for i in inline):
            image = None  # the body already shows it where the editor put it
        sections.append(ExportSection(id=sec["id"], title=sec["title"], body=text, field=used, fell_back=fell_back,
                                      image=image, inline=inline))
    return ExportPost(id=detail["id"], title=detail["title"], status=detail["status"],
                      kept=load_front_matter(detail["fields"].get(FRONT_MATTER)), sections=sections,
                      candidates=candidates, post_fields=dict(detail["fields"]), notes=notes)


def _post(ws: Workspace, post_id: int) -> dict[str, Any]:
    """The post's title, status and fields, and its sections in order with theirs: three queries."""
    with ws.db.session() as s:
        post = s.execute(select(Post.id, Post.title, Post.status).where(Post.id == post_id)).first()
        if post is None:
            raise NotFoundError(f"Post {post_id} does not exist")
        sections = s.execute(select(PostSection.id, PostSection.title).where(PostSection.post_id == post_id)
                             .order_by(PostSection.position, PostSection.id)).all()
        rows = s.execute(select(ContentField.section_id, ContentField.name, ContentField.value)
                         .where(ContentField.post_id == post_id).order_by(ContentField.id)).all()
    fields: dict[int | None, dict[str, Any]] = {}
    for section_id, name, value in rows:
        fields.setdefault(section_id, {})[name] = value
    return {"id": post.id, "title": post.title, "status": post.status, "fields": fields.get(None, {}),
            "sections": [{"id": sid, "title": title, "fields": fields.get(sid, {})} for sid, title in sections]}
