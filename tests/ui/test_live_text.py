"""Live text: while an LLM step runs, the section's answer appears in the step panel as the model writes it (and
as a short preview in the section list); Cancel stops the stream at once. The loopback server streams as OpenAI
does and holds the answer mid-way until the test lets it go on, so "before the section finishes" is a condition,
not a timing."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from ui.editor_input import click, press
from ui.test_panels import TIMEOUT, field, open_panel, show_section, tick_only, update_config
from ui.widget_reading import section_state

REPLY = "We arrived late in Inverness. The rain was heavy."


@pytest.fixture
def runs(main_window):
    """The window's run controller; at the end every run has stopped."""
    yield main_window.runs
    assert main_window.runs.shutdown(5000)


@pytest.fixture
def held(loopback):
    """Streams stop after three words of the answer until the test sets the event."""
    loopback.chat_reply = lambda req: REPLY
    loopback.stream_hold = threading.Event()
    loopback.stream_hold_after = 3
    return loopback.stream_hold


def _start_on_711(qtbot, panel):
    tick_only(qtbot, panel, [711])
    show_section(qtbot, panel, 711)
    click(qtbot, panel.run_button)


def test_the_answer_appears_as_it_is_written_before_the_section_finishes(qtbot, gui_ws, main_window, runs,
                                                                          loopback, held):
    panel = open_panel(qtbot, main_window, "polish_sections")
    _start_on_711(qtbot, panel)
    qtbot.waitUntil(lambda: "We arrived late" in panel.review.after.toPlainText(), timeout=TIMEOUT)
    assert "Inverness" not in panel.review.after.toPlainText()  # the server holds the rest back
    assert "being written" in panel.review.after_caption.text()
    # The section list shows the last words written, as far as its State column shows them.
    qtbot.waitUntil(lambda: section_state(panel.picker, 711).endswith("late"), timeout=TIMEOUT)
    item = panel.picker.tree.findItems("Arriving in Inverness", Qt.MatchFlag.MatchExactly)[0]
    assert item.toolTip(1) == "Being written: We arrived late"
    assert panel.is_running()
    assert field(gui_ws, 711, "polished") is None  # nothing saved yet: the section has not finished
    assert loopback.requests[-1].json["stream"] is True  # streaming is the app's default

    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        held.set()
    assert finished.args[1]["status"] == "succeeded"
    qtbot.waitUntil(lambda: section_state(panel.picker, 711) == "done", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "being written" not in panel.review.after_caption.text(), timeout=TIMEOUT)
    assert "The rain was heavy." in panel.review.after.toPlainText()
    assert field(gui_ws, 711, "polished") == REPLY


def test_cancel_stops_the_stream_at_once(qtbot, gui_ws, main_window, runs, loopback, held):
    panel = open_panel(qtbot, main_window, "polish_sections")
    _start_on_711(qtbot, panel)
    qtbot.waitUntil(lambda: "We arrived late" in panel.review.after.toPlainText(), timeout=TIMEOUT)
    # The server is still holding the answer: only the cancel can end the section now.
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.cancel_button)
    assert not held.is_set()
    assert finished.args[1]["status"] == "cancelled"
    assert [r["status"] for r in finished.args[1]["results"]] == ["cancelled"]
    qtbot.waitUntil(lambda: section_state(panel.picker, 711) == "cancelled", timeout=TIMEOUT)
    assert field(gui_ws, 711, "polished") is None  # the part written before the cancel is not kept


def test_escape_cancels_a_streaming_run(qtbot, gui_ws, main_window, runs, loopback, held):
    panel = open_panel(qtbot, main_window, "polish_sections")
    _start_on_711(qtbot, panel)
    qtbot.waitUntil(lambda: "We arrived late" in panel.review.after.toPlainText(), timeout=TIMEOUT)
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        press(qtbot, "Esc")  # wherever the focus went after clicking Run
    assert not held.is_set()
    assert finished.args[1]["status"] == "cancelled"


def test_a_server_that_refuses_streaming_gets_a_plain_request(qtbot, gui_ws, main_window, runs, loopback):
    update_config(gui_ws, 1, lambda c: c["script_config"].setdefault("parameters", {}).update(model="no-stream-1"))
    loopback.chat_reply = lambda req: REPLY
    panel = open_panel(qtbot, main_window, "polish_sections")
    tick_only(qtbot, panel, [711])
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        click(qtbot, panel.run_button)
    assert finished.args[1]["status"] == "succeeded"
    assert [r.json.get("stream") for r in loopback.requests if r.path.endswith("/chat/completions")] == [True, None]
    assert field(gui_ws, 711, "polished") == REPLY


def test_runs_kept_in_the_apps_own_process_report_the_same_events(qtbot, gui_ws, loopback):
    """WFDESK_RUNS_IN_PROCESS=1 (debugging): the same events, live text included, from a thread of the app."""
    from wfdesk.ui.run_controller import RunController

    loopback.chat_reply = lambda req: REPLY
    controller = RunController(gui_ws, in_process=True)
    texts: dict[int, str] = {}
    controller.text_changed.connect(lambda run_id, sid, text: texts.__setitem__(sid, text))
    with qtbot.waitSignal(controller.run_finished, timeout=TIMEOUT) as finished:
        controller.start(1, 53, {"section_ids": [711, 712]})
    assert finished.args[1]["status"] == "succeeded"
    assert texts == {711: REPLY, 712: REPLY}
    with qtbot.waitSignal(controller.run_failed, timeout=TIMEOUT) as failed:
        key = controller.start(99, 53, {})
    assert failed.args == [key, "Step 99 does not exist"]
    assert controller.shutdown(5000)
