"""Field values and their versions. Every write is a new version; accept, reject and revert only move pointers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from wfdesk.db.models import ContentField, ContentVersion, ImageAsset, utcnow
from wfdesk.errors import ConflictError, NotFoundError


def get_field(session: Session, post_id: int, section_id: int | None, name: str) -> ContentField | None:
    if section_id is None:
        return session.scalars(_POST_FIELD, {"post_id": post_id, "name": name}).first()
    return session.scalars(_SECTION_FIELD, {"post_id": post_id, "section_id": section_id, "name": name}).first()


# Built once: a run reads a field for every section it writes, and building an ORM SELECT costs more CPU than
# SQLite takes to answer it.
_FIELD = select(ContentField).where(ContentField.post_id == bindparam("post_id"),
                                    ContentField.name == bindparam("name"))
_POST_FIELD = _FIELD.where(ContentField.section_id.is_(None))
_SECTION_FIELD = _FIELD.where(ContentField.section_id == bindparam("section_id"))


def _field_for_write(session: Session, post_id: int, section_id: int | None, name: str) -> ContentField:
    field = _versioned_field(session, post_id, section_id, name)
    return field if field is not None else _new_field(session, post_id, section_id, name)


def _versioned_field(session: Session, post_id: int, section_id: int | None, name: str) -> ContentField | None:
    """The field, if it exists, with a value that came from an import or a plain edit first given a version of
    its own, so it can be reverted to."""
    field = get_field(session, post_id, section_id, name)
    if field is not None and field.value is not None and field.accepted_version_id is None:
        original = ContentVersion(post_id=post_id, section_id=section_id, field=name, kind="text",
                                  value=field.value, status="accepted", source="import")
        session.add(original)
        session.flush()
        field.accepted_version_id = original.id
    return field


def _new_field(session: Session, post_id: int, section_id: int | None, name: str) -> ContentField:
    # stored_value, not the `value` hybrid: naming a hybrid in the constructor builds its SQL expression
    field = ContentField(post_id=post_id, section_id=section_id, name=name, stored_value=None)
    session.add(field)  # flushed together with what follows
    return field


def _make_current(session: Session, field: ContentField, version: ContentVersion) -> None:
    if field.accepted_version_id and field.accepted_version_id != version.id:
        previous = session.get(ContentVersion, field.accepted_version_id)
        if previous is not None and previous.status == "accepted":
            previous.status = "superseded"
    version.status = "accepted"
    field.value = None  # the text is read from the accepted version: stored once (issue 11)
    field.accepted_version_id = version.id


def write_text(session: Session, post_id: int, section_id: int | None, name: str, text: str, *,
               source: str = "run", run_id: int | None = None, unit_id: int | None = None,
               meta: dict[str, Any] | None = None, expected_lock_version: int | None = None) -> ContentVersion:
    """A new text version that becomes the field's value at once.

    With expected_lock_version (an editor's save), the write is refused when the field changed meanwhile.
    """
    field = _versioned_field(session, post_id, section_id, name)
    if expected_lock_version is not None and (field is None or field.lock_version != expected_lock_version):
        raise ConflictError(f"Field {name!r}", mine=text, theirs=field.value if field is not None else None)
    # Written as it ends up (accepted), and a new field only once it can point at it: a run writes thousands of
    # these, and each UPDATE saved here is one statement less per section.
    version = ContentVersion(post_id=post_id, section_id=section_id, field=name, kind="text", value=text,
                             status="accepted", source=source, run_id=run_id, unit_id=unit_id, meta=meta or {})
    session.add(version)
    session.flush()  # its id, for the field's pointer
    _make_current(session, field if field is not None else _new_field(session, post_id, section_id, name), version)
    _flush_or_conflict(session, name, text)
    return version


def add_image(session: Session, post_id: int, section_id: int | None, name: str, asset: ImageAsset, *,
              accept: bool, run_id: int | None = None, unit_id: int | None = None,
              meta: dict[str, Any] | None = None) -> ContentVersion:
    """An image candidate for a field (the field holds its image_url once accepted)."""
    field = _field_for_write(session, post_id, section_id, name)
    version = ContentVersion(post_id=post_id, section_id=section_id, field=name, kind="image", value=asset.path,
                             asset_id=asset.id, status="candidate", source="run", run_id=run_id,
                             unit_id=unit_id, meta=meta or {})
    session.add(version)
    session.flush()
    if accept:
        _make_current(session, field, version)
    return version


def get_or_create_asset(session: Session, *, sha256: str, path: str, mime: str, width: int, height: int,
                        size_bytes: int) -> ImageAsset:
    asset = session.scalars(select(ImageAsset).where(ImageAsset.path == path)).first()
    if asset is None:
        asset = ImageAsset(sha256=sha256, path=path, mime=mime, width=width, height=height, size_bytes=size_bytes,
                           created_at=utcnow())
        session.add(asset)
        session.flush()
    return asset


def accept_version(session: Session, version_id: int) -> ContentVersion:
    """Make a version (image candidate or earlier text) the field's current value. Also how revert works."""
    version = session.get(ContentVersion, version_id)
    if version is None:
        raise NotFoundError(f"Version {version_id} does not exist")
    field = _field_for_write(session, version.post_id, version.section_id, version.field)
    _make_current(session, field, version)
    _flush_or_conflict(session, version.field, version.value)
    return version


def reject_version(session: Session, version_id: int) -> ContentVersion:
    """Mark a candidate rejected. Rejecting the current value falls back to the latest earlier accepted one."""
    version = session.get(ContentVersion, version_id)
    if version is None:
        raise NotFoundError(f"Version {version_id} does not exist")
    field = get_field(session, version.post_id, version.section_id, version.field)
    version.status = "rejected"
    if field is not None and field.accepted_version_id == version.id:
        fallback = session.scalars(
            select(ContentVersion)
            .where(ContentVersion.post_id == version.post_id, ContentVersion.field == version.field,
                   ContentVersion.section_id.is_(None) if version.section_id is None
                   else ContentVersion.section_id == version.section_id,
                   ContentVersion.status == "superseded")
            .order_by(ContentVersion.id.desc())
        ).first()
        if fallback is not None:
            _make_current(session, field, fallback)
        else:
            field.value, field.accepted_version_id = None, None
    _flush_or_conflict(session, version.field, version.value)
    return version


def unreject_version(session: Session, version_id: int) -> ContentVersion:
    """Undo of a reject: the version is a candidate again."""
    version = session.get(ContentVersion, version_id)
    if version is None:
        raise NotFoundError(f"Version {version_id} does not exist")
    if version.status == "rejected":
        version.status = "candidate"
    return version


def versions_of(session: Session, post_id: int, section_id: int | None, name: str) -> list[ContentVersion]:
    stmt = (select(ContentVersion)
            .where(ContentVersion.post_id == post_id, ContentVersion.field == name,
                   ContentVersion.section_id.is_(None) if section_id is None
                   else ContentVersion.section_id == section_id)
            .order_by(ContentVersion.id))
    return list(session.scalars(stmt))


def with_output(session: Session, result: dict[str, Any] | None) -> dict[str, Any] | None:
    """A run unit's result with its "output" text back from the version that stores it (stored once, there)."""
    if not result or "output" in result or "output_version_id" not in result:
        return result
    version = session.get(ContentVersion, result["output_version_id"])
    if version is not None and result.get("unit_id") is not None and version.unit_id != result["unit_id"]:
        version = None  # its answer was deleted and SQLite gave the id to a later version: not this unit's text
    return {**result, "output": version.value if version is not None else None}


def _flush_or_conflict(session: Session, name: str, mine: Any) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(f"Field {name!r}", mine=mine, theirs=None) from None
