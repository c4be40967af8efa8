"""“Run step on N posts…”: which step to run on the posts chosen in the post list (all their sections)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QListWidget, QVBoxLayout

from wfdesk.ui.screen_fit import FitsScreen


class BatchDialog(FitsScreen, QDialog):
    preferred_size = (520, 420)

    def __init__(self, posts: list[tuple[int, str]], steps: list[dict[str, Any]], parent: Any = None) -> None:
        super().__init__(parent)
        n = len(posts)
        self.setWindowTitle(f"Run a step on {n} posts")
        self.step = QComboBox()
        self.step.setAccessibleName("Step to run")
        for step in steps:
            self.step.addItem(step["name"], step["id"])
        self.posts = QListWidget()
        self.posts.setAccessibleName("Posts of the batch")
        self.posts.addItems([title for _, title in posts])
        note = QLabel("The step runs on every section of each post, two posts at a time. The runs view shows the "
                      "batch while it goes; you can cancel it there, or a single post.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.run_button = buttons.addButton(f"Run on {n} posts", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_button.setEnabled(bool(steps))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Step:", self.step)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel(f"On these {n} posts:"))
        layout.addWidget(self.posts, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def chosen_step(self) -> tuple[int, str]:
        return self.step.currentData(), self.step.currentText()
