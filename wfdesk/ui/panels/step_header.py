"""The head of a step panel: the step's name, stage and type, its one-line description and its config error."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from wfdesk.ui.panels.error_style import error_html


class StepHeader(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title_label = QLabel()
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title_label.setFont(font)
        self.meta_label = QLabel()
        self.meta_label.setTextFormat(Qt.TextFormat.PlainText)
        self.description_label = QLabel()
        self.description_label.setWordWrap(True)
        self.config_error_label = QLabel()
        self.config_error_label.setWordWrap(True)
        self.config_error_label.hide()
        head = QVBoxLayout(self)
        head.setContentsMargins(0, 0, 0, 0)
        head.setSpacing(2)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title_label)
        title_row.addWidget(self.meta_label, 1)
        head.addLayout(title_row)
        head.addWidget(self.description_label)
        head.addWidget(self.config_error_label)

    def show_step(self, step: dict[str, Any]) -> None:
        self.title_label.setText(step["name"])
        self.meta_label.setText("   " + " · ".join(p for p in (step["stage"], step["script_type"]) if p))
        self.description_label.setText(step["description"])
        if step["config_error"]:
            self.config_error_label.setText(error_html(self, step["config_error"]))
        self.config_error_label.setVisible(bool(step["config_error"]))

    def show_title(self, title: str) -> None:
        """While loading, or when the step cannot be shown."""
        self.title_label.setText(title)
