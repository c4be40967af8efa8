"""The step config form, its raw JSON tab, post overrides and the LLM action editor, on the demo data."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from wfdesk.db import config_store as cs
from wfdesk.db.models import PostWorkflowStepAction
from wfdesk.runs.planning import step_effective_config
from wfdesk.ui.config_editor import LLMActionDialog, StepConfigDialog

WAIT = 10_000


@pytest.fixture
def open_step(qtbot, gui_ws):
    def make(step_id: int | None, post_id: int | None = None) -> StepConfigDialog:
        dialog = StepConfigDialog(gui_ws, step_id, post_id=post_id)
        qtbot.addWidget(dialog)
        dialog.confirm_discard = lambda: True  # never a modal question in a test
        dialog.show()
        qtbot.waitUntil(lambda: dialog.is_loaded, timeout=WAIT)
        return dialog

    return make


def refused(qtbot, dialog: StepConfigDialog):
    with qtbot.waitSignal(dialog.save_failed, timeout=WAIT) as blocker:
        dialog.save()
    return blocker.args[0]


def shown(label) -> str:
    assert not label.isHidden(), "the message is not shown"
    return label.text()


def test_llm_action_without_action_is_refused_next_to_the_picker(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 1)
    dialog = open_step(1)
    dialog.action_combo.setCurrentIndex(0)
    dialog.action_combo.activated.emit(0)
    assert "action_id" not in json.loads(dialog.json_tab.text())["script_config"]
    refused(qtbot, dialog)
    assert "required" in shown(dialog.problems["action"])
    assert dialog.isVisible() and dialog.saved_step_id is None
    assert cs.load_step(gui_ws, 1) == before


def test_temperature_typed_in_raw_json_is_refused_next_to_the_parameter(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 1)
    dialog = open_step(1)
    doc = json.loads(dialog.json_tab.text())
    doc["script_config"]["parameters"] = {"temperature": 5}
    dialog.tabs.setCurrentIndex(1)
    dialog.json_tab.set_text(json.dumps(doc))
    # The form cannot show 5 in a 0–2 spin box: it says so rather than pretending.
    assert "outside" in shown(dialog.params_form.problem_labels["temperature"])
    refused(qtbot, dialog)
    message = shown(dialog.params_form.problem_labels["temperature"])
    assert "must be at most 2" in message and "5" in message
    assert dialog.tabs.currentIndex() == 0  # back on the form, where the message is
    assert dialog.problems["action"].isHidden()  # the action is still set
    assert cs.load_step(gui_ws, 1) == before


def test_custom_endpoint_with_a_host_is_refused(qtbot, open_step, gui_ws):
    dialog = open_step(3)
    assert dialog.base_url_label.text() == gui_ws.settings.custom_script_base_url
    dialog.endpoint_edit.clear()
    qtbot.keyClicks(dialog.endpoint_edit, "http://evil.example/x")
    refused(qtbot, dialog)
    assert "must be a path" in shown(dialog.problems["endpoint"])
    assert cs.load_step(gui_ws, 3).config["script_config"]["custom_endpoint"] == "/api/custom/process-data"


def test_json_syntax_error_refuses_save(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 1)
    dialog = open_step(1)
    dialog.json_tab.set_text('{"inputs": ')
    assert "syntax error" in shown(dialog.json_tab.error_label)
    dialog.save()
    assert dialog.tabs.currentWidget() is dialog.json_tab
    assert "syntax error" in shown(dialog.message)
    assert not dialog.busy and cs.load_step(gui_ws, 1) == before


def test_valid_edit_saves_with_form_and_json_in_sync(qtbot, open_step, gui_ws):
    dialog = open_step(1)
    # Form -> JSON
    dialog.params_form.editors["temperature"].widget.setValue(0.3)
    assert json.loads(dialog.json_tab.text())["script_config"]["parameters"] == {"temperature": 0.3}
    qtbot.keyClicks(dialog.stage_edit, " & editing")
    # JSON -> form
    doc = json.loads(dialog.json_tab.text())
    doc["outputs"]["output1"]["label"] = "Polished text"
    doc["custom_note"] = "kept as is"
    dialog.json_tab.set_text(json.dumps(doc))
    assert dialog.outputs_table.fields()["output1"]["label"] == "Polished text"
    # Add an input through the table.
    dialog.inputs_table.add_row()
    row = dialog.inputs_table.table.rowCount() - 1
    qtbot.keyClicks(dialog.inputs_table.table.cellWidget(row, 1), "Tone")
    dialog.inputs_table.table.cellWidget(row, 2).setCurrentText("image_prompts")
    assert json.loads(dialog.json_tab.text())["inputs"]["input2"] == {
        "label": "Tone", "db_field": "image_prompts", "type": "textarea"}
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        qtbot.keyClick(dialog, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S
    assert dialog.saved_step_id == 1
    saved = cs.load_step(gui_ws, 1)
    assert saved.stage == "Writing & editing"
    assert saved.config["script_config"] == {"type": "llm_action", "action_id": 5, "parameters": {"temperature": 0.3}}
    assert saved.config["outputs"]["output1"]["label"] == "Polished text"
    assert saved.config["inputs"]["input2"]["db_field"] == "image_prompts"
    assert saved.config["custom_note"] == "kept as is"


def test_switching_type_shows_its_fields_and_switching_back_restores(qtbot, open_step):
    dialog = open_step(1)
    assert dialog.type_pages.currentIndex() == 1 and not dialog.type_box.isHidden()
    index = dialog.type_combo.findData("custom_script")
    dialog.type_combo.setCurrentIndex(index)
    dialog.type_combo.activated.emit(index)
    assert dialog.type_pages.currentIndex() == 2
    assert "timeout" in dialog.params_form.editors and "temperature" not in dialog.params_form.editors
    assert json.loads(dialog.json_tab.text())["script_config"] == {"type": "custom_script"}
    index = dialog.type_combo.findData("llm_action")
    dialog.type_combo.setCurrentIndex(index)
    dialog.type_combo.activated.emit(index)
    assert json.loads(dialog.json_tab.text())["script_config"] == {"type": "llm_action", "action_id": 5}
    assert dialog.action_combo.currentData() == 5


def test_override_saves_only_the_difference(qtbot, open_step, gui_ws):
    dialog = open_step(1, post_id=53)
    assert "Override for post" in shown(dialog.banner) and "Scottish Highlands" in dialog.banner.text()
    assert not dialog.name_edit.isEnabled() and not dialog.type_combo.isEnabled()
    dialog.params_form.editors["temperature"].widget.setValue(0.2)
    assert "temperature" in dialog.status.text()
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        dialog.save()
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
    qtbot.keyClicks(dialog.stage_edit, " (mine)")
    current = cs.load_step(gui_ws, 1)  # another editor saves first
    cs.save_step(gui_ws, 1, name=current.name, stage="Theirs", config=current.config,
                 lock_version=current.lock_version)
    exc = refused(qtbot, dialog)
    assert type(exc).__name__ == "ConflictError"
    assert not dialog.conflict.isHidden()
    assert "Writing (mine)" in dialog.conflict.mine.toPlainText()
    assert "Theirs" in dialog.conflict.theirs.toPlainText()
    assert cs.load_step(gui_ws, 1).stage == "Theirs"
    dialog.conflict.reload_button.click()
    qtbot.waitUntil(lambda: dialog.stage_edit.text() == "Theirs", timeout=WAIT)
    assert dialog.conflict.isHidden()


def test_escape_asks_before_dropping_changes(qtbot, open_step):
    dialog = open_step(1)
    qtbot.keyClicks(dialog.name_edit, "x")
    dialog.confirm_discard = lambda: False
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.isVisible()
    dialog.confirm_discard = lambda: True
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_new_step_is_created(qtbot, open_step, gui_ws):
    dialog = open_step(None)
    qtbot.keyClicks(dialog.name_edit, "summarise")
    dialog.outputs_table.add_row()
    qtbot.keyClicks(dialog.outputs_table.table.cellWidget(0, 1), "Summary")
    dialog.outputs_table.table.cellWidget(0, 2).setCurrentText("summary")
    index = dialog.action_combo.findData(5)
    dialog.action_combo.setCurrentIndex(index)
    dialog.action_combo.activated.emit(index)
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        dialog.save()
    saved = cs.load_step(gui_ws, dialog.saved_step_id)
    assert saved.name == "summarise" and saved.config["script_config"] == {"type": "llm_action", "action_id": 5}


# --- LLM actions ---------------------------------------------------------------------------------------------

@pytest.fixture
def open_action(qtbot, gui_ws):
    def make(action_id: int | None, post_id: int | None = 53) -> LLMActionDialog:
        dialog = LLMActionDialog(gui_ws, action_id, preview_post_id=post_id)
        qtbot.addWidget(dialog)
        dialog.confirm_discard = lambda: True
        dialog.show()
        qtbot.waitUntil(lambda: dialog.is_loaded, timeout=WAIT)
        return dialog

    return make


def test_action_preview_renders_a_section_without_any_request(qtbot, open_action, loopback):
    dialog = open_action(5)
    qtbot.waitUntil(lambda: "Arriving in Inverness" in dialog.preview.toPlainText(), timeout=WAIT)
    assert "we arrived late in inverness" in dialog.preview.toPlainText()
    names = [dialog.variables.item(i).data(Qt.ItemDataRole.UserRole) for i in range(dialog.variables.count())]
    assert {"input1", "draft", "section.title", "post.title"} <= set(names)
    # Another section, then a template edit through a double-clicked variable.
    dialog.section_combo.setCurrentIndex(dialog.section_combo.findData(713))
    dialog.section_combo.activated.emit(dialog.section_combo.currentIndex())
    dialog.template_edit.moveCursor(dialog.template_edit.textCursor().MoveOperation.End)
    item = dialog.variables.item(names.index("post.title"))
    dialog.variables.itemDoubleClicked.emit(item)
    assert dialog.template_edit.toPlainText().endswith("{{ post.title }}")
    qtbot.waitUntil(lambda: dialog.preview.toPlainText().endswith("A week in the Scottish Highlands"), timeout=WAIT)
    assert "Isle of Skye" in dialog.preview.toPlainText()
    assert loopback.count() == 0


def test_action_template_errors_are_shown_under_the_editor(qtbot, open_action, gui_ws):
    before = cs.load_action(gui_ws, 5)
    dialog = open_action(5)
    dialog.template_edit.appendPlainText("{{ tone }}")
    assert "tone" in shown(dialog.template_problem)
    qtbot.waitUntil(lambda: "unknown variable" in dialog.preview_error.text(), timeout=WAIT)
    dialog.template_edit.appendPlainText("{% if %}")
    assert "error" in shown(dialog.template_problem)
    dialog.save()
    assert "template" in shown(dialog.message)
    assert cs.load_action(gui_ws, 5) == before


def test_action_saves(qtbot, open_action, gui_ws):
    dialog = open_action(5)
    dialog.temperature_spin.setValue(0.2)
    dialog.name_edit.setText("Polish gently")
    dialog.max_tokens_spin.setValue(0)
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save()
    assert dialog.isVisible()  # a manager: Save keeps it open for the next action
    saved = cs.load_action(gui_ws, 5)
    assert (saved.name, saved.temperature, saved.max_tokens) == ("Polish gently", 0.2, None)
    assert dialog.saved_action_id == 5
