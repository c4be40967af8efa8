"""File → Settings…, and what follows when the settings name another database: the database opens off the GUI
thread, a new window shows it, and the old window closes with its workspace (unsaved text and runs settled first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.ui.main_window import MainWindow
    from wfdesk.workspace import Workspace


def open_settings(window: MainWindow) -> None:
    """The settings dialog; saved settings apply at once, another database reopens the window there."""
    from PySide6.QtWidgets import QDialog

    from wfdesk.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.ws, window)
    dialog.settings_saved.connect(window.refresh_panels)  # apply at once
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    window.status.check_provider()  # the dialog updated ws.settings in place
    window.serve_api()
    if dialog.database_changed:
        reopen_workspace(window)


def reopen_workspace(window: MainWindow) -> None:
    """Open the database the settings now name in a new window; `window` closes once it is open."""
    if not window.settle_unsaved_work():
        return
    window.statusBar().showMessage("Opening the new database…")
    (BackgroundOp(_open_from_settings)
     .success(lambda ws: _switch_to(window, ws))
     .failure(lambda exc: _failed(window, exc))
     .run_in_background())


def _switch_to(old_window: MainWindow, ws: Workspace) -> None:
    from wfdesk.ui.main_window import OPEN_WINDOWS
    from wfdesk.workspace import set_current

    old = old_window.ws
    window = type(old_window)(ws)
    window.restoreGeometry(old_window.saveGeometry())
    OPEN_WINDOWS.append(window)
    set_current(ws)
    window.show()
    window.offer_demo_if_empty()
    old_window.close_settled()  # unsaved text and runs were settled before the switch
    if old is not None:
        old.close()


def _failed(window: MainWindow, exc: Exception) -> None:
    from PySide6.QtWidgets import QMessageBox

    what = "Opening the new database"
    window.statusBar().clearMessage()
    QMessageBox.warning(window, what, f"{what} failed: {exc}")


def _open_from_settings() -> Workspace:
    """On a worker thread: the database the settings name, with the runs an earlier exit left running there marked
    interrupted (as at app start), so its panels offer to resume them instead of showing them as in progress."""
    from wfdesk.services.opening import open_for_use
    from wfdesk.settings import load_settings

    return open_for_use(settings=load_settings())
