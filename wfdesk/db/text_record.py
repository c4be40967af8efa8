"""The engine's text write: what content.write_text does, in statements built once.

A run writes one text version per section. Through the ORM that write (a SELECT with its joined version, two
flushes, the unit of work's bookkeeping) cost more CPU than the rest of a section's own work together; here it is
four small statements. The rows are the same as write_text's (a test compares them), the same optimistic lock
guards the field, and the change is announced as the ORM's would be (wfdesk.db.notify).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from wfdesk.db import content
from wfdesk.db.models import ContentField, ContentVersion, utcnow
from wfdesk.db.notify import note_field_written
from wfdesk.errors import ConflictError

_fields: Table = ContentField.__table__  # type: ignore[assignment]
_versions: Table = ContentVersion.__table__  # type: ignore[assignment]

_STATE = select(_fields.c.id, _fields.c.value, _fields.c.accepted_version_id, _fields.c.lock_version).where(
    _fields.c.post_id == bindparam("post_id"), _fields.c.name == bindparam("name"))
_POST_STATE = _STATE.where(_fields.c.section_id.is_(None))
_SECTION_STATE = _STATE.where(_fields.c.section_id == bindparam("section_id"))
_NEW_VERSION = insert(_versions)
_NEW_FIELD = insert(_fields)
_SUPERSEDE = (update(_versions).where(_versions.c.id == bindparam("previous_id"), _versions.c.status == "accepted")
              .values(status="superseded"))
_POINT = (update(_fields).where(_fields.c.id == bindparam("field_id"), _fields.c.lock_version == bindparam("lock"))
          .values(value=None, accepted_version_id=bindparam("version_id"), lock_version=_fields.c.lock_version + 1))


def record_text(session: Session, post_id: int, section_id: int | None, name: str, text: str, *,
                run_id: int | None, unit_id: int | None, meta: dict[str, Any] | None) -> int:
    """A run's answer as the field's new accepted version; returns the version's id. Raises ConflictError when
    someone else changed the field between the read and the write (the caller tries again)."""
    if _held_by_the_session(session, post_id, section_id, name):
        # This session already holds the field as an object, which these statements would leave stale.
        return content.write_text(session, post_id, section_id, name, text, run_id=run_id, unit_id=unit_id,
                                  meta=meta).id
    where = {"post_id": post_id, "name": name}
    state = (session.execute(_POST_STATE, where) if section_id is None
             else session.execute(_SECTION_STATE, {**where, "section_id": section_id})).first()
    if state is not None and state.value is not None and state.accepted_version_id is None:
        # A value from an import or a plain edit first gets a version of its own: write_text knows how.
        return content.write_text(session, post_id, section_id, name, text, run_id=run_id, unit_id=unit_id,
                                  meta=meta).id
    now = utcnow()
    inserted = session.execute(_NEW_VERSION, {
        "post_id": post_id, "section_id": section_id, "field": name, "kind": "text", "value": text,
        "status": "accepted", "source": "run", "run_id": run_id, "unit_id": unit_id, "metadata": meta or {},
        "created_at": now})
    key = cast("CursorResult[Any]", inserted).inserted_primary_key
    assert key is not None  # a one-row INSERT has one
    version_id = int(key[0])
    if state is None:
        session.execute(_NEW_FIELD, {"post_id": post_id, "section_id": section_id, "name": name, "value": None,
                                     "accepted_version_id": version_id, "lock_version": 1, "updated_at": now})
    else:
        if state.accepted_version_id is not None:
            session.execute(_SUPERSEDE, {"previous_id": state.accepted_version_id})
        pointed = session.execute(_POINT, {"field_id": state.id, "lock": state.lock_version,
                                           "version_id": version_id})
        if cast("CursorResult[Any]", pointed).rowcount != 1:
            raise ConflictError(f"Field {name!r}", mine=text, theirs=None)
    note_field_written(session, post_id, section_id, name)
    return version_id


def _held_by_the_session(session: Session, post_id: int, section_id: int | None, name: str) -> bool:
    return any(isinstance(obj, ContentField) and (obj.post_id, obj.section_id, obj.name) == (post_id, section_id, name)
               for obj in session.identity_map.values())
