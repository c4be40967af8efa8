"""The LLM actions dialog as a manager (issue 9, item 10), driven by keys and clicks: Return in a field never
saves; an unknown template variable is refused, naming it and what is available; actions can be browsed,
searched, created, duplicated and deleted (deleting one in use is refused, naming the steps)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.ui.input_helpers import button
from wfdesk.services import config_store as cs
from wfdesk.ui.config_editor import LLMActionDialog

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


@pytest.fixture
def manager(qtbot, gui_ws):
    def make(action_id: int | None = 5) -> LLMActionDialog:
        dialog = LLMActionDialog(gui_ws, action_id, preview_post_id=53)
        qtbot.addWidget(dialog)
        dialog.confirm_discard = lambda: True  # closing at teardown asks nothing
        dialog.show()
        qtbot.waitUntil(lambda: dialog.is_loaded and dialog.action_list.count() > 0, timeout=WAIT)
        return dialog

    return make


def type_into(qtbot, widget, text: str, replace: bool = True) -> None:
    qtbot.mouseClick(widget.viewport() if hasattr(widget, "viewport") else widget, Qt.MouseButton.LeftButton)
    if replace:
        qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)


def listed(dialog) -> list[str]:
    return [dialog.action_list.item(i).text() for i in range(dialog.action_list.count())
            if not dialog.action_list.item(i).isHidden()]


def click_item(qtbot, dialog, text: str) -> None:
    view = dialog.action_list
    item = next(view.item(i) for i in range(view.count()) if view.item(i).text() == text)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualItemRect(item).center())


def test_return_in_the_name_field_does_not_save(qtbot, manager, gui_ws):
    before = cs.load_action(gui_ws, 5)
    dialog = manager()
    type_into(qtbot, dialog.name_edit, "Polish v2")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Enter)
    qtbot.wait(200)
    assert dialog.isVisible()
    assert cs.load_action(gui_ws, 5) == before
    assert dialog.status.text() == "Unsaved changes"


def test_unknown_variable_is_refused_naming_it_and_what_exists(qtbot, manager, gui_ws):
    before = cs.load_action(gui_ws, 5)
    dialog = manager()
    dialog.template_edit.moveCursor(dialog.template_edit.textCursor().MoveOperation.End)
    type_into(qtbot, dialog.template_edit, " {{ tone }}", replace=False)
    qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)
    qtbot.wait(200)
    problem = dialog.template_problem
    assert problem.isVisible()
    assert "tone" in problem.text()
    assert "input1" in problem.text()
    assert "section.title" in problem.text()
    assert dialog.message.isVisible()
    assert "Not saved" in dialog.message.text()
    assert dialog.isVisible()
    assert cs.load_action(gui_ws, 5) == before


def test_browse_search_duplicate_and_delete(qtbot, manager, gui_ws):
    original = cs.load_action(gui_ws, 5)
    dialog = manager()
    assert listed(dialog) == [original.name]
    # Duplicate, rename, save: a second action with the same prompt.
    qtbot.mouseClick(button(dialog, "Duplicate"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy and dialog.name_edit.text() == f"{original.name} (copy)", timeout=WAIT)
    assert dialog.action_id is None
    assert dialog.status.text() == "Unsaved changes"
    type_into(qtbot, dialog.name_edit, "Shorten")
    with qtbot.waitSignal(dialog.saved, timeout=WAIT) as saved:
        qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)
    copy_id = saved.args[0]
    assert copy_id != 5
    assert cs.load_action(gui_ws, copy_id).prompt_template == original.prompt_template
    qtbot.waitUntil(lambda: sorted(listed(dialog)) == sorted([original.name, "Shorten"]), timeout=WAIT)
    # Search narrows the list.
    type_into(qtbot, dialog.search, "shor")
    assert listed(dialog) == ["Shorten"]
    dialog.search.clear()
    # The action a step uses cannot be deleted; the message names the step.
    click_item(qtbot, dialog, original.name)
    qtbot.waitUntil(lambda: not dialog.busy and dialog.action_id == 5, timeout=WAIT)
    qtbot.mouseClick(button(dialog, "Delete"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.message.isVisible(), timeout=WAIT)
    assert "polish_sections" in dialog.message.text()
    assert "nothing was deleted" in dialog.message.text()
    assert cs.load_action(gui_ws, 5) == original
    # The unused copy is deleted after a confirmation.
    click_item(qtbot, dialog, "Shorten")
    qtbot.waitUntil(lambda: not dialog.busy and dialog.action_id == copy_id, timeout=WAIT)

    def confirm():
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        assert "Shorten" in box.text()
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, lambda: qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(),
                                                                    QMessageBox)) or confirm())
    qtbot.mouseClick(button(dialog, "Delete"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: listed(dialog) == [original.name], timeout=WAIT)
    assert [a for a, _ in cs.list_actions(gui_ws)] == [5]
    # New: an empty action with the first input, saved under its name (once the delete is all done).
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    qtbot.mouseClick(button(dialog, "New"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy and dialog.action_id is None and dialog.name_edit.text() == "",
                    timeout=WAIT)
    type_into(qtbot, dialog.name_edit, "Summarise")
    type_into(qtbot, dialog.model_edit, "llama3")
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)
    assert sorted(name for _, name in cs.list_actions(gui_ws)) == sorted([original.name, "Summarise"])
    # Closing after saves tells the caller something changed.
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        qtbot.mouseClick(button(dialog, "Close"), Qt.MouseButton.LeftButton)


def test_the_preview_of_a_new_action_shows_where_the_steps_inputs_go(qtbot, manager, gui_ws):
    """No step uses a new action yet, so nothing fills input1: the preview shows where it will go instead of
    calling the variable unknown (saving accepts it, so the preview must not refuse it either)."""
    dialog = manager()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    qtbot.mouseClick(button(dialog, "New"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy and dialog.action_id is None, timeout=WAIT)
    assert dialog.section_combo.currentData() is not None  # a section of the post to preview with
    with qtbot.waitSignal(dialog.preview_ready, timeout=WAIT):
        type_into(qtbot, dialog.template_edit, "Tidy this: {{ input1 }}")
    qtbot.waitUntil(lambda: "Tidy this:" in dialog.preview.toPlainText(), timeout=WAIT)
    assert "input1" in dialog.preview.toPlainText()
    assert "step" in dialog.preview.toPlainText()
    assert not dialog.preview_error.isVisible()
    assert not dialog.template_problem.isVisible()
