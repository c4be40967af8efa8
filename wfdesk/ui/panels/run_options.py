"""The folding "Run options" of a step panel: the step's inputs and LLM settings as overrides for the next run.

Most runs use each section's own fields and the step's own settings, so the options fold away under one line that
says what the next run uses. The panel supplies its type's LLM fields, the step's own values and extra rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

InputEditor = QLineEdit | QPlainTextEdit


class RunOptions(QWidget):
    def __init__(self, llm_fields: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.llm_fields = llm_fields
        self.input_editors: dict[str, InputEditor] = {}
        self.defaults: dict[str, Any] = {}
        self.toggle = QToolButton()
        self.toggle.setText("Run options")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._toggle)
        self.summary = QLabel()
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setEnabled(False)  # greyed: a hint, not content
        toggle_row = QHBoxLayout()
        toggle_row.setContentsMargins(0, 0, 0, 0)
        toggle_row.addWidget(self.toggle)
        toggle_row.addWidget(self.summary, 1)
        self.box = QWidget()
        self.box.setObjectName("runOptions")
        self.form = QFormLayout(self.box)
        self.form.setContentsMargins(8, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.box.hide()
        self.model_edit = QLineEdit()
        self.temperature_spin = QDoubleSpinBox()
        self.workers_box = QCheckBox()  # the team's workers (see set_workers); rebuilt with the rows
        self._workers: tuple[bool, str] = (False, "")
        self._workers_checked = False  # kept here: rebuilding the rows deletes the check box
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(toggle_row)
        layout.addWidget(self.box, 0)

    def rebuild(self, inputs: dict[str, dict[str, Any]], defaults: dict[str, Any],
                add_rows: Callable[[QFormLayout], None], on_change: Callable[[], None]) -> None:
        """New rows for a step: one per input, the LLM settings with the step's own values, then the panel's."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.input_editors = {key: self._input_editor(key, spec) for key, spec in inputs.items()}
        for key, editor in self.input_editors.items():
            self.form.addRow(inputs[key]["label"], editor)
        self.defaults = defaults
        if "model" in self.llm_fields:
            self.model_edit = QLineEdit()
            self.model_edit.setPlaceholderText(defaults.get("model") or "the provider's default")
            self.model_edit.setToolTip("Leave empty to use the step's model")
            self.form.addRow("Model", self.model_edit)
        if "temperature" in self.llm_fields:
            self.temperature_spin = QDoubleSpinBox()
            self.temperature_spin.setRange(0.0, 2.0)
            self.temperature_spin.setSingleStep(0.1)
            self.temperature_spin.setDecimals(2)
            self.temperature_spin.setValue(float(defaults.get("temperature", 0.7)))
            self.temperature_spin.setToolTip("0 = focused and repeatable, 2 = most varied")
            self.form.addRow("Temperature", self.temperature_spin)
        add_rows(self.form)
        self._add_workers_row(on_change)
        has_options = self.form.rowCount() > 0
        self.toggle.setVisible(has_options)
        self.summary.setVisible(has_options)
        self.box.setVisible(has_options and self.toggle.isChecked())
        for editor in self.input_editors.values():
            editor.textChanged.connect(on_change)
        self.model_edit.textChanged.connect(on_change)
        self.temperature_spin.valueChanged.connect(on_change)

    @staticmethod
    def _input_editor(key: str, spec: dict[str, Any]) -> InputEditor:
        editor: InputEditor
        if spec.get("type") == "textarea":
            area = QPlainTextEdit()
            area.setTabChangesFocus(True)
            area.setFixedHeight(area.fontMetrics().lineSpacing() * 3 + 12)
            editor = area
        else:
            line = QLineEdit()
            line.setClearButtonEnabled(True)
            editor = line
        editor.setPlaceholderText(f"from each section's own {spec['label']}")
        editor.setToolTip(f"Type here to use this {spec['label']} for every selected section instead of "
                          f"each section's own. Leave empty to use each section's value.")
        editor.setObjectName(f"input_{key}")
        return editor

    def input_overrides(self) -> dict[str, str]:
        """Only the inputs the editor typed something into: the rest come from each section's own field."""
        out = {}
        for key, editor in self.input_editors.items():
            text = editor.toPlainText() if isinstance(editor, QPlainTextEdit) else editor.text()
            if text.strip():
                out[key] = text
        return out

    def llm_overrides(self) -> dict[str, Any]:
        """Only the LLM settings that differ from the step's own."""
        out: dict[str, Any] = {}
        if "model" in self.llm_fields:
            model = self.model_edit.text().strip()
            if model and model != self.defaults.get("model"):
                out["model"] = model
        if "temperature" in self.llm_fields:
            temp = round(self.temperature_spin.value(), 2)
            if abs(temp - float(self.defaults.get("temperature", temp))) > 1e-9:
                out["temperature"] = temp
        return out

    def update_summary(self, inputs: dict[str, dict[str, Any]], note: str) -> None:
        """One line telling what the next run uses, so the folded options never surprise anyone."""
        parts = []
        typed = self.input_overrides()
        for key, spec in inputs.items():
            parts.append(f"{spec['label']}: {'typed text' if key in typed else 'each section’s own'}")
        settings = self.llm_overrides()
        if "model" in self.llm_fields:
            parts.append(f"model {settings.get('model') or self.defaults.get('model') or 'default'}")
        if "temperature" in self.llm_fields:
            parts.append(f"temperature {self.temperature_spin.value():g}")
        if note:
            parts.append(note)
        if self.on_workers():
            parts.append("on the team's workers")
        # dark text when the run differs from the step's
        self.summary.setEnabled(bool(typed or settings or note or self.on_workers()))
        self.summary.setText(" · ".join(parts))
        self.summary.setToolTip(" · ".join(parts))

    # --- the team's workers (issue 17): the run is queued for `wfdesk worker` instead of run on this computer ----
    def set_workers(self, available: bool, why_not: str) -> None:
        """Whether runs can be left to the team's workers (a PostgreSQL database), and why not when they cannot."""
        self._workers = (available, why_not)

    def _add_workers_row(self, on_change: Callable[[], None]) -> None:
        available, why_not = self._workers
        self.workers_box = QCheckBox("Run on the team's workers")
        self.workers_box.setEnabled(available)
        self.workers_box.setChecked(self._workers_checked and available)
        self.workers_box.setToolTip(
            "Queue the run for the team's workers (wfdesk worker on any machine with the database): it goes on "
            "when this computer sleeps or closes the app" if available else why_not)
        self.workers_box.toggled.connect(self._workers_toggled)
        self.workers_box.toggled.connect(on_change)
        self.form.addRow(self.workers_box)

    def _workers_toggled(self, on: bool) -> None:
        self._workers_checked = on

    def on_workers(self) -> bool:
        return self._workers[0] and self._workers_checked

    def _toggle(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.box.setVisible(on and self.form.rowCount() > 0)
