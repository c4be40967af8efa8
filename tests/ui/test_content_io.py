"""Drafts in and posts out through the window: File → New post from file… (typed into the file dialog), files
dropped on the window, a draft pasted into an empty post, File → Export post…, and the WordPress panel."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
)
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ui.editor_input import click_item  # noqa: E402
from wfdesk.content import post_fields as pf  # noqa: E402
from wfdesk.db.models import Post, WorkflowStepEntity  # noqa: E402
from wfdesk.services import editing  # noqa: E402
from wfdesk.services.queries import post_detail  # noqa: E402
from wfdesk.ui.content_io import ExportPostDialog, ImportOptionsDialog  # noqa: E402

from content_drafts import draft_folder, png, word_draft  # noqa: E402
from loopback_wordpress import WordPressServer  # noqa: E402

WAIT = 15_000


def post_count(ws) -> int:
    with ws.db.session() as s:
        return s.scalar(select(func.count()).select_from(Post))


def choose_menu(qtbot, window, menu_title: str, text: str) -> None:
    """Open a menu of the menu bar with the mouse and click one of its entries."""
    bar = window.menuBar()
    top = next(a for a in bar.actions() if a.text() == menu_title)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(top).center())
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=WAIT)
    menu = QApplication.activePopupWidget()
    action = next(a for a in menu.actions() if a.text() == text)
    assert action.isEnabled()
    assert action.isVisible()
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def modal(qtbot, kind):
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), kind), timeout=WAIT)
    return QApplication.activeModalWidget()


def click_button(qtbot, dialog, text: str) -> None:
    button = next(b for b in dialog.findChildren(QPushButton) if b.text().replace("&", "") == text
                  and b.isVisible() and b.isEnabled())
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def type_into(qtbot, widget, text: str) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)


def message(qtbot, window) -> QMessageBox:
    """The message the window shows, as the editor sees it: the box on top of the window, waiting for OK."""
    box = modal(qtbot, QMessageBox)
    assert box.parent() is window
    return box


def drop_files(window, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(window.width() // 2, window.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()


def test_new_post_from_a_markdown_file_through_the_menu(qtbot, main_window, tmp_path):
    folder = draft_folder(tmp_path)
    choose_menu(qtbot, main_window, "&File", "New post from &file…")
    dialog = modal(qtbot, QFileDialog)
    name_edit = dialog.findChild(QLineEdit, "fileNameEdit")
    assert name_edit is not None
    assert name_edit.isVisible()
    # The path goes in as one paste: typed key by key, the dialog changes folder at every "/".
    QGuiApplication.clipboard().setText(str(folder / "highlands.md"))
    qtbot.keyClick(name_edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(name_edit, Qt.Key.Key_Return)
    options = modal(qtbot, ImportOptionsDialog)
    type_into(qtbot, options.level_spin, "3")  # cut at ### too
    field = options.field_combo.lineEdit()
    type_into(qtbot, field, "notes")
    click_button(qtbot, options, "Make the post")
    qtbot.waitUntil(lambda: main_window.posts.current_title() == "A Week in the Highlands"
                    and main_window.sections.table.rowCount() == 5, timeout=WAIT)
    post = post_detail(main_window.ws, main_window.post_id)
    assert [s["title"] for s in post["sections"]] == ["Introduction", "Glen Affric", "Where we stayed",
                                                      "The Coast Road", "Home"]
    assert post["sections"][2]["fields"] == {"notes": "A bothy by the river."}
    assert "Made “A Week in the Highlands” with 5 section(s)." in main_window.statusBar().currentMessage()


def test_dropping_a_word_draft_on_the_window_makes_a_post(qtbot, main_window, tmp_path):
    path = word_draft(tmp_path / "harvest.docx")
    drop_files(main_window, [path])
    options = modal(qtbot, ImportOptionsDialog)
    assert "harvest.docx" in options.source_label.text()
    click_button(qtbot, options, "Make the post")
    qtbot.waitUntil(lambda: main_window.posts.current_title() == "Harvest Report"
                    and main_window.sections.table.rowCount() == 3, timeout=WAIT)
    apples = post_detail(main_window.ws, main_window.post_id)["sections"][1]["fields"]["draft"]
    assert "The crop was **excellent** and *early*." in apples


@pytest.mark.parametrize(("make", "words"), [
    (lambda tmp: _write(tmp / "photo.md", png("black") + b"\x00" * 64), "not a text file"),
    (lambda tmp: _write(tmp / "empty.md", b""), "is empty"),
    (lambda tmp: draft_folder(tmp) / "outside_image.md", "outside the draft's folder"),
    (lambda tmp: _write(tmp / "picture.png", png("white")), "is not a draft wfdesk can read"),
])
def test_a_bad_dropped_file_gets_a_message_and_nothing_is_made(qtbot, main_window, tmp_path, make, words):
    before = post_count(main_window.ws)
    drop_files(main_window, [make(tmp_path)])
    click_button(qtbot, modal(qtbot, ImportOptionsDialog), "Make the post")
    box = message(qtbot, main_window)
    assert box.icon() == QMessageBox.Icon.Warning
    assert words in box.text()
    assert "Nothing was changed." in box.text()
    assert "Error" not in box.text()
    assert "Traceback" not in box.text()
    assert post_count(main_window.ws) == before
    click_button(qtbot, box, "OK")


def test_dropping_several_drafts_with_one_bad_makes_none(qtbot, main_window, tmp_path):
    # "Nothing was changed" must be true: the good draft dropped with a bad one is not made either.
    folder = draft_folder(tmp_path)
    before = post_count(main_window.ws)
    drop_files(main_window, [folder / "highlands.md", _write(tmp_path / "empty.md", b"")])
    options = modal(qtbot, ImportOptionsDialog)
    assert "2 drafts" in options.source_label.text()
    click_button(qtbot, options, "Make the post")
    box = message(qtbot, main_window)
    assert "“empty.md” is empty" in box.text()
    assert "Nothing was changed." in box.text()
    assert post_count(main_window.ws) == before
    click_button(qtbot, box, "OK")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_pasting_markdown_into_an_empty_post(qtbot, main_window):
    ws = main_window.ws
    post_id = editing.create_post(ws, "Pasted later")
    main_window.posts.reload(select_id=post_id)  # what New post does after creating one
    qtbot.waitUntil(lambda: main_window.post_id == post_id and main_window.sections.table.rowCount() == 0,
                    timeout=WAIT)
    QGuiApplication.clipboard().setText("## First\n\nOne *fine* day.\n\n## Second\n\n- a\n- b\n")
    table = main_window.sections.table
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    options = modal(qtbot, ImportOptionsDialog)
    click_button(qtbot, options, "Make the post")
    qtbot.waitUntil(lambda: main_window.sections.table.rowCount() == 2, timeout=WAIT)
    post = post_detail(ws, post_id)
    assert post["title"] == "Pasted later"
    assert [(s["title"], s["fields"]["draft"]) for s in post["sections"]] == [("First", "One *fine* day."),
                                                                              ("Second", "- a\n- b")]


def test_pasting_html_from_a_browser_into_an_empty_post(qtbot, main_window):
    post_id = editing.create_post(main_window.ws, "From the web")
    main_window.posts.reload(select_id=post_id)
    qtbot.waitUntil(lambda: main_window.post_id == post_id and main_window.sections.table.rowCount() == 0,
                    timeout=WAIT)
    mime = QMimeData()
    mime.setHtml("<h2>Found</h2><p>A <em>good</em> <a href='https://e.org'>page</a>.</p>")
    mime.setText("Found A good page.")
    QGuiApplication.clipboard().setMimeData(mime)
    qtbot.mouseClick(main_window.sections.table.viewport(), Qt.MouseButton.LeftButton)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    click_button(qtbot, modal(qtbot, ImportOptionsDialog), "Make the post")
    qtbot.waitUntil(lambda: main_window.sections.table.rowCount() == 1, timeout=WAIT)
    section = post_detail(main_window.ws, post_id)["sections"][0]
    assert (section["title"], section["fields"]["draft"]) == ("Found", "A *good* [page](https://e.org).")


def test_paste_into_a_post_that_has_sections_does_nothing(qtbot, main_window):
    QGuiApplication.clipboard().setText("## X\n\ny\n")
    table = main_window.sections.table
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(200)
    assert not isinstance(QApplication.activeModalWidget(), ImportOptionsDialog)
    assert main_window.sections.table.rowCount() == 3


def test_export_post_through_the_menu(qtbot, main_window, tmp_path):
    ws = main_window.ws
    for n, section in enumerate(post_detail(ws, 53)["sections"]):
        editing.save_field(ws, 53, section["id"], "draft", f"Text of section {n}.", section["locks"].get("draft"))
    editing.save_field(ws, 53, post_detail(ws, 53)["sections"][0]["id"], "polished", "Polished first.", None)
    choose_menu(qtbot, main_window, "&File", "Export p&ost…")
    dialog = modal(qtbot, ExportPostDialog)
    combo = dialog.format_combo
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: combo.view().isVisible(), timeout=WAIT)
    qtbot.keyClick(combo.view(), Qt.Key.Key_Home)
    qtbot.keyClick(combo.view(), Qt.Key.Key_Return)  # Markdown, the first format
    assert combo.currentData() == "markdown"
    type_into(qtbot, dialog.folder_edit, str(tmp_path / "out"))
    click_button(qtbot, dialog, "Export")
    box = message(qtbot, main_window)
    document = next((tmp_path / "out").glob("*.md"))
    assert f"Wrote {document}" in box.text()
    text = document.read_text()
    assert "Polished first." in text
    assert "Text of section 1." in text
    assert "has no text in the preferred field; used draft" in box.text()  # sections 2 and 3 fell back
    click_button(qtbot, box, "OK")


def test_export_dialog_offers_the_body_fields(qtbot, main_window):
    choose_menu(qtbot, main_window, "&File", "Export p&ost…")
    dialog = modal(qtbot, ExportPostDialog)
    items = [dialog.body_combo.itemText(i) for i in range(dialog.body_combo.count())]
    assert items[0] == "Automatic: the first filled of Polished Content, Processed Data, Section Content"
    assert "Section Content" in items[1:]
    assert "Polished Content" in items[1:]  # the steps' labels, not field keys
    click_button(qtbot, dialog, "Cancel")
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)


# --- the WordPress panel -------------------------------------------------------------------------------------------

@pytest.fixture
def wp(monkeypatch, tmp_path):
    """The loopback WordPress site, and a keyring in a file that the app's run process reads too."""
    import keyring
    from file_keyring import FileKeyring

    tests_dir = str(Path(__file__).resolve().parent.parent)
    monkeypatch.setenv("WFDESK_TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "file_keyring.FileKeyring")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p))
    monkeypatch.delenv("WFDESK_WORDPRESS_APP_PASSWORD", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    with WordPressServer() as server:
        server.add_user("editor", "abcd EFGH 1234 ijkl MNOP 6789")
        yield server
    keyring.set_keyring(previous)


def test_wordpress_panel_publishes_and_reports_remote_changes(qtbot, main_window, wp):
    ws = main_window.ws
    config = {"script_config": {"type": "wordpress_publish",
                                "parameters": {"site_url": wp.site_url, "username": "editor", "timeout": 10}}}
    with ws.db.session() as s:
        step = WorkflowStepEntity(name="publish_to_wordpress", stage="Publishing", position=9, config=config)
        s.add(step)
        s.flush()
        step_id = step.id
    for section in post_detail(ws, 53)["sections"]:
        editing.save_field(ws, 53, section["id"], "draft", f"About {section['title']}.", section["locks"].get("draft"))
    main_window.steps.reload()
    qtbot.waitUntil(lambda: main_window.steps.item_for(step_id) is not None, timeout=WAIT)
    steps = main_window.steps
    item = steps.item_for(step_id)
    click_item(qtbot, steps, item)
    qtbot.waitUntil(lambda: type(main_window.current_panel()).__name__ == "WordPressPublishPanel", timeout=WAIT)
    panel = main_window.current_panel()
    qtbot.waitUntil(lambda: "No application password" in panel.password_state.text(), timeout=WAIT)
    assert panel.site_label.text() == wp.site_url
    assert not panel.picker.isVisible()
    qtbot.keyClicks(panel.password_edit, "abcd EFGH 1234 ijkl MNOP 6789")
    qtbot.mouseClick(panel.save_password_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "is kept" in panel.password_state.text(), timeout=WAIT)
    assert panel.password_edit.text() == ""

    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=WAIT)
    assert panel.run_button.text() == "Publish draft"
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "/?p=" in panel.link_label.text(), timeout=WAIT)
    remote_id = next(iter(wp.posts))
    assert panel.remote_status_label.text() == "draft"
    assert f"{wp.site_url}/?p={remote_id}" in panel.link_label.text()
    assert "<h2>" in wp.posts[remote_id]["content"]["raw"]

    wp.edit_on_site(remote_id, "Changed in wp-admin.")
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "was changed on" in panel.status_text(), timeout=WAIT)
    assert wp.posts[remote_id]["content"]["raw"] == "Changed in wp-admin."

    check = panel.replace_check  # clicked on its box (the widget is wider than box and words)
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))
    assert panel.replace_check.isChecked()
    qtbot.waitUntil(lambda: panel.run_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Draft saved on the site" in panel.status_text(), timeout=WAIT)
    assert "<h2>" in wp.posts[remote_id]["content"]["raw"]
    assert len(wp.posts) == 1
    assert not panel.replace_check.isChecked()
    assert post_detail(ws, 53)["fields"][pf.WORDPRESS_POST_ID] == str(remote_id)


def test_front_matter_kept_from_the_draft_is_shown_when_exporting(qtbot, main_window, tmp_path):
    drop_files(main_window, [draft_folder(tmp_path) / "highlands.md"])
    click_button(qtbot, modal(qtbot, ImportOptionsDialog), "Make the post")
    qtbot.waitUntil(lambda: main_window.posts.current_title() == "A Week in the Highlands", timeout=WAIT)
    choose_menu(qtbot, main_window, "&File", "Export p&ost…")
    dialog = modal(qtbot, ExportPostDialog)
    assert dialog.kept_label.isVisible()
    assert "author: Morag" in dialog.kept_label.text()
    assert "tags: travel, scotland" in dialog.kept_label.text()
    click_button(qtbot, dialog, "Cancel")
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
