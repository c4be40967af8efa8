"""The form of the step config editor: how it is laid out, and how it shows the document (`doc`) in its widgets.

StepConfigDialog inherits these; each widget writes its own key back through the dialog's handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from wfdesk.scripts import registry
from wfdesk.scripts.config import Parameters, script_type_of
from wfdesk.ui.config_editor.fields_table import FieldsTable
from wfdesk.ui.config_editor.parameters_form import ParametersForm, ProblemLabel, hint_label

TYPE_HINTS = {
    "llm_action": "Sends each selected section through a stored LLM action (a prompt template and model settings) "
                  "and writes the answer to the output field.",
    "image_generation": "Makes an image for each selected section from its first input; the editor accepts or "
                        "rejects each candidate.",
    "custom_script": "POSTs each section's inputs to an HTTP endpoint under the custom-script base URL and writes "
                     "its answer to the output field.",
}


class StepForm:
    # Set by StepConfigDialog.
    ws: Any
    doc: dict[str, Any]
    _actions: list[tuple[int, str]]
    _params_type: str | None
    _filling: bool

    if TYPE_CHECKING:  # StepConfigDialog's, called from here
        def _changed(self, *_args: object) -> None: ...
        def _type_chosen(self, index: int) -> None: ...
        def _set_doc_key(self, key: str, value: Any) -> None: ...
        def _action_chosen(self, index: int) -> None: ...
        def _endpoint_edited(self, text: str) -> None: ...
        def _param_changed(self, key: str, value: Any) -> None: ...
        def _extras_changed(self, extras: dict[str, Any]) -> None: ...
        def _current_action_id(self) -> int | None: ...
        def _open_action_dialog(self, action_id: int | None) -> None: ...
        def _script_config(self) -> dict[str, Any]: ...

    def _build_form(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)

        general = QGroupBox("Step")
        form = QFormLayout(general)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.name_edit.textEdited.connect(self._changed)
        self.stage_edit = QLineEdit()
        self.stage_edit.setObjectName("stage")
        self.stage_edit.setPlaceholderText("e.g. Writing, Illustration, Publishing")
        self.stage_edit.textEdited.connect(self._changed)
        self.type_combo = QComboBox()
        self.type_combo.setObjectName("script_type")
        for name in sorted(registry.SCRIPT_REGISTRY):
            self.type_combo.addItem(name, name)
        self.type_combo.currentIndexChanged.connect(self._type_chosen)
        self.type_hint = hint_label("")
        self.problems: dict[str, ProblemLabel] = {k: ProblemLabel() for k in ("name", "stage", "type", "action",
                                                                               "endpoint")}
        form.addRow("Name:", self._with_problem(self.name_edit, "name"))
        form.addRow("Stage:", self._with_problem(self.stage_edit, "stage"))
        form.addRow("Script type:", self._with_problem(self.type_combo, "type", self.type_hint))
        col.addWidget(general)

        io = QGroupBox("Inputs and outputs")
        io_layout = QVBoxLayout(io)
        self.inputs_table = FieldsTable("input")
        self.outputs_table = FieldsTable("output")
        self.inputs_table.changed.connect(lambda fields: self._set_doc_key("inputs", fields))
        self.outputs_table.changed.connect(lambda fields: self._set_doc_key("outputs", fields))
        io_layout.addWidget(QLabel("<b>Inputs</b> — what the step reads from each section "
                                   "(templates use the key, e.g. <code>{{ input1 }}</code>)"))
        io_layout.addWidget(self.inputs_table)
        io_layout.addWidget(QLabel("<b>Outputs</b> — the section fields the step writes its result to"))
        io_layout.addWidget(self.outputs_table)
        col.addWidget(io)

        self.type_box = QGroupBox()
        self.type_pages = QStackedWidget()
        self.type_pages.addWidget(QWidget())  # 0: nothing type-specific
        self.type_pages.addWidget(self._build_action_page())  # 1: llm_action
        self.type_pages.addWidget(self._build_endpoint_page())  # 2: custom_script
        box_layout = QVBoxLayout(self.type_box)
        box_layout.addWidget(self.type_pages)
        col.addWidget(self.type_box)

        self.params_box = QGroupBox("Parameters")
        self.params_layout = QVBoxLayout(self.params_box)
        self.params_hint = hint_label("")
        self.params_layout.addWidget(self.params_hint)
        self.params_form: ParametersForm | None = None
        col.addWidget(self.params_box)
        col.addStretch(1)

        self.form_scroll = QScrollArea()
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setWidget(page)
        return self.form_scroll

    def _build_action_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.action_combo = QComboBox()
        self.action_combo.setObjectName("action")
        self.action_combo.setMinimumWidth(280)
        self.action_combo.currentIndexChanged.connect(self._action_chosen)
        self.edit_action_button = QPushButton("Edit action…")
        self.edit_action_button.clicked.connect(lambda: self._open_action_dialog(self._current_action_id()))
        self.new_action_button = QPushButton("New action…")
        self.new_action_button.clicked.connect(lambda: self._open_action_dialog(None))
        row = QHBoxLayout()
        row.addWidget(self.action_combo, 1)
        row.addWidget(self.edit_action_button)
        row.addWidget(self.new_action_button)
        cell = QWidget()
        cell_layout = QVBoxLayout(cell)
        cell_layout.setContentsMargins(0, 0, 0, 0)
        cell_layout.addLayout(row)
        cell_layout.addWidget(hint_label("The action holds the prompt template, the model and the temperature. "
                                         "Editing it changes every step that uses it."))
        cell_layout.addWidget(self.problems["action"])
        form.addRow("LLM action:", cell)
        return page

    def _build_endpoint_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.base_url_label = QLabel()
        self.base_url_label.setObjectName("base_url")
        self.endpoint_edit = QLineEdit()
        self.endpoint_edit.setObjectName("endpoint")
        self.endpoint_edit.setPlaceholderText("/api/process")
        self.endpoint_edit.textEdited.connect(self._endpoint_edited)
        row = QHBoxLayout()
        row.setSpacing(0)
        row.addWidget(self.base_url_label)
        row.addWidget(self.endpoint_edit, 1)
        cell = QWidget()
        cell_layout = QVBoxLayout(cell)
        cell_layout.setContentsMargins(0, 0, 0, 0)
        cell_layout.addLayout(row)
        self.endpoint_hint = hint_label("A path under the custom-script base URL (Settings → Custom scripts); "
                                        "never a full address.")
        cell_layout.addWidget(self.endpoint_hint)
        cell_layout.addWidget(self.problems["endpoint"])
        form.addRow("Endpoint:", cell)
        return page

    def _with_problem(self, widget: QWidget, key: str, hint: QWidget | None = None) -> QWidget:
        """The field, its hint when it has one, and its problem label below."""
        cell = QWidget()
        layout = QVBoxLayout(cell)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(widget)
        if hint is not None:
            layout.addWidget(hint)
        layout.addWidget(self.problems[key])
        return cell

    # -- filling the form from the document -----------------------------------------------------------------

    def _fill_form(self) -> None:
        """Show self.doc in every widget, emitting nothing back."""
        self._filling = True
        try:
            doc = self.doc
            kind = script_type_of(doc)
            index = self.type_combo.findData(kind)
            if index < 0:
                self.type_combo.addItem(f"{kind} (not installed)", kind)
                index = self.type_combo.count() - 1
            self.type_combo.setCurrentIndex(index)
            self.type_hint.setText(TYPE_HINTS.get(kind) or self._plugin_hint(kind))
            self.inputs_table.set_fields(doc.get("inputs") or {})
            self.outputs_table.set_fields(doc.get("outputs") or {})
            sc = self._script_config()
            page = {"llm_action": 1, "custom_script": 2}.get(kind, 0)
            self.type_pages.setCurrentIndex(page)
            self.type_box.setTitle({1: "LLM action", 2: "Endpoint"}.get(page, ""))
            self.type_box.setVisible(page != 0)
            self._fill_actions(sc.get("action_id"))
            endpoint = sc.get("custom_endpoint")
            self.endpoint_edit.setText(endpoint if isinstance(endpoint, str) else "")
            self._ensure_params_form(kind)
            if self.params_form is not None:
                self.params_form.set_values(sc.get("parameters"))
        finally:
            self._filling = False

    def _plugin_hint(self, kind: str) -> str:
        try:
            return f"Registered by {registry.type_info(kind).source}."
        except ValueError:
            return "This script type is not installed here: the step cannot run until its plugin is."

    def _fill_actions(self, action_id: Any) -> None:
        self.action_combo.clear()
        self.action_combo.addItem("— choose an LLM action —", None)
        for aid, name in self._actions:
            self.action_combo.addItem(f"{name}  (#{aid})", aid)
        index = self.action_combo.findData(action_id) if action_id is not None else 0
        if index < 0:
            self.action_combo.addItem(f"#{action_id} (does not exist)", action_id)
            index = self.action_combo.count() - 1
        self.action_combo.setCurrentIndex(index)
        self.edit_action_button.setEnabled(isinstance(action_id, int) and any(a == action_id for a, _ in self._actions))

    def _ensure_params_form(self, kind: str) -> None:
        if self._params_type == kind and self.params_form is not None:
            return
        try:
            model = registry.type_info(kind).parameters_model
        except ValueError:
            model = Parameters
        if self.params_form is not None:
            self.params_form.setParent(None)
            self.params_form.deleteLater()
        providers = sorted(set(self.ws.settings.providers))
        self.params_form = ParametersForm(model, choices={"provider": providers})
        self.params_hint.setText("Empty or “default” means the default applies"
                                 + (" (from the LLM action or the provider profile)." if kind == "llm_action"
                                    else "."))
        self.params_form.value_changed.connect(self._param_changed)
        self.params_form.extras_changed.connect(self._extras_changed)
        if self.params_form.extras_edit is not None:  # invalid text changes no document, yet it is unsaved
            self.params_form.extras_edit.textEdited.connect(self._changed)
        self.params_layout.addWidget(self.params_form)
        self._params_type = kind
