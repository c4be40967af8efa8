"""Help → Plugins: the registered script types with their origin and panel, and skipped plugins in red."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from wfdesk.scripts.plugins import PLUGIN_ERRORS, PluginProblem
from wfdesk.ui.plugins_dialog import ERROR_COLOR, PluginsDialog


@pytest.fixture
def plugin_problem():
    problem = PluginProblem("video_generation = wfdesk_video_generation:PLUGIN", "wfdesk-video-generation 0.1.0",
                            "ModuleNotFoundError: No module named 'imageio'")
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
    shown = rows(dialog)
    assert dialog.listed_types()[:3] == ["custom_script", "image_generation", "llm_action"]
    for name in ("llm_action", "custom_script", "image_generation"):
        description, source, panel = shown[name]
        assert description and source.startswith("wfdesk ") and source.endswith("(built-in)")
        assert panel == "its own panel"
    if not PLUGIN_ERRORS:
        assert dialog.problems.text() == "All installed plugins loaded." and not dialog.problem_rows()
    assert "Adding a script type" in " ".join(label.text() for label in dialog.findChildren(type(dialog.problems)))


def test_a_skipped_plugin_is_shown_in_red_with_its_error(qtbot, plugin_problem):
    dialog = PluginsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert ("video_generation", "skipped: ModuleNotFoundError: No module named 'imageio'") in dialog.problem_rows()
    assert "video_generation" not in dialog.listed_types()
    (item,) = dialog.tree.findItems("video_generation", Qt.MatchFlag.MatchExactly, 0)
    assert item.text(2) == "wfdesk-video-generation 0.1.0"
    assert item.foreground(1).color() == QColor(ERROR_COLOR)
    assert "skipped" in dialog.problems.text() and ERROR_COLOR in dialog.problems.text()


def test_help_menu_opens_the_plugins_dialog(qtbot, main_window):
    action = next(a for menu in main_window.menuBar().actions() if menu.text() == "&Help"
                  for a in menu.menu().actions() if a.text() == "&Plugins…")
    action.trigger()
    dialog = main_window.findChild(PluginsDialog)
    assert dialog is not None and dialog.isVisible()
    assert {"llm_action", "custom_script", "image_generation"} <= set(dialog.listed_types())
    dialog.close()
