"""Driving forms the way an editor does: find a field by its label, scroll with the wheel, pick from a drop-down
with the mouse. Tests use these instead of calling slots."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QWidget,
)

from tests.ui.editor_input import button as editor_button
from tests.ui.editor_input import wheel, wheel_into_view  # noqa: F401 - wheel: one wheel for every GUI test

EDITORS = (QComboBox, QAbstractSpinBox, QLineEdit, QAbstractButton)


def field(root: QWidget, label: str, kind: type | tuple[type, ...] = EDITORS) -> QWidget:
    """The visible editor of kind beside the form label reading `label` (with or without its colon)."""
    wanted = label.rstrip(":")
    for layout in root.findChildren(QFormLayout):
        for row in range(layout.rowCount()):
            item = layout.itemAt(row, QFormLayout.ItemRole.LabelRole)
            shown = item.widget() if item is not None else None
            if not isinstance(shown, QLabel) or shown.text().rstrip(":").replace("&", "") != wanted:
                continue
            cell = layout.itemAt(row, QFormLayout.ItemRole.FieldRole)
            found = _first_of(cell, kind)
            if found is not None:
                return found
    raise AssertionError(f"no field labelled {label!r}")


def _first_of(item, kind: type | tuple[type, ...]) -> QWidget | None:
    widget = item.widget() if item is not None else None
    if widget is not None:
        if isinstance(widget, kind):
            return widget
        for child in widget.findChildren(QWidget):
            if isinstance(child, kind) and not child.isHidden():
                return child
        return None
    layout = item.layout() if item is not None else None
    if layout is not None:
        for i in range(layout.count()):
            found = _first_of(layout.itemAt(i), kind)
            if found is not None:
                return found
    return None


def button(root: QWidget, text: str) -> QAbstractButton:
    """The visible, enabled button whose text (without the & mnemonic) is `text`."""
    found = editor_button(root, text)
    assert found.isEnabled(), f"“{text}” is disabled"
    return found


def pick(qtbot, combo: QComboBox, text: str) -> None:
    """Open the drop-down with a click (on the arrow) and click the item reading `text`."""
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    arrow = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                         QStyle.SubControl.SC_ComboBoxArrow, combo)
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton, pos=arrow.center())
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=5000)
    qtbot.wait(QApplication.doubleClickInterval() + 50)  # Qt ignores a release this soon after the popup opens
    index = next((combo.model().index(i, 0) for i in range(combo.count()) if combo.itemText(i) == text), None)
    assert index is not None, f"{text!r} is not offered: {[combo.itemText(i) for i in range(combo.count())]}"
    rect = wheel_into_view(view, lambda: view.visualRect(index))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5000)


def scroll_into_view(area: QAbstractScrollArea, widget: QWidget) -> None:
    """Wheel over the form's empty viewport until widget is fully on screen."""
    viewport = area.viewport()
    for _ in range(100):
        top = widget.mapTo(viewport, QPoint(0, 0)).y()
        if top >= 0 and top + widget.height() <= viewport.height():
            return
        wheel(viewport, -120 if top > 0 else 120, QPoint(2, 2))
    raise AssertionError("could not scroll the widget into view")


def scroll_area_of(widget: QWidget) -> QAbstractScrollArea:
    """The area the editor sees scrolling: the nearest one with something to scroll."""
    parent = widget.parentWidget()
    while parent is not None and not (isinstance(parent, QAbstractScrollArea)
                                      and parent.verticalScrollBar().maximum() > 0):
        parent = parent.parentWidget()
    assert parent is not None
    return parent


def bring_into_view(widget: QWidget) -> None:
    """Scroll the form holding widget (if it scrolls) with the wheel until widget is fully on screen."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None and parent.verticalScrollBar().maximum() > 0:
        scroll_into_view(parent, widget)
