"""Where the step config editor shows why a save was refused: each problem next to its field, the rest on top."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QLabel, QScrollArea, QTabWidget, QWidget

from wfdesk.errors import Problem
from wfdesk.services.validation import describe, plain_message
from wfdesk.ui.config_editor.fields_table import FieldsTable
from wfdesk.ui.config_editor.json_tab import dump
from wfdesk.ui.config_editor.parameters_form import ParametersForm, ProblemLabel


class StepProblems:
    # Set by StepConfigDialog.
    tabs: QTabWidget
    form_scroll: QScrollArea
    message: QLabel
    problems: dict[str, ProblemLabel]
    inputs_table: FieldsTable
    outputs_table: FieldsTable
    params_form: ParametersForm | None

    if TYPE_CHECKING:  # StepConfigDialog's, called from here
        def _show_message(self, text: str) -> None: ...
        def _script_config(self) -> dict[str, Any]: ...

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
            self.form_scroll.ensureWidgetVisible(first)

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
