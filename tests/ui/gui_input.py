"""Acting on the GUI the way an editor does: find the visible, enabled widget by its text and click it; press keys
at the widget that has the focus. Shared by the review and section-sync tests; the plain click and focus come from
editor_input, the window tests' helpers, so every test clicks the same way (visible, enabled, on screen)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QApplication, QMessageBox, QTreeWidget, QWidget

from .editor_input import click, click_button, focused, wheel_into_view  # noqa: F401 - one click for every GUI test

TIMEOUT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def button(root: QWidget, text: str) -> QAbstractButton:
    """The one visible button labelled `text` under root; it must be enabled (an editor could click it)."""
    found = [b for b in root.findChildren(QAbstractButton) if b.isVisible() and b.text().replace("&", "") == text]
    assert len(found) == 1, f"expected one visible “{text}” button, found {len(found)}"
    assert found[0].isEnabled(), f"“{text}” is disabled"
    return found[0]


def visible_buttons(root: QWidget) -> list[str]:
    return sorted(b.text().replace("&", "") for b in root.findChildren(QAbstractButton) if b.isVisible() and b.text())


def click_row(qtbot, view: QAbstractItemView, row: int, column: int = 0) -> None:
    """Click the cell of a list, tree or table view (scrolled into view with the wheel first, as an editor would)."""
    index = view.model().index(row, column)
    rect = wheel_into_view(view, lambda: view.visualRect(index))
    click(qtbot, view.viewport(), rect.center())


def click_tree_item(qtbot, tree: QTreeWidget, text: str, column: int = 0) -> None:
    items = tree.findItems(text, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, column)
    assert len(items) == 1, f"expected one row “{text}”"
    assert not items[0].isHidden()
    rect = wheel_into_view(tree, lambda: tree.visualItemRect(items[0]))
    click(qtbot, tree.viewport(), QPoint(tree.header().sectionPosition(column) + 30, rect.center().y()))


def press(qtbot, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> QWidget:
    """A key at the widget that has the focus (where the keyboard sends it). Returns that widget."""
    widget = focused()
    qtbot.keyClick(widget, key, modifier)
    return widget


def answer_next_question(qtbot, button_text: str) -> list[str]:
    """Click `button_text` in the next modal message box (found as the editor sees it). Returns its text."""
    seen: list[str] = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen.append(box.text())
        qtbot.mouseClick(button(box, button_text), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, answer)
    return seen
