"""The step panels on the demo data, against the real loopback provider: run, review, accept, reject, cancel.

Every panel is the main window's, reached as an editor reaches it: click the post, then the step."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from ui.editor_input import (
    choose_post,
    click,
    click_check_box,
    click_item,
    click_row,
    focused,
    open_step,
    press,
    toggle_section,
    type_text,
)
from ui.widget_reading import section_state
from wfdesk.db import content
from wfdesk.db.models import ContentVersion, WorkflowStepEntity
from wfdesk.scripts import registry
from wfdesk.services import editing
from wfdesk.ui import worker
from wfdesk.ui.panels import PANEL_MAP
from wfdesk.ui.panels.custom_script import CustomScriptPanel
from wfdesk.ui.panels.generic import GenericPanel
from wfdesk.ui.panels.image_generation import ImageGenerationPanel
from wfdesk.ui.panels.llm_action import LLMActionPanel
from wfdesk.ui.thumbnails import cache_path

TIMEOUT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out
IMAGE_FIELD = "generated_image_url"
STEP_NAMES = {1: "polish_sections", 2: "section_illustrations", 3: "process_data"}


@pytest.fixture
def open_window(request, gui_ws):
    """open_window(prepare=None): the main window (the `main_window` fixture, demo post chosen), opened after
    prepare(ws) changed the data through the database layer, so the window reads it as an editor would find it."""

    def open_(prepare=None):
        if prepare is not None:
            prepare(gui_ws)
        window = request.getfixturevalue("main_window")
        request.getfixturevalue("runs")  # its check runs before the window closes
        return window

    return open_


@pytest.fixture
def runs(main_window):
    """The window's run controller (the one its panels run through); at the end every run has stopped."""
    assert main_window.runs is not None
    yield main_window.runs
    assert main_window.runs.shutdown(5000)


def open_panel(qtbot, window, step_name: str, *, ready: bool = True):
    """Click the step in the window's workflow list; its panel once loaded (and, if ready, able to run)."""
    panel = open_step(qtbot, window, step_name, ready=ready)
    assert panel is window.current_panel()
    assert panel.post_id == window.post_id
    return panel


def add_step(ws, step_id: int, name: str, script_type: str, parameters: dict | None = None) -> None:
    with ws.db.session() as s:
        s.add(WorkflowStepEntity(id=step_id, name=name, stage="Misc", position=step_id, config={
            "inputs": {}, "outputs": {}, "script_config": {"type": script_type, "parameters": parameters or {}}}))


def click_post(qtbot, window, title: str, post_id: int) -> None:
    """Click a post in the post list (one without sections too, which choose_post does not expect)."""
    qtbot.waitUntil(lambda: bool(window.posts.tree.findItems(title, Qt.MatchFlag.MatchExactly)), timeout=TIMEOUT)
    click_row(qtbot, window.posts.tree, title)
    qtbot.waitUntil(lambda: window.post_id == post_id, timeout=TIMEOUT)


def search_posts(qtbot, window, text: str) -> None:
    """Click into the post list's search field and type over what it holds."""
    type_into(qtbot, window.posts.search, text)


TITLES = {711: "Arriving in Inverness", 712: "Glen Affric", 713: "Isle of Skye"}


def run_and_wait(qtbot, panel, runs) -> dict:
    """Click Run and wait for the run to end."""
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.run_button.isEnabled(), timeout=TIMEOUT)
    return finished.args[1]


def tick_only(qtbot, panel, section_ids) -> None:
    """Untick every section (the None button), then tick these ones in the list."""
    click(qtbot, panel.picker.none_button)
    for sid in section_ids:
        toggle_section(qtbot, panel.picker, TITLES[sid])
    assert panel.picker.checked_ids() == sorted(section_ids)


def show_section(qtbot, panel, section_id) -> None:
    """Click a section's row: the results area shows it."""
    click_row(qtbot, panel.picker.tree, TITLES[section_id])
    assert panel.picker.current_id() == section_id


def type_into(qtbot, widget, text: str) -> None:
    """Click into a field, select what is there and type over it."""
    click(qtbot, widget)
    qtbot.waitUntil(widget.hasFocus, timeout=TIMEOUT)
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)


def field(ws, section_id: int, name: str) -> str | None:
    with ws.db.session() as s:
        f = content.get_field(s, 53, section_id, name)
        return f.value if f else None


def version_status(ws, version_id: int) -> str:
    with ws.db.session() as s:
        return s.get(ContentVersion, version_id).status


def update_config(ws, step_id: int, fn) -> None:
    with ws.db.session() as s:
        step = s.get(WorkflowStepEntity, step_id)
        config = json.loads(json.dumps(step.config))
        fn(config)
        step.config = config


def concurrency_one(ws) -> None:
    update_config(ws, 1, lambda c: c["script_config"].setdefault("parameters", {}).update(concurrency=1))


def test_panel_map_and_fallback(qtbot, gui_ws, open_window):
    assert PANEL_MAP["llm_action"] is LLMActionPanel
    assert PANEL_MAP["image_generation"] is ImageGenerationPanel
    assert PANEL_MAP["custom_script"] is CustomScriptPanel
    window = open_window(lambda ws: add_step(ws, 41, "unknown_type_step", "some_plugin_type"))
    panel = open_panel(qtbot, window, "unknown_type_step", ready=False)
    assert isinstance(panel, GenericPanel)


@pytest.fixture
def plugin_types():
    names = []

    def add(name: str, panel: str) -> None:
        registry.register_script_type(name, registry.get_handler("custom_script"), panel=panel, source="test")
        names.append(name)

    yield add
    for name in names:
        registry.unregister_script_type(name)


def test_a_plugins_panel_string_is_resolved(qtbot, gui_ws, open_window, plugin_types):
    plugin_types("panel_from_plugin", "wfdesk.ui.panels.custom_script:CustomScriptPanel")
    window = open_window(lambda ws: add_step(ws, 41, "plugin_panel_step", "panel_from_plugin"))
    panel = open_panel(qtbot, window, "plugin_panel_step", ready=False)
    assert type(panel) is CustomScriptPanel


def test_a_plugin_panel_that_fails_to_import_falls_back_with_the_error_shown(qtbot, gui_ws, open_window,
                                                                            plugin_types):
    plugin_types("broken_panel", "no_such_plugin_module.panel:Missing")
    plugin_types("not_a_panel", "wfdesk.ui.panels:PANEL_MAP")

    def two_steps(ws) -> None:
        add_step(ws, 41, "broken_panel_step", "broken_panel")
        add_step(ws, 42, "not_a_panel_step", "not_a_panel")

    window = open_window(two_steps)
    broken = open_panel(qtbot, window, "broken_panel_step", ready=False)
    assert type(broken) is GenericPanel
    text = broken.panel_error_label.toolTip()
    assert not broken.panel_error_label.isHidden()
    assert "“broken_panel” type’s own panel could not be loaded" in text
    assert "no_such_plugin_module.panel:Missing: ModuleNotFoundError" in text
    other = open_panel(qtbot, window, "not_a_panel_step", ready=False)
    assert other is not broken
    assert type(other) is GenericPanel
    assert "is not a StepPanel subclass" in other.panel_error_label.toolTip()


def test_header_picker_and_inputs(qtbot, main_window, runs, loopback):
    panel = open_panel(qtbot, main_window, "polish_sections")
    assert panel.title_label.text() == "polish_sections"
    assert "Writing" in panel.meta_label.text()
    assert "llm_action" in panel.meta_label.text()
    assert "Polish section" in panel.description_label.text()
    assert panel.picker.section_ids() == [711, 712, 713]
    assert panel.picker.checked_ids() == [711, 712, 713]
    assert panel.picker.tree.topLevelItem(0).text(2).startswith("we arrived late in inverness")
    click(qtbot, panel.picker.none_button)
    assert panel.picker.checked_ids() == []
    assert not panel.run_button.isEnabled()
    click(qtbot, panel.picker.all_button)
    assert panel.run_button.isEnabled()
    assert not panel.cancel_button.isEnabled()
    editor = panel._input_editors["input1"]
    assert editor.placeholderText() == "from each section's own Section Content"
    assert panel.input_overrides() == {}
    assert panel.llm_overrides() == {}
    click(qtbot, panel.options_toggle)
    type_into(qtbot, panel.temperature_spin, "0.2")
    type_into(qtbot, panel.model_edit, "other-model")
    assert panel.llm_overrides() == {"model": "other-model", "temperature": 0.2}


@pytest.mark.parametrize("step_id", [1, 2, 3])
def test_clicking_run_runs_the_ticked_sections_on_every_panel(qtbot, main_window, runs, loopback, step_id):
    panel = open_panel(qtbot, main_window, STEP_NAMES[step_id])
    assert panel.step_id == step_id
    assert panel.picker.count_label.text() == "3 of 3 selected"
    with qtbot.waitSignal(runs.run_started, timeout=TIMEOUT) as started:
        click(qtbot, panel.run_button)
    assert "Select at least one section" not in panel.status_text()
    assert sorted(u["section_id"] for u in started.args[1]["units"]) == [711, 712, 713]
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=TIMEOUT)
    assert panel.status_text() == "Finished: 3 done."


def test_llm_action_runs_three_sections_and_shows_before_after(qtbot, gui_ws, main_window, runs, loopback):
    loopback.chat_reply = lambda req: "We arrived late in Inverness. The rain was heavy."
    panel = open_panel(qtbot, main_window, "polish_sections")
    result = run_and_wait(qtbot, panel, runs)
    assert result["status"] == "succeeded"
    assert len(result["results"]) == 3
    assert all(section_state(panel.picker, sid) == "done" for sid in (711, 712, 713))
    assert panel.progress.value() == panel.progress.maximum() == 3
    show_section(qtbot, panel, 711)
    qtbot.waitUntil(lambda: "Inverness. The rain" in panel.review.after.toPlainText(), timeout=TIMEOUT)
    assert "the the rain" in panel.review.before.toPlainText()
    after_html, before_html = panel.review.after.toHtml(), panel.review.before.toHtml()
    assert "background-color" in after_html
    assert "underline" in after_html  # insertions marked
    assert "line-through" in before_html  # removals marked
    assert field(gui_ws, 711, "polished") == "We arrived late in Inverness. The rain was heavy."


def test_revert_to_an_earlier_version(qtbot, gui_ws, main_window, runs, loopback):
    replies = iter(["First polish.", "Second polish."])
    loopback.chat_reply = lambda req: next(replies)
    panel = open_panel(qtbot, main_window, "polish_sections")
    tick_only(qtbot, panel, [711])
    run_and_wait(qtbot, panel, runs)
    run_and_wait(qtbot, panel, runs)
    assert field(gui_ws, 711, "polished") == "Second polish."
    show_section(qtbot, panel, 711)
    versions = panel.review.versions
    qtbot.waitUntil(lambda: versions.list.topLevelItemCount() == 2, timeout=TIMEOUT)
    click_item(qtbot, versions.list, versions.list.topLevelItem(1))  # the older one
    assert "First polish." in panel.review.after.toPlainText()
    qtbot.waitUntil(lambda: worker.running_ops() == 0, timeout=TIMEOUT)  # reloads still under way change nothing:
    assert "First polish." in panel.review.after.toPlainText()  # the editor's choice stays on screen
    assert not versions.selected()["current"]
    assert versions.revert_button.isEnabled()
    click(qtbot, versions.revert_button)
    qtbot.waitUntil(lambda: field(gui_ws, 711, "polished") == "First polish.", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: versions.selected() is not None and versions.selected()["current"], timeout=TIMEOUT)
    assert versions.list.topLevelItemCount() == 2  # the newer one is still there


def test_image_run_accept_updates_the_field(qtbot, gui_ws, main_window, runs, loopback):
    panel = open_panel(qtbot, main_window, "section_illustrations")
    tick_only(qtbot, panel, [711, 712])
    result = run_and_wait(qtbot, panel, runs)
    assert result["status"] == "succeeded"
    assert {r["section_id"] for r in result["results"]} == {711, 712}
    assert loopback.count("/v1/images") == 2
    show_section(qtbot, panel, 711)
    qtbot.waitUntil(lambda: panel.strip.count() == 1 and panel.preview.has_image(), timeout=TIMEOUT)
    candidate = panel.strip.selected()
    assert candidate["status"] == "candidate"
    assert not candidate["current"]
    assert field(gui_ws, 711, IMAGE_FIELD) is None  # not accepted yet
    qtbot.waitUntil(lambda: cache_path(gui_ws.data_dir, candidate["asset"]["sha256"], 160).is_file(),
                    timeout=TIMEOUT)
    assert not panel.strip.item(0).icon().isNull()
    assert panel.accept_button.isEnabled()
    click(qtbot, panel.accept_button)
    qtbot.waitUntil(lambda: field(gui_ws, 711, IMAGE_FIELD) == candidate["value"], timeout=TIMEOUT)
    assert candidate["value"].startswith("content/posts/53/sections/711/")
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("current") is True, timeout=TIMEOUT)
    assert not panel.accept_button.isEnabled()
    assert field(gui_ws, 713, IMAGE_FIELD) is None


def test_image_reject_undo_and_regenerate(qtbot, gui_ws, main_window, runs, loopback):
    panel = open_panel(qtbot, main_window, "section_illustrations")
    tick_only(qtbot, panel, [711])
    run_and_wait(qtbot, panel, runs)
    show_section(qtbot, panel, 711)
    qtbot.waitUntil(lambda: panel.strip.count() == 1, timeout=TIMEOUT)
    first = panel.strip.selected()
    click(qtbot, panel.accept_button)
    qtbot.waitUntil(lambda: field(gui_ws, 711, IMAGE_FIELD) == first["value"], timeout=TIMEOUT)

    # Reject the accepted image: it stays in the strip (dimmed) and the field falls back; undo restores both.
    qtbot.waitUntil(lambda: panel.reject_button.isEnabled() and panel.reject_button.text() == "Reject",
                    timeout=TIMEOUT)
    click(qtbot, panel.reject_button)
    qtbot.waitUntil(lambda: version_status(gui_ws, first["id"]) == "rejected", timeout=TIMEOUT)
    assert field(gui_ws, 711, IMAGE_FIELD) is None
    qtbot.waitUntil(lambda: (panel.strip.selected() or {}).get("status") == "rejected", timeout=TIMEOUT)
    assert panel.strip.count() == 1
    assert panel.reject_button.text() == "Restore"
    click(qtbot, panel.reject_button)  # Restore: the one way back (tests/ui/test_review_input.py covers it too)
    qtbot.waitUntil(lambda: version_status(gui_ws, first["id"]) == "accepted", timeout=TIMEOUT)
    assert field(gui_ws, 711, IMAGE_FIELD) == first["value"]

    # Regenerate: a new candidate for this section only, the accepted one is kept.
    show_section(qtbot, panel, 711)
    loopback.image_max_side = 48  # different bytes, so a different candidate
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.regenerate_button)
    assert [r["section_id"] for r in finished.args[1]["results"]] == [711]
    qtbot.waitUntil(lambda: panel.strip.count() == 2, timeout=TIMEOUT)
    assert field(gui_ws, 711, IMAGE_FIELD) == first["value"]
    statuses = sorted(panel.strip._versions[v]["status"] for v in panel.strip._versions)
    assert statuses == ["accepted", "candidate"]


def test_image_preview_zoom(qtbot, main_window, runs, loopback):
    loopback.image_max_side = 256
    panel = open_panel(qtbot, main_window, "section_illustrations")
    tick_only(qtbot, panel, [712])
    run_and_wait(qtbot, panel, runs)
    show_section(qtbot, panel, 712)
    qtbot.waitUntil(panel.preview.has_image, timeout=TIMEOUT)
    fitted = panel.preview.zoom_factor()
    assert panel.preview.fitted
    click(qtbot, panel.preview.viewport())  # the keys go to the preview once it is clicked
    assert focused() is panel.preview
    press(qtbot, "+")
    assert panel.preview.zoom_factor() == pytest.approx(fitted * 1.25)
    assert not panel.preview.fitted
    press(qtbot, "0")
    assert panel.preview.fitted
    assert panel.preview.zoom_factor() == pytest.approx(fitted)


def test_input_override_is_sent_only_when_typed(qtbot, main_window, runs, loopback):
    panel = open_panel(qtbot, main_window, "section_illustrations")
    tick_only(qtbot, panel, [711])
    run_and_wait(qtbot, panel, runs)
    assert loopback.requests[-1].json["prompt"] == "Inverness at dusk in the rain, river Ness, warm lights"
    click(qtbot, panel.options_toggle)
    type_into(qtbot, panel._input_editors["input1"], "A watercolour of a castle")
    type_into(qtbot, panel.model_edit, "gpt-image-1")
    run_and_wait(qtbot, panel, runs)
    assert loopback.requests[-1].json["prompt"] == "A watercolour of a castle"
    assert loopback.requests[-1].json["model"] == "gpt-image-1"


def test_cancel_in_the_middle_of_a_run(qtbot, gui_ws, open_window, loopback):
    loopback.latency = 0.3
    window = open_window(concurrency_one)
    panel = open_panel(qtbot, window, "polish_sections")
    with qtbot.waitSignal(window.runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.run_button)
        assert not panel.run_button.isEnabled()
        qtbot.waitUntil(lambda: panel.cancel_button.isEnabled() and panel.run_id is not None, timeout=TIMEOUT)
        qtbot.waitUntil(lambda: any(section_state(panel.picker, s) == "done" for s in (711, 712, 713)),
                        timeout=TIMEOUT)
        click(qtbot, panel.cancel_button)
    done = [sid for sid in (711, 712, 713) if section_state(panel.picker, sid) == "done"]
    assert len(done) == 1
    others = [sid for sid in (711, 712, 713) if sid not in done]
    assert all(section_state(panel.picker, sid) == "cancelled" for sid in others)
    assert {r["status"] for r in finished.args[1]["results"] if r["section_id"] in others} == {"cancelled"}
    assert field(gui_ws, done[0], "polished") is not None
    assert all(field(gui_ws, sid, "polished") is None for sid in others)
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=TIMEOUT)
    assert not panel.cancel_button.isEnabled()
    assert "Cancelled" in panel.status_text()
    assert "1 done" in panel.status_text()
    # The bar shows what was done, not a full bar.
    assert (panel.progress.value(), panel.progress.maximum()) == (1, 3)
    assert panel.progress.text() == "1 / 3 sections"


def test_run_failed_on_invalid_config(qtbot, gui_ws, main_window, runs, loopback):
    panel = open_panel(qtbot, main_window, "polish_sections")
    # The config becomes invalid after the panel loaded it (e.g. edited elsewhere): the run is refused.
    update_config(gui_ws, 1, lambda c: c["script_config"].update(action_id=999))
    messages = []
    panel.status_message.connect(messages.append)
    with qtbot.waitSignal(runs.run_failed, timeout=TIMEOUT):
        click(qtbot, panel.run_button)
    assert "Not run" in panel.status_text()
    assert "999" in panel.status_text()
    assert messages
    assert "999" in messages[0]
    assert panel.run_button.isEnabled()
    assert not panel.cancel_button.isEnabled()
    assert all(section_state(panel.picker, sid) == "" for sid in (711, 712, 713))
    assert loopback.count("/v1/chat") == 0


def test_invalid_config_shown_at_load(qtbot, gui_ws, open_window, loopback):
    window = open_window(lambda ws: update_config(
        ws, 2, lambda c: c.update(outputs={"o": {"label": "x", "db_field": "bad name"}})))
    panel = open_panel(qtbot, window, "section_illustrations", ready=False)
    assert not panel.config_error_label.isHidden()
    assert "Output o → database field must be a name" in panel.config_error_label.text()
    assert not panel.run_button.isEnabled()


def test_reattaches_to_a_run_in_flight(qtbot, gui_ws, open_window, loopback):
    loopback.latency = 1.0  # three sections one after another: the run outlasts the search and the two clicks
    window = open_window(concurrency_one)
    demo_title = window.posts.current_title()
    panel = open_panel(qtbot, window, "polish_sections")
    # Another post, made meanwhile (by a colleague, say): the editor searches for it and clicks it.
    other_post = editing.create_post(gui_ws, "Another post")
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: panel.run_id is not None, timeout=TIMEOUT)
    run_id = panel.run_id
    search_posts(qtbot, window, "Another post")
    with qtbot.waitSignal(panel.loaded, timeout=TIMEOUT):
        click_post(qtbot, window, "Another post", other_post)
    assert window.current_panel() is panel
    assert panel.post_id == other_post
    assert panel.run_id is None
    assert not panel.cancel_button.isEnabled()
    assert "no sections" in panel.status_text()
    search_posts(qtbot, window, demo_title)
    with qtbot.waitSignal(panel.loaded, timeout=TIMEOUT):
        choose_post(qtbot, window, demo_title)
    assert window.current_panel() is panel
    assert panel.post_id == 53
    assert panel.run_id == run_id
    assert not panel.run_button.isEnabled()
    assert panel.cancel_button.isEnabled()
    with qtbot.waitSignal(window.runs.run_finished, timeout=TIMEOUT):
        click(qtbot, panel.cancel_button)
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=TIMEOUT)


def test_custom_script_shows_the_response(qtbot, gui_ws, main_window, runs, loopback):
    panel = open_panel(qtbot, main_window, "process_data")
    assert panel.options_toggle.isVisible()
    assert not panel.options_box.isVisible()  # folded by default
    click(qtbot, panel.options_toggle)
    assert panel.options_box.isVisible()
    assert panel._input_editors["input1"].isVisible()
    assert not panel.model_edit.isVisible()  # no LLM settings for an HTTP endpoint
    run_and_wait(qtbot, panel, runs)
    show_section(qtbot, panel, 712)
    qtbot.waitUntil(lambda: "distance_km" in panel.response_view.toPlainText(), timeout=TIMEOUT)
    assert panel.response_view.toPlainText().startswith("{\n")  # pretty-printed
    assert field(gui_ws, 712, "processed_data") is not None
    assert panel.output_view.toPlainText().strip()


class PluginParams(BaseModel):
    strength: int = Field(3, ge=1, le=10)
    ratio: float = Field(0.5, ge=0, le=1)
    sharpen: bool = False
    style: str = Field("plain", json_schema_extra={"enum": ["plain", "bold"]})
    label: str = "x"


def test_generic_panel_form_from_schema_and_run(qtbot, gui_ws, open_window, loopback):
    seen = []

    def handler(step_config, post_id, context):
        seen.append(step_config["script_config"]["parameters"])
        return {"success": True, "results": [{"section_id": sid, "status": "success", "output": "ok"}
                                             for sid in context.get("section_ids") or []]}

    registry.register_script_type("test_plugin", handler, parameters_model=PluginParams, replace=True)
    try:
        window = open_window(lambda ws: add_step(ws, 40, "plugin_step", "test_plugin", {"strength": 4}))
        panel = open_panel(qtbot, window, "plugin_step")
        assert isinstance(panel, GenericPanel)
        strength = panel.findChild(QSpinBox, "param_strength")
        assert (strength.minimum(), strength.maximum(), strength.value()) == (1, 10, 4)
        assert isinstance(panel.findChild(QDoubleSpinBox, "param_ratio"), QDoubleSpinBox)
        assert isinstance(panel.findChild(QCheckBox, "param_sharpen"), QCheckBox)
        style = panel.findChild(QComboBox, "param_style")
        assert [style.itemText(i) for i in range(style.count())] == ["plain", "bold"]
        assert isinstance(panel.findChild(QLineEdit, "param_label"), QLineEdit)
        assert panel.extra_context() == {}  # nothing changed: nothing sent
        click(qtbot, panel.options_toggle)
        type_into(qtbot, strength, "7")
        click_check_box(qtbot, panel.findChild(QCheckBox, "param_sharpen"))
        press(qtbot, "Tab")  # from the check box to the drop-down under it
        assert focused() is style
        press(qtbot, "Down")  # a closed drop-down steps to the next choice
        type_into(qtbot, panel.json_edit, "not json")
        click(qtbot, panel.run_button)
        assert "not valid JSON" in panel.status_text()
        assert not panel.is_running()
        type_into(qtbot, panel.json_edit, '{"extra": [1, 2]}')
        run_and_wait(qtbot, panel, window.runs)
        assert seen[-1] == {"strength": 7, "style": "bold", "sharpen": True, "extra": [1, 2]}
        show_section(qtbot, panel, 711)
        qtbot.waitUntil(lambda: '"output": "ok"' in panel.result_view.toPlainText(), timeout=TIMEOUT)
    finally:
        registry.unregister_script_type("test_plugin")


def test_word_diff_marks_removed_and_added_words():
    from wfdesk.ui.text_diff import change_summary, word_diff_html

    before, after = word_diff_html("the the rain <was> heavy", "The rain <was> heavy.")
    assert "line-through" in before
    assert "the the" in before.replace("&nbsp;", " ")
    assert "underline" in after
    assert "&lt;was&gt;" in after  # escaped, never markup
    light, dark = word_diff_html("a b", "a c")[1], word_diff_html("a b", "a c", dark=True)[1]
    assert light != dark  # colours for the palette in use
    assert change_summary("same", "same") == "no changes"
    assert change_summary("a b c d", "a b c e").endswith("% changed")


def test_clicking_run_runs_the_checked_sections(qtbot, gui_ws, main_window, runs, loopback):
    """The Run button's clicked(bool) must not reach run() as its section list (it did: "Select at least one
    section to run." for every click)."""
    loopback.chat_reply = lambda req: "Clicked."
    panel = open_panel(qtbot, main_window, "polish_sections")
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=TIMEOUT)
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert len(finished.args[1]["results"]) == 3
    assert field(gui_ws, 711, "polished") == "Clicked."


def test_progress_text_fits_its_bar(qtbot, gui_ws, main_window, runs, loopback):
    from PySide6.QtWidgets import QStyle, QStyleOptionProgressBar

    # Sections added meanwhile (the demo post is chosen already): the step's panel reads them when clicked.
    for i in range(117):
        editing.add_section(gui_ws, 53, f"Part {i}")
    loopback.latency = 0.5
    panel = open_panel(qtbot, main_window, "process_data")  # in the window as it opens, 1280 pixels wide
    assert panel.picker.section_ids()[:3] == [711, 712, 713]
    assert len(panel.picker.section_ids()) == 120
    with qtbot.waitSignal(runs.run_started, timeout=TIMEOUT):
        click(qtbot, panel.run_button)
    bar = panel.progress
    qtbot.waitUntil(lambda: bar.isVisible() and bar.maximum() == 120, timeout=TIMEOUT)
    widest = bar.fontMetrics().horizontalAdvance("120 / 120 sections")
    option = QStyleOptionProgressBar()
    bar.initStyleOption(option)
    label = bar.style().subElementRect(QStyle.SubElement.SE_ProgressBarLabel, option, bar)
    assert label.width() >= widest, (label.width(), widest, bar.width())
    # The run's end reloads the window's table, a slice of rows per turn of the event loop: wait for all of them
    # (a window closed in the middle of that fill meets a deleted table).
    with qtbot.waitSignals([runs.run_finished, main_window.sections.loaded], order="strict", timeout=TIMEOUT):
        click(qtbot, panel.cancel_button)
    assert main_window.sections.table.rowCount() == 120


def _hang_up(_index, _request):
    raise ConnectionResetError("the loopback provider hangs up")


def test_a_failed_section_says_why_in_words_an_editor_knows(qtbot, main_window, runs, loopback):
    loopback.fail = _hang_up  # requests reports it as "('Connection aborted.', RemoteDisconnected(...))"
    panel = open_panel(qtbot, main_window, "process_data")
    tick_only(qtbot, panel, [712])
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT):
        click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: section_state(panel.picker, 712).startswith("failed: "), timeout=TIMEOUT)
    show_section(qtbot, panel, 712)
    qtbot.waitUntil(lambda: panel.note.isVisible(), timeout=TIMEOUT)
    shown = [section_state(panel.picker, 712), panel.note.text(), panel.notice.message_label.text(),
             panel.notice.note_label.text(), panel.status_text()]
    assert "cannot reach" in panel.note.text()
    assert "the connection was reset by the other side" in panel.note.text()
    for text in shown:
        for word in ("Error", "Errno", "Disconnected", "aborted", "('"):
            assert word not in text, text
