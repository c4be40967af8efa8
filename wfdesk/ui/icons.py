"""Icons without icon files: named QStyle standard pixmaps, and coloured dots for run states.

The state colours are semantic (green done, red failed...) and chosen mid-tone so they read on light and dark.
Nothing here touches the `Qt` namespace or QStyle at import: PySide6 builds their Python enums on first use (about
25 ms), which the window's first paint does without.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication

from wfdesk.states import StepState

# Icon name -> QStyle.StandardPixmap member name.
NAMES: dict[str, str] = {
    "new": "SP_FileIcon",
    "open": "SP_DialogOpenButton",
    "save": "SP_DialogSaveButton",
    "import": "SP_ArrowDown",
    "export": "SP_ArrowUp",
    "settings": "SP_FileDialogDetailedView",
    "quit": "SP_DialogCloseButton",
    "undo": "SP_ArrowBack",
    "redo": "SP_ArrowForward",
    "run": "SP_MediaPlay",
    "cancel": "SP_MediaStop",
    "edit": "SP_FileDialogContentsView",
    "add": "SP_FileDialogNewFolder",
    "delete": "SP_TrashIcon",
    "up": "SP_ArrowUp",
    "down": "SP_ArrowDown",
    "rename": "SP_FileLinkIcon",
    "help": "SP_DialogHelpButton",
    "info": "SP_MessageBoxInformation",
    "refresh": "SP_BrowserReload",
    "database": "SP_DriveHDIcon",
    "network": "SP_DriveNetIcon",
}

# State key (wfdesk.services.queries.STATE_LABELS) -> colour; None draws a hollow ring (nothing happened yet).
STATE_COLOURS: dict[str, str | None] = {
    StepState.NEVER: None,
    StepState.RUNNING: "#2f80ed",
    StepState.DONE: "#27ae60",
    StepState.FAILED: "#e5484d",
    StepState.PARTIAL: "#f2994a",
    StepState.CANCELLED: "#8a8f98",
    StepState.REVIEW: "#b36ae2",
    StepState.INTERRUPTED: "#d9a400",
}


def icon(name: str) -> QIcon:
    """A standard icon by name; an empty icon for an unknown name (never an error)."""
    member = NAMES.get(name)
    if member is None:
        return QIcon()
    from PySide6.QtWidgets import QStyle

    return QApplication.style().standardIcon(getattr(QStyle.StandardPixmap, member))


def state_colour(state: str) -> QColor | None:
    colour = STATE_COLOURS.get(state)
    return QColor(colour) if colour else None


@cache
def state_icon(state: str, size: int = 14) -> QIcon:
    """A filled dot in the state's colour (a ring for 'never run'); a running state gets a lighter centre."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(0, 0, 0, 0))  # transparent
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = state_colour(state)
    rect = pixmap.rect().adjusted(2, 2, -2, -2)
    if colour is None:
        pen = QApplication.palette().mid().color()
        painter.setPen(pen)
        painter.setBrush(QBrush())  # no fill
        painter.drawEllipse(rect)
    else:
        painter.setPen(colour.darker(120))
        painter.setBrush(colour)
        painter.drawEllipse(rect)
        if state == StepState.RUNNING:
            painter.setBrush(colour.lighter(160))
            painter.drawEllipse(rect.adjusted(3, 3, -3, -3))
    painter.end()
    return QIcon(pixmap)
