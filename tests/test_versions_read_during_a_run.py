"""A section's versions read while a run saves a new one: the list never shows an older version as the field's
value next to the newer one that already is (the panel would offer no revert for the version the editor picked)."""

from __future__ import annotations

from sqlalchemy import event

from wfdesk.db import content
from wfdesk.services.review import field_versions


def test_a_version_saved_between_the_reads_never_leaves_an_older_one_marked_current(demo):
    with demo.db.session() as s:
        content.write_text(s, 53, 711, "polished", "First polish.")
    saved: list[str] = []

    def save_between(conn, cursor, statement, parameters, context, executemany) -> None:
        if saved or not statement.lstrip().upper().startswith("SELECT"):
            return
        saved.append(statement)  # a run in another process saves its answer, right after the first read
        with demo.db.session() as other:
            content.write_text(other, 53, 711, "polished", "Second polish.")

    event.listen(demo.db.engine, "after_cursor_execute", save_between)
    try:
        versions = field_versions(demo, 53, "polished", [711])[711]
    finally:
        event.remove(demo.db.engine, "after_cursor_execute", save_between)
    assert saved
    current = [v for v in versions if v["current"]]
    newest = versions[0]
    assert not current or current[0]["id"] == newest["id"], [(v["value"], v["current"]) for v in versions]
