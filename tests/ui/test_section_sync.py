"""The sections table and the step panel's section picker share the current section; the picker filters its
sections; a deleted section brought back with Ctrl+Z comes back ticked as it was. All by mouse and keyboard."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox

from wfdesk.scripts.registry import execute_step_script
from wfdesk.ui.sections_table import COL_TITLE

from .editor_input import click_item
from .gui_input import TIMEOUT, answer_next_question, click, click_row, click_tree_item, focused, press
from .widget_reading import section_state

K = Qt.Key
CTRL = Qt.KeyboardModifier.ControlModifier


def open_step(qtbot, window, step_id: int):
    qtbot.waitUntil(lambda: window.steps.item_for(step_id) is not None, timeout=TIMEOUT)
    item = window.steps.item_for(step_id)
    click_item(qtbot, window.steps, item)
    qtbot.waitUntil(lambda: window.current_panel() is not None and window.current_panel().data is not None
                    and window.current_panel().step_id == step_id, timeout=TIMEOUT)
    panel = window.current_panel()
    qtbot.waitUntil(lambda: len(panel.picker.section_ids()) == 3, timeout=TIMEOUT)
    return panel


def click_table_title(qtbot, window, title: str) -> None:
    table = window.sections.table
    rows = [r for r in range(table.rowCount()) if table.item(r, COL_TITLE).text() == title]
    assert len(rows) == 1
    click_row(qtbot, table.frozen, rows[0], COL_TITLE)  # the title column is the frozen view in front


def table_section(window) -> int | None:
    section = window.sections.current_section()
    return section["id"] if section else None


def shown_titles(picker) -> list[str]:
    tree = picker.tree
    return [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())
            if not tree.topLevelItem(i).isHidden()]


def choose(qtbot, combo: QComboBox, text: str) -> None:
    """Open the drop-down with the mouse and click the entry."""
    click(qtbot, combo)
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=TIMEOUT)
    qtbot.wait(QApplication.doubleClickInterval() + 50)  # Qt ignores a release this soon after the popup opens
    row = combo.findText(text)
    assert row >= 0, f"no “{text}” in the filter"
    click(qtbot, view.viewport(), view.visualRect(view.model().index(row, 0)).center())
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=TIMEOUT)
    assert combo.currentText() == text


def test_table_and_picker_follow_each_other(qtbot, main_window):
    window = main_window
    panel = open_step(qtbot, window, 1)
    click_table_title(qtbot, window, "Glen Affric")
    qtbot.waitUntil(lambda: panel.picker.current_id() == 712, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "Glen Affric" in panel.review.heading.text(), timeout=TIMEOUT)

    click_tree_item(qtbot, panel.picker.tree, "Isle of Skye")
    qtbot.waitUntil(lambda: table_section(window) == 713, timeout=TIMEOUT)

    # Another step's panel opens on the section the editor is on.
    click_table_title(qtbot, window, "Arriving in Inverness")
    other = open_step(qtbot, window, 2)
    qtbot.waitUntil(lambda: other.picker.current_id() == 711, timeout=TIMEOUT)
    assert table_section(window) == 711


@pytest.fixture
def polished_with_a_failure(gui_ws, loopback):
    """Step 1 run on 711 (done) and 712 (refused by the provider) before the window opens; 713 never run."""
    def refuse_glen_affric(_index, rec):
        if "glen affric" in json.dumps(rec.json or {}).lower():
            return 400, {"Content-Type": "application/json"}, json.dumps(
                {"error": {"message": "refused", "type": "invalid_request_error"}}).encode()
        return None

    loopback.fail = refuse_glen_affric
    result = execute_step_script(1, 53, {"section_ids": [711, 712]})
    loopback.fail = None
    assert [r["status"] for r in result["results"]] == ["success", "error"]
    return gui_ws


@pytest.fixture
def image_awaiting_review(gui_ws, loopback):
    assert execute_step_script(2, 53, {"section_ids": [712]})["success"]
    return gui_ws


def test_picker_filter_all_failed_not_run(qtbot, polished_with_a_failure, main_window):
    panel = open_step(qtbot, main_window, 1)
    qtbot.waitUntil(lambda: section_state(panel.picker, 712).startswith("failed"), timeout=TIMEOUT)
    combo = panel.picker.filter_combo
    assert combo.isVisible()
    assert combo.isEnabled()
    choose(qtbot, combo, "Failed")
    assert shown_titles(panel.picker) == ["Glen Affric"]
    assert panel.picker.current_id() == 712  # the current row is a shown one
    choose(qtbot, combo, "Not run")
    assert shown_titles(panel.picker) == ["Isle of Skye"]
    # "All" ticks the sections shown, so the next run is exactly them.
    click(qtbot, panel.picker.all_button)
    assert panel.picker.checked_ids() == [713]
    assert "1 of 3" in panel.picker.count_label.text()
    choose(qtbot, combo, "All sections")
    assert shown_titles(panel.picker) == ["Arriving in Inverness", "Glen Affric", "Isle of Skye"]
    # Choosing in the table a section the filter hides shows it: the filter goes back to all sections.
    choose(qtbot, combo, "Failed")
    click_table_title(qtbot, main_window, "Isle of Skye")
    qtbot.waitUntil(lambda: panel.picker.current_id() == 713, timeout=TIMEOUT)
    assert combo.currentText() == "All sections"
    assert "Isle of Skye" in shown_titles(panel.picker)


def test_picker_filter_awaiting_review(qtbot, image_awaiting_review, main_window):
    panel = open_step(qtbot, main_window, 2)
    combo = panel.picker.filter_combo
    qtbot.waitUntil(lambda: combo.model().item(combo.findText("Awaiting review")).isEnabled(), timeout=TIMEOUT)
    choose(qtbot, combo, "Awaiting review")
    assert shown_titles(panel.picker) == ["Glen Affric"]
    qtbot.waitUntil(lambda: panel.strip.count() == 1, timeout=TIMEOUT)
    click_row(qtbot, panel.strip, 0)
    press(qtbot, K.Key_A)  # accepted: nothing awaits review any more
    qtbot.waitUntil(lambda: shown_titles(panel.picker) == [], timeout=TIMEOUT)
    assert not panel.picker.empty_label.isHidden()


def test_undo_of_a_delete_brings_the_section_back_ticked_as_it_was(qtbot, main_window):
    window = main_window
    panel = open_step(qtbot, window, 1)
    picker = panel.picker
    click_tree_item(qtbot, picker.tree, "Glen Affric")
    press(qtbot, K.Key_Space)  # untick it
    assert picker.checked_ids() == [711, 713]

    for title, ticked in (("Isle of Skye", True), ("Glen Affric", False)):
        click_table_title(qtbot, window, title)
        answer_next_question(qtbot, "Yes")
        press(qtbot, K.Key_Delete)
        qtbot.waitUntil(lambda t=title: t not in [picker.title_of(s) for s in picker.section_ids()],
                        timeout=TIMEOUT)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=TIMEOUT)
        click_table_title(qtbot, window, "Arriving in Inverness")
        press(qtbot, K.Key_Z, CTRL)
        qtbot.waitUntil(lambda: len(picker.section_ids()) == 3, timeout=TIMEOUT)
        sid = next(s for s in picker.section_ids() if picker.title_of(s) == title)
        assert (sid in picker.checked_ids()) is ticked, title
    assert focused() is not None
