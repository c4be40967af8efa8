"""GUI fixtures: a SQLite workspace (with or without the demo) whose provider is the loopback server, isolated
QSettings, and the main window on it. Other GUI test modules reuse these."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from wfdesk.services import editing
from wfdesk.workspace import open_workspace, set_current


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path):
    """Window geometry and splitters go to a file under tmp_path, never to the user's real settings."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    return


@pytest.fixture(autouse=True)
def _no_window_outlives_its_test():
    """Each GUI test starts with no window of an earlier one on screen, and may not leave a question open: a modal
    dialog left open blocks every click of the tests that follow in the same process (they failed far from the cause).
    The helpers still waiting for a dialog to answer stop waiting too."""
    from PySide6.QtWidgets import QApplication

    import ui.editor_input as editor_input

    _close_leftovers(QApplication.instance())
    yield
    editor_input.end_of_test()
    app = QApplication.instance()
    if app is None:
        return
    app.processEvents()
    modal = app.activeModalWidget()
    left = f"{type(modal).__name__} “{modal.windowTitle()}”" if modal is not None else ""
    _close_leftovers(app)
    assert not left, f"the test left a dialog open: {left}"


def _close_leftovers(app) -> None:
    if app is None:
        return
    for _ in range(3):  # closing a dialog may reveal the popup or box under it
        left = [w for w in app.topLevelWidgets() if w.isVisible()]
        if not left:
            return
        for widget in left:
            widget.close()
        app.processEvents()


@pytest.fixture
def empty_gui_ws(tmp_path, settings):
    """An empty SQLite workspace (the provider and custom-script URLs point at the loopback server)."""
    ws = open_workspace(database_url=f"sqlite:///{tmp_path / 'gui.db'}", data_dir=tmp_path / "data",
                        settings=settings)
    set_current(ws)
    yield ws
    set_current(None)
    ws.close()


@pytest.fixture
def gui_ws(empty_gui_ws):
    """The workspace with the demo: post 53 with sections 711-713, steps 1 (llm_action), 2 (image_generation),
    3 (custom_script), LLM action 5."""
    editing.load_demo(empty_gui_ws)
    return empty_gui_ws


def _answer_runs_in_progress_yes():
    """While a window closes at the end of a test: its "Runs in progress … quit?" question is answered Yes (a click,
    as an editor answers it). Only a test that failed mid-run leaves a run going; unanswered, that modal box waits
    forever and the whole suite with it (under pytest-xdist, one worker that never ends). Returns the timer to stop."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QMessageBox

    def answer() -> None:
        box = QApplication.activeModalWidget()
        yes = box.button(QMessageBox.StandardButton.Yes) if isinstance(box, QMessageBox) else None
        if yes is not None and box.windowTitle() == "Runs in progress":
            QTest.mouseClick(yes, Qt.MouseButton.LeftButton)

    timer = QTimer(interval=200)
    timer.timeout.connect(answer)
    timer.start()
    return timer


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item):
    """pytest-qt closes the test's widgets (qtbot.addWidget) in its own teardown, before the fixtures' teardown."""
    from PySide6.QtWidgets import QApplication

    timer = _answer_runs_in_progress_yes() if QApplication.instance() is not None else None
    try:
        return (yield)
    finally:
        if timer is not None:
            timer.stop()


def close_window(window) -> None:
    """Close a window the way the user does, answering nothing (no runs, no unsaved text expected)."""
    if not getattr(window, "_closing_done", False):
        timer = _answer_runs_in_progress_yes()
        window.close()
        timer.stop()


@pytest.fixture
def main_window(qtbot, gui_ws):
    """The main window on the demo data, shown, with the demo post selected and its sections loaded."""
    from wfdesk.ui.main_window import MainWindow

    window = MainWindow(gui_ws)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=10_000)
    yield window
    close_window(window)
