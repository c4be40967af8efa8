"""The GUI thread never stalls while a 50-section run is in flight: a QTimer heartbeat (a guard, not a benchmark).

The run is the one an editor starts: the main window, the post and the step clicked, then Run; so the measure covers
everything the window does meanwhile (the step list's "running n/50", the panel's section states, the status bar).

Two measures: the longest stretch of CPU the GUI thread itself spent between two 5 ms ticks (its own work per unit:
DB reads, decodes, widget rebuilds; thread CPU time, so a busy machine that schedules the test late does not count),
and the longest wall-clock gap between ticks, which catches the GUI thread waiting on the network, a lock or a worker:
every answer takes 0.3 s, so one request waited for on the GUI thread is a gap of 0.3 s or more, while a machine
busy with other work delays a tick by milliseconds. The run executes in a child process, so the engine's Python work
does not compete with the window for the GIL.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QTimer

from ui.editor_input import activate, choose_post, click, open_step
from wfdesk.services import editing

TIMEOUT = 30_000
SECTIONS = 50
MAX_STALL_S = 0.050  # the GUI thread's own work between two ticks
LATENCY_S = 0.3  # every provider answer
MAX_WAIT_S = 0.25  # a wall-clock gap: shorter than one answer, far longer than a late tick on a busy machine


def measure_run(qtbot, panel, runs) -> tuple[float, float, float]:
    """(longest gap between heartbeats, longest GUI-thread CPU between heartbeats, seconds measured) while a run
    is in flight."""
    state = {"on": False, "last": 0.0, "cpu": 0.0, "start": 0.0, "end": 0.0}
    gaps: list[float] = []
    cpu: list[float] = []

    def beat() -> None:
        now, now_cpu = time.perf_counter(), time.thread_time()
        if state["on"]:
            gaps.append(now - state["last"])
            cpu.append(now_cpu - state["cpu"])
        state["last"], state["cpu"] = now, now_cpu

    def started(*_args) -> None:
        now = time.perf_counter()
        state.update(on=True, last=now, cpu=time.thread_time(), start=now)

    def ended(*_args) -> None:
        state.update(on=False, end=time.perf_counter())

    runs.run_started.connect(started)
    runs.run_finished.connect(ended)  # after the panel's own slot: its reaction to the end is measured too
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(beat)
    gc.collect()  # start from a clean heap: a full collection of the whole test session's heap is not GUI work
    timer.start()
    try:
        with qtbot.waitSignal(runs.run_finished, timeout=TIMEOUT) as finished:
            click(qtbot, panel.run_button)  # the editor's click on Run
    finally:
        timer.stop()
        runs.run_started.disconnect(started)
        runs.run_finished.disconnect(ended)
    assert state["start"] > 0, "clicking Run started no run"
    assert finished.args[1]["status"] == "succeeded"
    assert len(finished.args[1]["results"]) == SECTIONS
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=TIMEOUT)
    return max(gaps or [0.0]), max(cpu or [0.0]), state["end"] - state["start"]


def test_event_loop_keeps_beating_during_a_50_section_run(qtbot, gui_ws, loopback):
    post_id = editing.create_post(gui_ws, "Fifty sections")
    for i in range(SECTIONS):
        sid = editing.add_section(gui_ws, post_id, f"Section {i + 1}")
        editing.save_field(gui_ws, post_id, sid, "draft", f"draft text number {i + 1}, with a few words.", None)
    loopback.latency = LATENCY_S
    from wfdesk.ui.main_window import MainWindow

    window = MainWindow(gui_ws)  # opened once the post is in the database: its list shows it
    qtbot.addWidget(window)
    window.show()
    activate(qtbot, window)
    choose_post(qtbot, window, "Fifty sections")
    assert window.post_id == post_id
    panel = open_step(qtbot, window, "polish_sections")
    qtbot.waitUntil(lambda: len(panel.picker.checked_ids()) == SECTIONS, timeout=TIMEOUT)
    runs = window.runs
    try:
        worst, worst_cpu, seconds = measure_run(qtbot, panel, runs)
    finally:
        assert runs.shutdown(5000)
        window.close()
    assert seconds >= 0.1, "the run was too short to measure anything"
    assert worst_cpu <= MAX_STALL_S, f"the GUI thread worked {worst_cpu * 1000:.0f} ms without a break"
    assert worst < MAX_WAIT_S, f"the event loop stalled {worst * 1000:.0f} ms (waiting on something?)"
