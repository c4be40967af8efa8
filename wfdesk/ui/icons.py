"""Icons without icon files: named QStyle standard pixmaps, and coloured dots for run states.

The state colours are semantic (green done, red failed...) and chosen mid-tone so they read on light and dark.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

SP = QStyle.StandardPixmap
NAMES: dict[str, QStyle.StandardPixmap] = {
    "new": SP.SP_FileIcon,
    "open": SP.SP_DialogOpenButton,
    "save": SP.SP_DialogSaveButton,
    "import": SP.SP_ArrowDown,
    "export": SP.SP_ArrowUp,
    "settings": SP.SP_FileDialogDetailedView,
    "quit": SP.SP_DialogCloseButton,
    "undo": SP.SP_ArrowBack,
    "redo": SP.SP_ArrowForward,
    "run": SP.SP_MediaPlay,
    "cancel": SP.SP_MediaStop,
    "edit": SP.SP_FileDialogContentsView,
    "add": SP.SP_FileDialogNewFolder,
    "delete": SP.SP_TrashIcon,
    "up": SP.SP_ArrowUp,
    "down": SP.SP_ArrowDown,
    "rename": SP.SP_FileLinkIcon,
    "help": SP.SP_DialogHelpButton,
    "info": SP.SP_MessageBoxInformation,
    "refresh": SP.SP_BrowserReload,
    "database": SP.SP_DriveHDIcon,
    "network": SP.SP_DriveNetIcon,
}

# State key (wfdesk.db.queries.STATE_LABELS) -> colour; None draws a hollow ring (nothing happened yet).
STATE_COLOURS: dict[str, str | None] = {
    "never": None,
    "running": "#2f80ed",
    "done": "#27ae60",
    "failed": "#e5484d",
    "partial": "#f2994a",
    "cancelled": "#8a8f98",
    "review": "#b36ae2",
    "interrupted": "#d9a400",
}


def icon(name: str) -> QIcon:
    """A standard icon by name; an empty icon for an unknown name (never an error)."""
    pixmap = NAMES.get(name)
    if pixmap is None:
        return QIcon()
    return QApplication.style().standardIcon(pixmap)


def state_colour(state: str) -> QColor | None:
    colour = STATE_COLOURS.get(state)
    return QColor(colour) if colour else None


@cache
def state_icon(state: str, size: int = 14) -> QIcon:
    """A filled dot in the state's colour (a ring for 'never run'); a running state gets a lighter centre."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = state_colour(state)
    rect = pixmap.rect().adjusted(2, 2, -2, -2)
    if colour is None:
        pen = QApplication.palette().mid().color()
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(rect)
    else:
        painter.setPen(colour.darker(120))
        painter.setBrush(colour)
        painter.drawEllipse(rect)
        if state == "running":
            painter.setBrush(colour.lighter(160))
            painter.drawEllipse(rect.adjusted(3, 3, -3, -3))
    painter.end()
    return QIcon(pixmap)
