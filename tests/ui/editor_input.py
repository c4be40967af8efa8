"""How GUI tests act: like an editor, through the mouse and the keyboard only.

Every helper finds the widget an editor would see (visible, enabled, by its text) and sends it real input events;
none of them calls a slot. Keys go to the widget that has the keyboard focus, as they do for a person.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QAction, QKeySequence, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


def plain(text: str) -> str:
    """A label as an editor reads it: no mnemonic ampersand, no shortcut after a tab."""
    return text.split("\t")[0].replace("&", "")


def click(qtbot, widget: QWidget, pos: QPoint | None = None) -> None:
    """A left click on a widget the editor can see and use."""
    assert widget.isVisible(), f"{widget!r} ({getattr(widget, 'text', lambda: '')()}) is not visible"
    assert widget.isEnabled(), f"{widget!r} ({getattr(widget, 'text', lambda: '')()}) is disabled"
    assert not widget.visibleRegion().isEmpty(), f"{widget!r} is scrolled or pushed out of sight"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos if pos is not None else widget.rect().center())


def right_click(widget: QWidget, pos: QPoint) -> None:
    """A right click's context menu, delivered as Qt delivers it to the widget under the pointer. (A right click
    synthesized through the window opened no menu once an earlier test's window had shown one: Qt keeps the last
    mouse receiver across windows.) Select the row first with a left click when the test depends on it."""
    from PySide6.QtGui import QContextMenuEvent

    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, widget.mapToGlobal(pos))
    QApplication.sendEvent(widget, event)


def wheel(widget: QWidget, dy: int = -120, pos: QPoint | None = None, dx: int = 0) -> bool:
    """One notch of the mouse wheel over widget (down by default; dx for a sideways wheel), delivered like Qt
    delivers it."""
    local = QPointF(pos if pos is not None else widget.rect().center())
    event = QWheelEvent(local, QPointF(widget.mapToGlobal(local.toPoint())), QPoint(0, 0), QPoint(dx, dy),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    return QApplication.sendEvent(widget, event)


def wheel_into_view(area: QAbstractScrollArea, rect_of: Callable[[], QRect], seen_in: QWidget | None = None) -> QRect:
    """Turn the mouse wheel over `area` (up/down, then sideways) until rect_of() -- a rectangle in the coordinates
    of `seen_in`, the area's viewport by default -- is on screen, as an editor scrolls to what they want to click.
    Returns the rectangle where it now is."""
    seen_in = seen_in or area.viewport()
    for _ in range(500):
        rect, shown = rect_of(), seen_in.rect()
        assert rect.isValid(), "the row is not shown (inside a collapsed group?)"
        dy = 120 if rect.top() < shown.top() else (
            -120 if rect.bottom() > shown.bottom() and rect.top() > shown.top() else 0)
        dx = 120 if rect.left() < shown.left() else (
            -120 if rect.right() > shown.right() and rect.left() > shown.left() else 0)
        if not dx and not dy:
            return rect
        bars = (area.verticalScrollBar(), area.horizontalScrollBar())
        before = [b.value() for b in bars]
        if dy:
            wheel(area.viewport(), dy, QPoint(2, 2))
        if dx:
            wheel(area.viewport(), 0, QPoint(2, 2), dx=dx)
        if [b.value() for b in bars] == before:
            raise AssertionError("the wheel does not scroll it into view")
    raise AssertionError("could not scroll it into view")


def button(root: QWidget, text: str) -> QAbstractButton:
    """The visible button whose label reads `text`."""
    found = [b for b in root.findChildren(QAbstractButton) if b.isVisible() and plain(b.text()) == text]
    assert found, f"no visible button “{text}”: " + ", ".join(
        sorted({plain(b.text()) for b in root.findChildren(QAbstractButton) if b.isVisible() and b.text()}))
    return found[0]


def click_button(qtbot, root: QWidget, text: str) -> None:
    click(qtbot, button(root, text))


def tree_item(tree: QTreeWidget, text: str, column: int = 0) -> QTreeWidgetItem:
    items = tree.findItems(text, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive, column)
    assert items, f"no row “{text}” in {tree.accessibleName() or tree!r}"
    return items[0]


def click_item(qtbot, tree: QTreeWidget | QListWidget, item: QTreeWidgetItem | QListWidgetItem,
               column: int = 0) -> None:
    """A click on a row of a tree or list, as the editor clicks it (scrolled into view with the wheel first)."""
    header = tree.header() if isinstance(tree, QTreeWidget) else None
    x = min(40, header.sectionSize(column) // 2) if header is not None else 20

    def cell() -> QRect:
        row = tree.visualItemRect(item)
        left = header.sectionViewportPosition(column) if header is not None else row.left()
        return QRect(left + x, row.top(), 1, row.height()) if row.isValid() else row

    rect = wheel_into_view(tree, cell)
    click(qtbot, tree.viewport(), QPoint(rect.left(), rect.center().y()))


def click_row(qtbot, tree: QTreeWidget, text: str, column: int = 0) -> None:
    click_item(qtbot, tree, tree_item(tree, text, column), column)


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def press(qtbot, keys: str | QKeySequence) -> QWidget:
    """Press a key combination (\"Ctrl+Return\", \"Esc\") at the widget that has the focus; returns that widget."""
    combo = QKeySequence(keys)[0]
    widget = focused()
    qtbot.keyClick(widget, combo.key(), combo.keyboardModifiers())
    return widget


def type_text(qtbot, text: str) -> None:
    qtbot.keyClicks(focused(), text)


def activate(qtbot, window: QWidget) -> None:
    """The window in front, with the keyboard: shortcuts only reach the active window."""
    window.activateWindow()
    window.raise_()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)


def menu_action(window: QMainWindow, menu_title: str, text: str) -> tuple[QMenu, QAction]:
    for top in window.menuBar().actions():
        if plain(top.text()) == menu_title and top.menu() is not None:
            for action in top.menu().actions():
                if plain(action.text()) == text:
                    return top.menu(), action
    raise AssertionError(f"no menu item {menu_title} → {text}")


def choose_menu(qtbot, window: QMainWindow, menu_title: str, text: str) -> None:
    """Open a menu of the menu bar with a click and click one of its items."""
    menu, action = menu_action(window, menu_title, text)
    bar = window.menuBar()
    click(qtbot, bar, bar.actionGeometry(menu.menuAction()).center())
    qtbot.waitUntil(menu.isVisible, timeout=WAIT)
    assert action.isEnabled(), f"{menu_title} → {text} is disabled"
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def toggle_section(qtbot, picker, title: str) -> None:
    """Tick or untick one section in a step panel's section list: click its row, press Space."""
    click_row(qtbot, picker.tree, title)
    press(qtbot, "Space")


def click_check_box(qtbot, box) -> None:
    """Click a check box where it reacts (its box and label, not the empty space a form stretches it over)."""
    from PySide6.QtWidgets import QStyle, QStyleOptionButton

    option = QStyleOptionButton()
    box.initStyleOption(option)
    area = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxClickRect, option, box)
    click(qtbot, box, area.center())


def click_cell(qtbot, sections, section_id: int, field: str | None = None) -> None:
    """Click a section's title (field None) or one of its field cells in the main window's sections table."""
    from PySide6.QtWidgets import QTableView

    from wfdesk.ui.sections_view import COL_TITLE, FIRST_FIELD_COL

    table = sections.table
    row = sections.row_of(section_id)
    assert row >= 0, f"section {section_id} is not in the table"
    if field is None:
        frozen = [v for v in table.findChildren(QTableView) if v.isVisible()]  # the title column stays put
        view = frozen[0] if frozen else table
        index = view.model().index(row, COL_TITLE)
    else:
        view = table
        index = table.model().index(row, FIRST_FIELD_COL + sections.field_names().index(field))
    rect = wheel_into_view(table, lambda: view.visualRect(index), view.viewport())  # the wheel scrolls the table
    click(qtbot, view.viewport(), rect.center())


def answer_modal(qtbot, act) -> None:
    """When a modal dialog opens (an editor's question), act(dialog) on it: start this before the click that
    opens it, since the dialog's own event loop runs until it is answered."""
    from PySide6.QtCore import QTimer

    test = _test_number

    def check() -> None:
        if test != _test_number:
            return  # its test has ended: an answer meant for it must not go to the next test's dialog
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(30, check)
        else:
            act(dialog)

    QTimer.singleShot(0, check)


_test_number = 0


def end_of_test() -> None:
    """Called by the GUI tests' fixture when a test ends: answers still waiting for a dialog give up."""
    global _test_number
    _test_number += 1


# --- navigation, as the editor does it in the main window --------------------------------------------------------

def choose_post(qtbot, window, title: str) -> None:
    """Click a post in the post list; wait until its sections are shown."""
    from PySide6.QtCore import Qt

    qtbot.waitUntil(lambda: bool(window.posts.tree.findItems(title, Qt.MatchFlag.MatchExactly)), timeout=WAIT)
    click_row(qtbot, window.posts.tree, title)
    qtbot.waitUntil(lambda: window.posts.current_title() == title and window.post_id is not None
                    and window.sections.table.rowCount() > 0, timeout=WAIT)


def open_step(qtbot, window, step_name: str, *, ready: bool = True):
    """Click a step in the workflow list; returns its panel once it has loaded (and, if ready, can run)."""
    from PySide6.QtCore import Qt

    qtbot.waitUntil(lambda: bool(window.steps.findItems(step_name, Qt.MatchFlag.MatchRecursive)), timeout=WAIT)
    click_row(qtbot, window.steps, step_name)
    qtbot.waitUntil(lambda: window.current_panel() is not None
                    and window.current_panel().title_label.text() == step_name
                    and window.current_panel().data is not None, timeout=WAIT)
    panel = window.current_panel()
    if ready:
        qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT)
    return panel
