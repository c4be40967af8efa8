"""Help → About: the version, where wfdesk keeps its data, log and settings, and *Copy diagnostics* for a bug report.

The report itself is wfdesk.diagnostics' (no Qt, shared with the command line); this dialog adds the Qt version the
window runs on. Neither shows a secret: the database is shown with its password hidden, and the report names only
its kind.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.diagnostics import app_paths, app_version, diagnostics_text
from wfdesk.ui.icons import app_icon

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

COPIED = "Copied to the clipboard: paste it into your bug report."
TAGLINE = "Take blog posts through a workflow, section by section."


class AboutDialog(QDialog):
    def __init__(self, ws: Workspace | None, parent: QWidget | None = None, opening_text: str = "") -> None:
        super().__init__(parent)
        self.ws = ws
        self.setWindowTitle("About wfdesk")

        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel(f"<b style='font-size: 16pt'>wfdesk</b> {app_version()}<br>{TAGLINE}")
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        header = QHBoxLayout()
        header.addWidget(logo)
        header.addWidget(title, 1)

        settings = ws.settings if ws is not None else None
        paths = app_paths(settings, ws.data_dir if ws is not None else None)
        form = QFormLayout()
        form.addRow("Data folder:", self._path_label(paths["Data"], folder=True))
        form.addRow("Log file:", self._path_label(paths["Log"], folder=False))
        form.addRow("Settings folder:", self._path_label(paths["Settings"], folder=True))
        database = QLabel(ws.db.display_url() if ws is not None else opening_text)  # password hidden
        database.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Database:", database)

        self.copied = QLabel("")
        self.copied.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy diagnostics")
        self.copy_button.setToolTip("Versions, paths, the kind of database and the plugins — no keys, passwords or "
                                    "addresses — for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_diagnostics)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(form)
        layout.addWidget(self.copied)
        layout.addWidget(buttons)

    def _path_label(self, path, folder: bool) -> QLabel:
        """The path as a link that opens the folder (the log file's folder) in the file manager."""
        target = path if folder else path.parent
        label = QLabel(f"<a href='{QUrl.fromLocalFile(str(target)).toString()}'>{html.escape(str(path))}</a>")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        label.setOpenExternalLinks(False)
        label.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        return label

    def diagnostics(self) -> str:
        ws = self.ws
        return diagnostics_text(settings=ws.settings if ws is not None else None,
                                database_url=ws.db.url if ws is not None else None,
                                data_dir=ws.data_dir if ws is not None else None,
                                extra={"Qt": qVersion()})

    def copy_diagnostics(self) -> None:
        QGuiApplication.clipboard().setText(self.diagnostics())
        self.copied.setText(COPIED)
