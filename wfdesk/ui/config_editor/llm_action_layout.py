"""How the LLM actions manager is laid out: the actions list, the chosen action's fields and template, the preview
and the variables beside it. LLMActionDialog inherits this; the widgets call its handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from wfdesk.ui.config_editor.json_tab import monospace_font
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label


class LLMActionLayout:
    if TYPE_CHECKING:  # LLMActionDialog's (and EditorDialog's), called from here
        def _filter(self, text: str) -> None: ...
        def _chosen(self, item: QListWidgetItem | None, previous: QListWidgetItem | None) -> None: ...
        def new_action(self) -> None: ...
        def duplicate_action(self) -> None: ...
        def delete_action(self) -> None: ...
        def _changed(self, *_args: object) -> None: ...
        def _template_changed(self) -> None: ...
        def _preview_choice_changed(self, *_args: object) -> None: ...
        def _insert_variable(self, item: QListWidgetItem) -> None: ...
        def _button_row(self, *args: Any) -> QHBoxLayout: ...

    def _build_list(self) -> QWidget:
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setPlaceholderText("Search actions…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.action_list = QListWidget()
        self.action_list.setObjectName("actions")
        self.action_list.currentItemChanged.connect(self._chosen)
        self.new_button = QPushButton("New")
        self.new_button.setToolTip("Start a new LLM action")
        self.new_button.clicked.connect(self.new_action)
        self.duplicate_button = QPushButton("Duplicate")
        self.duplicate_button.setToolTip("A copy of this action (with your unsaved changes), saved under a new name")
        self.duplicate_button.clicked.connect(self.duplicate_action)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete this action (refused while a step uses it)")
        self.delete_button.clicked.connect(self.delete_action)
        for b in (self.new_button, self.duplicate_button, self.delete_button):
            b.setAutoDefault(False)
        row = QHBoxLayout()
        for b in (self.new_button, self.duplicate_button, self.delete_button):
            row.addWidget(b)
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(QLabel("<b>LLM actions</b>"))
        col.addWidget(self.search)
        col.addWidget(self.action_list, 1)
        col.addLayout(row)
        return box

    def _build(self) -> QVBoxLayout:
        """Every widget of the dialog; returns its layout (the dialog takes it)."""
        self.message = QLabel()
        self.message.setObjectName("message_area")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("QLabel { border: 1px solid #c0392b; border-left: 5px solid #c0392b; "
                                   "border-radius: 3px; padding: 6px; }")
        self.message.hide()

        self.problems = {k: ProblemLabel() for k in ("name", "model", "temperature", "max_tokens",
                                                     "prompt_template")}
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.model_edit = QLineEdit()
        self.model_edit.setObjectName("model")
        self.model_edit.setPlaceholderText("e.g. gpt-4o-mini, llama3.1:8b")
        self.temperature_spin = QDoubleSpinBox()
        self.temperature_spin.setObjectName("temperature")
        self.temperature_spin.setRange(0, 2)
        self.temperature_spin.setSingleStep(0.1)
        self.temperature_spin.setDecimals(2)
        self.temperature_spin.setToolTip("0 = predictable, 2 = very free")
        self.max_tokens_spin = QSpinBox()
        self.max_tokens_spin.setObjectName("max_tokens")
        self.max_tokens_spin.setRange(0, 200_000)
        self.max_tokens_spin.setSingleStep(100)
        self.max_tokens_spin.setSpecialValueText("no limit")
        self.template_edit = QPlainTextEdit()
        self.template_edit.setObjectName("prompt_template")
        self.template_edit.setFont(monospace_font())
        self.template_edit.setPlaceholderText("Write the prompt; insert variables from the list on the right, "
                                              "e.g. {{ input1 }}")
        self.template_problem = self.problems["prompt_template"]
        for widget in (self.name_edit, self.model_edit):
            widget.textEdited.connect(self._changed)
        self.temperature_spin.valueChanged.connect(self._changed)
        self.max_tokens_spin.valueChanged.connect(self._changed)
        self.template_edit.textChanged.connect(self._template_changed)

        settings = QFormLayout()
        settings.addRow("Name:", self._cell(self.name_edit, "name"))
        settings.addRow("Model:", self._cell(self.model_edit, "model"))
        numbers = QHBoxLayout()
        numbers.addWidget(self._cell(self.temperature_spin, "temperature"))
        numbers.addWidget(QLabel("Max tokens:"))
        numbers.addWidget(self._cell(self.max_tokens_spin, "max_tokens"))
        numbers.addStretch(1)
        settings.addRow("Temperature:", numbers)
        self.used_by = hint_label("")
        settings.addRow("", self.used_by)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(settings)
        left_layout.addWidget(QLabel("<b>Prompt template</b> — Jinja syntax: <code>{{ variable }}</code>, "
                                     "<code>{% if … %}…{% endif %}</code>"))
        left_layout.addWidget(self.template_edit, 3)
        left_layout.addWidget(self.template_problem)

        preview_box = QGroupBox("Preview — the prompt as it would be sent (nothing is sent)")
        preview_layout = QVBoxLayout(preview_box)
        pick = QFormLayout()
        self.section_combo = QComboBox()
        self.section_combo.setObjectName("preview_section")
        self.section_combo.currentIndexChanged.connect(self._preview_choice_changed)
        self.step_combo = QComboBox()
        self.step_combo.setObjectName("preview_step")
        self.step_combo.setToolTip("The step whose inputs provide input1, input2, …")
        self.step_combo.currentIndexChanged.connect(self._preview_choice_changed)
        pick.addRow("Section:", self.section_combo)
        pick.addRow("Inputs of step:", self.step_combo)
        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setObjectName("preview")
        self.preview.setFont(monospace_font())
        self.preview_error = ProblemLabel()
        self.preview_error.setObjectName("preview_error")
        preview_layout.addLayout(pick)
        preview_layout.addWidget(self.preview, 1)
        preview_layout.addWidget(self.preview_error)
        left_layout.addWidget(preview_box, 2)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QLabel("<b>Variables</b>"))
        right_layout.addWidget(hint_label("Double-click to insert at the cursor."))
        self.variables = QListWidget()
        self.variables.setObjectName("variables")
        self.variables.setSpacing(2)
        self.variables.setWordWrap(True)
        self.variables.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.variables.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.variables.setToolTip("Double-click a variable to insert it into the template at the cursor")
        self.variables.itemDoubleClicked.connect(self._insert_variable)
        right_layout.addWidget(self.variables, 1)

        # Small minimums: the whole dialog fits a 1280×720 screen; the splitters share what there is.
        for edit in (self.template_edit, self.preview):
            edit.setMinimumHeight(60)
        self.variables.setMinimumWidth(160)
        self.editor_box = QWidget()
        editor_layout = QVBoxLayout(self.editor_box)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addWidget(left)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_list())
        splitter.addWidget(self.editor_box)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 4)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([220, 700, 240])
        splitter.setChildrenCollapsible(False)

        bottom = self._button_row(QDialogButtonBox.StandardButton.Close,
                                  "Validate and save this action (Ctrl+S); the dialog stays open")

        layout = QVBoxLayout()
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        return layout

    def _cell(self, widget: QWidget, key: str) -> QWidget:
        cell = QWidget()
        box = QVBoxLayout(cell)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(widget)
        if key != "prompt_template":
            box.addWidget(self.problems[key])
        return cell
