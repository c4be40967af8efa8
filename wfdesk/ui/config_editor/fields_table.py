"""The inputs / outputs table of a step: key, label, database field (with suggestions), text or textarea."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)
from typing_extensions import override

from wfdesk.scripts.config import FIELD_NAME_RE
from wfdesk.ui.config_editor.parameters_form import ProblemLabel

COLUMNS = ("Key", "Label", "Database field", "Type")
TYPES = ("text", "textarea")


class FieldsTable(QWidget):
    """Edits a dict {key: {"label", "db_field", "type"}}; `changed` fires on every edit with the new dict."""

    changed = Signal(object)

    def __init__(self, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind  # "input" or "output": the prefix of new keys
        self._suggestions: list[str] = []
        self._loading = False
        self._extra: dict[str, dict[str, Any]] = {}  # per key: spec keys the table has no column for

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName(f"{kind}s_table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(0, 90)
        self.table.setColumnWidth(3, 110)
        self.table.setMinimumHeight(92)

        self.add_button = QPushButton(f"Add {kind}")
        self.add_button.clicked.connect(self.add_row)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip(f"Remove the selected {kind}")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)

        self.problem = ProblemLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.problem)

    # -- data -----------------------------------------------------------------------------------------------

    def set_suggestions(self, names: list[str]) -> None:
        self._suggestions = list(names)
        for row in range(self.table.rowCount()):
            combo = self._db_combo(row)
            text = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(self._suggestions)
            combo.setCurrentText(text)
            combo.blockSignals(False)

    def set_fields(self, fields: Any) -> None:
        """Show a config's inputs/outputs without emitting `changed`."""
        self._loading = True
        try:
            self.table.setRowCount(0)
            self._extra.clear()
            for key, spec in (fields.items() if isinstance(fields, dict) else []):
                spec = spec if isinstance(spec, dict) else {}
                self._extra[key] = {k: v for k, v in spec.items() if k not in ("label", "db_field", "type")}
                self._append(str(key), str(spec.get("label", "")), str(spec.get("db_field", "")),
                             str(spec.get("type", "text")))
        finally:
            self._loading = False
        self.problem.set_problem(None)
        self._fit_height()

    def fields(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for row in range(self.table.rowCount()):
            key = self._line(row, 0).text().strip()
            spec = {**self._extra.get(key, {}), "label": self._line(row, 1).text().strip(),
                    "db_field": self._db_combo(row).currentText().strip(), "type": self._type_combo(row).currentText()}
            out[key] = spec
        return out

    def local_problems(self) -> list[str]:
        """What the dict cannot even express: empty or repeated keys."""
        keys = [self._line(row, 0).text().strip() for row in range(self.table.rowCount())]
        problems = []
        if any(not k for k in keys):
            problems.append(f"every {self.kind} needs a key")
        for k in sorted({k for k in keys if k and keys.count(k) > 1}):
            problems.append(f"the key {k!r} is used twice")
        for k in keys:
            if k and not re.match(FIELD_NAME_RE, k):
                problems.append(f"the key {k!r} may only contain letters, digits and _")
        return problems

    # -- rows -----------------------------------------------------------------------------------------------

    def add_row(self) -> None:
        keys = set(self.fields())
        n = 1
        while f"{self.kind}{n}" in keys:
            n += 1
        self._append(f"{self.kind}{n}", "", "", "textarea")
        self._fit_height()
        self.table.selectRow(self.table.rowCount() - 1)
        self._line(self.table.rowCount() - 1, 1).setFocus()
        self._emit()

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        if not rows and self.table.rowCount():
            rows = [self.table.currentRow()] if self.table.currentRow() >= 0 else []
        for row in rows:
            self.table.removeRow(row)
        if rows:
            self._fit_height()
            self._emit()

    def _append(self, key: str, label: str, db_field: str, kind: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        key_edit = QLineEdit(key)
        key_edit.setToolTip("The name templates use, e.g. {{ input1 }}")
        label_edit = QLineEdit(label)
        label_edit.setPlaceholderText("shown to editors")
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItems(self._suggestions)
        combo.setCurrentText(db_field)
        line = combo.lineEdit()
        assert line is not None  # an editable combo box has one
        line.setPlaceholderText("field name")
        combo.setToolTip("The section field this reads or writes; pick one sections already have, or type a new name")
        type_combo = QComboBox()
        type_combo.addItems(TYPES)
        type_combo.setCurrentText(kind if kind in TYPES else "text")
        for col, widget in enumerate((key_edit, label_edit, combo, type_combo)):
            if isinstance(widget, QLineEdit | QComboBox):
                widget.setFrame(False)
            self.table.setCellWidget(row, col, widget)
        key_edit.textEdited.connect(self._emit)
        label_edit.textEdited.connect(self._emit)
        combo.currentTextChanged.connect(self._emit)
        type_combo.currentTextChanged.connect(self._emit)
        # Clicking into a cell widget does not select its row; make Remove act on the row being edited.
        for widget in (key_edit, label_edit, combo, type_combo):
            widget.installEventFilter(self)

    @override
    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.FocusIn:
            for row in range(self.table.rowCount()):
                if obj in [self.table.cellWidget(row, c) for c in range(len(COLUMNS))]:
                    # Select without moving the current cell: selectRow() moves it, which shifts the focus while
                    # the clicked widget is still taking it (a crash when that widget is an editable drop-down).
                    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                    self.table.selectionModel().select(self.table.model().index(row, 0), flags)
                    break
        return super().eventFilter(obj, event)

    def _line(self, row: int, col: int) -> QLineEdit:
        return self.table.cellWidget(row, col)  # type: ignore[return-value]

    def _db_combo(self, row: int) -> QComboBox:
        return self.table.cellWidget(row, 2)  # type: ignore[return-value]

    def _type_combo(self, row: int) -> QComboBox:
        return self.table.cellWidget(row, 3)  # type: ignore[return-value]

    def _fit_height(self) -> None:
        rows = max(self.table.rowCount(), 1)
        height = self.table.horizontalHeader().height() + rows * (self.table.verticalHeader().defaultSectionSize())
        self.table.setFixedHeight(min(height + 6, 260))

    def _emit(self, *_args: object) -> None:
        if self._loading:
            return
        problems = self.local_problems()
        self.problem.set_problem("; ".join(problems) if problems else None)
        self.changed.emit(self.fields())
