"""A run this window did not start (the command line, a colleague on the shared database, a run process that outlived
a crashed app) still shows in the step list as it goes, and ends there as what it became; the editor does nothing."""

from __future__ import annotations

import threading

from ui.widget_reading import step_state
from wfdesk.scripts.registry import execute_step_script

WAIT = 20_000


def test_a_run_started_elsewhere_is_followed_until_it_ends(qtbot, main_window, gui_ws, loopback):
    steps = main_window.steps
    qtbot.waitUntil(lambda: step_state(steps, 1) != "", timeout=WAIT)
    release = threading.Event()

    def slow_reply(_request):
        release.wait(30)
        return "Polished elsewhere."

    loopback.chat_reply = slow_reply
    # Another process's run, as far as this window knows: the window's run controller is not involved.
    done: list[dict] = []
    worker = threading.Thread(target=lambda: done.append(execute_step_script(1, 53, {"section_ids": [711]})))
    worker.start()
    try:
        qtbot.waitUntil(lambda: step_state(steps, 1).startswith("running"), timeout=WAIT)
    finally:
        release.set()
        worker.join(30)
    assert done
    assert done[0]["success"]
    qtbot.waitUntil(lambda: step_state(steps, 1) == "done", timeout=WAIT)
