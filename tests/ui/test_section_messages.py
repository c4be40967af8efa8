"""The sections view speaks the editor's words: columns, the field editor, its messages and the undo entry name a
field by the label the steps give it (never its stored name), and a section by its title."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from .gui_input import TIMEOUT, click, click_row, press

STORED_NAMES = ("draft", "image_prompts", "raw_data", "polished", "generated_image_url")


def test_columns_editor_and_messages_use_field_labels(qtbot, main_window):
    window = main_window
    table = window.sections.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers == ["#", "Title", "Section Content", "Image Prompts", "Input Data"]

    click_row(qtbot, table, 0, headers.index("Section Content"))
    label = window.sections.editor_label.text()
    assert "Section Content" in label, label
    assert "draft" not in label, label
    click(qtbot, window.sections.editor.viewport())
    assert QApplication.focusWidget() is window.sections.editor
    press(qtbot, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(QApplication.focusWidget(), " More.")
    with qtbot.waitSignal(window.sections.message, timeout=TIMEOUT) as saved:
        press(qtbot, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert saved.args[0] == "Saved “Section Content” of “Arriving in Inverness”."
    undo_text = window.undo_stack.undoText()
    assert undo_text == "Edit “Section Content”", undo_text
    for text in (saved.args[0], undo_text, label):
        assert not any(name in text for name in STORED_NAMES), text


def test_f2_renames_the_section_from_any_of_its_cells(qtbot, main_window):
    window = main_window
    table = window.sections.table
    click_row(qtbot, table, 1, 3)  # a field cell of "Glen Affric", not its title
    press(qtbot, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not table, timeout=TIMEOUT)
    editor = QApplication.focusWidget()
    assert editor.metaObject().className() in ("QLineEdit", "QExpandingLineEdit"), editor
    press(qtbot, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, "Glen Affric valley")
    press(qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.sections.section_at(1)["title"] == "Glen Affric valley", timeout=TIMEOUT)


def test_arrow_keys_move_from_the_title_into_the_fields_and_back(qtbot, main_window):
    window = main_window
    table = window.sections.table
    click_row(qtbot, table.frozen, 1, 1)  # the title of "Glen Affric", in the frozen columns in front
    press(qtbot, Qt.Key.Key_Right)
    assert (table.currentRow(), table.currentColumn()) == (1, 2)
    assert "Section Content" in window.sections.editor_label.text()
    assert "Glen Affric" in window.sections.editor_label.text()
    press(qtbot, Qt.Key.Key_Right)
    assert table.currentColumn() == 3
    press(qtbot, Qt.Key.Key_Left)
    press(qtbot, Qt.Key.Key_Left)
    assert (table.currentRow(), table.currentColumn()) == (1, 1)
    press(qtbot, Qt.Key.Key_Down)
    assert table.currentRow() == 2


def test_save_and_discard_buttons_by_mouse(qtbot, main_window):
    from .gui_input import click_button

    window = main_window
    click_row(qtbot, window.sections.table, 2, 2)  # "Isle of Skye", Section Content
    click(qtbot, window.sections.editor.viewport())
    qtbot.keyClicks(QApplication.focusWidget(), "Typed, then thrown away. ")
    click_button(qtbot, window.sections, "Discard changes")
    assert "Typed" not in window.sections.editor.toPlainText()
    click(qtbot, window.sections.editor.viewport())
    qtbot.keyClicks(QApplication.focusWidget(), "Kept. ")
    with qtbot.waitSignal(window.sections.message, timeout=TIMEOUT) as saved:
        click_button(qtbot, window.sections, "Save")
    assert saved.args[0] == "Saved “Section Content” of “Isle of Skye”."
    qtbot.waitUntil(lambda: "Kept." in window.sections.section_at(2)["fields"]["draft"], timeout=TIMEOUT)
