"""The result cache in the step panel, through the editor's input: a second identical run reuses the answer (the
loopback sees no request, the panel says so); "Reuse earlier identical answers" unticked asks for a fresh one."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox

from ui.editor_input import click, click_check_box, click_row, open_step, press, toggle_section, type_text
from wfdesk.db.models import LLMAction

TIMEOUT = 30_000
LABEL = "Reuse earlier identical answers"


@pytest.fixture
def runs(main_window):
    yield main_window.runs
    assert main_window.runs.shutdown(5000)


@pytest.fixture
def at_zero(gui_ws):
    """The demo's LLM action asks at temperature 0: its answers are reusable by default."""
    with gui_ws.db.session() as s:
        s.get(LLMAction, 5).temperature = 0.0
    return gui_ws


def run_and_wait(qtbot, panel, runs) -> dict:
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: not panel.is_running() and panel.run_button.isEnabled(), timeout=TIMEOUT)
    return finished.args[1]


def reuse_box(panel, *, enabled: bool = True) -> QCheckBox:
    """The check box an editor finds by its label in the run options."""
    (box,) = [b for b in panel.findChildren(QCheckBox) if b.text() == LABEL and b.isVisible()]
    assert box.isEnabled() is enabled
    return box


def test_an_identical_run_reuses_the_answer_unless_fresh_answers_are_asked_for(qtbot, at_zero, main_window, runs,
                                                                             loopback):
    panel = open_step(qtbot, main_window, "polish_sections")
    click(qtbot, panel.picker.none_button)
    toggle_section(qtbot, panel.picker, "Arriving in Inverness")
    assert run_and_wait(qtbot, panel, runs)["status"] == "succeeded"
    assert loopback.count("/v1/chat/completions") == 1
    assert "reused" not in panel.status_text()

    result = run_and_wait(qtbot, panel, runs)
    assert result["status"] == "succeeded"
    assert loopback.count("/v1/chat/completions") == 1  # nothing sent
    assert panel.status_text() == ("Finished: 1 done. 1 answer was reused from an earlier identical run (nothing "
                                   "sent, nothing paid).")
    click_row(qtbot, panel.picker.tree, "Arriving in Inverness")
    versions = panel.review.versions.list
    qtbot.waitUntil(lambda: versions.topLevelItemCount() == 2, timeout=TIMEOUT)
    assert "reused from run #" in versions.topLevelItem(0).text(2)

    click(qtbot, panel.options_toggle)
    box = reuse_box(panel)
    assert box.isChecked()
    assert "temperature 0" in box.toolTip()
    click_check_box(qtbot, box)
    assert not box.isChecked()
    assert "fresh answers" in panel.options_summary.text()
    result = run_and_wait(qtbot, panel, runs)
    assert result["status"] == "succeeded"
    assert loopback.count("/v1/chat/completions") == 2  # asked anew
    assert "reused" not in panel.status_text()

    click_check_box(qtbot, reuse_box(panel))
    run_and_wait(qtbot, panel, runs)
    assert loopback.count("/v1/chat/completions") == 2


def test_at_a_sampled_temperature_the_box_is_greyed_and_typing_0_makes_answers_reusable(qtbot, main_window, runs,
                                                                                     loopback):
    panel = open_step(qtbot, main_window, "polish_sections")  # the demo's action samples at 0.7
    click(qtbot, panel.picker.none_button)
    toggle_section(qtbot, panel.picker, "Glen Affric")
    click(qtbot, panel.options_toggle)
    box = reuse_box(panel, enabled=False)
    assert box.toolTip().startswith("At temperature 0.7 every run asks anew")
    run_and_wait(qtbot, panel, runs)
    run_and_wait(qtbot, panel, runs)
    assert loopback.count("/v1/chat/completions") == 2

    click(qtbot, panel.temperature_spin)
    qtbot.waitUntil(panel.temperature_spin.hasFocus, timeout=TIMEOUT)
    press(qtbot, "Ctrl+A")
    type_text(qtbot, "0")
    assert reuse_box(panel).isChecked()
    run_and_wait(qtbot, panel, runs)
    assert loopback.count("/v1/chat/completions") == 3  # the first answer at temperature 0
    run_and_wait(qtbot, panel, runs)
    assert loopback.count("/v1/chat/completions") == 3
    assert "1 answer was reused" in panel.status_text()


def test_the_image_panel_has_no_reuse_box(qtbot, main_window, runs):
    panel = open_step(qtbot, main_window, "section_illustrations")
    click(qtbot, panel.options_toggle)
    assert not [b for b in panel.findChildren(QCheckBox) if b.text() == LABEL]
