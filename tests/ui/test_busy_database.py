"""Edits while another process holds the database (a run writing in its child process): a message in context,
never the generic "Something went wrong" box, and nothing half-done; the same edit works once it is free."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLineEdit, QMenu, QMessageBox
from sqlalchemy import event

from ui.editor_input import (
    activate,
    answer_modal,
    click,
    click_button,
    click_cell,
    focused,
    plain,
    press,
    right_click,
    tree_item,
    type_text,
    wheel_into_view,
)
from wfdesk.services import queries

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


def _answer_title(qtbot, text: str) -> list[str]:
    """When the title dialog (New post, Rename post) opens: type `text` over what it holds and click OK. The list
    returned gets what went wrong, if anything (the dialog is then closed so the test does not hang)."""
    errors: list[str] = []

    def answer(dialog) -> None:
        try:
            qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=WAIT)  # it has the keyboard
            line = dialog.findChild(QLineEdit)
            click(qtbot, line)
            assert focused() is line, f"the click left the focus on {focused()!r}"
            press(qtbot, "Ctrl+A")
            type_text(qtbot, text)
            click_button(qtbot, dialog, "OK")
        except AssertionError as exc:
            errors.append(str(exc))
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # only to end a failed test instead of hanging in its loop

    answer_modal(qtbot, answer)
    return errors


def _context_menu(qtbot, tree, row: str, *path: str) -> None:
    """Right-click a row of the list and click through its context menu (a submenu, then its item)."""
    state = {"level": 0, "error": "", "deadline": time.monotonic() + WAIT / 1000}

    def pick(parent: QMenu | None) -> None:
        level = state["level"]
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu) or menu is parent or not menu.isVisible():
            if time.monotonic() > state["deadline"]:
                state["error"] = f"no menu opened for “{path[level]}”"
            else:
                QTimer.singleShot(30, lambda: pick(parent))
            return
        actions = [a for a in menu.actions() if a.isVisible() and plain(a.text()) == path[level]]
        if not actions or not actions[0].isEnabled():
            state["error"] = f"no enabled “{path[level]}” in the menu: {[plain(a.text()) for a in menu.actions()]}"
            qtbot.keyClick(menu, Qt.Key.Key_Escape)
            return
        state["level"] = level + 1
        qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(actions[0]).center())
        if level + 1 < len(path):
            QTimer.singleShot(30, lambda: pick(menu))

    item = tree_item(tree, row)
    rect = wheel_into_view(tree, lambda: tree.visualItemRect(item))
    QTimer.singleShot(0, lambda: pick(None))
    right_click(tree.viewport(), QPoint(30, rect.center().y()))
    qtbot.waitUntil(lambda: state["level"] == len(path) or bool(state["error"]), timeout=WAIT + 1000)
    assert not state["error"], state["error"]


def _rename(qtbot, posts, title: str, new: str) -> None:
    errors = _answer_title(qtbot, new)
    _context_menu(qtbot, posts.tree, title, "Rename…")
    assert not errors, errors


def _set_status(qtbot, posts, title: str, status: str) -> None:
    _context_menu(qtbot, posts.tree, title, "Set status", status)


def _type_into_field(qtbot, view, section_id: int, field: str, text: str) -> None:
    """Click the field's cell, click into its text and type `text` over it."""
    click_cell(qtbot, view, section_id, field)
    click(qtbot, view.editor)
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)


def _post(ws, post_id: int = 53) -> dict:
    return next(p for p in queries.list_posts(ws) if p["id"] == post_id)


def test_rename_and_status_of_a_post_while_busy(qtbot, main_window, warnings_shown, monkeypatch):
    ws, posts = main_window.ws, main_window.posts
    title = "A week in the Scottish Highlands"
    activate(qtbot, main_window)
    with database_held(ws):
        _rename(qtbot, posts, title, "Highlands in a week")
        qtbot.waitUntil(lambda: len(warnings_shown) == 1, timeout=WAIT)
        _set_status(qtbot, posts, title, "Review")
        qtbot.waitUntil(lambda: len(warnings_shown) == 2, timeout=WAIT)
    assert warnings_shown == [("Post not changed", f"Could not rename the post: {BUSY}"),
                              ("Post not changed", f"Could not change the status: {BUSY}")]
    assert (_post(ws)["title"], _post(ws)["status"]) == ("A week in the Scottish Highlands", "draft")

    assert posts.current_title() == title  # the list still shows the post as it is
    _rename(qtbot, posts, title, "Highlands in a week")  # free again: the same edit goes through
    qtbot.waitUntil(lambda: posts.current_title() == "Highlands in a week", timeout=WAIT)
    _set_status(qtbot, posts, "Highlands in a week", "Review")
    qtbot.waitUntil(lambda: posts.tree.topLevelItem(0).text(1) == "review", timeout=WAIT)
    assert (_post(ws)["title"], _post(ws)["status"]) == ("Highlands in a week", "review")
    assert len(warnings_shown) == 2


def test_new_post_while_busy(qtbot, main_window, warnings_shown):
    ws = main_window.ws
    activate(qtbot, main_window)
    with database_held(ws):
        errors = _answer_title(qtbot, "Lisbon by tram")
        click_button(qtbot, main_window, "New post")
        assert not errors, errors
        qtbot.waitUntil(lambda: bool(warnings_shown), timeout=WAIT)
    assert warnings_shown == [("New post", f"Could not create the post: {BUSY}")]
    assert [p["title"] for p in queries.list_posts(ws)] == ["A week in the Scottish Highlands"]

    errors = _answer_title(qtbot, "Lisbon by tram")
    click_button(qtbot, main_window, "New post")
    assert not errors, errors
    qtbot.waitUntil(lambda: main_window.posts.current_title() == "Lisbon by tram", timeout=WAIT)
    assert len(warnings_shown) == 1


def test_saving_field_text_while_busy_keeps_the_text(qtbot, main_window, warnings_shown):
    ws, view = main_window.ws, main_window.sections
    activate(qtbot, main_window)
    _type_into_field(qtbot, view, 711, "draft", "Rain over Loch Ness.")
    with database_held(ws):
        press(qtbot, "Ctrl+S")
        qtbot.waitUntil(lambda: bool(warnings_shown), timeout=WAIT)
    assert warnings_shown == [("Not saved", f"Could not save: {BUSY}")]
    assert view.is_dirty()
    assert view.editor.toPlainText() == "Rain over Loch Ness."
    assert queries.field_value(ws, 53, 711, "draft")["value"] != "Rain over Loch Ness."

    press(qtbot, "Ctrl+S")  # free again: the same save goes through
    assert queries.field_value(ws, 53, 711, "draft")["value"] == "Rain over Loch Ness."
    assert not view.is_dirty()
    assert view.editor_state.text() == "Saved"
    assert len(warnings_shown) == 1


def test_a_conflict_whose_other_version_cannot_be_read(qtbot, main_window, warnings_shown, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from wfdesk.services import editing

    ws, view = main_window.ws, main_window.sections
    activate(qtbot, main_window)
    click_cell(qtbot, view, 711, "draft")
    # Another editor saves the field first, through their own session.
    editing.save_field(ws, 53, 711, "draft", "Theirs.", queries.field_value(ws, 53, 711, "draft")["lock_version"])
    click(qtbot, view.editor)
    press(qtbot, "Ctrl+A")
    type_text(qtbot, "Mine.")

    def locked(*_args, **_kwargs):
        raise OperationalError("SELECT …", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(queries, "field_value", locked)
    press(qtbot, "Ctrl+S")
    qtbot.waitUntil(lambda: bool(warnings_shown), timeout=WAIT)
    assert warnings_shown
    assert warnings_shown[0][0] == "Not saved"
    assert warnings_shown[0][1].endswith(BUSY)
    assert view.is_dirty()
    assert view.editor.toPlainText() == "Mine."
    monkeypatch.undo()
    assert queries.field_value(ws, 53, 711, "draft")["value"] == "Theirs."
    click_button(qtbot, main_window, "Discard changes")  # the window closes without asking
    assert not view.is_dirty()
