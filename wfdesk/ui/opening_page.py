"""What the main window shows until its workspace is open: "Opening the database…" with a busy bar, or why the
database could not be opened. Part of the window's light shell: Qt widgets only, no `Qt` namespace (its enums cost
about 20 ms to build, and the shell paints without them)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

OPENING_TEXT = "Opening the database…"


class OpeningPage(QWidget):
    """What the window shows until its workspace is open: what is happening, and a busy bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate
        self.busy.setTextVisible(False)
        self.busy.setFixedWidth(260)
        self.busy.setAccessibleName("Opening the database")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for widget in (self.label, self.busy):  # centred by stretches (no Qt.AlignmentFlag: see the imports)
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(widget)
            row.addStretch(1)
            layout.addLayout(row)
        layout.addStretch(2)

    def show_text(self, text: str, busy: bool = True) -> None:
        self.label.setText(f"<big>{text}</big>")
        self.busy.setVisible(busy)
