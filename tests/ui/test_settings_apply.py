"""Settings reach the open panels at once (issue 9, item 8): the demo's custom-script step runs as soon as the
base URL is set, in Settings or right in the panel, without choosing the step again; until then the panel names the
missing setting and where to set it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLineEdit, QTabWidget

from tests.ui.editor_input import click_item
from tests.ui.input_helpers import button
from ui.widget_reading import section_state
from wfdesk.settings import load_settings

WAIT = 20_000


@pytest.fixture
def no_base_url(gui_ws):
    url = gui_ws.settings.custom_script_base_url
    gui_ws.settings.custom_script_base_url = None
    return url


def click_step(qtbot, window, step_id: int):
    steps = window.steps
    item = steps.item_for(step_id)
    click_item(qtbot, steps, item)
    qtbot.waitUntil(lambda: window.current_panel() is not None and window.current_panel().step_id == step_id
                    and window.current_panel().data is not None, timeout=WAIT)
    return window.current_panel()


def run_by_click(qtbot, panel):
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    try:
        qtbot.waitUntil(lambda: panel.status_text().startswith("Finished: 3 done"), timeout=WAIT)
    except qtbot.TimeoutError:
        raise AssertionError(f"the run did not finish: {panel.status_text()!r}") from None
    assert all(section_state(panel.picker, sid).startswith("done") for sid in (711, 712, 713))


def assert_names_the_missing_setting(panel):
    text = panel.config_error_label.text()
    assert panel.config_error_label.isVisible()
    assert "custom-script base URL is not set" in text
    assert "Settings → Custom scripts" in text
    assert "config" not in text.lower()
    assert not panel.run_button.isEnabled()


def test_base_url_saved_in_settings_applies_to_the_open_panel(qtbot, main_window, no_base_url, loopback):
    panel = click_step(qtbot, main_window, 3)
    assert_names_the_missing_setting(panel)

    def fill_in():
        dialog = QApplication.activeModalWidget()
        tabs = dialog.findChild(QTabWidget)
        bar = tabs.tabBar()
        index = next(i for i in range(tabs.count()) if tabs.tabText(i) == "Custom scripts")
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
        url = dialog.findChild(QLineEdit, "custom_script_base_url")
        qtbot.mouseClick(url, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(url, no_base_url)
        qtbot.mouseClick(button(dialog, "Save"), Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, lambda: qtbot.waitUntil(lambda: QApplication.activeModalWidget() is not None) or fill_in())
    qtbot.keyClick(main_window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    assert load_settings().custom_script_base_url == no_base_url
    # The same panel, not chosen again: it runs.
    assert main_window.current_panel() is panel
    assert panel.step_id == 3
    qtbot.waitUntil(lambda: panel.config_error_label.isHidden(), timeout=WAIT)
    run_by_click(qtbot, panel)


def test_base_url_set_right_in_the_panel(qtbot, main_window, no_base_url, loopback):
    panel = click_step(qtbot, main_window, 3)
    assert_names_the_missing_setting(panel)
    field = panel.findChild(QLineEdit, "inline_base_url")
    assert field.isVisible()
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(field, "localhost:8000")  # no scheme: refused, nothing saved
    qtbot.mouseClick(button(panel, "Save base URL"), Qt.MouseButton.LeftButton)
    assert "http://" in panel.inline_problem.text()
    assert panel.inline_problem.isVisible()
    assert load_settings().custom_script_base_url is None
    field.selectAll()
    qtbot.keyClicks(field, no_base_url)
    qtbot.mouseClick(button(panel, "Save base URL"), Qt.MouseButton.LeftButton)
    assert load_settings().custom_script_base_url == no_base_url.rstrip("/")
    qtbot.waitUntil(lambda: panel.config_error_label.isHidden() and not field.isVisible(), timeout=WAIT)
    run_by_click(qtbot, panel)
