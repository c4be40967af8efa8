"""Starting the desktop app: logging to the user log dir, the workspace, the main window, the demo offer."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy.engine import make_url

from wfdesk.runs.ledger import mark_interrupted
from wfdesk.settings import APP_NAME, default_data_dir, load_settings, log_dir
from wfdesk.workspace import Workspace, open_workspace, set_current

log = logging.getLogger(__name__)
LOG_FILE = "wfdesk.log"
_showing_error = False


def setup_logging() -> str:
    """Log to a rotating file in the user log dir (and warnings to stderr). Returns the file's path."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    path = ""
    try:
        directory = log_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = str(directory / LOG_FILE)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        root.addHandler(handler)
    except OSError as exc:
        print(f"wfdesk: cannot write the log file: {exc}", file=sys.stderr)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    root.addHandler(console)
    return path


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """An exception that escaped a Qt slot: logged in full, shown as one line, and the app goes on."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.error("unexpected error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
    global _showing_error
    if _showing_error or QApplication.instance() is None:
        return
    _showing_error = True
    try:
        QMessageBox.warning(QApplication.activeWindow(), "Something went wrong",
                            f"{one_line(exc)}\n\nThe details are in the log: {log_dir() / LOG_FILE}")
    finally:
        _showing_error = False


def _database_label() -> str:
    settings = load_settings()
    url = settings.database_url
    if not url:
        return str(settings.data_dir or default_data_dir()) + "/wfdesk.db"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as "the configured URL"
        return "the configured database URL"


def open_or_ask() -> Workspace | None:
    """Open the default workspace; when that fails, say why and offer Settings (None: the user gave up)."""
    while True:
        try:
            return open_workspace()
        except Exception as exc:  # noqa: BLE001 - any failure to open is a message, not a traceback
            log.exception("cannot open the database")
            box = QMessageBox(QMessageBox.Icon.Critical, "Cannot open the database",
                              f"wfdesk cannot open its database:\n{_database_label()}")
            box.setInformativeText(one_line(exc) + "\n\nCheck the database in Settings, or quit.")
            settings_button = box.addButton("Open Settings…", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
            box.exec()
            if box.clickedButton() is not settings_button:
                return None
            if not _edit_settings_without_workspace():
                return None


def _edit_settings_without_workspace() -> bool:
    from wfdesk.ui.settings_dialog import SettingsDialog

    try:
        dialog = SettingsDialog(None)
    except Exception as exc:  # noqa: BLE001 - the dialog may need an open workspace
        log.exception("the settings dialog needs a workspace")
        QMessageBox.warning(None, "Settings", f"The settings cannot be edited without a database: {one_line(exc)}")
        return False
    return bool(dialog.exec())


def main(argv: list[str] | None = None) -> int:
    log_path = setup_logging()
    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName("wfdesk")
    sys.excepthook = excepthook
    log.info("starting; log file %s", log_path)

    ws = open_or_ask()
    if ws is None:
        return 1
    set_current(ws)
    try:
        interrupted = mark_interrupted(ws)
        if interrupted:
            log.info("runs interrupted by an earlier exit: %s", interrupted)
    except Exception:  # noqa: BLE001 - a stale ledger must not stop the app from starting
        log.exception("marking interrupted runs failed")

    from wfdesk.ui.main_window import OPEN_WINDOWS, MainWindow

    window = MainWindow(ws)
    OPEN_WINDOWS.append(window)
    window.show()
    QTimer.singleShot(0, window.offer_demo_if_empty)
    code = app.exec()
    for w in list(OPEN_WINDOWS):
        w.ws.close()
    OPEN_WINDOWS.clear()
    return code
