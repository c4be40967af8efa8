"""Starting the desktop app: logging to the user log dir, the main window, the workspace, the demo offer.

Start-up is shaped for a window that paints at once: this module and the window import only Qt and light modules,
the window shows "Opening the database…", and after its first paint a worker thread imports the engine
(SQLAlchemy, pydantic: more than the whole budget on their own), opens the workspace (migrations check, runs left
running by an earlier exit marked interrupted) and reads the first post list; then the window fills in.
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from typing_extensions import override

from wfdesk.ui import worker
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.ui.main_window import MainWindow
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
APP_NAME = "wfdesk"  # wfdesk.settings.APP_NAME, which would import pydantic before the first paint
LOG_FILE = "wfdesk.log"
OPEN_FALLBACK_MS = 1000  # a window that is never painted (started minimised) still opens its workspace
_showing_error = False


def log_dir() -> Path:
    """wfdesk.settings.log_dir without importing pydantic (the same platformdirs call; a test keeps them equal)."""
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME))


def setup_logging() -> str:
    """Log to a rotating file in the user log dir (and warnings to stderr). Returns the file's path."""
    import logging.handlers  # socket, pickle, queue...: 12 ms the first paint does without

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
        _dump_crashes_to(path)
    except OSError as exc:
        print(f"wfdesk: cannot write the log file: {exc}", file=sys.stderr)
        faulthandler.enable()  # on stderr, then
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    root.addHandler(console)
    from wfdesk.redact import redact_handlers

    redact_handlers(root)  # a password in a provider's address never reaches the log (nor the run process's lines)
    return path


_crash_file = None  # kept open: faulthandler writes to its descriptor when the process dies


def _dump_crashes_to(path: str) -> None:
    """A crash in C code (Qt, a driver) leaves the stacks of every thread in the log file an editor sends us."""
    global _crash_file
    _crash_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - must outlive this function
    faulthandler.enable(file=_crash_file, all_threads=True)


def one_line(exc: BaseException) -> str:
    """The exception's first line in words: never its Python name (the log has it), passwords blanked."""
    from wfdesk.errors import exception_words

    text = exception_words(exc).splitlines()
    return text[0] if text else "an error without a description"


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
    from sqlalchemy.engine import make_url

    from wfdesk.settings import default_data_dir, load_settings

    settings = load_settings()
    url = settings.database_url
    if not url:
        return str(settings.data_dir or default_data_dir()) + "/wfdesk.db"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as "the configured URL"
        return "the configured database URL"


def ask_after_failure(exc: BaseException, parent: QWidget | None = None) -> bool:
    """Say why the database cannot be opened and offer Settings. True: the settings were edited, try again."""
    box = QMessageBox(QMessageBox.Icon.Critical, "Cannot open the database",
                      f"wfdesk cannot open its database:\n{_database_label()}", parent=parent)
    box.setInformativeText(one_line(exc) + "\n\nCheck the database in Settings, or quit.")
    settings_button = box.addButton("Open Settings…", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    if box.clickedButton() is not settings_button:
        return False
    return _edit_settings_without_workspace()


def open_or_ask() -> Workspace | None:
    """Open the default workspace here and now; when that fails, say why and offer Settings (None: gave up)."""
    from wfdesk.workspace import open_workspace

    while True:
        try:
            return open_workspace()
        except Exception as exc:  # noqa: BLE001 - any failure to open is a message, not a traceback
            log.exception("cannot open the database")
            if not ask_after_failure(exc):
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


def open_default_workspace() -> dict[str, Any]:
    """On a worker thread: the engine imports, the default workspace, the runs an earlier exit left running marked
    interrupted, whether the database is empty and the first post list. The caller owns the workspace."""
    from wfdesk.services import queries
    from wfdesk.services.opening import open_for_use

    ws = open_for_use()
    try:
        posts = queries.list_posts(ws), queries.post_statuses(ws)
        empty = not posts[0] and queries.is_empty(ws)
        _import_deferred_modules()
    except BaseException:
        ws.close()
        raise
    return {"ws": ws, "empty": empty, "posts": posts}


def _import_deferred_modules() -> None:
    """Import here, off the GUI thread, what attaching the workspace and showing the first step panel need."""
    from wfdesk.ui.main_window import DEFERRED_MODULES

    for name in DEFERRED_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the GUI thread imports it again and reports what is wrong there
            log.warning("importing %s ahead failed", name, exc_info=True)


class WorkspaceOpener(QObject):
    """Opens the default workspace off the GUI thread once `window` has painted, then attaches it to the window;
    a failure is the "Cannot open the database" message offering Settings (then another try) or Quit."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.gave_up = False
        self.attached = False
        self._running = False
        self._logging = False  # the log file is set up after the first paint
        self._opened: Workspace | None = None  # set on the worker: closed at exit if it never reached the window
        window.installEventFilter(self)
        QTimer.singleShot(OPEN_FALLBACK_MS, self.start)

    @override
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Paint:
            self.window.removeEventFilter(self)
            QTimer.singleShot(0, self.start)  # after this paint has reached the screen
        return False

    def start(self) -> None:
        if self._running or self.attached or self.gave_up or self._window_closing():
            return
        self._running = True
        self.window.removeEventFilter(self)
        if not self._logging:
            self._logging = True
            log.info("starting; log file %s", setup_logging())

        # The lists and the sections view, behind the opening page; made before the worker starts importing so
        # the two threads never import the same modules at once.
        self.window.build_content()

        def open_() -> dict[str, Any]:
            result = open_default_workspace()
            self._opened = result["ws"]
            return result

        BackgroundOp(open_).success(self._succeeded).failure(self._failed).run_in_background()

    def _succeeded(self, result: dict[str, Any]) -> None:
        from wfdesk.workspace import set_current

        self._running = False
        ws = result["ws"]
        if self._window_closing():
            ws.close()  # closed while the database was opening
            self._opened = None
            return
        set_current(ws)
        self.window.attach_workspace(ws, first_posts=result["posts"])
        self.attached = True
        log.info("workspace open: %s", ws.db.display_url())
        # Everything loaded so far lives as long as the app: keep it out of the full collections' scans, which
        # would otherwise stall the event loop on a heap this size.
        gc.freeze()
        if result["empty"]:
            QTimer.singleShot(0, self.window.offer_demo_if_empty)

    def _failed(self, exc: Exception) -> None:
        self._running = False
        log.error("cannot open the database: %s", one_line(exc), exc_info=exc)
        if self._window_closing():
            return
        self.window.show_opening("The database could not be opened.", busy=False)
        if ask_after_failure(exc, self.window):
            self.window.show_opening()
            self.start()
        else:
            self.gave_up = True
            self.window.close()

    def _window_closing(self) -> bool:
        return self.window.closing or self.window._closing_done

    def finish(self) -> None:
        """At exit: wait for an open still in progress; close a workspace that never reached the window."""
        if not worker.shutdown(timeout_ms=30_000):
            log.warning("opening the database did not finish within 30 s")
        if self._opened is not None and not self.attached:
            self._opened.close()
            self._opened = None


def identify(app: QApplication) -> None:
    """Names and icon: settings paths, the title bar, and the desktop's menu entry (its .desktop file's name, which
    Wayland shells match windows by) with the window icon."""
    from wfdesk.ui.icons import APP_ID, app_icon

    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName("wfdesk")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())


def main(argv: list[str] | None = None) -> int:
    running = QApplication.instance()  # one made before (a test's): a QApplication too
    app = running if isinstance(running, QApplication) else QApplication(list(argv) if argv is not None else sys.argv)
    identify(app)
    sys.excepthook = excepthook

    from wfdesk.ui.main_window import OPEN_WINDOWS, MainWindow

    window = MainWindow()  # "Opening the database…" until the opener attaches the workspace
    OPEN_WINDOWS.append(window)
    window.show()
    opener = WorkspaceOpener(window)
    code = app.exec()
    opener.finish()
    for w in list(OPEN_WINDOWS):
        if w.ws is not None:
            w.ws.close()
    OPEN_WINDOWS.clear()
    gc.unfreeze()  # main may run again in this process (tests): what it froze can be collected again
    return 1 if opener.gave_up else code
