"""The main window's menu bar. Its actions wait (disabled) for the workspace; their icons and keys are set after the
first paint: QAction.setShortcut and QStyle's icons make PySide6 build the `Qt` namespace's enums (~40 ms), and
neither shows before a menu opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from wfdesk.ui import window_dialogs, workspace_switch
from wfdesk.ui.icons import icon

if TYPE_CHECKING:
    from wfdesk.ui.main_window import MainWindow

Keys = str | list[str] | QKeySequence.StandardKey | None


class MenuActions:
    """Makes the menus' actions, remembering which wait for the workspace and which icons and keys are still due."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.needs_workspace: list[QAction] = []
        self._decorations: list[tuple[QAction, str | None, Keys]] = []

    def add(self, menu: QMenu, text: str, slot: Callable[[], Any], shortcut: Keys = None,
            icon_name: str | None = None, needs_workspace: bool = True) -> QAction:
        action = QAction(text, self.parent)
        self.decorate_later(action, icon_name, shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        if needs_workspace:
            self.needs_workspace.append(action)
        return action

    def decorate_later(self, action: QAction, icon_name: str | None, keys: Keys) -> None:
        self._decorations.append((action, icon_name, keys))

    def decorate(self) -> None:
        """The icons and shortcuts, once (after the first paint)."""
        for action, icon_name, keys in self._decorations:
            if icon_name:
                action.setIcon(icon(icon_name))
            if isinstance(keys, list):
                action.setShortcuts([QKeySequence(k) for k in keys])
            elif keys is not None:
                action.setShortcut(QKeySequence(keys))
        self._decorations.clear()

    def enable(self, on: bool) -> None:
        """The actions that need the workspace, on once it is attached."""
        for action in self.needs_workspace:
            action.setEnabled(on)


class MainMenus(MenuActions):
    """File, Edit, View, Step and Help of `window`; the actions the window enables itself are kept by name."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        bar = window.menuBar()
        file = bar.addMenu("&File")
        self.add(file, "&New post…", window.commands.new_post, "Ctrl+N", "new")
        file.addSeparator()
        window.import_export.add_actions(self, file)
        file.addSeparator()
        self.add(file, "&Settings…", lambda: workspace_switch.open_settings(window), "Ctrl+,", "settings")
        file.addSeparator()
        self.add(file, "&Quit", window.close, "Ctrl+Q", "quit", needs_workspace=False)

        edit = bar.addMenu("&Edit")
        undo = window.undo_stack.createUndoAction(window, "&Undo")
        self.decorate_later(undo, "undo", QKeySequence.StandardKey.Undo)
        redo = window.undo_stack.createRedoAction(window, "&Redo")
        self.decorate_later(redo, "redo", ["Ctrl+Shift+Z", "Ctrl+Y"])
        edit.addAction(undo)
        edit.addAction(redo)
        edit.addSeparator()
        self.save_action = self.add(edit, "&Save field", lambda: window.sections.save_field(), "Ctrl+S", "save")

        view = bar.addMenu("&View")
        self.add(view, "&Costs…", lambda: window_dialogs.show_costs(window), None, "info")
        self.add(view, "&Runs…", window.show_runs, "Ctrl+Shift+R", "run").setStatusTip(
            "Runs in progress and past runs: what each sent and got back; cancel, resume, run again")

        step = bar.addMenu("&Step")
        # Ctrl+Enter and Esc live here, once for the whole window, and go to the panel on screen: panels with keys
        # of their own would bind them several times, which Qt finds ambiguous and then fires none of them.
        # Cancel is enabled only while that panel's run goes, so Esc stays the widgets' own the rest of the time.
        self.run_action = self.add(step, "&Run step", window.run_step, ["Ctrl+Return", "Ctrl+Enter"], "run")
        self.cancel_action = self.add(step, "&Cancel run", window.cancel_step, "Esc", "cancel", needs_workspace=False)
        self.cancel_action.setEnabled(False)
        step.addSeparator()
        commands = window.commands
        self.add(step, "&Edit step config…", commands.edit_step, "Ctrl+E", "edit")
        self.add(step, "&New step…", commands.new_step, None, "add")
        self.add(step, "Edit this &post's override…", commands.edit_override, None, "rename")
        step.addSeparator()
        self.add(step, "&LLM actions…", commands.edit_llm_actions, None, "settings")

        help_menu = bar.addMenu("&Help")
        self.add(help_menu, "&Keyboard shortcuts", lambda: window_dialogs.show_shortcuts(window), "F1", "info",
                 needs_workspace=False)
        self.add(help_menu, "&Plugins…", lambda: window_dialogs.show_plugins(window), None, "settings")
        self.add(help_menu, "&About wfdesk…", lambda: window_dialogs.show_about(window), None, "help",
                 needs_workspace=False)
