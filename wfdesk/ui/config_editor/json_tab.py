"""The raw JSON of a config, kept in sync with the form: edits that parse update the form; errors show below."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label


def monospace_font():
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


class JsonTab(QWidget):
    edited = Signal(object)  # the parsed JSON object, after each edit that parses

    def __init__(self, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("raw_json")
        self.editor.setFont(monospace_font())
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.textChanged.connect(self._text_changed)
        self.error_label = ProblemLabel()
        self.error_label.setObjectName("json_error")
        self._setting = False
        self._error: str | None = None
        layout = QVBoxLayout(self)
        if hint:
            layout.addWidget(hint_label(hint))
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error_label)
        self.extra_label = QLabel()
        self.extra_label.setWordWrap(True)
        self.extra_label.hide()
        layout.addWidget(self.extra_label)

    @property
    def error(self) -> str | None:
        """The syntax error of the text as it stands, or None."""
        return self._error

    def set_document(self, document: Any) -> None:
        """Show a document (after a form edit) without emitting `edited`; keeps the cursor roughly in place."""
        text = dump(document)
        if text == self.editor.toPlainText():
            return
        self._setting = True
        try:
            bar = self.editor.verticalScrollBar().value()
            pos = self.editor.textCursor().position()
            self.editor.setPlainText(text)
            cursor = self.editor.textCursor()
            cursor.setPosition(min(pos, len(text)))
            self.editor.setTextCursor(cursor)
            self.editor.verticalScrollBar().setValue(bar)
            self._set_error(None)
        finally:
            self._setting = False

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        """As if typed by the editor: parses and emits `edited` when it is a JSON object."""
        self.editor.setPlainText(text)

    def _text_changed(self) -> None:
        if self._setting:
            return
        text = self.editor.toPlainText()
        try:
            document = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            self._set_error(f"JSON syntax error on line {exc.lineno}, column {exc.colno}: {exc.msg}. "
                            "The form shows the last valid version; Save is refused until this is fixed.")
            return
        if not isinstance(document, dict):
            self._set_error("The config must be a JSON object ({ ... }). Save is refused until this is fixed.")
            return
        self._set_error(None)
        self.edited.emit(document)

    def _set_error(self, message: str | None) -> None:
        self._error = message
        self.error_label.set_problem(message)
