"""The editor's own writes: posts, sections and field text. Qt-free; each function is one transaction.

Each write announces what it changed after its commit (wfdesk.services.changes), so every view that shows it,
in this window or a colleague's, can refresh. Deleting a section returns a snapshot (the section, its fields and
every version of them) so an undo can bring all of it back: the editor never loses text to a misclick.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wfdesk.db import content
from wfdesk.db.models import ContentField, ContentVersion, Post, PostSection, Run
from wfdesk.errors import ConflictError, NotFoundError, WfdeskError
from wfdesk.scripts.config import FIELD_NAME_RE
from wfdesk.services.changes import IMPORTED, Changes, FieldRef, announce
from wfdesk.services.shapes import SavedField, SectionSnapshot, SnapshotField, SnapshotVersion
from wfdesk.services.transfer import import_bundle
from wfdesk.workspace import Workspace

DEMO_FILE = "reference-steps.json"


class EditError(WfdeskError, ValueError):
    """An edit that cannot be made as asked (an empty title, a bad field name)."""


# --- posts ----------------------------------------------------------------------------------------------------

def create_post(ws: Workspace, title: str, status: str = "draft") -> int:
    title = _title(title, "A post needs a title.")
    with ws.db.session() as s:
        post = Post(title=title, status=status or "draft")
        s.add(post)
        s.flush()
    announce(ws, Changes.of(posts=[post.id]))
    return post.id


def rename_post(ws: Workspace, post_id: int, title: str) -> None:
    title = _title(title, "A post needs a title.")
    with ws.db.session() as s:
        _get(s, Post, post_id, "Post").title = title
    announce(ws, Changes.of(posts=[post_id]))


def set_post_status(ws: Workspace, post_id: int, status: str) -> None:
    status = (status or "").strip()
    if not status or len(status) > 40:
        raise EditError("A status is a word of at most 40 characters.")
    with ws.db.session() as s:
        _get(s, Post, post_id, "Post").status = status
    announce(ws, Changes.of(posts=[post_id]))


# --- sections -------------------------------------------------------------------------------------------------

def add_section(ws: Workspace, post_id: int, title: str = "", position: int | None = None) -> int:
    """A new section at the end of the post (or before the section now at `position`)."""
    with ws.db.session() as s:
        _get(s, Post, post_id, "Post")
        if position is None:
            position = (s.scalar(select(func.max(PostSection.position)).where(PostSection.post_id == post_id))
                        or 0) + 1
        else:
            _make_room(s, post_id, position)
        section = PostSection(post_id=post_id, position=position, title=(title or "").strip()[:500])
        s.add(section)
        s.flush()
    announce(ws, Changes.of(sections=[(post_id, section.id)]))
    return section.id


def rename_section(ws: Workspace, section_id: int, title: str) -> None:
    with ws.db.session() as s:
        section = _get(s, PostSection, section_id, "Section")
        section.title = (title or "").strip()[:500]
    announce(ws, Changes.of(sections=[(section.post_id, section_id)]))


def move_section(ws: Workspace, section_id: int, delta: int) -> int:
    """Move a section by `delta` places (negative: up). Returns how far it actually moved (0 at an edge).

    Positions are renumbered 1..n on the way, so gaps and duplicates from imports sort themselves out.
    """
    with ws.db.session() as s:
        section = _get(s, PostSection, section_id, "Section")
        ordered = list(s.scalars(select(PostSection).where(PostSection.post_id == section.post_id)
                                 .order_by(PostSection.position, PostSection.id)))
        old = ordered.index(section)
        new = max(0, min(len(ordered) - 1, old + delta))
        ordered.insert(new, ordered.pop(old))
        for i, sec in enumerate(ordered, start=1):
            if sec.position != i:
                sec.position = i
    announce(ws, Changes.of(sections=[(section.post_id, section_id)]))
    return new - old


def delete_section(ws: Workspace, section_id: int) -> SectionSnapshot:
    """Delete a section with its fields and versions; the returned snapshot lets restore_section undo it."""
    with ws.db.session() as s:
        section = _get(s, PostSection, section_id, "Section")
        fields = list(s.scalars(select(ContentField).where(ContentField.section_id == section_id)
                                .order_by(ContentField.id)))
        versions = list(s.scalars(select(ContentVersion).where(ContentVersion.section_id == section_id)
                                  .order_by(ContentVersion.id)))
        snapshot = SectionSnapshot(
            id=section.id, post_id=section.post_id, position=section.position, title=section.title,
            # stored_value: NULL when the text lives in the accepted version (restored with it).
            fields=[SnapshotField(name=f.name, value=f.value, stored_value=f.stored_value,
                                  accepted_version_id=f.accepted_version_id)
                    for f in fields],
            versions=[_version_row(v) for v in versions],
        )
        s.delete(section)
        s.flush()
    announce(ws, Changes.of(sections=[(snapshot["post_id"], section_id)]))
    return snapshot


def restore_section(ws: Workspace, snapshot: SectionSnapshot) -> int:
    """Re-create a deleted section at its place, with its fields and their whole history. Returns its id
    (the old one whenever it is still free)."""
    with ws.db.session() as s:
        post_id = snapshot["post_id"]
        _get(s, Post, post_id, "Post")
        _make_room(s, post_id, snapshot["position"])
        section_id = snapshot["id"] if s.get(PostSection, snapshot["id"]) is None else None
        section = PostSection(post_id=post_id, position=snapshot["position"], title=snapshot["title"])
        if section_id is not None:
            section.id = section_id
        s.add(section)
        s.flush()
        old_ids = [v["id"] for v in snapshot["versions"]]
        taken = set(s.scalars(select(ContentVersion.id).where(ContentVersion.id.in_(old_ids)))) if old_ids else set()
        run_ids = {v["run_id"] for v in snapshot["versions"] if v["run_id"]}
        runs = set(s.scalars(select(Run.id).where(Run.id.in_(run_ids)))) if run_ids else set()
        new_ids: dict[int | None, int] = {}  # looked up by accepted_version_id, None for a field without one
        for data in snapshot["versions"]:
            values = {**data, "run_id": data["run_id"] if data["run_id"] in runs else None}
            del values["id"]
            version = ContentVersion(post_id=post_id, section_id=section.id, **values)
            if data["id"] not in taken:
                version.id = data["id"]
            s.add(version)
            s.flush()
            new_ids[data["id"]] = version.id
        for f in snapshot["fields"]:
            accepted = new_ids.get(f["accepted_version_id"])
            s.add(ContentField(post_id=post_id, section_id=section.id, name=f["name"],
                               value=f.get("stored_value", f["value"]) if accepted else f["value"],
                               accepted_version_id=accepted))
        s.flush()
    announce(ws, Changes.of(sections=[(post_id, section.id)]))
    return section.id


def _version_row(v: ContentVersion) -> SnapshotVersion:
    return SnapshotVersion(id=v.id, field=v.field, kind=v.kind, value=v.value, asset_id=v.asset_id, status=v.status,
                           source=v.source, run_id=v.run_id, unit_id=v.unit_id, meta=v.meta, created_at=v.created_at,
                           starred=v.starred)


def _make_room(s: Session, post_id: int, position: int) -> None:
    """Shift the sections at `position` and after down one place, so an inserted one keeps its order."""
    for sec in s.scalars(select(PostSection).where(PostSection.post_id == post_id,
                                                   PostSection.position >= position)):
        sec.position += 1


# --- fields ---------------------------------------------------------------------------------------------------

def check_field_name(name: str) -> str:
    name = (name or "").strip()
    if not re.match(FIELD_NAME_RE, name):
        raise EditError(f"{name!r} is not a valid field name: use letters, digits and _, starting with a letter.")
    return name


def save_field(ws: Workspace, post_id: int, section_id: int | None, name: str, text: str,
               expected_lock_version: int | None) -> SavedField:
    """An editor's save: a new version that becomes the field's value, refused (ConflictError) when the field
    changed since the editor loaded it. expected_lock_version None means "the field did not exist yet".

    Returns version_id, previous_version_id (what an undo re-accepts) and the field's new lock_version.
    """
    name = check_field_name(name)
    try:
        with ws.db.session() as s:
            field = content.get_field(s, post_id, section_id, name)
            if field is None and expected_lock_version is not None:
                raise ConflictError(f"Field {name!r}", mine=text, theirs=None)
            if field is not None and field.lock_version != expected_lock_version:
                raise ConflictError(f"Field {name!r}", mine=text, theirs=field.value)
            previous = field.accepted_version_id if field is not None else None
            # A value without a version (set outside content.py) gets one first, which bumps the lock:
            # the check above already guarded this save, and the flush still guards the row itself.
            recheck = field is not None and (field.accepted_version_id is not None or field.value is None)
            version = content.write_text(s, post_id, section_id, name, text, source="editor",
                                         expected_lock_version=expected_lock_version if recheck else None)
            field = content.get_field(s, post_id, section_id, name)
            assert field is not None  # write_text has just made it
            if previous is None:
                previous = _previous_accepted(s, field, version.id)
    except IntegrityError:
        # Two editors creating the same field at once: the unique index stops the second.
        raise ConflictError(f"Field {name!r}", mine=text, theirs=None) from None
    announce(ws, Changes.of(fields=[FieldRef(post_id, section_id, name)]))
    return SavedField(version_id=version.id, previous_version_id=previous, lock_version=field.lock_version)


def _previous_accepted(s: Session, field: ContentField, new_id: int) -> int | None:
    return s.scalar(select(ContentVersion.id)
                    .where(ContentVersion.post_id == field.post_id, ContentVersion.field == field.name,
                           ContentVersion.section_id.is_(None) if field.section_id is None
                           else ContentVersion.section_id == field.section_id,
                           ContentVersion.id != new_id, ContentVersion.status == "superseded")
                    .order_by(ContentVersion.id.desc()).limit(1))


def accept_field_version(ws: Workspace, version_id: int) -> int:
    """Make a version the field's value again (undo/redo of a field edit). Returns the new lock_version."""
    with ws.db.session() as s:
        version = content.accept_version(s, version_id)
        field = content.get_field(s, version.post_id, version.section_id, version.field)
        assert field is not None  # the version's field: accept_version has just made the version its value
    announce(ws, field_changed(version))
    return field.lock_version


def withdraw_field_version(ws: Workspace, version_id: int) -> int | None:
    """Undo the first text a field ever had: the version is rejected (kept), the field falls back."""
    with ws.db.session() as s:
        version = content.reject_version(s, version_id)
        field = content.get_field(s, version.post_id, version.section_id, version.field)
    announce(ws, field_changed(version))
    return field.lock_version if field is not None else None


def field_changed(version: ContentVersion) -> Changes:
    """The field a version belongs to, as a change."""
    return Changes.of(fields=[FieldRef(version.post_id, version.section_id, version.field)])


# --- demo -----------------------------------------------------------------------------------------------------

def demo_bundle() -> dict[str, Any]:
    """The demo bundle, shipped inside the package (wfdesk/resources): found from a checkout, a wheel or a zip."""
    from importlib import resources

    ref = resources.files("wfdesk") / "resources" / DEMO_FILE
    try:
        text = ref.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"The demo file {DEMO_FILE} is missing from this installation of wfdesk; "
                            "reinstall wfdesk to get it back.") from None
    bundle: dict[str, Any] = json.loads(text)  # our own file: a JSON object
    return bundle


def load_demo(ws: Workspace, path: Path | None = None) -> dict[str, int]:
    """Import the demo post, its sections and the reference document's three steps (one transaction)."""
    data = json.loads(path.read_text(encoding="utf-8")) if path is not None else demo_bundle()
    with ws.db.session() as s:
        counts = import_bundle(s, data)
    announce(ws, IMPORTED)
    return counts


# --- helpers --------------------------------------------------------------------------------------------------

def _title(title: str, message: str) -> str:
    title = (title or "").strip()
    if not title:
        raise EditError(message)
    if len(title) > 500:
        raise EditError("A title has at most 500 characters.")
    return title


def _get(s: Session, table: type, row_id: int, what: str) -> Any:
    row = s.get(table, row_id)
    if row is None:
        raise NotFoundError(f"{what} {row_id} does not exist")
    return row
