"""The step config editor: a form (name, stage, script type, inputs/outputs, the type's own fields, parameters)
and the raw JSON, kept in sync; or, with post_id, the same form over one post's override of the step.

The dialog keeps one document (`self.doc`, the config as JSON) as the truth. Each widget writes only its own key
into it, and the JSON tab shows it; so keys the form has no widget for survive a round trip untouched.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from wfdesk.errors import ConfigError, ConflictError, Problem, WfdeskError
from wfdesk.scripts import registry
from wfdesk.scripts.config import Parameters, script_type_of
from wfdesk.services import config_store
from wfdesk.services.validation import describe, plain_message
from wfdesk.ui.config_editor.editor_dialog import EditorDialog
from wfdesk.ui.config_editor.fields_table import FieldsTable
from wfdesk.ui.config_editor.json_tab import JsonTab, dump, monospace_font
from wfdesk.ui.config_editor.parameters_form import ParametersForm, ProblemLabel, hint_label, if_alive
from wfdesk.ui.worker import BackgroundOp

TYPE_HINTS = {
    "llm_action": "Sends each selected section through a stored LLM action (a prompt template and model settings) "
                  "and writes the answer to the output field.",
    "image_generation": "Makes an image for each selected section from its first input; the editor accepts or "
                        "rejects each candidate.",
    "custom_script": "POSTs each section's inputs to an HTTP endpoint under the custom-script base URL and writes "
                     "its answer to the output field.",
}
NEW_STEP_CONFIG = {"inputs": {}, "outputs": {}, "script_config": {"type": "llm_action"}}


def _framed(label: QLabel, color: str) -> QLabel:
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(f"QLabel {{ border: 1px solid {color}; border-left: 5px solid {color}; "
                        "border-radius: 3px; padding: 6px; }")
    return label


def _paths(diff: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in diff.items():
        if isinstance(value, dict) and value:
            out.extend(_paths(value, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key}")
    return out


class ConflictPanel(QGroupBox):
    """Shown when someone else saved first: both versions side by side; nothing was overwritten."""

    reload_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Someone else saved this meanwhile", parent)
        self.setObjectName("conflict_panel")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.mine = QPlainTextEdit(readOnly=True)
        self.theirs = QPlainTextEdit(readOnly=True)
        for edit in (self.mine, self.theirs):
            edit.setFont(monospace_font())
            edit.setMaximumHeight(180)
        sides = QHBoxLayout()
        for title, edit in (("Your version (not saved)", self.mine), ("Saved version (theirs)", self.theirs)):
            col = QVBoxLayout()
            col.addWidget(QLabel(f"<b>{title}</b>"))
            col.addWidget(edit)
            sides.addLayout(col)
        self.reload_button = QPushButton("Reload the saved version (discard mine)")
        self.reload_button.clicked.connect(self.reload_requested)
        keep = QPushButton("Keep editing")
        keep.clicked.connect(self.hide)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(keep)
        buttons.addWidget(self.reload_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addLayout(sides)
        layout.addLayout(buttons)
        self.hide()

    def show_conflict(self, exc: ConflictError) -> None:
        self.message.setText(f"{exc} Nothing was overwritten. To keep some of your changes, copy them from the "
                             "left, reload, and apply them again.")
        self.mine.setPlainText(_as_text(exc.mine))
        self.theirs.setPlainText(_as_text(exc.theirs) if exc.theirs is not None else "(deleted)")
        self.show()


def _as_text(value: Any) -> str:
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        value = asdict(value)
    return dump(value) if isinstance(value, dict | list) else str(value)


class StepConfigDialog(EditorDialog):
    subject = "this step"
    preferred_size = (880, 780)

    loaded = Signal()  # the step (and the lists the form offers) are read and shown
    save_failed = Signal(object)  # the exception a refused save raised (the dialog shows it)

    def __init__(self, ws, step_id: int | None, parent: QWidget | None = None, *, post_id: int | None = None) -> None:
        super().__init__(parent)
        self.ws, self.step_id, self.post_id = ws, step_id, post_id
        if post_id is not None and step_id is None:
            raise ValueError("An override needs the step it overrides")
        self.saved_step_id: int | None = None
        self.doc: dict[str, Any] = copy.deepcopy(NEW_STEP_CONFIG)
        self.step_config: dict[str, Any] = {}  # override mode: the step's own config (the base of the diff)
        self.lock_version: int | None = None
        self.is_loaded = False
        self.busy = False
        self._clean: tuple[str, str, str] | None = None
        self._stash: dict[str, dict[str, Any]] = {}  # script_config per type, to switch back without loss
        self._actions: list[tuple[int, str]] = []
        self._params_type: str | None = None
        self._filling = False
        self._action_dialog = None

        self.setWindowTitle("Step config")
        self._build()
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        self.load()

    # -- building -------------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = _framed(QLabel(), "#d68910")
        self.banner.setObjectName("override_banner")
        self.banner.hide()
        self.message = _framed(QLabel(), "#c0392b")
        self.message.setObjectName("message_area")
        self.message.hide()
        self.conflict = ConflictPanel()
        self.conflict.reload_requested.connect(self.load)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_form(), "Form")
        self.json_tab = JsonTab(
            "The step's config with this post's override on top; only the difference (below) is saved."
            if self.post_id is not None else
            "The step's config exactly as stored. Edits here update the form as soon as they are valid JSON.")
        self.json_tab.edited.connect(self._json_edited)
        self.tabs.addTab(self.json_tab, "Raw JSON")

        bottom = self._button_row(QDialogButtonBox.StandardButton.Cancel, "Validate and save (Ctrl+S)")

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.message)
        layout.addWidget(self.conflict)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)

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
        type_cell = self._with_problem(self.type_combo, "type")
        type_cell.layout().insertWidget(1, self.type_hint)
        form.addRow("Script type:", type_cell)
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

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(page)
        return self.scroll

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

    def _with_problem(self, widget: QWidget, key: str) -> QWidget:
        cell = QWidget()
        layout = QVBoxLayout(cell)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(widget)
        layout.addWidget(self.problems[key])
        return cell

    # -- loading --------------------------------------------------------------------------------------------

    def load(self) -> None:
        """(Re)read the step, the post's override and the lists the form offers, in the background."""
        self.conflict.hide()
        self._set_busy(True, "Loading…")
        ws, step_id, post_id = self.ws, self.step_id, self.post_id

        def read():
            data = config_store.editor_data(ws)
            if post_id is not None:
                return config_store.load_override(ws, step_id, post_id), data
            if step_id is None:
                return None, data
            return config_store.load_step(ws, step_id), data

        (BackgroundOp(read).success(if_alive(self, self._loaded))

         .failure(if_alive(self, self._load_failed)).run_in_background())

    def _loaded(self, result) -> None:
        record, data = result
        self._actions = data.actions
        self.inputs_table.set_suggestions(data.field_names)
        self.outputs_table.set_suggestions(data.field_names)
        base = data.custom_script_base_url
        self.base_url_label.setText(base.rstrip("/") if base else "(no base URL set — Settings → Custom scripts) ")
        self.base_url_label.setEnabled(bool(base))
        if isinstance(record, config_store.OverrideRecord):
            self.step_config = copy.deepcopy(record.step.config)
            self.doc = record.effective
            self.lock_version = record.lock_version
            name, stage = record.step.name, record.step.stage
            self.setWindowTitle(f"Override of step “{name}” for post “{record.post_title}”")
            self.banner.setText(f"<b>Override for post “{record.post_title}”</b><br>The form shows the step's "
                                "config with this post's changes on top. Only what differs from the step is saved, "
                                "and only this post uses it. Name, stage and type belong to the step itself.")
            self.banner.show()
            for widget in (self.name_edit, self.stage_edit, self.type_combo):
                widget.setEnabled(False)
        elif record is None:
            self.doc, self.lock_version, name, stage = copy.deepcopy(NEW_STEP_CONFIG), None, "", ""
            self.setWindowTitle("New step")
        else:
            self.doc, self.lock_version, name, stage = record.config, record.lock_version, record.name, record.stage
            self.setWindowTitle(f"Step “{name}”")
        self._stash.clear()
        self._filling = True
        self.name_edit.setText(name)
        self.stage_edit.setText(stage)
        self._filling = False
        self._fill_form()
        self.json_tab.set_document(self.doc)
        self._clean = self._state()
        self.is_loaded = True
        self._clear_problems()
        self._set_busy(False)
        self._update_status()
        self.loaded.emit()

    def _load_failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self.tabs.setEnabled(False)
        self.save_button.setEnabled(False)
        self._show_message(f"Could not open the step: {exc}")

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

    # -- edits from the form --------------------------------------------------------------------------------

    def _script_config(self) -> dict[str, Any]:
        sc = self.doc.get("script_config")
        return sc if isinstance(sc, dict) else {}

    def _writable_script_config(self) -> dict[str, Any]:
        sc = self.doc.get("script_config")
        if not isinstance(sc, dict):
            sc = self.doc["script_config"] = {"type": script_type_of(self.doc)}
        return sc

    def _set_doc_key(self, key: str, value: Any) -> None:
        if self._filling:
            return
        self.doc[key] = value
        self._doc_changed()

    def _type_chosen(self, index: int) -> None:
        if self._filling:
            return
        new = self.type_combo.itemData(index)
        old = script_type_of(self.doc)
        if new == old:
            return
        sc = self._script_config()
        self._stash[old] = copy.deepcopy(sc)
        if new in self._stash:
            self.doc["script_config"] = self._stash[new]
        else:
            # Keep the parameters the new type also knows (provider, concurrency, ...), drop the rest.
            try:
                known = registry.type_info(new).parameters_model.model_fields
            except ValueError:
                known = {}
            params = {k: v for k, v in (sc.get("parameters") or {}).items() if k in known}
            self.doc["script_config"] = {"type": new, **({"parameters": params} if params else {})}
        self._fill_form()
        self._doc_changed()

    def _action_chosen(self, index: int) -> None:
        if self._filling:
            return
        action_id = self.action_combo.itemData(index)
        sc = self._writable_script_config()
        if action_id is None:
            sc.pop("action_id", None)
        else:
            sc["action_id"] = action_id
        self.problems["action"].set_problem(None)
        self.edit_action_button.setEnabled(action_id is not None and any(a == action_id for a, _ in self._actions))
        self._doc_changed()

    def _endpoint_edited(self, text: str) -> None:
        sc = self._writable_script_config()
        if text.strip():
            sc["custom_endpoint"] = text.strip()
        else:
            sc.pop("custom_endpoint", None)
        self.problems["endpoint"].set_problem(None)
        self._doc_changed()

    def _param_changed(self, key: str, value: Any) -> None:
        if self._filling:
            return
        sc = self._writable_script_config()
        params = sc.get("parameters") if isinstance(sc.get("parameters"), dict) else {}
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
        self._set_params(sc, params)

    def _extras_changed(self, extras: dict[str, Any]) -> None:
        if self._filling or self.params_form is None:
            return
        sc = self._writable_script_config()
        params = sc.get("parameters") if isinstance(sc.get("parameters"), dict) else {}
        named = {k: v for k, v in params.items() if k in self.params_form.editors}
        self._set_params(sc, {**named, **extras})

    def _set_params(self, sc: dict[str, Any], params: dict[str, Any]) -> None:
        if params:
            sc["parameters"] = params
        else:
            sc.pop("parameters", None)
        self._doc_changed()

    def _changed(self, *_args: object) -> None:
        if not self._filling:
            self._update_status()

    def _doc_changed(self) -> None:
        self.json_tab.set_document(self.doc)
        self._update_status()

    def _json_edited(self, document: dict[str, Any]) -> None:
        self.doc = document
        self._fill_form()
        self._update_status()

    def _update_status(self) -> None:
        if self.post_id is not None and self.is_loaded:
            diff = config_store.config_diff(self.step_config, self.doc)
            changed = ", ".join(p.removeprefix("script_config.").removeprefix("parameters.")
                                for p in _paths(diff)) or "nothing (the post uses the step's config as is)"
            self.status.setText(f"Changed for this post: {changed}")
            self.json_tab.extra_label.setText("<b>Saved as this post's override:</b> "
                                              f"<code>{dump(diff) if diff else '{}'}</code>")
            self.json_tab.extra_label.show()
        else:
            self.status.setText("Unsaved changes" if self.is_dirty() else "")

    # -- the action dialog ----------------------------------------------------------------------------------

    def _current_action_id(self) -> int | None:
        value = self._script_config().get("action_id")
        return value if isinstance(value, int) else None

    def _open_action_dialog(self, action_id: int | None) -> None:
        from wfdesk.ui.config_editor.llm_action_dialog import LLMActionDialog

        dialog = LLMActionDialog(self.ws, action_id, self, preview_post_id=self.post_id)
        dialog.setModal(True)
        dialog.accepted.connect(lambda: self._action_saved(dialog.saved_action_id))
        self._action_dialog = dialog
        dialog.open()

    def _action_saved(self, action_id: int | None) -> None:
        def done(actions: list[tuple[int, str]]) -> None:
            self._actions = actions
            if action_id is not None:
                self._writable_script_config()["action_id"] = action_id
            self._filling = True
            try:
                self._fill_actions(self._current_action_id())
            finally:
                self._filling = False
            self._doc_changed()

        BackgroundOp(lambda: config_store.list_actions(self.ws)).success(if_alive(self, done)).failure(if_alive(
            self, lambda exc: self._show_message(f"Could not reload the LLM actions: {exc}"))).run_in_background()

    # -- saving ---------------------------------------------------------------------------------------------

    def _state(self) -> tuple[str, str, str]:
        return self.name_edit.text(), self.stage_edit.text(), dump(self.doc)

    def is_dirty(self) -> bool:
        """Changed since loaded, or holding typed text the document could not take (it must not vanish)."""
        return self.is_loaded and self._clean is not None and (self._state() != self._clean
                                                               or self.json_tab.error is not None
                                                               or self._extras_error() is not None)

    def _extras_error(self) -> str | None:
        return self.params_form.extras_error if self.params_form is not None else None

    def save(self) -> None:
        if self.busy or not self.is_loaded:
            return
        self._clear_problems()
        if self.json_tab.error:
            self.tabs.setCurrentWidget(self.json_tab)
            self._show_message("Not saved: the raw JSON has a syntax error (shown under the editor).")
            return
        if self._extras_error() is not None:
            self.params_form.extras_problem.set_problem(self._extras_error())
            self._show_message("<b>Not saved.</b> Other parameters " + self._extras_error() + ".")
            self.scroll.ensureWidgetVisible(self.params_form.extras_edit)
            self.params_form.extras_edit.setFocus()
            return
        local = [(t, t.local_problems()) for t in (self.inputs_table, self.outputs_table)]
        if any(p for _, p in local):
            for table, problems in local:
                table.problem.set_problem("; ".join(problems) if problems else None)
            self._show_message("Not saved: fix the inputs/outputs table first.")
            return
        ws, step_id, post_id, lock = self.ws, self.step_id, self.post_id, self.lock_version
        name, stage, doc = self.name_edit.text(), self.stage_edit.text(), copy.deepcopy(self.doc)
        if post_id is not None:
            def work():
                return config_store.save_override(ws, step_id, post_id, doc, lock)
        else:
            def work():
                return config_store.save_step(ws, step_id, name=name, stage=stage, config=doc, lock_version=lock)
        self._set_busy(True, "Saving…")
        (BackgroundOp(work).success(if_alive(self, self._saved))
         .failure(if_alive(self, self._save_failed)).run_in_background())

    def _saved(self, record) -> None:
        self._set_busy(False)
        self.saved_step_id = record.step.id if isinstance(record, config_store.OverrideRecord) else record.id
        self._clean = self._state()
        self.accept()

    def _save_failed(self, exc: Exception) -> None:
        self._set_busy(False)
        if isinstance(exc, ConflictError):
            self.conflict.show_conflict(exc)
        elif isinstance(exc, ConfigError):
            self.show_problems(exc.problems)
        elif isinstance(exc, WfdeskError):
            self._show_message(f"Not saved: {exc}")
        else:
            self._show_message(f"Not saved: the database refused the change ({type(exc).__name__}: {exc})")
        self.save_failed.emit(exc)

    # -- problems -------------------------------------------------------------------------------------------

    def show_problems(self, problems: list[Problem]) -> None:
        """Each message next to its field; what has no field goes to the message area at the top."""
        self._clear_problems()
        self.tabs.setCurrentIndex(0)
        unplaced, first = [], None
        for problem in problems:
            widget = self._place(problem)
            if widget is None:
                unplaced.append(describe(problem))
            first = first or widget
        lines = ["<b>Not saved.</b> Fix the fields marked below."] if len(unplaced) < len(problems) else []
        lines += [f"⚠ {p}" for p in unplaced]
        if not lines:
            lines = ["<b>Not saved.</b>"]
        self._show_message("<br>".join(lines))
        if first is not None:
            self.scroll.ensureWidgetVisible(first)

    def _place(self, problem: Problem) -> QWidget | None:
        field, msg = problem.field, plain_message(problem.message)
        simple = {"name": "name", "stage": "stage", "script_config.type": "type",
                  "script_config.action_id": "action", "script_config.custom_endpoint": "endpoint",
                  "custom_script base URL": "endpoint"}
        if field in simple:
            label = self.problems[simple[field]]
            if field == "custom_script base URL":
                msg = describe(problem)
            label.set_problem(msg)
            return label
        if field.startswith("llm_action["):
            self.problems["action"].set_problem(f"the action's {field.split('.', 1)[-1].replace('_', ' ')}: {msg}")
            return self.problems["action"]
        if field.startswith("script_config.parameters.") and self.params_form is not None:
            key = field.split(".")[2]
            value = (self._script_config().get("parameters") or {}).get(key)
            msg += f" (the config has {dump(value)})" if value is not None else ""
            if self.params_form.set_problem(key, msg):
                return self.params_form.problem_labels.get(key, self.params_form)
        for group, table in (("inputs", self.inputs_table), ("outputs", self.outputs_table)):
            if field == group or field.startswith(group + "."):
                where = field[len(group) + 1:].replace(".", " ")
                text = f"{where}: {msg}" if where else msg
                previous = table.problem.text().removeprefix("⚠ ")
                table.problem.set_problem(f"{previous}; {text}" if previous else text)
                return table.problem
        return None

    def _clear_problems(self) -> None:
        for label in self.problems.values():
            label.set_problem(None)
        for table in (self.inputs_table, self.outputs_table):
            table.problem.set_problem(None)
        if self.params_form is not None:
            self.params_form.clear_problems()
        self.message.hide()


    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        self.tabs.setEnabled(not busy)
        self.save_button.setEnabled(not busy)
        if busy:
            self.status.setText(text)
        else:
            self._update_status()

    # -- closing --------------------------------------------------------------------------------------------


