"""A long run that ends while the window is in the background: a system notice says what finished and how it went,
and clicking it brings the window to the front on that post and step. Runs go through the UI on the loopback
provider; the notice's last message is read to assert, and the click comes as the OS sends it (messageClicked)."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QApplication, QLabel, QLineEdit

from wfdesk.ui import worker

from .editor_input import activate, answer_modal, click, click_button, click_row, open_step, press, type_text

TIMEOUT = 30_000
TITLE = "A week in the Scottish Highlands"


def new_post_by_hand(qtbot, window, title: str) -> None:
    """New post, type its title, OK: the window then shows the new post."""
    def answer(dialog) -> None:
        qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=TIMEOUT)
        click(qtbot, dialog.findChild(QLineEdit))
        press(qtbot, "Ctrl+A")
        type_text(qtbot, title)
        click_button(qtbot, dialog, "OK")

    answer_modal(qtbot, answer)
    click_button(qtbot, window, "New post")
    qtbot.waitUntil(lambda: window.posts.current_title() == title, timeout=TIMEOUT)


def held_replies(loopback) -> threading.Event:
    """Chat answers wait until the returned event is set: the test decides when the run ends."""
    release = threading.Event()
    loopback.chat_reply = lambda req: "Polished." if release.wait(TIMEOUT / 1000) else "too late"
    return release


def another_window(qtbot) -> QLabel:
    """Another application's window in front: the main window is in the background."""
    other = QLabel("Something else the editor works on")
    qtbot.addWidget(other)
    other.show()
    activate(qtbot, other)
    return other


def run_in_background(qtbot, window, loopback) -> dict:
    runs = window.runs
    release = held_replies(loopback)
    panel = open_step(qtbot, window, "polish_sections")
    activate(qtbot, window)
    with qtbot.waitSignal(runs.run_started, timeout=TIMEOUT):
        click(qtbot, panel.run_button)
    other = another_window(qtbot)
    assert not window.isActiveWindow()
    with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
        release.set()
    return {"result": finished.args[1], "other": other}


def test_a_run_ending_in_the_background_is_told_and_its_notice_brings_the_step_back(qtbot, gui_ws, main_window,
                                                                                     loopback):
    gui_ws.settings.run_end_notice_after_s = 0  # every run is "long" here; the threshold has its own test
    ended = run_in_background(qtbot, main_window, loopback)
    notice = main_window.run_end_notice
    qtbot.waitUntil(lambda: notice.last_notice is not None, timeout=TIMEOUT)
    told = notice.last_notice
    assert told.text == f"polish_sections: 3 sections done — {TITLE}", told.text
    assert told.title == "Run finished"
    assert told.shown_by in ("tray", "alert")  # no tray on the test's screen: the taskbar entry flashes

    # The editor comes back, starts another post, picks another step, and goes away again.
    activate(qtbot, main_window)
    new_post_by_hand(qtbot, main_window, "Lisbon by tram")
    click_row(qtbot, main_window.steps, "section_illustrations")
    qtbot.waitUntil(lambda: main_window.post_id != 53 and main_window.steps.current_step()[0] == 2, timeout=TIMEOUT)
    activate(qtbot, ended["other"])

    os_signal = notice.tray.messageClicked  # what the OS sends when the editor clicks the notification
    os_signal.emit()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: main_window.post_id == 53 and main_window.steps.current_step()[0] == 1
                    and main_window.current_panel() is not None
                    and main_window.current_panel().title_label.text() == "polish_sections", timeout=TIMEOUT)


def test_no_notice_for_a_short_run_or_while_the_window_is_in_front(qtbot, gui_ws, main_window, loopback):
    notice = main_window.run_end_notice
    gui_ws.settings.run_end_notice_after_s = 3600  # longer than this run
    run_in_background(qtbot, main_window, loopback)
    qtbot.waitUntil(lambda: worker.running_ops() == 0, timeout=TIMEOUT)
    assert notice.last_notice is None

    gui_ws.settings.run_end_notice_after_s = 0
    panel = open_step(qtbot, main_window, "polish_sections")
    activate(qtbot, main_window)
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=TIMEOUT):
        click(qtbot, panel.run_button)  # the editor watches it end
    qtbot.waitUntil(lambda: worker.running_ops() == 0, timeout=TIMEOUT)
    assert notice.last_notice is None
