"""Read model of the image gallery: every image candidate of one field of one section in a single SELECT.

A section can hold hundreds of candidates; loading them as ORM objects (and their assets) costs more than the
query itself, so this selects plain columns. Qt-free: the panel calls it from a BackgroundOp.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select

from wfdesk.db.models import ContentField, ContentVersion, ImageAsset
from wfdesk.services.shapes import Asset, Version
from wfdesk.workspace import Workspace


def image_candidates(ws: Workspace, post_id: int, section_id: int | None, field: str) -> list[Version]:
    """The image versions of `field` on one section (None: the post itself), newest first, each with its asset and
    `current` (it is the field's value) -- the shape of review.field_versions' entries. One round trip."""
    same_section = (ContentVersion.section_id.is_(None) if section_id is None
                    else ContentVersion.section_id == section_id)
    field_section = ContentField.section_id.is_(None) if section_id is None else ContentField.section_id == section_id
    v = ContentVersion
    stmt = (select(v.id, v.section_id, v.field, v.kind, v.value, v.status, v.source, v.run_id, v.meta, v.created_at,
                   v.starred, ImageAsset.path, ImageAsset.sha256, ImageAsset.width, ImageAsset.height,
                   ContentField.accepted_version_id)
            .join(ImageAsset, v.asset_id == ImageAsset.id)
            .outerjoin(ContentField, and_(ContentField.post_id == post_id, field_section, ContentField.name == field))
            .where(v.post_id == post_id, same_section, v.field == field, v.kind == "image")
            .order_by(v.id.desc()))
    with ws.db.session() as s:
        rows = s.execute(stmt).all()
    # Unpacked by position: named access on 500 rows costs more than the query.
    return [Version(id=vid, section_id=sid, field=name, kind=kind, value=value, status=status, source=source,
                    run_id=run_id, meta=dict(meta or {}), created_at=created.isoformat() if created else None,
                    current=vid == accepted, starred=bool(starred),
                    asset=Asset(path=path, sha256=sha, width=width, height=height))
            for (vid, sid, name, kind, value, status, source, run_id, meta, created, starred, path, sha, width,
                 height, accepted) in rows]


def awaiting_review(ws: Workspace, post_id: int, field: str) -> dict[int | None, int]:
    """How many candidates of `field` still wait for a decision, per section (None: the post itself). One query."""
    v = ContentVersion
    stmt = (select(v.section_id, func.count(v.id))
            .where(v.post_id == post_id, v.field == field, v.status == "candidate")
            .group_by(v.section_id))
    with ws.db.session() as s:
        return {sid: n for sid, n in s.execute(stmt)}


def is_field_value(ws: Workspace, version_id: int) -> bool:
    """Whether this version is its field's value (accepted) right now, read from the database, not from a view."""
    with ws.db.session() as s:
        return s.execute(select(func.count()).where(ContentField.accepted_version_id == version_id)).scalar_one() > 0
