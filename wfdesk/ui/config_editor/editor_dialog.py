"""What the step and LLM action editors share: the message area and asking before unsaved changes are dropped."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QWidget,
)
from typing_extensions import override

from wfdesk.ui import wheel_guard
from wfdesk.ui.screen_fit import FitsScreen


class EditorDialog(FitsScreen, QDialog):
    """Subclasses set `message` (a QLabel), `subject` ("this step") and implement `is_dirty()`."""

    message: QLabel
    subject = "this item"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        wheel_guard.install()

    def is_dirty(self) -> bool:
        raise NotImplementedError

    @override
    def keyPressEvent(self, event) -> None:
        """Return/Enter in a field never saves nor closes (QDialog would press the default button): saving is
        Ctrl+S or a click. On a focused button, Return presses that button."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            focused = QApplication.focusWidget()
            if isinstance(focused, QPushButton) and focused.isEnabled():
                focused.click()
            event.accept()
            return
        super().keyPressEvent(event)

    def _button_row(self, leave: QDialogButtonBox.StandardButton, save_tip: str) -> QHBoxLayout:
        """Save and `leave` (Cancel or Close) at the bottom right, a status line beside them; sets `buttons`,
        `save_button` and `status`. No button is a default: Enter in a field must not press one."""
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | leave)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setToolTip(save_tip)
        for button in self.buttons.buttons():
            if isinstance(button, QPushButton):  # a standard button always is one
                button.setAutoDefault(False)
        self.save_button.clicked.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self.status = QLabel()
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.buttons)
        return bottom

    def save(self) -> None:
        raise NotImplementedError

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def reject(self) -> None:
        """Esc, Cancel and the window's close button: ask before dropping unsaved changes."""
        if self.is_dirty() and not self.confirm_discard():
            return
        super().reject()

    def confirm_discard(self) -> bool:
        answer = QMessageBox.question(self, "Unsaved changes", f"Discard your changes to {self.subject}?",
                                      QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard
