"""Start-up: the window paints before the engine is imported, then opens the workspace off the GUI thread."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out
ENGINE = ("sqlalchemy", "pydantic", "requests", "alembic", "wfdesk.db", "wfdesk.workspace", "wfdesk.settings")

# Runs app.main in its own process: records what was imported at the first paint of the main window and what the
# window showed then, answers the demo offer "No" and closes the window.
PROBE = """
import json, sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox
ENGINE = %r
app = QApplication(sys.argv)
events = []

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow) and not events:
            loaded = [m for m in sys.modules if m.startswith(ENGINE)]
            events.append(["painted", loaded, obj.pages.currentWidget() is obj.opening, obj.opening.label.text()])
        return False

def question(parent, title, text, *args):
    events.append(["asked", title, parent.ws is not None, parent.posts.tree.topLevelItem(0).text(0)])
    QTimer.singleShot(0, parent.close)
    return QMessageBox.StandardButton.No

probe = FirstPaint()
app.installEventFilter(probe)
QMessageBox.question = staticmethod(question)
from wfdesk.ui.app import main
code = main([])
print(json.dumps({"code": code, "events": events}))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WFDESK_DATA_DIR": str(tmp_path / "data"),
           "WFDESK_CONFIG_DIR": str(tmp_path / "config"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("WFDESK_DATABASE_URL", None)
    return env


def test_importing_the_app_and_the_window_loads_no_engine(tmp_path):
    code = ("import sys, wfdesk.ui.app, wfdesk.ui.main_window, wfdesk.ui.status_bar, wfdesk.ui.icons\n"
            f"print([m for m in sys.modules if m.startswith({ENGINE!r})])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path),
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_main_paints_the_opening_page_first_then_attaches_the_workspace_and_offers_the_demo(tmp_path):
    proc = subprocess.run([sys.executable, "-c", PROBE % (ENGINE,)], capture_output=True, text=True,
                          env=_env(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (first, loaded, opening_shown, text), asked = result["events"]
    assert first == "painted"
    assert loaded == []
    assert opening_shown
    assert "Opening the database…" in text
    assert asked == ["asked", "Load the demo?", True, "No posts yet: click “New post”."]
    assert result["code"] == 0
    assert (tmp_path / "data" / "wfdesk.db").exists()
    log = next((tmp_path / "state").rglob("wfdesk.log")).read_text()
    assert "starting" in log
    assert "workspace open" in log


def test_the_log_dir_and_app_name_are_the_settings_ones():
    from wfdesk import settings
    from wfdesk.ui import app

    assert app.APP_NAME == settings.APP_NAME
    assert app.log_dir() == settings.log_dir()


@pytest.fixture
def quiet_opener(monkeypatch):
    """wfdesk.ui.app for WorkspaceOpener tests: no log file (setup_logging would add handlers to this test
    process), and what an attached workspace froze (gc.freeze) is unfrozen afterwards."""
    from wfdesk.ui import app

    monkeypatch.setattr(app, "setup_logging", lambda: "")
    yield app
    gc.unfreeze()


def test_a_window_without_a_workspace_says_it_is_opening_then_fills_when_attached(qtbot, gui_ws):
    from wfdesk.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.ws is None
    assert window.pages.count() == 1  # only the opening page: the lists come with build_content()
    assert window.pages.currentWidget() is window.opening
    assert "Opening the database…" in window.opening.label.text()
    assert window.opening.busy.isVisible()
    assert not window.run_action.isEnabled()
    assert not window.save_action.isEnabled()
    assert not window.status.database.isVisible()
    window.build_content()  # made behind the opening page while the database opens
    assert window.pages.currentWidget() is window.opening
    window.attach_workspace(gui_ws)
    assert window.pages.currentWidget() is window.content
    qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=WAIT)
    qtbot.waitUntil(lambda: window.steps.topLevelItemCount() == 3, timeout=WAIT)
    assert window.run_action.isEnabled()
    assert window.runs is not None
    assert window.status.database.label.text() == "Database: gui.db (SQLite)"
    assert not window.run_action.icon().isNull()  # icons and shortcuts came with the content
    window.close()


def test_a_failed_open_offers_settings_and_tries_again(qtbot, quiet_opener, tmp_path, monkeypatch):
    from wfdesk.ui.main_window import MainWindow

    app = quiet_opener
    monkeypatch.setenv("WFDESK_DATABASE_URL", "postgresql+psycopg2://bob:secret@127.0.0.1:1/nowhere")
    monkeypatch.setenv("WFDESK_DATA_DIR", str(tmp_path / "data"))
    asked = []

    def ask(exc, parent):
        asked.append((str(exc), parent.opening.label.text()))
        monkeypatch.setenv("WFDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fixed.db'}")  # "fixed in Settings"
        return True

    monkeypatch.setattr(app, "ask_after_failure", ask)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.No))
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    opener = app.WorkspaceOpener(window)
    opener.start()
    qtbot.waitUntil(lambda: opener.attached, timeout=WAIT)
    assert len(asked) == 1
    assert "could not be opened" in asked[0][1]
    assert window.ws.db.display_url().endswith("fixed.db")
    qtbot.waitUntil(lambda: window.posts.tree.topLevelItemCount() == 1, timeout=WAIT)  # the "no posts" hint
    window.close()
    opener.finish()
    window.ws.close()


def test_giving_up_on_a_failed_open_closes_the_window(qtbot, quiet_opener, monkeypatch):
    from wfdesk.ui.main_window import MainWindow

    app = quiet_opener
    monkeypatch.setenv("WFDESK_DATABASE_URL", "postgresql+psycopg2://bob:secret@127.0.0.1:1/nowhere")
    monkeypatch.setattr(app, "ask_after_failure", lambda exc, parent: False)  # "Quit"
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    opener = app.WorkspaceOpener(window)
    opener.start()
    qtbot.waitUntil(lambda: opener.gave_up, timeout=WAIT)
    assert not window.isVisible()
    assert window.ws is None


def test_closing_while_the_database_opens_closes_the_workspace(qtbot, quiet_opener, tmp_path, monkeypatch):
    from wfdesk.ui.main_window import MainWindow

    app = quiet_opener
    monkeypatch.setenv("WFDESK_DATA_DIR", str(tmp_path / "data"))
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    opener = app.WorkspaceOpener(window)
    opener.start()
    window.close()  # waits for the open in flight and hands its workspace back, closed
    opener.finish()
    assert window.ws is None
    assert not opener.attached
    assert opener._opened is None
    assert QApplication.activeModalWidget() is None
