"""The editor under the sections table: one field's full text, Save / Discard, and whether it is saved.

It holds the field open in it (`target`: section id, field name, lock_version and text when loaded) and knows
when the text differs from what was loaded; saving (and a conflict with someone else's save) is the view's.
It says when its text gains or loses the keyboard focus (colleagues' windows show "… is editing"), and shows who
else is editing the field open in it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget
from typing_extensions import override

from wfdesk.ui.icons import icon

# Focus lost to another application or to a menu: the editor is still in the field.
_STILL_THERE = (Qt.FocusReason.ActiveWindowFocusReason, Qt.FocusReason.PopupFocusReason)


def resolve_conflict(parent: QWidget, what: str, mine: str, theirs: str | None) -> bool:
    """Tell the editor someone else saved first; True when they choose to save their text over it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Changed by someone else")
    box.setText(f"{what} was changed by someone else (or by a run) while you were editing it.")
    box.setInformativeText("Both versions are kept in the field's history. Which one should the field show?")
    box.setDetailedText(f"Your version:\n{mine}\n\n――――――――\n\nTheir version:\n{theirs or '(empty)'}")
    theirs_button = box.addButton("Use their version", QMessageBox.ButtonRole.RejectRole)
    mine_button = box.addButton("Save mine over it", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(theirs_button)
    box.exec()
    return box.clickedButton() is mine_button


class FieldTextEditor(QWidget):
    focus_changed = Signal(bool)  # the text gained (True) or lost the keyboard focus

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target: dict[str, Any] | None = None
        self.just_saved = False
        # Who else edits a target now (set by the view when colleagues can be heard).
        self.editors_of: Callable[[dict[str, Any]], list[str]] = lambda _target: []
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.presence = QLabel()
        self.presence.setAccessibleName("Who else is editing")
        self.presence.setStyleSheet("color: palette(link);")
        self.presence.hide()
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Field text")
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont))
        self.save_button = QPushButton(icon("save"), "Save")
        self.save_button.setToolTip("Save this field (Ctrl+S); the previous text stays in its history")
        self.discard_button = QPushButton("Discard changes")
        self.state = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.state, 1)
        buttons.addWidget(self.discard_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        heading = QHBoxLayout()
        heading.addWidget(self.label, 1)
        heading.addWidget(self.presence)
        layout.addLayout(heading)
        layout.addWidget(self.editor, 1)
        layout.addLayout(buttons)
        self.editor.textChanged.connect(self.update_state)
        self.editor.installEventFilter(self)

    @override
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.editor and event.type() in (QEvent.Type.FocusIn, QEvent.Type.FocusOut) \
                and event.reason() not in _STILL_THERE:  # type: ignore[attr-defined]  # a QFocusEvent
            self.focus_changed.emit(event.type() == QEvent.Type.FocusIn)
        return super().eventFilter(watched, event)

    def show_editors(self) -> None:
        """Name the colleagues editing the field open here ("Ana is editing"), or nobody."""
        names = self.editors_of(self.target) if self.target is not None else []
        if not names:
            self.presence.hide()
            self.presence.setText("")
            return
        who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        self.presence.setText(f"{who} {'is' if len(names) == 1 else 'are'} editing")
        self.presence.setToolTip(f"{who} {'has' if len(names) == 1 else 'have'} this field open in their window "
                                 "now; saving over each other's text asks first.")
        self.presence.show()

    def set_text(self, text: str) -> None:
        """Text loaded (not typed): no "Unsaved changes" for it."""
        self.editor.blockSignals(True)
        self.editor.setPlainText(text)
        self.editor.blockSignals(False)

    def show_target(self, field_label: str) -> None:
        """The heading for the field open (field_label: what editors call it), or the hint when none is."""
        target = self.target
        self.editor.setEnabled(target is not None)
        if target is None:
            self.set_text("")
            self.editor.setPlaceholderText("Select a field cell in the table above to edit its full text here.")
            self.label.setText("Field text")
        else:
            self.editor.setPlaceholderText("This field is empty. Type its text and save.")
            self.label.setText(f"<b>{_html(field_label)}</b> of section {target.get('position', '')} "
                               f"“{_html(target.get('section_title', ''))}”")
        self.update_state()
        self.show_editors()

    def is_dirty(self) -> bool:
        return self.target is not None and self.editor.toPlainText() != self.target.get("original", "")

    def update_state(self) -> None:
        dirty = self.is_dirty()
        self.save_button.setEnabled(dirty)
        self.discard_button.setEnabled(dirty)
        if self.target is None or not (dirty or self.just_saved):
            self.state.setText("")
        else:
            self.state.setText("Unsaved changes" if dirty else "Saved")
        if dirty:
            self.just_saved = False


def _html(text: str) -> str:
    return html.escape(text, quote=False)
