"""A form generated from a script type's parameters model (its pydantic JSON schema), with defaults and bounds.

Each widget reports only its own key (`value_changed(key, value)`, value None = "use the default"), so a value
the form cannot show (5 for a 0–2 temperature, typed in the raw JSON) is kept as typed until the editor touches
that very widget, and the form says so under it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import shiboken6
from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wfdesk.services.validation import PARAMETER_LABELS, plain_message

DEFAULT_TEXT = "default"
# Friendlier labels than the schema's titles; validation messages use the same ones.
LABELS = PARAMETER_LABELS
PLACEHOLDERS = {"provider": "the default provider (Settings)"}
# Hints for parameters whose schema has no description.
HINTS = {"temperature": "0 = predictable … 2 = very free; default: the LLM action's",
         "max_tokens": "Longest answer; default: the LLM action's", "size": "WIDTHxHEIGHT such as 1024x1024, or auto",
         "quality": "e.g. standard, hd (depends on the model)", "model": "Model name on the provider",
         "timeout": "Seconds to wait for an answer"}


def if_alive(widget: object, fn: Callable[..., None]) -> Callable[..., None]:
    """A BackgroundOp callback that does nothing once its dialog is gone (closed while the work was running).
    widget: any Qt object (a dialog, or a mixin of one, which the type checker sees as a plain class)."""

    def call(*args: Any) -> None:
        if shiboken6.isValid(widget):
            fn(*args)

    return call


class ProblemLabel(QLabel):
    """A validation message under the field it concerns; hidden while there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problem")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet("color: #c0392b;")
        self.hide()

    def set_problem(self, message: str | None) -> None:
        self.setText(f"⚠ {message}" if message else "")
        self.setVisible(bool(message))


def hint_label(text: str) -> QLabel:
    """A short grey explanation under a field."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setEnabled(False)  # the palette's disabled text colour: readable in light and dark themes
    return label


def _flatten(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The non-null branch of an Optional (anyOf [X, null]) and whether null is allowed."""
    if "anyOf" in prop:
        branches = [b for b in prop["anyOf"] if b.get("type") != "null"]
        nullable = len(branches) < len(prop["anyOf"])
        merged = {k: v for k, v in prop.items() if k != "anyOf"}
        if len(branches) == 1:
            merged.update(branches[0])
        return merged, nullable
    return dict(prop), False


class _Editor:
    """One parameter's widget: get() -> value or None (default), set(value) -> a note when not shown as is."""

    def __init__(self, widget: QWidget, get: Callable[[], Any], set_: Callable[[Any], str | None],
                 changed: Any) -> None:
        self.widget, self.get, self.set, self.changed = widget, get, set_, changed


SPIN_LIMIT = 2**31 - 2  # QSpinBox holds a C int


def _number_editor(schema: dict[str, Any], nullable: bool, default: Any) -> _Editor:
    integer = schema.get("type") == "integer"
    lo_set = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi_set = schema.get("maximum", schema.get("exclusiveMaximum"))
    if integer and any(v is not None and abs(v) > SPIN_LIMIT for v in (lo_set, hi_set)):
        # A number wider than a spin box (a 64-bit seed): typed as text, checked by the config's own validation.
        return _json_editor(default)
    make = _spin_box if integer else _double_spin_box
    box, lo, hi, sentinel = make(schema, lo_set, hi_set, nullable)
    if nullable:
        box.setSpecialValueText(DEFAULT_TEXT)
    box.setAccelerated(True)

    def get() -> Any:
        value = box.value()
        if sentinel is not None and value <= sentinel:
            return None
        return int(value) if integer else round(float(value), 4)

    def set_(value: Any) -> str | None:
        if value is None:
            _set_value(box, sentinel if sentinel is not None else (default if default is not None else lo))
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            _set_value(box, lo if sentinel is None else sentinel)
            return f"{json.dumps(value)} is not a number"
        _set_value(box, value)
        if not lo <= value <= hi:
            return f"{value} is outside {_fmt(lo)}–{_fmt(hi)}"
        if integer and not float(value).is_integer():
            return f"{value} is not a whole number"
        return None

    return _Editor(box, get, set_, box.valueChanged)


# The spin box for a number, with its range (the schema's, exclusive bounds made inclusive) and, when the value may
# be left to the default, the one step below the minimum that stands for it (shown as text instead of a number).
def _spin_box(schema: dict[str, Any], lo_set: float | None, hi_set: float | None, nullable: bool
              ) -> tuple[QSpinBox, int, int, int | None]:
    box = QSpinBox()
    lo = -SPIN_LIMIT if lo_set is None else int(lo_set) + (1 if "exclusiveMinimum" in schema else 0)
    hi = SPIN_LIMIT if hi_set is None else int(hi_set) - (1 if "exclusiveMaximum" in schema else 0)
    sentinel = lo - 1 if nullable else None
    box.setRange(lo if sentinel is None else sentinel, hi)
    return box, lo, hi, sentinel


def _double_spin_box(schema: dict[str, Any], lo_set: float | None, hi_set: float | None, nullable: bool
                     ) -> tuple[QDoubleSpinBox, float, float, float | None]:
    box = QDoubleSpinBox()
    span = (hi_set - lo_set) if lo_set is not None and hi_set is not None else math.inf
    step = 0.1 if span <= 10 else 1.0  # tenths across a span of 10 or less, else units
    box.setSingleStep(step)
    box.setDecimals(2)
    lo = -1e9 if lo_set is None else float(lo_set) + (0.01 if "exclusiveMinimum" in schema else 0)
    hi = 1e9 if hi_set is None else float(hi_set)
    sentinel = lo - step if nullable else None
    box.setRange(lo if sentinel is None else sentinel, hi)
    return box, lo, hi, sentinel


def _set_value(box: QSpinBox | QDoubleSpinBox, value: float) -> None:
    """A QSpinBox takes the whole part (as Qt's own conversion of a float does)."""
    if isinstance(box, QSpinBox):
        box.setValue(int(value))
    else:
        box.setValue(value)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _text_editor(schema: dict[str, Any], default: Any, choices: list[str] | None,
                 placeholder: str | None = None) -> _Editor:
    placeholder = placeholder or (f"{DEFAULT_TEXT} ({default})" if default not in (None, "") else DEFAULT_TEXT)
    if choices is not None:
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItems(["", *choices])
        combo_line = combo.lineEdit()
        assert combo_line is not None  # an editable combo box has one
        line = combo_line
        line.setPlaceholderText(placeholder)
        widget: QWidget = combo
    else:
        line = QLineEdit()
        line.setPlaceholderText(placeholder)
        widget = line
    if schema.get("pattern"):
        line.setToolTip(plain_message(f"String should match pattern '{schema['pattern']}'").capitalize())

    def get() -> Any:
        return line.text().strip() or None

    def set_(value: Any) -> str | None:
        line.setText("" if value is None else str(value))
        return None if value is None or isinstance(value, str) else f"{json.dumps(value)} is not text"

    # A pick from the list changes the text without any key typed: the combo's own signal reports both.
    changed = widget.currentTextChanged if isinstance(widget, QComboBox) else line.textEdited
    return _Editor(widget, get, set_, changed)


def _enum_editor(options: list[Any], nullable: bool) -> _Editor:
    combo = QComboBox()
    if nullable:
        combo.addItem(DEFAULT_TEXT, None)
    for option in options:
        combo.addItem(str(option), option)

    def set_(value: Any) -> str | None:
        index = combo.findData(value)
        combo.setCurrentIndex(max(index, 0))
        return None if index >= 0 else f"{json.dumps(value)} is not one of {', '.join(map(str, options))}"

    return _Editor(combo, combo.currentData, set_, combo.currentIndexChanged)


def _bool_editor(default: Any) -> _Editor:
    box = QCheckBox()

    def set_(value: Any) -> str | None:
        box.setChecked(bool(default) if value is None else bool(value))
        return None if value is None or isinstance(value, bool) else f"{json.dumps(value)} is not true/false"

    return _Editor(box, box.isChecked, set_, box.toggled)


def _json_editor(default: Any) -> _Editor:
    line = QLineEdit()
    line.setPlaceholderText(f"{DEFAULT_TEXT} ({json.dumps(default)})" if default is not None else DEFAULT_TEXT)

    def get() -> Any:
        text = line.text().strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    def set_(value: Any) -> str | None:
        line.setText("" if value is None else json.dumps(value))
        return None

    return _Editor(line, get, set_, line.textEdited)


def editor_for(prop: dict[str, Any], choices: list[str] | None = None, placeholder: str | None = None) -> _Editor:
    schema, nullable = _flatten(prop)
    default = prop.get("default")
    kind = schema.get("type")
    if "enum" in schema:
        return _enum_editor(schema["enum"], nullable)
    if kind in ("integer", "number"):
        return _number_editor(schema, nullable, default)
    if kind == "boolean":
        return _bool_editor(default)
    if kind == "string":
        return _text_editor(schema, default, choices, placeholder)
    return _json_editor(default)


class ParametersForm(QWidget):
    value_changed = Signal(str, object)  # key, value (None: remove the key, the default applies)
    extras_changed = Signal(object)  # dict of the keys the schema does not name

    def __init__(self, model: type[BaseModel], parent: QWidget | None = None, *,
                 choices: dict[str, list[str]] | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.schema = model.model_json_schema()
        self.properties: dict[str, dict[str, Any]] = self.schema.get("properties", {})
        self.editors: dict[str, _Editor] = {}
        self.problem_labels: dict[str, ProblemLabel] = {}
        self._extra_keys: list[str] = []
        self._loading = False
        self.extras_error: str | None = None  # why the text typed in "Other parameters" cannot be used

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for key, prop in self.properties.items():
            editor = editor_for(prop, (choices or {}).get(key), PLACEHOLDERS.get(key))
            self.editors[key] = editor
            editor.widget.setObjectName(f"param_{key}")
            label = LABELS.get(key, prop.get("title") or key)
            tip = prop.get("description") or HINTS.get(key, "")
            editor.widget.setToolTip("\n".join(t for t in (tip, editor.widget.toolTip()) if t))
            cell = QWidget()
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(2)
            row = QHBoxLayout()
            wide = isinstance(editor.widget, QLineEdit | QComboBox)
            editor.widget.setMinimumWidth(200 if wide else 120)
            row.addWidget(editor.widget, 2 if wide else 0)
            row.addWidget(hint_label(tip), 3)  # an empty hint still keeps the widgets aligned
            box.addLayout(row)
            problem = ProblemLabel()
            box.addWidget(problem)
            self.problem_labels[key] = problem
            form.addRow(QLabel(f"{label}:"), cell)
            editor.changed.connect(lambda *_a, k=key: self._emit(k))

        extra_allowed = self.schema.get("additionalProperties", True) is not False
        self.extras_edit: QLineEdit | None = None
        if extra_allowed:
            self.extras_edit = QLineEdit()
            self.extras_edit.setObjectName("param_extras")
            self.extras_edit.setPlaceholderText('none — a JSON object, e.g. {"format": "json"}')
            self.extras_edit.setToolTip("Parameters this type's schema does not name; passed on as they are.")
            self.extras_edit.textEdited.connect(self._extras_edited)
            self.extras_problem = ProblemLabel()
            cell = QWidget()
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(2)
            box.addWidget(self.extras_edit)
            box.addWidget(self.extras_problem)
            form.addRow(QLabel("Other parameters:"), cell)
        self.setLayout(form)

    # -- values ---------------------------------------------------------------------------------------------

    def set_values(self, values: dict[str, Any] | None) -> None:
        """Show a parameters object (from the config or the raw JSON) without emitting any change."""
        values = values if isinstance(values, dict) else {}
        self._loading = True
        try:
            for key, editor in self.editors.items():
                note = editor.set(values.get(key))
                self.problem_labels[key].set_problem(
                    f"{note} — fix it here or in Raw JSON" if note else None)
            extras = {k: v for k, v in values.items() if k not in self.editors}
            self._extra_keys = list(extras)
            if self.extras_edit is not None:
                self.extras_edit.setText(json.dumps(extras, ensure_ascii=False) if extras else "")
                self.extras_problem.set_problem(None)
                self.extras_error = None
        finally:
            self._loading = False

    def value(self, key: str) -> Any:
        return self.editors[key].get()

    def extra_keys(self) -> list[str]:
        return list(self._extra_keys)

    def set_problem(self, key: str, message: str | None) -> bool:
        """Show a message under the parameter; False when the key is not a field of this form."""
        if key in self.problem_labels:
            self.problem_labels[key].set_problem(message)
            return True
        if key in self._extra_keys and self.extras_edit is not None:
            self.extras_problem.set_problem(f"{key}: {message}" if message else None)
            return True
        return False

    def clear_problems(self) -> None:
        for label in self.problem_labels.values():
            label.set_problem(None)
        if self.extras_edit is not None:
            self.extras_problem.set_problem(None)

    # -- changes --------------------------------------------------------------------------------------------

    def _emit(self, key: str) -> None:
        if self._loading:
            return
        self.problem_labels[key].set_problem(None)
        self.value_changed.emit(key, self.editors[key].get())

    def _extras_edited(self, text: str) -> None:
        """Only valid text reaches the config; invalid text stays in the field, marked, and blocks Save."""
        text = text.strip()
        try:
            extras = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            self._extras_invalid(f"is not valid JSON ({exc.msg.lower()} at character {exc.pos + 1}); "
                                 'write it like {"format": "json"}')
            return
        if not isinstance(extras, dict):
            self._extras_invalid('must be a JSON object such as {"format": "json"}')
            return
        named = [LABELS.get(k, str(k)) for k in extras if k in self.editors]
        if named:
            self._extras_invalid(f"{', '.join(named)} has its own field above: set it there")
            return
        self.extras_error = None
        self.extras_problem.set_problem(None)
        self._extra_keys = list(extras)
        self.extras_changed.emit(extras)

    def _extras_invalid(self, message: str) -> None:
        self.extras_error = message
        self.extras_problem.set_problem(message)

