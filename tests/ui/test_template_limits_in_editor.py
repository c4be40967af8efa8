"""A template bomb typed into the LLM-action editor: the window keeps answering and the preview names the problem."""

from __future__ import annotations

import itertools
import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from wfdesk.ui.config_editor import LLMActionDialog

WAIT = 30_000


def test_typing_a_huge_power_never_freezes_the_editor(qtbot, gui_ws, loopback):
    dialog = LLMActionDialog(gui_ws, 5, preview_post_id=53)
    qtbot.addWidget(dialog)
    dialog.confirm_discard = lambda: True
    dialog.show()
    qtbot.waitUntil(lambda: dialog.is_loaded, timeout=WAIT)
    qtbot.waitUntil(lambda: "Arriving in Inverness" in dialog.preview.toPlainText(), timeout=WAIT)

    ticks: list[float] = []
    heartbeat = QTimer(interval=20)
    heartbeat.timeout.connect(lambda: ticks.append(time.monotonic()))
    heartbeat.start()
    qtbot.mouseClick(dialog.template_edit.viewport(), Qt.MouseButton.LeftButton)
    focused = QApplication.focusWidget()
    assert focused is dialog.template_edit
    qtbot.keyClick(focused, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(focused, "{{ 10**(10**8) }}")
    qtbot.waitUntil(lambda: "too large" in dialog.preview_error.text(), timeout=WAIT)
    heartbeat.stop()
    assert dialog.template_edit.toPlainText() == "{{ 10**(10**8) }}"
    assert dialog.preview.toPlainText() == ""
    longest = max(b - a for a, b in itertools.pairwise(ticks))
    assert longest < 5, f"the window did not answer for {longest:.1f} s"  # before the limits: minutes
    assert loopback.count() == 0
