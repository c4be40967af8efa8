"""Scrolling a form only scrolls it: the wheel over a drop-down or number box that the editor has not focused
scrolls the form around it instead of changing the value under the pointer. Once focused (a click, Tab), the wheel
changes the value as usual.

One application-wide event filter covers every form, including widgets created later (a step type's parameters).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget
from typing_extensions import override

GUARDED = (QComboBox, QAbstractSpinBox)


def _guarded_owner(obj: QObject) -> QWidget | None:
    """The combo or spin box obj belongs to (a spin box's line edit reaches its box), or None."""
    widget = obj if isinstance(obj, QWidget) else None
    for _ in range(2):
        if widget is None:
            return None
        if isinstance(widget, GUARDED):
            return widget
        widget = widget.parentWidget()
    return None


def _scroll_area_around(widget: QWidget) -> QAbstractScrollArea | None:
    """The nearest enclosing area that can scroll (a table fitted to its rows inside a form cannot: the form can)."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            bar = parent.verticalScrollBar()
            if bar.maximum() > bar.minimum():
                return parent
        parent = parent.parentWidget()
    return None


class WheelGuard(QObject):
    @override
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(obj, GUARDED):
            # Qt gives these focus on a wheel turn (WheelFocus), which would let the next turn change them.
            if obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return False
        if kind != QEvent.Type.Wheel or not isinstance(event, QWheelEvent) or not isinstance(obj, QWidget):
            return False
        owner = _guarded_owner(obj)
        if owner is None or (obj is owner and owner.hasFocus()):
            return False
        if owner.hasFocus():
            # The turn reached the box's line edit: the box itself handles it (Qt only forwards real events).
            QApplication.sendEvent(owner, _moved(event, obj.mapTo(owner, event.position().toPoint())))
            return True
        area = _scroll_area_around(owner)
        if area is not None:
            viewport = area.viewport()
            QApplication.sendEvent(viewport, _moved(event, obj.mapTo(viewport, event.position().toPoint())))
        return True  # never the value under the pointer


def _moved(event: QWheelEvent, pos: QPoint) -> QWheelEvent:
    return QWheelEvent(pos, event.globalPosition(), event.pixelDelta(), event.angleDelta(), event.buttons(),
                       event.modifiers(), event.phase(), event.inverted())


_guard: WheelGuard | None = None


def install() -> None:
    """Install the guard on the running application (idempotent)."""
    global _guard
    app = QApplication.instance()
    if app is None or (_guard is not None and _guard.parent() is app):
        return
    _guard = WheelGuard(app)
    app.installEventFilter(_guard)
