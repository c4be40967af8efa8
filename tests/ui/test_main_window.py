"""The main window on the demo data: posts, steps by stage, sections with undo, field edits, first start, close."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox

from ui.editor_input import (
    activate,
    answer_modal,
    choose_menu,
    choose_post,
    click,
    click_button,
    click_cell,
    click_row,
    focused,
    press,
    toggle_section,
    type_text,
)
from ui.widget_reading import step_state
from wfdesk.db import content
from wfdesk.db.models import WorkflowStepEntity
from wfdesk.services import editing, queries
from wfdesk.ui.sections_view import COL_TITLE, FIRST_FIELD_COL

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def _db_sections(ws, post_id=53):
    return [(s["id"], s["title"]) for s in queries.post_detail(ws, post_id)["sections"]]


def _table_titles(window):
    table = window.sections.table
    return [table.item(row, COL_TITLE).text() for row in range(table.rowCount())]


def _answer(monkeypatch, button=QMessageBox.StandardButton.Yes):
    asked = []

    def question(_parent, title, text, *args, **kwargs):
        asked.append((title, text))
        return button

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


@pytest.fixture
def open_main_window(qtbot, gui_ws):
    """The main window opened on the demo workspace as it is *now*: a test adds its posts through the database
    first, then opens the window, which lists them (the window has no refresh an editor could press)."""
    from wfdesk.ui.main_window import MainWindow

    opened = []

    def open_() -> MainWindow:
        window = MainWindow(gui_ws)
        qtbot.addWidget(window)
        opened.append(window)
        window.show()
        qtbot.waitUntil(lambda: window.post_id != 0, timeout=WAIT)  # the list shows its first post
        activate(qtbot, window)
        choose_post(qtbot, window, "A week in the Scottish Highlands")  # the demo post, as the other tests have it
        qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=WAIT)
        return window

    yield open_
    for window in opened:
        if not window._closing_done:
            window.close()


def quit_window(qtbot, window) -> None:
    """File → Quit, as the editor closes the window."""
    activate(qtbot, window)
    choose_menu(qtbot, window, "File", "Quit")


def retype(qtbot, widget, text: str) -> None:
    """Click into a field, select what it holds (Ctrl+A) and type the new text over it."""
    click(qtbot, widget)
    assert focused() is widget, f"the click left the focus on {focused()!r}"
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)


def switch_database(qtbot, window, path) -> None:
    """File → Settings…, the SQLite file changed to `path` in the Database tab, Save: the window reopens there."""
    from wfdesk.ui.settings_dialog import SettingsDialog

    errors: list[str] = []

    def change(dialog) -> None:
        try:
            assert isinstance(dialog, SettingsDialog), f"{dialog!r} opened instead of Settings"
            qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=WAIT)  # it has the keyboard
            retype(qtbot, dialog.findChild(QLineEdit, "sqlite_path"), str(path))
            click_button(qtbot, dialog, "Save")
        except AssertionError as exc:
            errors.append(str(exc))
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # only to end a failed test instead of hanging in its loop

    activate(qtbot, window)
    answer_modal(qtbot, change)
    choose_menu(qtbot, window, "File", "Settings…")
    assert not errors, errors


def _stage_tree(window):
    tree = window.steps
    out = {}
    for i in range(tree.topLevelItemCount()):
        stage = tree.topLevelItem(i)
        out[stage.text(0)] = [(stage.child(j).text(0), stage.child(j).text(2)) for j in range(stage.childCount())]
    return out


def test_window_shows_the_demo_post_its_steps_by_stage_and_sections(qtbot, main_window):
    qtbot.waitUntil(lambda: main_window.steps.topLevelItemCount() == 3, timeout=WAIT)
    assert _stage_tree(main_window) == {
        "Writing": [("polish_sections", "never run")],
        "Illustration": [("section_illustrations", "never run")],
        "Publishing": [("process_data", "never run")],
    }
    assert _table_titles(main_window) == ["Arriving in Inverness", "Glen Affric", "Isle of Skye"]
    headers = [main_window.sections.table.horizontalHeaderItem(c).text()
               for c in range(main_window.sections.table.columnCount())]
    assert headers == ["#", "Title", "Section Content", "Image Prompts", "Input Data"]  # the steps' labels
    assert main_window.posts.tree.topLevelItem(0).text(1) == "draft"
    assert main_window.status.database.label.text() == "Database: gui.db (SQLite)"
    # The provider is the loopback server: the background check finds it.
    qtbot.waitUntil(lambda: main_window.status.provider.label.text() == "Provider: online", timeout=WAIT)


def choose_step(qtbot, window, name: str):
    activate(qtbot, window)
    qtbot.waitUntil(lambda: bool(window.steps.findItems(name, Qt.MatchFlag.MatchRecursive)), timeout=WAIT)
    click_row(qtbot, window.steps, name)
    qtbot.waitUntil(lambda: window.current_panel() is not None and window.current_panel().data is not None
                    and window.current_panel().title_label.text() == name
                    and window.current_panel().run_button.isEnabled(), timeout=WAIT)
    return window.current_panel()


def test_step_states_count_up_while_a_run_goes(qtbot, main_window, loopback):
    loopback.latency = 0.4
    with main_window.ws.db.session() as s:  # one section at a time, so the count goes 0, 1, 2, 3
        step = s.get(WorkflowStepEntity, 1)
        config = json.loads(json.dumps(step.config))
        config["script_config"].setdefault("parameters", {})["concurrency"] = 1
        step.config = config
    panel = choose_step(qtbot, main_window, "polish_sections")
    seen = set()
    main_window.runs.unit_changed.connect(lambda *_: seen.add(step_state(main_window.steps, 1)))
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT):
        click(qtbot, panel.run_button)
        qtbot.waitUntil(lambda: step_state(main_window.steps, 1).startswith("running "), timeout=WAIT)
    assert {"running 1/3", "running 2/3"} <= seen
    qtbot.waitUntil(lambda: step_state(main_window.steps, 1) == "done", timeout=WAIT)


def test_a_real_run_updates_the_step_state_and_the_sections(qtbot, main_window, loopback):
    assert main_window.runs is not None, "the run controller failed to import: see the log"
    panel = choose_step(qtbot, main_window, "polish_sections")
    click(qtbot, panel.picker.none_button)
    for title in ("Arriving in Inverness", "Glen Affric"):
        toggle_section(qtbot, panel.picker, title)
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT):
        click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: step_state(main_window.steps, 1) == "done", timeout=WAIT)
    qtbot.waitUntil(lambda: "polished" in main_window.sections.field_names(), timeout=WAIT)
    assert main_window.status.jobs.label.text() == "No runs in progress"
    assert queries.field_value(main_window.ws, 53, 713, "polished")["value"] is None


def test_search_and_status_filter_the_posts(qtbot, gui_ws, open_main_window):
    other = editing.create_post(gui_ws, "Lisbon by tram")
    editing.set_post_status(gui_ws, other, "review")
    main_window = open_main_window()
    qtbot.waitUntil(lambda: main_window.posts.tree.topLevelItemCount() == 2, timeout=WAIT)

    activate(qtbot, main_window)
    click(qtbot, main_window.posts.search)
    qtbot.keyClicks(main_window.posts.search, "lisbon")
    qtbot.waitUntil(lambda: [main_window.posts.tree.topLevelItem(i).text(0)
                             for i in range(main_window.posts.tree.topLevelItemCount())] == ["Lisbon by tram"],
                    timeout=WAIT)
    press(qtbot, "Ctrl+A")
    press(qtbot, "Backspace")
    qtbot.waitUntil(lambda: main_window.posts.tree.topLevelItemCount() == 2, timeout=WAIT)
    combo = main_window.posts.status_filter
    click(qtbot, combo)  # opens its list; the editor picks "draft" with the keys
    qtbot.waitUntil(lambda: combo.view().isVisible(), timeout=WAIT)
    steps = combo.findData("draft") - combo.currentIndex()
    for _ in range(steps):
        press(qtbot, "Down")
    press(qtbot, "Return")
    qtbot.waitUntil(lambda: main_window.posts.tree.topLevelItemCount() == 1
                    and main_window.posts.tree.topLevelItem(0).text(0) == "A week in the Scottish Highlands",
                    timeout=WAIT)


def test_sections_add_rename_move_delete_and_undo(qtbot, main_window, monkeypatch):
    ws, view = main_window.ws, main_window.sections
    activate(qtbot, main_window)

    click(qtbot, view.add_button)
    assert [t for _, t in _db_sections(ws)] == ["Arriving in Inverness", "Glen Affric", "Isle of Skye",
                                                  "New section"]
    new_id = _db_sections(ws)[-1][0]
    qtbot.waitUntil(lambda: view.table.rowCount() == 4, timeout=WAIT)

    # The new section's title opens for typing; Return renames it (the delegate commits on the next loop).
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    assert editor.text() == "New section"
    press(qtbot, "Ctrl+A")
    type_text(qtbot, "Going home")
    assert press(qtbot, "Return") is editor
    qtbot.waitUntil(lambda: _db_sections(ws)[-1] == (new_id, "Going home"), timeout=WAIT)
    qtbot.waitUntil(lambda: _table_titles(main_window)[-1] == "Going home", timeout=WAIT)
    # F2 opens a title for renaming too; Escape leaves it as it was.
    click_cell(qtbot, view, 711)
    press(qtbot, "F2")
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit)
    assert editor.text() == "Arriving in Inverness"
    press(qtbot, "Esc")

    # Alt+Up moves the selected section up.
    click_cell(qtbot, view, new_id)
    press(qtbot, "Alt+Up")
    assert [sid for sid, _ in _db_sections(ws)] == [711, 712, new_id, 713]
    qtbot.waitUntil(lambda: _table_titles(main_window)[2] == "Going home", timeout=WAIT)

    # Delete Glen Affric (with its fields), confirmed; undo brings everything back.
    asked = _answer(monkeypatch)
    click_cell(qtbot, view, 712)
    click(qtbot, view.delete_button)
    assert asked
    assert "Glen Affric" in asked[0][1]
    assert [sid for sid, _ in _db_sections(ws)] == [711, new_id, 713]
    qtbot.waitUntil(lambda: view.table.rowCount() == 3, timeout=WAIT)

    press(qtbot, "Ctrl+Z")
    assert [sid for sid, _ in _db_sections(ws)] == [711, 712, new_id, 713]
    assert queries.field_value(ws, 53, 712, "draft")["value"].startswith("glen affric")
    press(qtbot, "Ctrl+Z")  # the move
    assert [sid for sid, _ in _db_sections(ws)] == [711, 712, 713, new_id]
    press(qtbot, "Ctrl+Z")  # the rename
    assert _db_sections(ws)[-1] == (new_id, "New section")
    press(qtbot, "Ctrl+Z")  # the add
    assert [sid for sid, _ in _db_sections(ws)] == [711, 712, 713]
    press(qtbot, "Ctrl+Shift+Z")
    assert _db_sections(ws)[-1] == (new_id, "New section")
    qtbot.waitUntil(lambda: view.table.rowCount() == 4, timeout=WAIT)


def test_editing_a_field_saves_a_version_and_undo_reaccepts_the_old_one(qtbot, main_window):
    ws, view = main_window.ws, main_window.sections
    activate(qtbot, main_window)
    click_cell(qtbot, view, 712, "draft")
    assert view.editor.toPlainText().startswith("glen affric is maybe")
    click(qtbot, view.editor)
    press(qtbot, "Ctrl+A")
    qtbot.keyClicks(view.editor, "Glen Affric may be the most beautiful glen.")
    assert view.save_button.isEnabled()
    press(qtbot, "Ctrl+S")

    with ws.db.session() as s:
        versions = [(v.value, v.status, v.source) for v in content.versions_of(s, 53, 712, "draft")]
    assert versions[-1] == ("Glen Affric may be the most beautiful glen.", "accepted", "editor")
    assert versions[0][1] == "superseded"
    assert view.editor_state.text() == "Saved"
    qtbot.waitUntil(lambda: view.table.item(1, FIRST_FIELD_COL).text().startswith("Glen Affric may"), timeout=WAIT)

    # Back in the table (the draft cell): Ctrl+Z there is the window's undo, not the text box's own.
    click_cell(qtbot, view, 712, "draft")
    press(qtbot, "Ctrl+Z")
    assert queries.field_value(ws, 53, 712, "draft")["value"].startswith("glen affric is maybe")
    qtbot.waitUntil(lambda: view.editor.toPlainText().startswith("glen affric is maybe"), timeout=WAIT)
    press(qtbot, "Ctrl+Shift+Z")
    assert queries.field_value(ws, 53, 712, "draft")["value"] == "Glen Affric may be the most beautiful glen."
    # A later save after undo/redo uses the fresh lock version: no false conflict.
    qtbot.waitUntil(lambda: view.editor.toPlainText().startswith("Glen Affric may"), timeout=WAIT)
    click(qtbot, view.editor)
    press(qtbot, "Ctrl+A")
    qtbot.keyClicks(view.editor, "Glen Affric, again.")
    press(qtbot, "Ctrl+S")
    assert queries.field_value(ws, 53, 712, "draft")["value"] == "Glen Affric, again."


def test_a_concurrent_change_shows_both_versions(qtbot, main_window, monkeypatch):
    ws, view = main_window.ws, main_window.sections
    activate(qtbot, main_window)
    click_cell(qtbot, view, 711, "draft")
    click(qtbot, view.editor)
    press(qtbot, "Ctrl+A")
    qtbot.keyClicks(view.editor, "My polished arrival.")
    # A second editor saves the same field first, through their own session.
    with ws.db.session() as s:
        content.write_text(s, 53, 711, "draft", "Their arrival text.", source="editor")

    shown = []

    def exec_(box):
        shown.append((box.text(), box.detailedText()))
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    press(qtbot, "Ctrl+S")
    assert shown
    assert "changed by someone else" in shown[0][0]
    assert "My polished arrival." in shown[0][1]
    assert "Their arrival text." in shown[0][1]
    assert queries.field_value(ws, 53, 711, "draft")["value"] == "Their arrival text."
    assert view.editor.toPlainText() == "Their arrival text."
    assert not view.is_dirty()
    with ws.db.session() as s:
        assert "My polished arrival." not in [v.value for v in content.versions_of(s, 53, 711, "draft")]


def test_first_start_on_an_empty_database_offers_the_demo(qtbot, empty_gui_ws, monkeypatch):
    from wfdesk.ui.main_window import MainWindow

    window = MainWindow(empty_gui_ws)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.posts.tree.topLevelItemCount() == 1, timeout=WAIT)  # the "no posts" hint
    asked = _answer(monkeypatch)
    assert window.offer_demo_if_empty()
    assert asked
    assert "empty" in asked[0][1]
    assert not queries.is_empty(empty_gui_ws)
    qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=WAIT)
    qtbot.waitUntil(lambda: window.steps.topLevelItemCount() == 3, timeout=WAIT)
    # Not offered again once there is data.
    assert not window.offer_demo_if_empty()
    window.close()


def test_closing_with_no_runs_closes_cleanly(qtbot, main_window, monkeypatch):
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    quit_window(qtbot, main_window)
    assert main_window._closing_done
    assert not asked
    assert not main_window.isVisible()
    if main_window.runs is not None:
        assert main_window.runs.active_count() == 0


def test_closing_with_unsaved_text_can_be_cancelled(qtbot, main_window, monkeypatch):
    view = main_window.sections
    activate(qtbot, main_window)
    click_cell(qtbot, view, 713, "draft")
    click(qtbot, view.editor)
    press(qtbot, "Ctrl+A")
    type_text(qtbot, "unsaved words")
    assert view.is_dirty()
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    quit_window(qtbot, main_window)
    assert asked
    assert "not saved" in asked[0][1]
    assert main_window.isVisible()
    assert not main_window._closing_done
    _answer(monkeypatch, QMessageBox.StandardButton.Save)
    quit_window(qtbot, main_window)
    assert main_window._closing_done
    assert not main_window.isVisible()
    assert queries.field_value(main_window.ws, 53, 713, "draft")["value"] == "unsaved words"


def test_menus_open_the_step_settings_and_llm_action_dialogs(qtbot, main_window, monkeypatch):
    from PySide6.QtWidgets import QDialog

    opened = []

    def exec_(dialog):
        opened.append(type(dialog).__name__)
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(QDialog, "exec", exec_)
    qtbot.waitUntil(lambda: main_window.steps.current_step()[0] == 1, timeout=WAIT)
    activate(qtbot, main_window)
    for menu, item in (("Step", "Edit step config…"), ("Step", "New step…"), ("Step", "Edit this post's override…"),
                       ("Step", "LLM actions…"), ("File", "Settings…")):
        before = len(opened)
        choose_menu(qtbot, main_window, menu, item)
        qtbot.waitUntil(lambda n=before: len(opened) > n, timeout=WAIT)
    assert opened == ["StepConfigDialog", "StepConfigDialog", "StepConfigDialog", "LLMActionDialog",
                      "SettingsDialog"]


def test_main_starts_on_the_default_workspace_marks_interrupted_runs_and_logs(qtbot, tmp_path, monkeypatch):
    import logging
    import socket
    import sys

    from wfdesk.db.models import Run
    from wfdesk.ui import app
    from wfdesk.ui.main_window import OPEN_WINDOWS
    from wfdesk.workspace import open_workspace

    monkeypatch.setenv("WFDESK_DATA_DIR", str(tmp_path / "appdata"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    # A run left "running" by a process that no longer exists.
    ws = open_workspace()
    with ws.db.session() as s:
        s.add(Run(step_name="x", script_type="llm_action", status="running",
                  owner=f"{socket.gethostname()}:999999999"))
    ws.close()

    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)

    def fake_exec(_self):
        qtbot.waitUntil(lambda: bool(OPEN_WINDOWS) and OPEN_WINDOWS[0].isVisible(), timeout=WAIT)
        qtbot.waitUntil(lambda: bool(asked), timeout=WAIT)  # the demo is offered once the loop runs
        for window in list(OPEN_WINDOWS):
            window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    handlers = list(logging.getLogger().handlers)
    try:
        assert app.main([]) == 0
    finally:
        for handler in logging.getLogger().handlers[len(handlers):]:
            logging.getLogger().removeHandler(handler)
            handler.close()
    assert "empty" in asked[0][1]  # the demo was offered (and declined)
    ws = open_workspace()
    with ws.db.session() as s:
        assert [r.status for r in s.query(Run)] == ["interrupted"]
    ws.close()
    logs = list((tmp_path / "state").rglob("wfdesk.log"))
    assert logs
    assert "starting" in logs[0].read_text()


def test_an_unopenable_database_is_a_message_with_a_way_to_settings(qtbot, tmp_path, monkeypatch):
    from wfdesk.ui import app

    monkeypatch.setenv("WFDESK_DATABASE_URL", "postgresql+psycopg2://bob:secret@127.0.0.1:1/nowhere")
    shown = []

    def exec_(box):
        shown.append((box.text(), box.informativeText(), [b.text() for b in box.buttons()]))
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    assert app.open_or_ask() is None  # nothing clicked: Quit
    text, info, buttons = shown[0]
    assert "cannot open its database" in text
    assert "secret" not in text
    assert "bob:***@127.0.0.1:1" in text
    assert "Connection refused" in info or "connect" in info.lower()
    assert "Open Settings…" in buttons


def test_an_error_escaping_a_slot_is_logged_and_shown_in_one_line(qtbot, monkeypatch, caplog):
    from wfdesk.ui import app

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda _p, title, text, *a: shown.append(text)))
    try:
        raise RuntimeError("the disk is full\nsecond line")
    except RuntimeError as exc:
        app.excepthook(RuntimeError, exc, exc.__traceback__)
    assert shown
    assert shown[0].startswith("the disk is full\n")  # in words: the exception's name is in the log only
    assert "RuntimeError" not in shown[0]
    assert "second line" not in shown[0]
    assert "Traceback" in caplog.text


def test_undo_of_an_edit_on_another_post_shows_that_post(qtbot, gui_ws, open_main_window):
    other = editing.create_post(gui_ws, "Lisbon by tram")
    main_window = open_main_window()  # it lists the post added above
    ws, view = main_window.ws, main_window.sections
    activate(qtbot, main_window)
    click_cell(qtbot, view, 711)
    press(qtbot, "Alt+Down")
    assert [sid for sid, _ in _db_sections(ws)] == [712, 711, 713]
    qtbot.waitUntil(lambda: main_window.posts.tree.topLevelItemCount() == 2, timeout=WAIT)
    click_row(qtbot, main_window.posts.tree, "Lisbon by tram")
    qtbot.waitUntil(lambda: main_window.post_id == other and view.post_id == other, timeout=WAIT)
    press(qtbot, "Ctrl+Z")
    assert [sid for sid, _ in _db_sections(ws)] == [711, 712, 713]
    qtbot.waitUntil(lambda: main_window.post_id == 53 and _table_titles(main_window)[:1] == ["Arriving in Inverness"],
                    timeout=WAIT)


def test_export_then_import_json_in_the_background(qtbot, main_window, tmp_path, monkeypatch):
    import json

    from PySide6.QtWidgets import QFileDialog

    target = tmp_path / "export.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    activate(qtbot, main_window)
    choose_menu(qtbot, main_window, "File", "Export everything…")
    # Done when it says so (the file appears a moment before; a late message would cover the import's).
    qtbot.waitUntil(lambda: "Exported" in main_window.statusBar().currentMessage(), timeout=WAIT)
    data = json.loads(target.read_text())
    assert [p["title"] for p in data["posts"]] == ["A week in the Scottish Highlands"]

    data["posts"].append({"id": 60, "title": "Imported post", "status": "review", "sections": []})
    source = tmp_path / "import.json"
    source.write_text(json.dumps(data))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(source), "")))
    choose_menu(qtbot, main_window, "File", "Import everything…")
    qtbot.waitUntil(lambda: main_window.posts.tree.topLevelItemCount() == 2, timeout=WAIT)
    assert "Imported" in main_window.statusBar().currentMessage()

    source.write_text('{"posts": [{"id": 61}]}')  # no title: refused, nothing changed
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda _p, title, text, *a: shown.append(text)))
    choose_menu(qtbot, main_window, "File", "Import everything…")
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT)
    assert "Import failed" in shown[0]
    assert "nothing was changed" in shown[0]


def test_a_new_post_gets_sections_and_the_workflow_input_fields(qtbot, main_window, monkeypatch):
    _answer(monkeypatch, QMessageBox.StandardButton.Discard)  # a failure must not leave a question at closing
    ws, view = main_window.ws, main_window.sections
    activate(qtbot, main_window)

    def name_it(dialog) -> None:
        qtbot.keyClicks(dialog.findChild(QLineEdit), "Lisbon by tram")
        click_button(qtbot, dialog, "OK")

    click_row(qtbot, main_window.posts.tree, "A week in the Scottish Highlands")  # the keyboard in the post list
    answer_modal(qtbot, name_it)
    press(qtbot, "Ctrl+N")
    qtbot.waitUntil(lambda: main_window.posts.current_title() == "Lisbon by tram", timeout=WAIT)
    activate(qtbot, main_window)  # the dialog closed: the window is in front again
    post_id = main_window.post_id
    qtbot.waitUntil(lambda: view.post_id == post_id and view.empty_hint.isVisible(), timeout=WAIT)
    assert "no sections yet" in view.empty_hint.text()

    click(qtbot, view.add_button)
    qtbot.waitUntil(lambda: view.table.rowCount() == 1, timeout=WAIT)
    assert view.field_names() == ["draft", "image_prompts", "raw_data"]  # what the demo steps read
    section_id = queries.post_detail(ws, post_id)["sections"][0]["id"]
    click_cell(qtbot, view, section_id, "draft")
    click(qtbot, view.editor)
    qtbot.keyClicks(view.editor, "Tram 28 climbs through Alfama.")
    press(qtbot, "Ctrl+S")
    assert queries.field_value(ws, post_id, section_id, "draft")["value"] == "Tram 28 climbs through Alfama."


def test_switching_database_opens_a_new_window_and_closes_the_old(qtbot, main_window, tmp_path, monkeypatch):
    from wfdesk.ui.main_window import OPEN_WINDOWS

    monkeypatch.setenv("WFDESK_DATA_DIR", str(tmp_path / "other"))  # the new database's files stay in tmp_path
    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)  # declines the demo on the new, empty database
    opened_before = len(OPEN_WINDOWS)
    switch_database(qtbot, main_window, tmp_path / "other.db")
    try:
        qtbot.waitUntil(lambda: len(OPEN_WINDOWS) > opened_before and main_window._closing_done, timeout=WAIT)
        assert not main_window.isVisible()
        new = OPEN_WINDOWS[-1]
        assert new is not main_window
        assert new.isVisible()
        assert new.ws is not main_window.ws
        assert new.ws.db.engine.url.database == str(tmp_path / "other.db")
        assert asked
        assert "empty" in asked[0][1]
        qtbot.waitUntil(lambda: new.posts.tree.topLevelItemCount() == 1, timeout=WAIT)  # the "no posts" hint
        assert new.status.database.label.text() == "Database: other.db (SQLite)"
    finally:
        for window in list(OPEN_WINDOWS):
            window.close()
            if window is not main_window:
                window.ws.close()


def test_switching_database_marks_its_interrupted_runs(qtbot, main_window, tmp_path, settings, monkeypatch):
    """As at app start: runs an earlier exit left 'running' in the database switched to become resumable."""
    import subprocess
    import sys

    from wfdesk.db.models import Run
    from wfdesk.runs import ledger
    from wfdesk.ui.main_window import OPEN_WINDOWS
    from wfdesk.workspace import open_workspace

    target = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'other.db'}",
                                         "data_dir": str(tmp_path / "other")})
    other = open_workspace(settings=target)
    post_id = editing.create_post(other, "Lisbon by tram")
    run_id, _units = ledger.create_run(other, step_id=None, post_id=post_id, step_name="polish", script_type="x",
                                       effective_config={}, context={}, section_ids=[None])
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with other.db.session() as s:  # left running by a process that no longer exists
        s.get(Run, run_id).owner = f"{ledger.OWNER.rpartition(':')[0]}:{int(gone.stdout)}"
    other.close()

    monkeypatch.setenv("WFDESK_DATA_DIR", str(tmp_path / "other"))  # as `target` has it
    opened_before = len(OPEN_WINDOWS)
    switch_database(qtbot, main_window, tmp_path / "other.db")
    try:
        qtbot.waitUntil(lambda: len(OPEN_WINDOWS) > opened_before, timeout=WAIT)
        new = OPEN_WINDOWS[-1]
        qtbot.waitUntil(lambda: main_window._closing_done, timeout=WAIT)
        assert not main_window.isVisible()
        assert new.status.database.label.text() == "Database: other.db (SQLite)"
        with new.ws.db.session() as s:
            assert s.get(Run, run_id).status == "interrupted"
    finally:
        for window in list(OPEN_WINDOWS):
            window.close()
            window.ws.close()


def test_the_step_list_shows_an_interrupted_run_and_its_images_to_review(qtbot, gui_ws, loopback):
    """A run the app did not see end (closed, crashed) shows as interrupted, also when it left images."""
    from ui.editor_input import activate, click, click_row
    from wfdesk.db.models import Run
    from wfdesk.ui.main_window import MainWindow

    window = MainWindow(gui_ws)
    qtbot.addWidget(window)
    window.show()
    activate(qtbot, window)
    qtbot.waitUntil(lambda: window.steps.item_for(2) is not None, timeout=WAIT)
    click_row(qtbot, window.steps, "section_illustrations")
    qtbot.waitUntil(lambda: window.current_panel() is not None and window.current_panel().run_button.isEnabled(),
                    timeout=WAIT)
    with qtbot.waitSignal(window.runs.run_finished, timeout=WAIT) as finished:
        click(qtbot, window.current_panel().run_button)
    qtbot.waitUntil(lambda: step_state(window.steps, 2) == "awaiting review (3 images)", timeout=WAIT)
    quit_window(qtbot, window)
    assert window._closing_done
    with gui_ws.db.session() as s:  # as the next start finds a run its app did not see end
        s.get(Run, finished.args[0]).status = "interrupted"

    again = MainWindow(gui_ws)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: step_state(again.steps, 2) == "interrupted (3 images to review)", timeout=WAIT)


def test_a_long_message_is_cut_beside_the_status_indicators(qtbot, main_window, monkeypatch):
    from PySide6.QtCore import QTimer

    from ui.editor_input import activate

    title = "A very long post title that goes on and on about the Highlands " * 4
    activate(qtbot, main_window)

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(50, answer)
            return
        qtbot.keyClicks(dialog.findChild(QLineEdit), title.strip())
        click_button(qtbot, dialog, "OK")

    click_row(qtbot, main_window.posts.tree, "A week in the Scottish Highlands")  # the keyboard in the post list
    QTimer.singleShot(0, answer)
    press(qtbot, "Ctrl+N")
    bar = main_window.statusBar()
    qtbot.waitUntil(lambda: bar.currentMessage().startswith("Created"), timeout=WAIT)
    shown = bar.message
    assert shown.isVisible()
    assert shown.geometry().right() < bar.jobs.geometry().left()  # never under the run indicator
    assert shown.fontMetrics().horizontalAdvance(shown.text()) <= shown.contentsRect().width()
    assert shown.text().endswith("…")
    assert shown.toolTip() == bar.currentMessage()
