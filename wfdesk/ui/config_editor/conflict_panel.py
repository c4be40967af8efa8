"""What a config editor shows when someone else saved first (both versions, nothing overwritten), and the framed
message areas at the top of the editors."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from wfdesk.errors import ConflictError
from wfdesk.ui.config_editor.json_tab import dump, monospace_font


def framed(label: QLabel, color: str) -> QLabel:
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(f"QLabel {{ border: 1px solid {color}; border-left: 5px solid {color}; "
                        "border-radius: 3px; padding: 6px; }")
    return label


class ConflictPanel(QGroupBox):
    """Shown when someone else saved first: both versions side by side; nothing was overwritten."""

    reload_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Someone else saved this meanwhile", parent)
        self.setObjectName("conflict_panel")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.mine = QPlainTextEdit(readOnly=True)
        self.theirs = QPlainTextEdit(readOnly=True)
        for edit in (self.mine, self.theirs):
            edit.setFont(monospace_font())
            edit.setMaximumHeight(180)
        sides = QHBoxLayout()
        for title, edit in (("Your version (not saved)", self.mine), ("Saved version (theirs)", self.theirs)):
            col = QVBoxLayout()
            col.addWidget(QLabel(f"<b>{title}</b>"))
            col.addWidget(edit)
            sides.addLayout(col)
        self.reload_button = QPushButton("Reload the saved version (discard mine)")
        self.reload_button.clicked.connect(self.reload_requested)
        keep = QPushButton("Keep editing")
        keep.clicked.connect(self.hide)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(keep)
        buttons.addWidget(self.reload_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(sides)
        layout.addLayout(buttons)
        self.hide()

    def show_conflict(self, exc: ConflictError) -> None:
        self.message.setText(f"{exc} Nothing was overwritten. To keep some of your changes, copy them from the "
                             "left, reload, and apply them again.")
        self.mine.setPlainText(_as_text(exc.mine))
        self.theirs.setPlainText(_as_text(exc.theirs) if exc.theirs is not None else "(deleted)")
        self.show()


def _as_text(value: Any) -> str:
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        value = asdict(value)
    return dump(value) if isinstance(value, dict | list) else str(value)
