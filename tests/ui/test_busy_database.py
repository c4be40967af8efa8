"""Edits while another process holds the database (a run writing in its child process): a message in context,
never the generic "Something went wrong" box, and nothing half-done; the same edit works once it is free."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import event

from wfdesk.db import queries

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out
BUSY = "the database is busy, try again"


@contextmanager
def database_held(ws) -> Iterator[None]:
    """Another connection holds SQLite's write lock; the app's writers give up after 0.2 s (not 10 s)."""
    engine = ws.db.engine

    def short_busy_timeout(dbapi_conn, _record) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=200")
        cursor.close()

    engine.dispose()  # new connections, with the short timeout
    event.listen(engine, "connect", short_busy_timeout)
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()
        event.remove(engine, "connect", short_busy_timeout)
        engine.dispose()


@pytest.fixture
def warnings_shown(monkeypatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda _parent, title, text, *a, **k: shown.append((title, text))))
    return shown


def _answer_text(monkeypatch, text: str) -> None:
    monkeypatch.setattr("wfdesk.ui.post_list.ask_title", lambda *a, **k: (text, True))


def _post(ws, post_id: int = 53) -> dict:
    return next(p for p in queries.list_posts(ws) if p["id"] == post_id)


def test_rename_and_status_of_a_post_while_busy(qtbot, main_window, warnings_shown, monkeypatch):
    ws, posts = main_window.ws, main_window.posts
    _answer_text(monkeypatch, "Highlands in a week")
    with database_held(ws):
        posts.rename_post(53, "A week in the Scottish Highlands")
        qtbot.waitUntil(lambda: len(warnings_shown) == 1, timeout=WAIT)
        posts.set_status(53, "review")
        qtbot.waitUntil(lambda: len(warnings_shown) == 2, timeout=WAIT)
    assert warnings_shown == [("Post not changed", f"Could not rename the post: {BUSY}"),
                              ("Post not changed", f"Could not change the status: {BUSY}")]
    assert (_post(ws)["title"], _post(ws)["status"]) == ("A week in the Scottish Highlands", "draft")

    posts.rename_post(53, "A week in the Scottish Highlands")  # free again: the same edit goes through
    qtbot.waitUntil(lambda: posts.current_title() == "Highlands in a week", timeout=WAIT)
    posts.set_status(53, "review")
    qtbot.waitUntil(lambda: posts.tree.topLevelItem(0).text(1) == "review", timeout=WAIT)
    assert (_post(ws)["title"], _post(ws)["status"]) == ("Highlands in a week", "review")
    assert len(warnings_shown) == 2


def test_new_post_while_busy(qtbot, main_window, warnings_shown, monkeypatch):
    ws = main_window.ws
    _answer_text(monkeypatch, "Lisbon by tram")
    with database_held(ws):
        main_window.new_post()
        qtbot.waitUntil(lambda: bool(warnings_shown), timeout=WAIT)
    assert warnings_shown == [("New post", f"Could not create the post: {BUSY}")]
    assert [p["title"] for p in queries.list_posts(ws)] == ["A week in the Scottish Highlands"]

    main_window.new_post()
    qtbot.waitUntil(lambda: main_window.posts.current_title() == "Lisbon by tram", timeout=WAIT)


def test_saving_field_text_while_busy_keeps_the_text(qtbot, main_window, warnings_shown):
    ws, view = main_window.ws, main_window.sections
    view.select_cell(711, "draft")
    view.editor.setPlainText("Rain over Loch Ness.")
    with database_held(ws):
        assert not view.save_field()
    assert warnings_shown == [("Not saved", f"Could not save: {BUSY}")]
    assert view.is_dirty() and view.editor.toPlainText() == "Rain over Loch Ness."
    assert queries.field_value(ws, 53, 711, "draft")["value"] != "Rain over Loch Ness."

    assert view.save_field()
    assert queries.field_value(ws, 53, 711, "draft")["value"] == "Rain over Loch Ness."


def test_a_conflict_whose_other_version_cannot_be_read(qtbot, main_window, warnings_shown, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from wfdesk.db import editing

    ws, view = main_window.ws, main_window.sections
    view.select_cell(711, "draft")
    editing.save_field(ws, 53, 711, "draft", "Theirs.", queries.field_value(ws, 53, 711, "draft")["lock_version"])
    view.editor.setPlainText("Mine.")

    def locked(*_args, **_kwargs):
        raise OperationalError("SELECT …", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(queries, "field_value", locked)
    assert not view.save_field()
    assert warnings_shown and warnings_shown[0][0] == "Not saved" and warnings_shown[0][1].endswith(BUSY)
    assert view.is_dirty() and view.editor.toPlainText() == "Mine."
    monkeypatch.undo()
    assert queries.field_value(ws, 53, 711, "draft")["value"] == "Theirs."
    view.discard_changes()  # the window closes without asking
