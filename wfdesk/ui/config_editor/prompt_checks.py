"""The prompt template of the LLM actions manager as it is typed: variables inserted, syntax and unknown names
checked, and the prompt previewed for a chosen section (rendered locally in the background, nothing is sent).
LLMActionDialog inherits these."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QListWidget, QListWidgetItem, QPlainTextEdit

from wfdesk.errors import WfdeskError
from wfdesk.scripts.templates import PromptTemplateError, variables_used
from wfdesk.services import config_store
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, if_alive
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

INPUT_NAME = re.compile(r"^input\d+$")


class PromptChecks:
    # Set by LLMActionDialog.
    ws: Any
    is_loaded: bool
    known_variables: set[str]
    steps_using: list[str]
    _filling: bool
    _preview_generation: int
    _preview_timer: QTimer
    template_edit: QPlainTextEdit
    template_problem: ProblemLabel
    variables: QListWidget
    section_combo: QComboBox
    step_combo: QComboBox
    preview: QPlainTextEdit
    preview_error: ProblemLabel

    if TYPE_CHECKING:  # LLMActionDialog's, called from here
        preview_ready: SignalInstance

        def _update_status(self) -> None: ...

    def _insert_variable(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        self.template_edit.insertPlainText(f"{{{{ {name} }}}}")
        self.template_edit.setFocus()

    def _template_changed(self) -> None:
        self._check_template()
        self._update_status()
        if self.is_loaded:
            self._preview_timer.start()

    def _preview_choice_changed(self, *_args: object) -> None:
        if not self._filling:
            self.refresh_preview()

    def unknown_variables(self, used: set[str]) -> list[str]:
        """Names the template uses that no step input, section or post field provides."""
        unknown = []
        for name in sorted(used):
            if name in self.known_variables or name.split(".")[0] in self.known_variables:
                continue
            if not self.steps_using and INPUT_NAME.match(name):
                continue  # inputs of the step that will use this action
            unknown.append(name)
        return unknown

    def _check_template(self) -> bool:
        """Syntax errors and names no step or section provides: both refuse Save, shown under the template."""
        text = self.template_edit.toPlainText()
        try:
            used = variables_used(text)
        except PromptTemplateError as exc:
            self.template_problem.set_problem(str(exc))
            return False
        unknown = self.unknown_variables(used) if self.is_loaded else []
        if unknown:
            available = sorted(self.variables.item(i).data(Qt.ItemDataRole.UserRole)
                               for i in range(self.variables.count()))
            if not self.steps_using:
                available.insert(0, "input1, input2, … (the inputs of the step that will use it)")
            self.template_problem.set_problem(
                f"Unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                f"{'they are' if len(unknown) > 1 else 'it is'} neither an input of the steps using this action "
                f"nor a field of the section or post. Available: {', '.join(available)} "
                "(double-click one on the right to insert it).")
            return False
        self.template_problem.set_problem(None)
        return True

    def refresh_preview(self, *_args: object) -> None:
        """Render the template for the chosen section in the background; only the newest result is shown."""
        section_id = self.section_combo.currentData()
        if section_id is None:
            self.preview.setPlainText("")
            self.preview_error.set_problem(None)
            return
        self._preview_generation += 1
        generation = self._preview_generation
        ws, template, step_id = self.ws, self.template_edit.toPlainText(), self.step_combo.currentData()

        def render() -> tuple[bool, str]:
            try:
                return True, config_store.preview_prompt(ws, template, section_id, step_id)
            except (PromptTemplateError, WfdeskError) as exc:
                return False, str(exc)

        def show(result: tuple[bool, str]) -> None:
            if generation != self._preview_generation:
                return  # a newer edit is being rendered
            ok, text = result
            if ok:
                self.preview.setPlainText(text)
                self.preview_error.set_problem(None)
            else:
                self.preview.setPlainText("")  # an old rendering beside a new error would mislead
                self.preview_error.set_problem(text)
            self.preview_ready.emit(text)

        def failed(exc: Exception) -> None:
            if generation == self._preview_generation:
                self.preview_error.set_problem(f"Cannot preview: {exc}")
                self.preview_ready.emit(str(exc))

        (BackgroundOp(render).success(if_alive(self, show))

         .failure(if_alive(self, failed)).run_in_background())
