"""Help → Plugins: the registered script types with their origin and panel, and skipped plugins in red."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from tests.ui.editor_input import choose_menu, click_button
from ui.widget_reading import plugin_problems, plugin_types
from wfdesk.scripts.plugins import PLUGIN_ERRORS, PluginProblem
from wfdesk.ui.plugins_dialog import ERROR_COLOR, PluginsDialog


@pytest.fixture
def plugin_problem():
    problem = PluginProblem("video_generation = wfdesk_video_generation:PLUGIN", "wfdesk-video-generation 0.1.0",
                            "it needs the Python module 'imageio', which is not installed")
    saved = list(PLUGIN_ERRORS)
    PLUGIN_ERRORS.append(problem)
    yield problem
    PLUGIN_ERRORS[:] = saved


def rows(dialog: PluginsDialog) -> dict[str, list[str]]:
    tree = dialog.tree
    return {tree.topLevelItem(i).text(0): [tree.topLevelItem(i).text(c) for c in range(1, 4)]
            for i in range(tree.topLevelItemCount())}


def test_lists_the_built_in_types_with_their_source_and_panel(qtbot):
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(plugin_types(dialog)), timeout=30_000)  # the plugins load on a worker the first time
    shown = rows(dialog)
    assert plugin_types(dialog)[:3] == ["custom_script", "image_generation", "llm_action"]
    for name in ("llm_action", "custom_script", "image_generation"):
        description, source, panel = shown[name]
        assert description
        assert source.startswith("wfdesk ")
        assert source.endswith("(built-in)")
        assert panel == "its own panel"
    if not PLUGIN_ERRORS:
        assert dialog.problems.text() == "All installed plugins loaded."
        assert not plugin_problems(dialog)
    assert "Adding a script type" in " ".join(label.text() for label in dialog.findChildren(type(dialog.problems)))


def test_a_skipped_plugin_is_shown_in_red_with_its_error(qtbot, plugin_problem):
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(plugin_types(dialog)), timeout=30_000)
    assert ("video_generation", "skipped: it needs the Python module 'imageio', which is not installed") in \
        plugin_problems(dialog)
    assert "video_generation" not in plugin_types(dialog)
    (item,) = dialog.tree.findItems("video_generation", Qt.MatchFlag.MatchExactly, 0)
    assert item.text(2) == "wfdesk-video-generation 0.1.0"
    assert item.foreground(1).color() == QColor(ERROR_COLOR)
    assert "skipped" in dialog.problems.text()
    assert ERROR_COLOR in dialog.problems.text()


def test_help_menu_opens_the_plugins_dialog(qtbot, main_window):
    choose_menu(qtbot, main_window, "Help", "Plugins…")
    dialog = main_window.findChild(PluginsDialog)
    assert dialog is not None
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: bool(plugin_types(dialog)), timeout=30_000)
    assert {"llm_action", "custom_script", "image_generation"} <= set(plugin_types(dialog))
    click_button(qtbot, dialog, "Close")
    qtbot.waitUntil(lambda: main_window.findChild(PluginsDialog) is None or not dialog.isVisible(), timeout=30_000)


# The app started in its own process with a plugin whose import never finishes (tests/plugin_fixtures/sleepy):
# records what the window shows once its workspace is attached, then opens Help → Plugins and reads the red rows.
HANGING_PLUGIN_PROBE = """
import json, sys
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox
app = QApplication(sys.argv)
events = []

def choose_help_plugins(window):
    # Help → Plugins… with the mouse: click the menu bar's Help, then the item.
    bar = window.menuBar()
    top = next(a for a in bar.actions() if a.text() == "&Help")
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(top).center())
    menu = top.menu()
    for _ in range(1500):
        if menu.isVisible():
            break
        QTest.qWait(20)
    action = next(a for a in menu.actions() if a.text() == "&Plugins…")
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())

def plugin_types(dialog):  # as tests/ui/widget_reading.py reads them
    rows = [dialog.tree.topLevelItem(i) for i in range(dialog.tree.topLevelItemCount())]
    return [item.text(0) for item in rows if item.text(3) != "—"]

def plugin_problems(dialog):
    rows = [dialog.tree.topLevelItem(i) for i in range(dialog.tree.topLevelItemCount())]
    return [(i.text(0), i.text(1)) for i in rows if i.text(1).startswith("skipped: ") and i.text(3) == "—"]

def read_dialog(window, tries=[0]):
    from wfdesk.ui.plugins_dialog import PluginsDialog
    dialog = window.findChild(PluginsDialog)
    if dialog is None or not plugin_types(dialog):
        tries[0] += 1
        if tries[0] < 600:
            QTimer.singleShot(100, lambda: read_dialog(window))
            return
    events.append(["plugins", plugin_types(dialog) if dialog else None, plugin_problems(dialog) if dialog else None])
    window.close()

def question(parent, title, text, *args):
    events.append(["attached", parent.ws is not None, title])
    QTimer.singleShot(0, lambda: choose_help_plugins(parent))
    QTimer.singleShot(100, lambda: read_dialog(parent))
    return QMessageBox.StandardButton.No

QMessageBox.question = staticmethod(question)
from wfdesk.ui.app import main
code = main([])
print(json.dumps({"code": code, "events": events}))
"""


def test_the_app_opens_its_workspace_and_lists_a_plugin_whose_import_hangs(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WFDESK_DATA_DIR": str(tmp_path / "data"),
           "WFDESK_CONFIG_DIR": str(tmp_path / "config"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "WFDESK_PLUGIN_LOAD_SECONDS": "1",
           "PYTHONPATH": str(ROOT / "tests" / "plugin_fixtures" / "sleepy")}
    env.pop("WFDESK_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-c", HANGING_PLUGIN_PROBE], capture_output=True, text=True, env=env,
                          timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    attached, plugins = result["events"]
    assert attached == ["attached", True, "Load the demo?"]
    _, listed, problems = plugins
    assert {"llm_action", "custom_script", "image_generation"} <= set(listed)
    assert problems == [["sleepy", "skipped: it did not finish loading within 1 s and is skipped; if it finishes "
                                   "later it is added then"]]
    assert result["code"] == 0
