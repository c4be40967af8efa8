"""The engine's text write (wfdesk.db.text_record) leaves the rows content.write_text leaves, on both databases:
a new field, a field with an accepted version, a field holding an imported value, and a lost optimistic lock."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select

from wfdesk.db import content, text_record
from wfdesk.db.models import ContentField, ContentVersion
from wfdesk.errors import ConflictError

ORM_SECTION, CORE_SECTION = 711, 712
META = {"model": "gpt-4o-mini", "finish_reason": "stop"}


def _rows(ws, section_id: int, name: str) -> tuple[dict, list[dict]]:
    """The field and its versions, as comparable values (ids replaced by positions among the versions)."""
    with ws.db.session() as s:
        field = s.scalars(select(ContentField).where(ContentField.section_id == section_id,
                                                     ContentField.name == name)).one()
        versions = list(s.scalars(select(ContentVersion).where(ContentVersion.section_id == section_id,
                                                               ContentVersion.field == name)
                                  .order_by(ContentVersion.id)))
        ids = [v.id for v in versions]
        shown_field = {"value": field.value, "stored": field.stored_value, "lock": field.lock_version,
                       "points_at": ids.index(field.accepted_version_id)}
        shown_versions = [{"value": v.value, "status": v.status, "kind": v.kind, "source": v.source,
                           "run_id": v.run_id, "unit_id": v.unit_id, "meta": v.meta, "starred": v.starred,
                           "created": v.created_at is not None} for v in versions]
        return shown_field, shown_versions


def _orm(ws, section_id: int, name: str, text: str) -> int:
    with ws.db.session() as s:
        return content.write_text(s, 53, section_id, name, text, run_id=None, unit_id=7, meta=META).id


def _core(ws, section_id: int, name: str, text: str) -> int:
    with ws.db.session() as s:
        return text_record.record_text(s, 53, section_id, name, text, run_id=None, unit_id=7, meta=META)


def test_a_new_field_and_then_a_second_answer(demo):
    for write, section in ((_orm, ORM_SECTION), (_core, CORE_SECTION)):
        write(demo, section, "answer", "first")
        write(demo, section, "answer", "second")
    orm, core = _rows(demo, ORM_SECTION, "answer"), _rows(demo, CORE_SECTION, "answer")
    assert core == orm
    field, versions = core
    assert field["value"] == "second"
    assert field["lock"] == 2
    assert [v["status"] for v in versions] == ["superseded", "accepted"]


def test_a_field_holding_an_imported_value_keeps_it_as_a_version(demo):
    with demo.db.session() as s:  # a value set without a version, as an import or a plain edit leaves it
        for section in (ORM_SECTION, CORE_SECTION):
            s.add(ContentField(post_id=53, section_id=section, name="notes", stored_value="from the draft"))
    _orm(demo, ORM_SECTION, "notes", "answer")
    _core(demo, CORE_SECTION, "notes", "answer")
    assert _rows(demo, CORE_SECTION, "notes") == _rows(demo, ORM_SECTION, "notes")
    assert [v["value"] for v in _rows(demo, CORE_SECTION, "notes")[1]] == ["from the draft", "answer"]


def test_the_returned_id_is_the_accepted_version(demo):
    version_id = _core(demo, CORE_SECTION, "answer", "text")
    with demo.db.session() as s:
        assert content.get_field(s, 53, CORE_SECTION, "answer").accepted_version_id == version_id


def test_a_field_changed_since_it_was_read_is_a_conflict_and_nothing_is_written(demo, monkeypatch):
    _core(demo, CORE_SECTION, "answer", "first")
    before = _rows(demo, CORE_SECTION, "answer")
    fields = text_record._fields
    # The read sees the lock as it was before someone else's save.
    stale = (select(fields.c.id, fields.c.value, fields.c.accepted_version_id,
                    (fields.c.lock_version - 1).label("lock_version"))
             .where(fields.c.post_id == bindparam("post_id"),
                    fields.c.name == bindparam("name"),
                    fields.c.section_id == bindparam("section_id")))
    monkeypatch.setattr(text_record, "_SECTION_STATE", stale)
    with pytest.raises(ConflictError), demo.db.session() as s:
        text_record.record_text(s, 53, CORE_SECTION, "answer", "second", run_id=None, unit_id=8, meta=None)
    assert _rows(demo, CORE_SECTION, "answer") == before  # the transaction rolled back: no orphan version
