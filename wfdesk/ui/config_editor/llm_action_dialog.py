"""The LLM actions manager: the list of actions (search, new, duplicate, delete) and the chosen action's editor —
name, model, temperature, max tokens and the prompt template, with the variables the template may use beside it
and a preview of the prompt for a chosen section (rendered locally, nothing is sent).

Save keeps the dialog open (Return in a field never saves); Close reports Accepted when anything was saved, so
callers reload what they show."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QListWidgetItem,
    QMessageBox,
    QWidget,
)

from wfdesk.errors import ConfigError, ConflictError
from wfdesk.services import config_store
from wfdesk.services.config_store import ActionRecord
from wfdesk.services.validation import describe, plain_message
from wfdesk.ui.config_editor.editor_dialog import EditorDialog
from wfdesk.ui.config_editor.llm_action_layout import LLMActionLayout
from wfdesk.ui.config_editor.parameters_form import if_alive
from wfdesk.ui.config_editor.prompt_checks import INPUT_NAME, PromptChecks
from wfdesk.ui.worker import BackgroundOp

NEW_TEMPLATE = "{{ input1 }}"
PREVIEW_DELAY_MS = 350  # re-render after typing pauses, not on every key
__all__ = ["INPUT_NAME", "NEW_TEMPLATE", "PREVIEW_DELAY_MS", "LLMActionDialog"]


class LLMActionDialog(PromptChecks, LLMActionLayout, EditorDialog):
    subject = "this LLM action"
    preferred_size = (1180, 740)

    loaded = Signal()
    preview_ready = Signal(str)  # the rendered prompt, or the error shown instead
    saved = Signal(int)  # the id of the action just saved
    deleted = Signal(int)

    def __init__(self, ws, action_id: int | None, parent: QWidget | None = None, *,
                 preview_post_id: int | None = None, open_first: bool = False) -> None:
        """action_id None starts a new action, or with open_first (the manager opened from the menu) shows the
        list's first action, starting a new one only when there is none."""
        super().__init__(parent)
        self.ws, self.action_id, self.preview_post_id = ws, action_id, preview_post_id
        self.saved_action_id: int | None = None
        self.saved_any = False  # something was saved or deleted: Close reports Accepted
        self.lock_version: int | None = None
        self.is_loaded = False
        self.busy = False
        self.known_variables: set[str] = set()
        self.steps_using: list[str] = []
        self._clean: tuple | None = None
        self._preview_generation = 0
        self._filling = False
        self.setWindowTitle("LLM actions")
        self.setLayout(self._build())
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)
        if action_id is None and open_first:
            self._set_busy(True, "Loading…")  # until the list says which action to show
            self._reload_list(None, open_first=True)
        else:
            self._reload_list(action_id)
            self._open(action_id)

    # -- loading --------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Reload the action being edited (after a conflict)."""
        self._open(self.action_id)

    def _reload_list(self, select_id: int | None, *, open_first: bool = False) -> None:
        def fill(actions: list[tuple[int, str]]) -> None:
            self._filling = True
            try:
                self.action_list.clear()
                for aid, name in actions:
                    item = QListWidgetItem(name)
                    item.setData(Qt.ItemDataRole.UserRole, aid)
                    item.setToolTip(f"LLM action #{aid}")
                    self.action_list.addItem(item)
                    if aid == select_id:
                        self.action_list.setCurrentItem(item)
            finally:
                self._filling = False
            self._filter(self.search.text())
            if open_first:
                self._open(actions[0][0] if actions else None)

        BackgroundOp(lambda: config_store.list_actions(self.ws)).success(if_alive(self, fill)).failure(if_alive(
            self, lambda exc: self._show_message(f"Could not read the LLM actions: {exc}"))).run_in_background()

    def _open(self, action_id: int | None, template: ActionRecord | None = None) -> None:
        """Show an action in the editor; None (with `template` for a duplicate) starts a new, unsaved one."""
        self._set_busy(True, "Loading…")
        ws, post_id = self.ws, self.preview_post_id

        def read():
            if action_id is not None:
                record = config_store.load_action(ws, action_id)
            elif template is not None:
                record = template
            else:
                record = ActionRecord(None, "", NEW_TEMPLATE)
            return (record, config_store.steps_using_action(ws, action_id),
                    config_store.template_variable_list(ws, action_id, post_id),
                    config_store.section_choices(ws, post_id))

        def loaded(result) -> None:
            self._loaded(result, is_copy=template is not None)

        (BackgroundOp(read).success(if_alive(self, loaded))
         .failure(if_alive(self, self._load_failed)).run_in_background())

    def _loaded(self, result, is_copy: bool = False) -> None:
        record, steps, variables, sections = result
        self._filling = True
        self.action_id, self.lock_version = record.id, record.lock_version
        self.message.hide()
        self.setWindowTitle(f"LLM actions — “{record.name}”" if record.id is not None
                            else "LLM actions — new action (not saved yet)")
        self.name_edit.setText(record.name)
        self.model_edit.setText(record.model)
        self.temperature_spin.setValue(record.temperature)
        self.max_tokens_spin.setValue(record.max_tokens or 0)
        self.template_edit.setPlainText(record.prompt_template)
        for label in self.problems.values():
            label.set_problem(None)
        self.steps_using = [s.name for s in steps]
        self.used_by.setText("Used by: " + ", ".join(self.steps_using) if steps
                             else "Not used by any step yet: input1, input2, … are the inputs of the step that "
                                  "will use it.")
        self.variables.clear()
        self.known_variables = set()
        for var in variables:
            item = QListWidgetItem(f"{{{{ {var.name} }}}}\n      {var.description}")
            item.setData(Qt.ItemDataRole.UserRole, var.name)
            item.setToolTip(var.description)
            self.variables.addItem(item)
            self.known_variables.add(var.name.split(".")[0])  # the template sees section.title as "section"
        self.step_combo.clear()
        for step in steps:
            self.step_combo.addItem(step.name, step.id)
        self.step_combo.addItem("(none: only section and post fields)", None)
        self.section_combo.clear()
        for sec in sections:
            where = f"{sec.post_title} › " if self.preview_post_id is None else ""
            self.section_combo.addItem(f"{where}{sec.title or f'Section {sec.id}'}", sec.id)
        if not sections:
            self.section_combo.addItem("(no sections to preview with)", None)
        self._select_in_list(record.id)
        self._filling = False
        self._clean = self._state() if not is_copy else ()  # a copy is unsaved work from the start
        self.is_loaded = True
        self.duplicate_button.setEnabled(True)
        self.delete_button.setEnabled(record.id is not None)
        self._set_busy(False)
        self._check_template()
        self.refresh_preview()
        self.loaded.emit()

    def _select_in_list(self, action_id: int | None) -> None:
        self._filling = True
        try:
            for i in range(self.action_list.count()):
                item = self.action_list.item(i)
                if item.data(Qt.ItemDataRole.UserRole) == action_id:
                    self.action_list.setCurrentItem(item)
                    return
            self.action_list.setCurrentRow(-1)  # none: what setCurrentItem(None) does
        finally:
            self._filling = False

    def _load_failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self.save_button.setEnabled(False)
        self._show_message(f"Could not open the LLM action: {exc}")

    # -- the list -----------------------------------------------------------------------------------------------

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.action_list.count()):
            item = self.action_list.item(i)
            item.setHidden(bool(needle) and needle not in item.text().lower())

    def _chosen(self, item: QListWidgetItem | None, previous: QListWidgetItem | None) -> None:
        if self._filling or item is None:
            return
        action_id = item.data(Qt.ItemDataRole.UserRole)
        if action_id == self.action_id:
            return
        if self.is_dirty() and not self.confirm_discard():
            self._select_in_list(self.action_id)
            return
        self._open(action_id)

    def new_action(self) -> None:
        if self.is_dirty() and not self.confirm_discard():
            return
        self._open(None)
        self.name_edit.setFocus()

    def duplicate_action(self) -> None:
        r = self.record()
        copy = ActionRecord(None, f"{r.name} (copy)" if r.name else "", r.prompt_template, r.model, r.temperature,
                            r.max_tokens)
        self._open(None, copy)

    def delete_action(self) -> None:
        if self.action_id is None:
            return
        action_id, name = self.action_id, self.name_edit.text()
        if self.steps_using:
            self._show_message(f"<b>Not deleted:</b> “{name}” is used by "
                               + ", ".join(f"step “{s}”" for s in self.steps_using)
                               + ". Choose another LLM action there first (Step → Edit step config…); "
                                 "nothing was deleted.")
            return
        answer = QMessageBox.question(self, "Delete LLM action", f"Delete the LLM action “{name}”?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._set_busy(True, "Deleting…")

        def done(_result: object) -> None:
            self.saved_any = True
            self.deleted.emit(action_id)
            self._clean = None
            self._reload_list(None)
            self._open(None)

        def failed(exc: Exception) -> None:
            self._set_busy(False)
            self._show_message("<b>Not deleted:</b> " + str(exc))

        BackgroundOp(lambda: config_store.delete_action(self.ws, action_id)).success(if_alive(self, done)).failure(
            if_alive(self, failed)).run_in_background()

    def reject(self) -> None:
        """Close (Esc): ask before dropping unsaved changes; Accepted when anything was saved meanwhile."""
        if self.is_dirty() and not self.confirm_discard():
            return
        if self.saved_any:
            self.accept()
        else:
            super(EditorDialog, self).reject()

    # -- editing --------------------------------------------------------------------------------------------

    def _changed(self, *_args: object) -> None:
        for key in ("name", "model", "temperature", "max_tokens"):
            self.problems[key].set_problem(None)
        self._update_status()

    # -- saving ---------------------------------------------------------------------------------------------

    def record(self) -> ActionRecord:
        tokens = self.max_tokens_spin.value()
        return ActionRecord(self.action_id, self.name_edit.text(), self.template_edit.toPlainText(),
                            self.model_edit.text(), round(self.temperature_spin.value(), 2), tokens or None,
                            self.lock_version)

    def _state(self) -> tuple:
        r = self.record()
        return r.name, r.prompt_template, r.model, r.temperature, r.max_tokens

    def is_dirty(self) -> bool:
        return self.is_loaded and self._clean is not None and self._state() != self._clean

    def save(self) -> None:
        if self.busy or not self.is_loaded:
            return
        self.message.hide()
        if not self._check_template():
            self._show_message("<b>Not saved:</b> the prompt template has a problem (shown under it).")
            return
        record, ws = self.record(), self.ws
        self._set_busy(True, "Saving…")
        BackgroundOp(lambda: config_store.save_action(ws, record)).success(if_alive(self, self._saved)).failure(
            if_alive(self, self._save_failed)).run_in_background()

    def _saved(self, record: ActionRecord) -> None:
        self._set_busy(False)
        self.saved_action_id = record.id
        self.saved_any = True
        self.action_id, self.lock_version = record.id, record.lock_version
        self._clean = self._state()
        self.setWindowTitle(f"LLM actions — “{record.name}”")
        self.delete_button.setEnabled(True)
        self._reload_list(record.id)
        self._update_status()
        self.status.setText(f"Saved “{record.name}”.")
        self.saved.emit(record.id)

    def _save_failed(self, exc: Exception) -> None:
        self._set_busy(False)
        if isinstance(exc, ConflictError):
            self._show_conflict(exc)
        elif isinstance(exc, ConfigError):
            unplaced = []
            for problem in exc.problems:
                if problem.field in self.problems:
                    self.problems[problem.field].set_problem(plain_message(problem.message))
                else:
                    unplaced.append(describe(problem))
            self._show_message("<br>".join(["<b>Not saved.</b> Fix the fields marked below.", *unplaced]))
        else:
            self._show_message(f"Not saved: {exc}")

    def _show_conflict(self, exc: ConflictError) -> None:
        theirs = exc.theirs
        detail = (f"Saved version: model {theirs.model}, temperature {theirs.temperature:g}.\n\n"
                  f"{theirs.prompt_template}") if isinstance(theirs, ActionRecord) else str(theirs)
        self._show_message(f"<b>Not saved:</b> {exc} Nothing was overwritten.")
        box = QMessageBox(QMessageBox.Icon.Warning, "Saved by someone else",
                          f"{exc}\n\nReload the saved version? Your changes to this action are discarded.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDetailedText(detail)
        box.setObjectName("conflict_box")
        box.buttonClicked.connect(lambda b: self.load() if box.buttonRole(b) == QMessageBox.ButtonRole.YesRole
                                  else None)
        box.open()


    def _update_status(self) -> None:
        self.status.setText("Unsaved changes" if self.is_dirty() else "")

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        self.save_button.setEnabled(not busy)
        self.editor_box.setEnabled(not busy)  # a load would overwrite what is typed meanwhile
        for widget in (self.action_list, self.new_button, self.duplicate_button, self.delete_button):
            widget.setEnabled(not busy and (widget is not self.delete_button or self.action_id is not None))
        self.status.setText(text if busy else "")
        if not busy:
            self._update_status()


