"""The main window's View and Help dialogs: costs, plugins, keyboard shortcuts, about. Each opens window-modal
(open(), never exec()) and is deleted when closed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog

if TYPE_CHECKING:
    from wfdesk.ui.main_window import MainWindow


def _open(dialog: QDialog) -> QDialog:
    from PySide6.QtCore import Qt  # not at import: the menus that import this module are part of the light shell

    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def show_costs(window: MainWindow) -> QDialog:
    from wfdesk.ui.costs_dialog import CostsDialog

    return _open(CostsDialog(window.ws, window, post_id=window.post_id or None))


def show_plugins(window: MainWindow) -> QDialog:
    from wfdesk.ui.plugins_dialog import PluginsDialog

    return _open(PluginsDialog(window))


def show_shortcuts(window: MainWindow) -> QDialog:
    from wfdesk.ui.shortcuts_dialog import ShortcutsDialog, collect_shortcuts

    window.build_content()  # the lists' own keys belong in the list too
    return _open(ShortcutsDialog(collect_shortcuts(window), window))


def show_about(window: MainWindow) -> QDialog:
    from wfdesk.ui.about_dialog import AboutDialog
    from wfdesk.ui.opening_page import OPENING_TEXT

    return _open(AboutDialog(window.ws, window, opening_text=OPENING_TEXT))
