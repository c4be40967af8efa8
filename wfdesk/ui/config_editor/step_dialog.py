"""The step config editor: a form (name, stage, script type, inputs/outputs, the type's own fields, parameters)
and the raw JSON, kept in sync; or, with post_id, the same form over one post's override of the step.

The dialog keeps one document (`self.doc`, the config as JSON) as the truth. Each widget writes only its own key
into it, and the JSON tab shows it; so keys the form has no widget for survive a round trip untouched.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from wfdesk.errors import ConfigError, ConflictError, WfdeskError
from wfdesk.scripts import registry
from wfdesk.scripts.config import script_type_of
from wfdesk.services import config_store
from wfdesk.ui.config_editor.conflict_panel import ConflictPanel, framed
from wfdesk.ui.config_editor.editor_dialog import EditorDialog
from wfdesk.ui.config_editor.json_tab import JsonTab, dump
from wfdesk.ui.config_editor.parameters_form import if_alive
from wfdesk.ui.config_editor.step_form import TYPE_HINTS, StepForm
from wfdesk.ui.config_editor.step_problems import StepProblems
from wfdesk.ui.worker import BackgroundOp

# Names other modules import from here.
__all__ = ["NEW_STEP_CONFIG", "TYPE_HINTS", "ConflictPanel", "StepConfigDialog"]
NEW_STEP_CONFIG = {"inputs": {}, "outputs": {}, "script_config": {"type": "llm_action"}}


def _paths(diff: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in diff.items():
        if isinstance(value, dict) and value:
            out.extend(_paths(value, f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key}")
    return out


class StepConfigDialog(StepProblems, StepForm, EditorDialog):
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
        self._action_dialog: QDialog | None = None  # the LLM actions dialog opened from here, kept referenced

        self.setWindowTitle("Step config")
        self._build()
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        self.load()

    # -- building -------------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = framed(QLabel(), "#d68910")
        self.banner.setObjectName("override_banner")
        self.banner.hide()
        self.message = framed(QLabel(), "#c0392b")
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
        params = _parameters(sc)
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
        self._set_params(sc, params)

    def _extras_changed(self, extras: dict[str, Any]) -> None:
        if self._filling or self.params_form is None:
            return
        sc = self._writable_script_config()
        params = _parameters(sc)
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
        form, error = self.params_form, self._extras_error()
        if error is not None and form is not None and form.extras_edit is not None:  # the error is that field's
            form.extras_problem.set_problem(error)
            self._show_message("<b>Not saved.</b> Other parameters " + error + ".")
            self.form_scroll.ensureWidgetVisible(form.extras_edit)
            form.extras_edit.setFocus()
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

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        self.tabs.setEnabled(not busy)
        self.save_button.setEnabled(not busy)
        if busy:
            self.status.setText(text)
        else:
            self._update_status()


def _parameters(script_config: dict[str, Any]) -> dict[str, Any]:
    """The config's own parameters (changed in place), or a new dict when it has none."""
    params = script_config.get("parameters")
    return params if isinstance(params, dict) else {}
