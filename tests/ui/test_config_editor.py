"""The step config form, its raw JSON tab, post overrides and the LLM action editor, on the demo data."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTabWidget,
    QWidget,
)

from tests.ui.editor_input import activate, click, click_button, press, type_text
from tests.ui.input_helpers import bring_into_view, button, field, pick, wheel
from wfdesk.db.models import PostWorkflowStepAction
from wfdesk.runs.planning import step_effective_config
from wfdesk.services import config_store as cs
from wfdesk.ui.config_editor import LLMActionDialog, StepConfigDialog

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


@pytest.fixture
def open_step(qtbot, gui_ws):
    def make(step_id: int | None, post_id: int | None = None) -> StepConfigDialog:
        dialog = StepConfigDialog(gui_ws, step_id, post_id=post_id)
        qtbot.addWidget(dialog)
        dialog.confirm_discard = lambda: True  # never a modal question in a test
        dialog.show()
        qtbot.waitUntil(lambda: dialog.is_loaded, timeout=WAIT)
        activate(qtbot, dialog)  # in front, with the keyboard: clicks give focus, shortcuts arrive
        return dialog

    return make


def refused(qtbot, dialog: StepConfigDialog):
    with qtbot.waitSignal(dialog.save_failed, timeout=WAIT) as blocker:
        press(qtbot, "Ctrl+S")
    return blocker.args[0]


def click_into(qtbot, widget: QWidget) -> None:
    """Scroll to a field and click into it, as an editor does before typing."""
    qtbot.waitUntil(widget.isVisible, timeout=WAIT)  # a form added after loading shows on the next event loop turn
    bring_into_view(widget)
    click(qtbot, widget)
    qtbot.waitUntil(widget.hasFocus, timeout=WAIT)


def retype(qtbot, widget: QWidget, text: str) -> None:
    """Click into a field, select everything in it and type text over it."""
    click_into(qtbot, widget)
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)


def append_text(qtbot, widget: QWidget, text: str) -> None:
    """Click into a field and type text at its end."""
    click_into(qtbot, widget)
    press(qtbot, "Ctrl+End")
    type_text(qtbot, text)


def append_line(qtbot, widget: QWidget, text: str) -> None:
    """Click into a text box and type text on a new line at its end."""
    click_into(qtbot, widget)
    press(qtbot, "Ctrl+End")
    press(qtbot, "Return")
    type_text(qtbot, text)


def click_tab(qtbot, root: QWidget, title: str) -> None:
    """Click the tab titled `title` in the (visible) tab bar."""
    tabs = next(t for t in root.findChildren(QTabWidget) if t.isVisible())
    bar = tabs.tabBar()
    index = next((i for i in range(bar.count()) if bar.tabText(i).replace("&", "") == title), None)
    assert index is not None, f"no tab “{title}”"
    click(qtbot, bar, bar.tabRect(index).center())
    qtbot.waitUntil(lambda: tabs.currentIndex() == index, timeout=WAIT)


def click_in_view(qtbot, widget: QWidget) -> None:
    bring_into_view(widget)
    click(qtbot, widget)


def pick_in(qtbot, combo: QComboBox, text: str) -> None:
    bring_into_view(combo)
    pick(qtbot, combo, text)


def type_raw_json(qtbot, dialog, text: str) -> None:
    """On the Raw JSON tab, replace the whole text by typing it."""
    click_tab(qtbot, dialog, "Raw JSON")
    retype(qtbot, dialog.json_tab.editor, text)


def shown(label) -> str:
    assert not label.isHidden(), "the message is not shown"
    return label.text()


def test_llm_action_without_action_is_refused_next_to_the_picker(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 1)
    dialog = open_step(1)
    pick_in(qtbot, field(dialog, "LLM action", QComboBox), "— choose an LLM action —")
    assert "action_id" not in json.loads(dialog.json_tab.text())["script_config"]
    refused(qtbot, dialog)
    assert "required" in shown(dialog.problems["action"])
    assert dialog.isVisible()
    assert dialog.saved_step_id is None
    assert cs.load_step(gui_ws, 1) == before


def test_temperature_typed_in_raw_json_is_refused_next_to_the_parameter(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 1)
    dialog = open_step(1)
    doc = json.loads(dialog.json_tab.text())
    doc["script_config"]["parameters"] = {"temperature": 5}
    type_raw_json(qtbot, dialog, json.dumps(doc))
    # The form cannot show 5 in a 0–2 spin box: it says so rather than pretending.
    assert "outside" in shown(dialog.params_form.problem_labels["temperature"])
    refused(qtbot, dialog)
    message = shown(dialog.params_form.problem_labels["temperature"])
    assert "must be at most 2" in message
    assert "5" in message
    assert dialog.tabs.currentIndex() == 0  # back on the form, where the message is
    assert dialog.problems["action"].isHidden()  # the action is still set
    assert cs.load_step(gui_ws, 1) == before


def test_custom_endpoint_with_a_host_is_refused(qtbot, open_step, gui_ws):
    dialog = open_step(3)
    assert dialog.base_url_label.text() == gui_ws.settings.custom_script_base_url
    retype(qtbot, field(dialog, "Endpoint", QLineEdit), "http://evil.example/x")
    refused(qtbot, dialog)
    assert "must be a path" in shown(dialog.problems["endpoint"])
    assert cs.load_step(gui_ws, 3).config["script_config"]["custom_endpoint"] == "/api/custom/process-data"


def test_json_syntax_error_refuses_save(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 1)
    dialog = open_step(1)
    type_raw_json(qtbot, dialog, '{"inputs": ')
    assert "syntax error" in shown(dialog.json_tab.error_label)
    click_tab(qtbot, dialog, "Form")
    click_button(qtbot, dialog, "Save")
    assert dialog.tabs.currentWidget() is dialog.json_tab
    assert "syntax error" in shown(dialog.message)
    assert not dialog.busy
    assert cs.load_step(gui_ws, 1) == before


def test_valid_edit_saves_with_form_and_json_in_sync(qtbot, open_step, gui_ws):
    dialog = open_step(1)
    # Form -> JSON
    retype(qtbot, field(dialog, "Temperature", QAbstractSpinBox), "0.3")
    assert json.loads(dialog.json_tab.text())["script_config"]["parameters"] == {"temperature": 0.3}
    append_text(qtbot, field(dialog, "Stage", QLineEdit), " & editing")
    # JSON -> form
    doc = json.loads(dialog.json_tab.text())
    doc["outputs"]["output1"]["label"] = "Polished text"
    doc["custom_note"] = "kept as is"
    type_raw_json(qtbot, dialog, json.dumps(doc))
    click_tab(qtbot, dialog, "Form")
    assert dialog.outputs_table.fields()["output1"]["label"] == "Polished text"
    # Add an input through the table.
    click_in_view(qtbot, button(dialog, "Add input"))
    row = dialog.inputs_table.table.rowCount() - 1
    retype(qtbot, dialog.inputs_table.table.cellWidget(row, 1), "Tone")
    pick_in(qtbot, dialog.inputs_table.table.cellWidget(row, 2), "image_prompts")
    assert json.loads(dialog.json_tab.text())["inputs"]["input2"] == {
        "label": "Tone", "db_field": "image_prompts", "type": "textarea"}
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        press(qtbot, "Ctrl+S")
    assert dialog.saved_step_id == 1
    saved = cs.load_step(gui_ws, 1)
    assert saved.stage == "Writing & editing"
    assert saved.config["script_config"] == {"type": "llm_action", "action_id": 5, "parameters": {"temperature": 0.3}}
    assert saved.config["outputs"]["output1"]["label"] == "Polished text"
    assert saved.config["inputs"]["input2"]["db_field"] == "image_prompts"
    assert saved.config["custom_note"] == "kept as is"


def test_remove_takes_the_row_being_edited(qtbot, open_step):
    """Clicking into a row's field box (an editable drop-down) selects that row, so Remove removes it; the click
    used to crash the app."""
    dialog = open_step(1)
    assert list(json.loads(dialog.json_tab.text())["inputs"]) == ["input1"]
    click_in_view(qtbot, button(dialog, "Add input"))
    retype(qtbot, dialog.inputs_table.table.cellWidget(1, 1), "Tone")
    click_into(qtbot, dialog.inputs_table.table.cellWidget(0, 2).lineEdit())
    click_in_view(qtbot, button(dialog.inputs_table, "Remove"))
    inputs = json.loads(dialog.json_tab.text())["inputs"]
    assert list(inputs) == ["input2"]
    assert inputs["input2"]["label"] == "Tone"


def test_switching_type_shows_its_fields_and_switching_back_restores(qtbot, open_step):
    dialog = open_step(1)
    assert dialog.type_pages.currentIndex() == 1
    assert not dialog.type_box.isHidden()
    pick_in(qtbot, field(dialog, "Script type", QComboBox), "custom_script")
    assert dialog.type_pages.currentIndex() == 2
    assert "timeout" in dialog.params_form.editors
    assert "temperature" not in dialog.params_form.editors
    assert json.loads(dialog.json_tab.text())["script_config"] == {"type": "custom_script"}
    pick_in(qtbot, field(dialog, "Script type", QComboBox), "llm_action")
    assert json.loads(dialog.json_tab.text())["script_config"] == {"type": "llm_action", "action_id": 5}
    assert dialog.action_combo.currentData() == 5


def test_override_saves_only_the_difference(qtbot, open_step, gui_ws):
    dialog = open_step(1, post_id=53)
    assert "Override for post" in shown(dialog.banner)
    assert "Scottish Highlands" in dialog.banner.text()
    assert not dialog.name_edit.isEnabled()
    assert not dialog.type_combo.isEnabled()
    retype(qtbot, field(dialog, "Temperature", QAbstractSpinBox), "0.2")
    assert "temperature" in dialog.status.text()
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        click_button(qtbot, dialog, "Save")
    with gui_ws.db.session() as s:
        rows = [(r.post_id, r.step_id, r.config) for r in s.query(PostWorkflowStepAction)]
        assert rows == [(53, 1, {"script_config": {"parameters": {"temperature": 0.2}}})]
        _, effective = step_effective_config(s, 1, 53, {})
    assert effective["script_config"] == {"type": "llm_action", "action_id": 5, "parameters": {"temperature": 0.2}}
    assert "parameters" not in cs.load_step(gui_ws, 1).config["script_config"]
    # Opening it again shows the override on top of the step.
    again = open_step(1, post_id=53)
    assert again.params_form.value("temperature") == pytest.approx(0.2)


def test_conflict_shows_both_versions_and_overwrites_nothing(qtbot, open_step, gui_ws):
    dialog = open_step(1)
    append_text(qtbot, field(dialog, "Stage", QLineEdit), " (mine)")
    current = cs.load_step(gui_ws, 1)  # another editor saves first
    cs.save_step(gui_ws, 1, name=current.name, stage="Theirs", config=current.config,
                 lock_version=current.lock_version)
    exc = refused(qtbot, dialog)
    assert type(exc).__name__ == "ConflictError"
    assert not dialog.conflict.isHidden()
    assert "Writing (mine)" in dialog.conflict.mine.toPlainText()
    assert "Theirs" in dialog.conflict.theirs.toPlainText()
    assert cs.load_step(gui_ws, 1).stage == "Theirs"
    click_button(qtbot, dialog, "Reload the saved version (discard mine)")
    qtbot.waitUntil(lambda: dialog.stage_edit.text() == "Theirs", timeout=WAIT)
    assert dialog.conflict.isHidden()


def test_escape_asks_before_dropping_changes(qtbot, open_step):
    dialog = open_step(1)
    append_text(qtbot, field(dialog, "Name", QLineEdit), "x")
    dialog.confirm_discard = lambda: False
    press(qtbot, "Esc")
    assert dialog.isVisible()
    dialog.confirm_discard = lambda: True
    press(qtbot, "Esc")
    assert not dialog.isVisible()


def test_new_step_is_created(qtbot, open_step, gui_ws):
    dialog = open_step(None)
    retype(qtbot, field(dialog, "Name", QLineEdit), "summarise")
    click_in_view(qtbot, button(dialog, "Add output"))
    retype(qtbot, dialog.outputs_table.table.cellWidget(0, 1), "Summary")
    retype(qtbot, dialog.outputs_table.table.cellWidget(0, 2).lineEdit(), "summary")  # a new field: typed
    action = field(dialog, "LLM action", QComboBox)
    pick_in(qtbot, action, action.itemText(action.findData(5)))
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        press(qtbot, "Ctrl+S")
    saved = cs.load_step(gui_ws, dialog.saved_step_id)
    assert saved.name == "summarise"
    assert saved.config["script_config"] == {"type": "llm_action", "action_id": 5}


# --- LLM actions ---------------------------------------------------------------------------------------------

@pytest.fixture
def open_action(qtbot, gui_ws):
    def make(action_id: int | None, post_id: int | None = 53) -> LLMActionDialog:
        dialog = LLMActionDialog(gui_ws, action_id, preview_post_id=post_id)
        qtbot.addWidget(dialog)
        dialog.confirm_discard = lambda: True
        dialog.show()
        qtbot.waitUntil(lambda: dialog.is_loaded, timeout=WAIT)
        activate(qtbot, dialog)
        return dialog

    return make


def beside(root: QWidget, label: str, kind: type) -> QWidget:
    """The first widget of kind laid out after the QLabel reading `label` (a label inside a form row)."""
    for text in root.findChildren(QLabel):
        if text.text() != label:
            continue
        for layout in root.findChildren(QLayout):
            at = layout.indexOf(text)
            if at < 0:
                continue
            for i in range(at + 1, layout.count()):
                widget = layout.itemAt(i).widget()
                found = widget if isinstance(widget, kind) else next(iter(widget.findChildren(kind)), None) \
                    if widget is not None else None
                if found is not None:
                    return found
    raise AssertionError(f"no {kind.__name__} beside “{label}”")


def wheel_to_item(view: QListWidget, item: QListWidgetItem) -> None:
    """Turn the wheel over a list until item is wholly in sight."""
    for _ in range(100):
        rect = view.visualItemRect(item)
        if rect.top() >= 0 and rect.bottom() <= view.viewport().height():
            return
        wheel(view.viewport(), -120 if rect.top() > 0 else 120)
    raise AssertionError("could not scroll the item into view")


def test_action_preview_renders_a_section_without_any_request(qtbot, open_action, loopback):
    dialog = open_action(5)
    qtbot.waitUntil(lambda: "Arriving in Inverness" in dialog.preview.toPlainText(), timeout=WAIT)
    assert "we arrived late in inverness" in dialog.preview.toPlainText()
    names = [dialog.variables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(dialog.variables.count())]
    assert {"input1", "draft", "section.title", "post.title"} <= set(names)
    # Another section, then a template edit through a double-clicked variable.
    section = field(dialog, "Section", QComboBox)
    pick_in(qtbot, section, section.itemText(section.findData(713)))
    click_into(qtbot, dialog.template_edit)
    press(qtbot, "Ctrl+End")
    item = dialog.variables.item(names.index("post.title"))
    wheel_to_item(dialog.variables, item)
    where = dialog.variables.visualItemRect(item).center()
    click(qtbot, dialog.variables.viewport(), where)  # a double-click is a click and then a second one
    qtbot.mouseDClick(dialog.variables.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert dialog.template_edit.toPlainText().endswith("{{ post.title }}")
    qtbot.waitUntil(lambda: dialog.preview.toPlainText().endswith("A week in the Scottish Highlands"), timeout=WAIT)
    assert "Isle of Skye" in dialog.preview.toPlainText()
    assert loopback.count() == 0


def test_action_template_errors_are_shown_under_the_editor(qtbot, open_action, gui_ws):
    before = cs.load_action(gui_ws, 5)
    dialog = open_action(5)
    append_line(qtbot, dialog.template_edit, "{{ tone }}")
    assert "tone" in shown(dialog.template_problem)
    qtbot.waitUntil(lambda: "unknown variable" in dialog.preview_error.text(), timeout=WAIT)
    append_line(qtbot, dialog.template_edit, "{% if %}")
    assert "error" in shown(dialog.template_problem)
    press(qtbot, "Ctrl+S")
    assert "template" in shown(dialog.message)
    assert cs.load_action(gui_ws, 5) == before


def test_action_saves(qtbot, open_action, gui_ws):
    dialog = open_action(5)
    retype(qtbot, field(dialog, "Temperature", QAbstractSpinBox), "0.2")
    retype(qtbot, field(dialog, "Name", QLineEdit), "Polish gently")
    retype(qtbot, beside(dialog, "Max tokens:", QAbstractSpinBox), "0")  # shows “no limit”
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        click_button(qtbot, dialog, "Save")
    assert dialog.isVisible()  # a manager: Save keeps it open for the next action
    saved = cs.load_action(gui_ws, 5)
    assert (saved.name, saved.temperature, saved.max_tokens) == ("Polish gently", 0.2, None)
    assert dialog.saved_action_id == 5
