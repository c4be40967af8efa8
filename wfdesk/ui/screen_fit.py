"""Dialogs fit the screen they open on: a preferred size, shrunk to the screen's free area (1280×720 laptops,
a taskbar) and centred there, so the buttons are never below the screen's edge. Content that needs more room
scrolls inside the dialog."""

from __future__ import annotations

from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QWidget
from typing_extensions import override

# Room for the window manager's title bar and borders, which the dialog's own geometry does not include.
FRAME_WIDTH, FRAME_HEIGHT = 16, 48


def available_geometry(widget: QWidget) -> QRect:
    """The free area (without taskbars) of the screen the widget is on, or of the primary screen."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_to_screen(widget: QWidget, width: int, height: int) -> None:
    """Resize to width×height or less so that, with its frame, the widget fits the free area; centre it there."""
    area = available_geometry(widget)
    w = max(min(width, area.width() - FRAME_WIDTH), min(widget.minimumSizeHint().width(), width))
    h = max(min(height, area.height() - FRAME_HEIGHT), 200)
    widget.resize(w, h)
    x = area.left() + max(0, (area.width() - w - FRAME_WIDTH) // 2)
    y = area.top() + max(0, (area.height() - h - FRAME_HEIGHT) // 2)
    widget.move(x, y)


class FitsScreen(QDialog):
    """A dialog whose `preferred_size` applies, shrunk to the screen, when it is first shown."""

    preferred_size: tuple[int, int] = (900, 640)
    _fitted = False

    @override
    def setVisible(self, visible: bool) -> None:
        if visible and not self._fitted:
            self._fitted = True
            fit_to_screen(self, *self.preferred_size)
        super().setVisible(visible)
