"""The panel for script types registered later: a parameters form generated from the type's schema
(number/integer -> spin box with bounds, boolean -> check box, enum -> drop-down, string -> line edit), a raw
JSON box as the last resort, and the results as JSON."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wfdesk.scripts import registry
from wfdesk.services import review
from wfdesk.ui.panels.base import StepPanel, error_color

UNSET = object()
INT_LIMIT = 2**31 - 2
FLOAT_LIMIT = 1e9


def resolve(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property's own schema ($ref followed, `X | None` unwrapped) and whether it may be left unset."""
    optional = False
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        optional = len(options) < len(prop["anyOf"])
        if len(options) == 1:
            prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **options[0]}
    if "$ref" in prop:
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop, optional


@dataclass
class ParamField:
    name: str
    widget: QWidget
    kind: str  # integer | number | boolean | enum | string
    optional: bool
    initial: Any

    def value(self) -> Any:
        w = self.widget
        if isinstance(w, QSpinBox | QDoubleSpinBox):
            if self.optional and w.value() == w.minimum():
                return UNSET
            return w.value()
        if isinstance(w, QCheckBox):
            if w.isTristate() and w.checkState() == Qt.CheckState.PartiallyChecked:
                return UNSET
            return w.isChecked()
        if isinstance(w, QComboBox):
            data = w.currentData()
            return UNSET if data is UNSET or (self.optional and w.currentIndex() == 0) else data
        assert isinstance(w, QLineEdit)  # the last kind build_field makes: string
        text = w.text()
        return UNSET if not text and (self.optional or self.initial in (None, UNSET)) else text


def _integer_box(prop: dict[str, Any], optional: bool, initial: Any) -> QSpinBox:
    w = QSpinBox()
    lo = int(prop.get("minimum", prop.get("exclusiveMinimum", -INT_LIMIT - 1) + 1))
    hi = int(prop.get("maximum", prop.get("exclusiveMaximum", INT_LIMIT + 1) - 1))
    if optional:
        lo -= 1  # the value below the range stands for "not set"
        w.setSpecialValueText("(step's value)")
    w.setRange(lo, hi)
    w.setValue(int(initial) if isinstance(initial, int | float) else lo)
    return w


def _number_box(prop: dict[str, Any], optional: bool, initial: Any) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setDecimals(3)
    lo = float(prop.get("minimum", prop.get("exclusiveMinimum", -FLOAT_LIMIT)))
    hi = float(prop.get("maximum", prop.get("exclusiveMaximum", FLOAT_LIMIT)))
    step = 0.1 if hi - lo <= 10 else 1.0
    w.setSingleStep(step)
    if optional:
        lo -= step
        w.setSpecialValueText("(step's value)")
    w.setRange(lo, hi)
    w.setValue(float(initial) if isinstance(initial, int | float) else lo)
    return w


def _check_box(prop: dict[str, Any], optional: bool, initial: Any) -> QCheckBox:
    w = QCheckBox()
    if optional and not isinstance(initial, bool):
        w.setTristate(True)
        w.setCheckState(Qt.CheckState.PartiallyChecked)
    else:
        w.setChecked(bool(initial))
    return w


def _enum_box(prop: dict[str, Any], optional: bool, initial: Any) -> QComboBox:
    w = QComboBox()
    if optional:
        w.addItem("(step's value)", UNSET)
    for option in prop["enum"]:
        w.addItem(str(option), option)
    index = w.findData(initial) if initial not in (None, UNSET) else 0
    w.setCurrentIndex(max(index, 0))
    return w


def _line_edit(prop: dict[str, Any], optional: bool, initial: Any) -> QLineEdit:
    w = QLineEdit()
    w.setText("" if initial in (None, UNSET) else str(initial))
    w.setPlaceholderText("(not set)")
    return w


# One widget builder per kind the form can edit: (the property's schema, may be unset, current value) -> widget.
_BUILDERS: dict[str, Callable[[dict[str, Any], bool, Any], QWidget]] = {
    "integer": _integer_box, "number": _number_box, "boolean": _check_box, "enum": _enum_box, "string": _line_edit}


def build_field(name: str, prop: dict[str, Any], optional: bool, initial: Any) -> ParamField | None:
    """A widget for one parameter, set to its current value; None for types the form cannot edit."""
    kind = "enum" if "enum" in prop else str(prop.get("type"))
    builder = _BUILDERS.get(kind)
    if builder is None:
        return None
    w = builder(prop, optional, initial)
    if prop.get("description"):
        w.setToolTip(prop["description"])
    field = ParamField(name, w, kind, optional, UNSET)
    field.initial = field.value()  # what "unchanged" looks like, in the widget's own terms
    return field


class GenericPanel(StepPanel):
    script_type = ""
    llm_fields = ()

    def build_results(self) -> QWidget:
        self._fields: list[ParamField] = []
        self._detail_gen = 0
        self._last_result: dict[tuple[int, int], dict[str, Any]] = {}
        self.json_edit = QPlainTextEdit()
        box = QWidget()
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.result_view = QPlainTextEdit()
        self.result_view.setReadOnly(True)
        self.result_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.panel_error_label = QLabel()  # a plugin's own panel failed to load: say so, show this one instead
        self.panel_error_label.setWordWrap(True)
        self.panel_error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.panel_error_label.hide()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel_error_label)
        layout.addWidget(self.heading)
        layout.addWidget(QLabel("<b>Result</b> (JSON)"))
        layout.addWidget(self.result_view, 1)
        return box

    def show_panel_error(self, text: str) -> None:
        self.panel_error_label.setText(f"<span style='color:{error_color(self)}'>{html.escape(text)}</span>")
        self.panel_error_label.setToolTip(text)
        self.panel_error_label.show()
        self.status_message.emit(text)

    # --- parameters form ----------------------------------------------------------------------------------------
    def add_options(self, form: QFormLayout, data: dict[str, Any]) -> None:
        self._fields = []
        script_type = data["step"]["script_type"]
        current = (data["step"]["config"].get("script_config") or {}).get("parameters") or {}
        try:
            schema = registry.type_info(script_type).parameters_model.model_json_schema()
        except (ValueError, TypeError, AttributeError) as exc:
            form.addRow(QLabel(f"<span style='color:{error_color(self)}'>{html.escape(str(exc))}</span>"))
            schema = {}
        defs = schema.get("$defs", {})
        skipped = []
        for name, raw in (schema.get("properties") or {}).items():
            prop, optional = resolve(raw, defs)
            initial = current.get(name, prop.get("default", UNSET))
            field = build_field(name, prop, optional, initial)
            if field is None:
                skipped.append(name)
                continue
            field.widget.setObjectName(f"param_{name}")
            _on_change(field.widget, self._update_options_summary)
            self._fields.append(field)
            form.addRow(prop.get("title") or name, field.widget)
        self.json_edit = QPlainTextEdit()
        self.json_edit.setObjectName("param_json")
        self.json_edit.setFixedHeight(self.json_edit.fontMetrics().lineSpacing() * 3 + 12)
        self.json_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        hint = f"also {', '.join(skipped)}; " if skipped else ""
        self.json_edit.setPlaceholderText(f'{{"name": value}} — {hint}merged on top of the form')
        self.json_edit.textChanged.connect(self._update_options_summary)
        form.addRow("More (JSON)", self.json_edit)

    def options_note(self) -> str:
        changed = sum(1 for f in self._fields if f.value() is not UNSET and f.value() != f.initial)
        if self.json_edit.toPlainText().strip():
            changed += 1
        return f"{changed} parameter change(s)" if changed else ""

    def parameters(self) -> dict[str, Any]:
        """The parameters the editor changed, then the JSON box on top. Raises ValueError on invalid JSON."""
        out = {f.name: f.value() for f in self._fields if f.value() is not UNSET and f.value() != f.initial}
        text = self.json_edit.toPlainText().strip()
        if text:
            try:
                extra = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"The JSON box is not valid JSON: {exc}") from None
            if not isinstance(extra, dict):
                raise ValueError("The JSON box must hold an object, e.g. {\"style\": \"watercolor\"}")
            out.update(extra)
        return out

    def run_problem(self) -> str | None:
        try:
            self.parameters()
        except ValueError as exc:
            return str(exc)
        return None

    def extra_context(self) -> dict[str, Any]:
        params = self.parameters()
        return {"parameters": params} if params else {}

    # --- results ------------------------------------------------------------------------------------------------
    def section_shown(self, section_id: int | None) -> None:
        self.reload_detail()

    def reload_detail(self) -> None:
        sid = self.picker.current_id()
        target = self.target()
        if self.data is None or target is None:
            return
        outs = [spec["db_field"] for spec in self.data["step"]["outputs"].values()]
        self._detail_gen += 1
        gen, ws, (step_id, post_id) = self._detail_gen, self.ws, target
        self.in_background(lambda: review.section_review(ws, step_id, post_id, sid, outs, None),
                           partial(self._on_detail, gen),
                           lambda exc: self._set_status(f"Cannot load the results: {exc}", error=True))

    def _on_detail(self, gen: int, detail: dict[str, Any]) -> None:
        if gen != self._detail_gen:
            return
        sid = detail["section_id"]
        self.heading.setText(f"<b>{html.escape(self.picker.title_of(sid))}</b>")
        last = detail.get("last")
        target = self.target()
        whole = self._last_result.get(target) if target is not None else None
        if last:
            shown: Any = {"run_id": last["run_id"], "status": last["status"], **(last.get("result") or {})}
        elif whole is not None:
            shown = whole
        else:
            self.result_view.setPlainText("Not run yet.")
            return
        values = {k: v for k, v in detail["values"].items() if v is not None}
        if values:
            shown = {"result": shown, "fields": values}
        self.result_view.setPlainText(json.dumps(shown, ensure_ascii=False, indent=2, default=str))

    def _on_run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        target = self.target()
        if target is not None and (result.get("step_id"), result.get("post_id")) == target:
            self._last_result[target] = {
                k: v for k, v in result.items() if k not in ("key", "step_id", "post_id")}
        super()._on_run_finished(run_id, result)


def _on_change(widget: QWidget, slot) -> None:
    signal = {QSpinBox: "valueChanged", QDoubleSpinBox: "valueChanged", QCheckBox: "stateChanged",
              QComboBox: "currentIndexChanged", QLineEdit: "textChanged"}.get(type(widget))
    if signal:
        getattr(widget, signal).connect(slot)
