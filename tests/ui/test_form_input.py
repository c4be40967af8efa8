"""The config forms driven by real input: wheel over the scrolled forms, drop-down picks with the mouse, typing
into *Other parameters* (issue 9, items 3, 4 and 5)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QWidget

from tests.ui.input_helpers import button, field, pick, scroll_area_of, scroll_into_view, wheel
from wfdesk.services import config_store as cs
from wfdesk.ui.config_editor import StepConfigDialog

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


@pytest.fixture
def open_step(qtbot, gui_ws):
    def make(step_id: int, post_id: int | None = None, size: tuple[int, int] = (820, 420)) -> StepConfigDialog:
        dialog = StepConfigDialog(gui_ws, step_id, post_id=post_id)
        qtbot.addWidget(dialog)
        dialog.confirm_discard = lambda: True  # closing at teardown asks nothing
        dialog.show()
        dialog.resize(*size)
        qtbot.waitUntil(lambda: dialog.is_loaded and dialog.params_form.isVisible(), timeout=WAIT)
        in_front(qtbot, dialog)
        return dialog

    return make


def in_front(qtbot, dialog: QWidget) -> None:
    """The dialog in front, with the keyboard, as the window manager makes a window the editor clicks: a click
    gives focus only in the active window, and on a busy machine the offscreen platform's activation can lag."""
    if QApplication.activeWindow() is not dialog:
        dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=WAIT)


def under_pointer(widget: QWidget) -> QWidget:
    """The innermost widget at widget's centre (a spin box's line edit, say): what the wheel event reaches."""
    centre = widget.rect().center()
    return widget.childAt(centre) or widget


def assert_wheel_only_scrolls(qtbot, editor: QWidget, read) -> None:
    area = scroll_area_of(editor)
    bar = area.verticalScrollBar()
    assert bar.maximum() > 0, "the form does not scroll at this size"
    scroll_into_view(area, editor)
    if bar.value() == bar.maximum():  # leave room to scroll down
        wheel(area.viewport(), 120, QPoint(2, 2))
        scroll_into_view(area, editor)
    assert not editor.hasFocus()
    # A real wheel gives focus to a widget whose policy includes the wheel, and then changes it: it must not.
    assert editor.focusPolicy().value & Qt.FocusPolicy.WheelFocus.value != Qt.FocusPolicy.WheelFocus.value
    before_value, before_bar = read(), bar.value()
    wheel(under_pointer(editor), -120)
    assert read() == before_value, f"the wheel changed {editor.objectName()}"
    assert bar.value() > before_bar, "the form did not scroll"
    assert not editor.hasFocus()


def test_wheel_over_step_form_scrolls_and_changes_nothing(qtbot, open_step, gui_ws):
    dialog = open_step(2)  # image_generation: a backend drop-down, number boxes
    backend = field(dialog, "Backend", QComboBox)
    images = field(dialog, "Images per section", QAbstractSpinBox)
    script_type = field(dialog, "Script type", QComboBox)
    assert_wheel_only_scrolls(qtbot, backend, backend.currentText)
    assert_wheel_only_scrolls(qtbot, images, images.text)
    wheel(under_pointer(script_type), -120)
    assert script_type.currentText() == "image_generation"
    assert json.loads(dialog.json_tab.text()) == cs.load_step(gui_ws, 2).config
    assert dialog.status.text() == ""  # nothing changed

    # Focus + wheel still changes a value: that is deliberate. (Scrolled into view first, as an editor would.)
    scroll_into_view(scroll_area_of(images), images)
    in_front(qtbot, dialog)
    qtbot.mouseClick(images.lineEdit(), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(images.hasFocus, timeout=WAIT)
    before = images.value()
    wheel(under_pointer(images), 120)
    assert images.value() == before + 1


def test_wheel_in_post_override_form(qtbot, open_step, gui_ws):
    dialog = open_step(2, post_id=53)
    backend = field(dialog, "Backend", QComboBox)
    assert_wheel_only_scrolls(qtbot, backend, backend.currentText)
    assert "nothing" in dialog.status.text()


@pytest.fixture
def two_providers(gui_ws):
    from wfdesk.settings import ProviderProfile

    gui_ws.settings.providers["local"] = ProviderProfile(name="local", base_url="http://127.0.0.1:9/v1")
    return gui_ws


def test_provider_picked_from_the_drop_down_is_an_override(qtbot, open_step, two_providers):
    dialog = open_step(1, post_id=53)
    provider = field(dialog, "Provider profile", QComboBox)
    pick(qtbot, provider, "local")
    assert "provider" in dialog.status.text()
    assert json.loads(dialog.json_tab.text())["script_config"]["parameters"]["provider"] == "local"
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)
    assert cs.load_override(two_providers, 1, 53).effective["script_config"]["parameters"]["provider"] == "local"


def test_every_drop_down_in_the_step_form_reports_a_pick(qtbot, open_step, gui_ws, two_providers):
    dialog = open_step(2)
    pick(qtbot, field(dialog, "Provider profile", QComboBox), "local")
    pick(qtbot, field(dialog, "Backend", QComboBox), "a1111")
    params = json.loads(dialog.json_tab.text())["script_config"]["parameters"]
    assert params["provider"] == "local"
    assert params["backend"] == "a1111"
    assert dialog.status.text() == "Unsaved changes"
    # Typing into the editable drop-down reports too, and so does clearing it.
    provider = field(dialog, "Provider profile", QComboBox)
    provider.lineEdit().selectAll()
    qtbot.keyClick(provider.lineEdit(), Qt.Key.Key_Delete)
    assert "provider" not in json.loads(dialog.json_tab.text())["script_config"]["parameters"]


def test_invalid_other_parameters_are_never_saved_nor_dropped(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 1)
    dialog = open_step(1)
    extras = field(dialog, "Other parameters")
    qtbot.mouseClick(extras, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(extras, '{"format": json}')
    problem = dialog.params_form.extras_problem
    assert problem.isVisible()
    assert "JSON" in problem.text()
    qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)
    qtbot.wait(200)  # a save would go to the background: give it the chance to (wrongly) finish
    assert dialog.isVisible(), "Save closed the dialog over invalid input"
    assert "Other parameters" in dialog.message.text()
    assert dialog.message.isVisible()
    assert extras.text() == '{"format": json}'
    assert cs.load_step(gui_ws, 1) == before
    # Closing asks before the typed text is dropped.
    asked = []
    dialog.confirm_discard = lambda: asked.append(True) or False
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert asked
    assert dialog.isVisible()
    # Fixed, it saves.
    extras.selectAll()
    qtbot.keyClicks(extras, '{"format": "json"}')
    assert problem.isHidden()
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT):
        qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)
    assert cs.load_step(gui_ws, 1).config["script_config"]["parameters"] == {"format": "json"}


def test_a_wrong_size_is_refused_in_plain_words_next_to_the_field(qtbot, open_step, gui_ws):
    before = cs.load_step(gui_ws, 2)
    dialog = open_step(2)
    size = field(dialog, "Size")
    assert "pattern" not in size.toolTip()
    assert "^" not in size.toolTip()
    qtbot.mouseClick(size, Qt.MouseButton.LeftButton)
    size.selectAll()
    qtbot.keyClicks(size, "big")
    with qtbot.waitSignal(dialog.save_failed, timeout=WAIT):
        qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)
    message = dialog.params_form.problem_labels["size"]
    assert message.isVisible()
    assert "must be like 1024x1024 or auto" in message.text()
    assert "pattern" not in message.text()
    assert "should" not in message.text()
    assert dialog.isVisible()
    assert cs.load_step(gui_ws, 2) == before


def test_wheel_changes_nothing_in_the_llm_actions_and_settings_dialogs(qtbot, gui_ws, two_providers):
    from wfdesk.ui.config_editor import LLMActionDialog
    from wfdesk.ui.settings_dialog import SettingsDialog

    actions = LLMActionDialog(gui_ws, 5, preview_post_id=53)
    qtbot.addWidget(actions)
    actions.confirm_discard = lambda: True
    actions.show()
    qtbot.waitUntil(lambda: actions.is_loaded and not actions.busy, timeout=WAIT)
    for editor in (actions.temperature_spin, actions.max_tokens_spin, actions.section_combo, actions.step_combo):
        before = editor.text() if isinstance(editor, QAbstractSpinBox) else editor.currentText()
        wheel(under_pointer(editor), -120)
        after = editor.text() if isinstance(editor, QAbstractSpinBox) else editor.currentText()
        assert after == before, f"the wheel changed {editor.objectName()}"
    assert actions.status.text() == ""

    settings = SettingsDialog(gui_ws)
    qtbot.addWidget(settings)
    settings.show()
    providers = settings.providers_page
    default = providers.default_combo  # the profile list tab: "Default provider:" is a plain label above it
    for editor in (default, providers.form.p_concurrency, providers.form.p_retries, providers.form.p_read):
        before = editor.text() if isinstance(editor, QAbstractSpinBox) else editor.currentText()
        wheel(under_pointer(editor), -120)
        after = editor.text() if isinstance(editor, QAbstractSpinBox) else editor.currentText()
        assert after == before, f"the wheel changed {editor.objectName() or type(editor).__name__}"


def test_wheel_over_a_drop_down_inside_the_inputs_table_scrolls_the_form(qtbot, open_step, gui_ws):
    dialog = open_step(1)
    table = dialog.inputs_table.table
    db_field = table.cellWidget(0, 2)
    assert isinstance(db_field, QComboBox)
    assert_wheel_only_scrolls(qtbot, db_field, db_field.currentText)
