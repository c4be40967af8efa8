"""Every dialog fits small screens (issue 9, item 9): shown on a 1280×720 or 1366×768 screen (or one with a
taskbar), the dialog and its buttons are on screen and the content scrolls inside."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QDialogButtonBox

from wfdesk.ui import screen_fit

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out
SCREENS = {"1280x720": QRect(0, 0, 1280, 720), "1366x768": QRect(0, 0, 1366, 768),
           "1280x720 with a taskbar": QRect(0, 0, 1280, 680)}


@pytest.fixture(params=list(SCREENS))
def screen(request, monkeypatch):
    area = SCREENS[request.param]
    monkeypatch.setattr(screen_fit, "available_geometry", lambda _widget: area)
    return area


def make_step(ws):
    from wfdesk.ui.config_editor import StepConfigDialog

    return StepConfigDialog(ws, 2)


def make_override(ws):
    from wfdesk.ui.config_editor import StepConfigDialog

    return StepConfigDialog(ws, 1, post_id=53)


def make_action(ws):
    from wfdesk.ui.config_editor import LLMActionDialog

    return LLMActionDialog(ws, 5, preview_post_id=53)


def make_settings(ws):
    from wfdesk.ui.settings_dialog import SettingsDialog

    return SettingsDialog(ws)


def make_costs(ws):
    from wfdesk.ui.costs_dialog import CostsDialog

    return CostsDialog(ws, post_id=53)


@pytest.mark.parametrize("make", [make_step, make_override, make_action, make_settings, make_costs])
def test_dialog_and_its_buttons_fit_the_screen(qtbot, gui_ws, screen, make):
    dialog = make(gui_ws)
    qtbot.addWidget(dialog)
    if hasattr(dialog, "confirm_discard"):
        dialog.confirm_discard = lambda: True
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.wait(100)  # loaded content settles (its size must not push the buttons off)
    frame = dialog.frameGeometry()
    assert screen.contains(frame), f"{frame} is not within {screen}"
    # Room left for a window manager's title bar and borders.
    assert dialog.height() + screen_fit.FRAME_HEIGHT <= screen.height()
    assert dialog.width() + screen_fit.FRAME_WIDTH <= screen.width()
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    assert box.isVisible()
    for button in box.findChildren(QAbstractButton):
        if button.isVisible():
            top_left = button.mapToGlobal(QPoint(0, 0))
            rect = QRect(top_left, button.size())
            assert screen.contains(rect), f"{button.text()} at {rect} is off the {screen} screen"
            assert not button.visibleRegion().isEmpty()
