"""The main window: posts on the left, the post's steps and sections in the middle, the step's panel on the right.

Start-up is shaped for a window that paints at once (wfdesk.ui.app): `MainWindow()` is a light shell (menus, status
bar, an "Opening the database…" page) that imports only Qt and small modules; `build_content()` makes the lists and
the sections view (wfdesk.ui.main_content) once the shell has painted, and `attach_workspace(ws)` fills them and
adds the step panels (wfdesk.ui.panel_stack) when the workspace, opened off the GUI thread, arrives. `MainWindow(ws)`
does all three at once. The engine is imported where it is used, never here.

The menus (wfdesk.ui.main_menus) call the window's slots and those of the modules it is made of: import and export
(import_export, content_io, workflow_transfer), New post and the Step menu's dialogs (edit_commands), and
File → Settings with the switch to another database (workspace_switch).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

# No `Qt` namespace here at module level: PySide6 builds its ~100 enums on first use (about 20 ms); the shell paints
# without it and the content (build_content) imports it after the first paint.
from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QCloseEvent, QShowEvent, QUndoStack
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QWidget
from typing_extensions import override

from wfdesk.ui import run_end_notice, wheel_guard
from wfdesk.ui.content_io import ContentIO
from wfdesk.ui.edit_commands import EditCommands
from wfdesk.ui.import_export import ImportExport
from wfdesk.ui.main_menus import MainMenus
from wfdesk.ui.opening_page import OPENING_TEXT, OpeningPage
from wfdesk.ui.screen_fit import fit_to_screen
from wfdesk.ui.status_bar import AppStatusBar
from wfdesk.ui.window_closing import confirm_stop_runs, drain_background_ops
from wfdesk.ui.workflow_transfer import WorkflowTransfer

if TYPE_CHECKING:  # the lists and the engine load after the window's first paint
    from wfdesk.services.changes import Changes
    from wfdesk.ui.change_hub import ChangeHub
    from wfdesk.ui.main_content import MainContent
    from wfdesk.ui.panel_stack import PanelStack
    from wfdesk.ui.panels import StepPanel
    from wfdesk.ui.post_list import PostListWidget
    from wfdesk.ui.run_controller import RunController
    from wfdesk.ui.runs_view import RunsHub
    from wfdesk.ui.sections_view import SectionsView
    from wfdesk.ui.step_list import StepListWidget
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
OPEN_WINDOWS: list[MainWindow] = []  # a window opened on another database must outlive the slot that made it
# What attach_workspace needs beyond the engine; wfdesk.ui.app imports them on the worker that opens the database,
# so attaching (and the first step panel) finds them loaded instead of importing on the GUI thread.
DEFERRED_MODULES = ("wfdesk.services.editing", "wfdesk.ui.run_controller", "wfdesk.ui.change_hub",
                    "wfdesk.ui.panel_stack", "wfdesk.ui.panels")


class MainWindow(QMainWindow):
    def __init__(self, ws: Workspace | None = None, parent: QWidget | None = None) -> None:
        """A window on `ws`; without one, the "Opening the database…" page until attach_workspace()."""
        super().__init__(parent)
        wheel_guard.install()  # the wheel scrolls forms; it never changes a value under the pointer
        self.setWindowTitle("wfdesk")
        # These come with the workspace (runs stays None in a build without the run controller).
        self.ws: Workspace | None = None
        self.runs: RunController | None = None
        self.hub: ChangeHub | None = None  # one signal for every change; each view decides what to refresh
        self.panel_stack: PanelStack | None = None
        self._content: MainContent | None = None  # build_content(), after the first paint
        self.runs_hub: RunsHub | None = None  # the runs window and batches, made on first use
        self._run_posts: dict[int, int | None] = {}  # run_id -> post_id, for runs started while this window is open
        self.closing = False  # set once closing is decided: a workspace arriving now is closed, not attached
        self._closing_done = False
        self._asked_already = False

        self.undo_stack = QUndoStack(self)
        self.opening = OpeningPage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.opening)
        self.setCentralWidget(self.pages)
        self.status = AppStatusBar(None)
        self.setStatusBar(self.status)
        self.status.runs_requested.connect(lambda: self.show_runs() if self.ws is not None else None)
        self.content_io = ContentIO(self)  # drafts in (menu, drops, paste), posts out
        self.transfer = WorkflowTransfer(self)
        self.transfer.status_message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.import_export = ImportExport(self)
        self.commands = EditCommands(self)  # New post, and the Step menu's dialogs
        self.transfer.imported.connect(lambda ids: self.commands.after_config_saved(ids[0] if ids else None))
        self.menus = MainMenus(self)
        self.save_action, self.run_action = self.menus.save_action, self.menus.run_action
        self.cancel_action = self.menus.cancel_action
        self._restore_geometry()
        if ws is None:
            self.show_opening()
        else:
            self.attach_workspace(ws)

    def show_opening(self, text: str = OPENING_TEXT, busy: bool = True) -> None:
        """The page shown until the workspace is open (or why it is not)."""
        self.opening.show_text(text, busy)
        self.pages.setCurrentWidget(self.opening)
        self.menus.enable(False)

    def build_content(self) -> MainContent:
        """The lists, the sections view and the panel area (hidden behind the opening page until attached)."""
        if self._content is None:
            from wfdesk.ui.main_content import MainContent

            content = self._content = MainContent(self.undo_stack)
            self.pages.addWidget(content)
            content.posts.post_selected.connect(self._post_selected)
            content.posts.post_changed.connect(self._post_changed)
            content.posts.new_post_requested.connect(self.commands.new_post)
            content.posts.run_on_posts_requested.connect(lambda posts: self._runs_hub().run_on_posts(posts))
            content.sections.post_requested.connect(self.show_post)
            content.sections.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
            self.menus.decorate()
        return self._content

    def attach_workspace(self, ws: Workspace, first_posts: tuple[list[dict[str, Any]], list[str]] | None = None,
                         ) -> None:
        """Work on `ws` from now on; `first_posts` (posts, statuses), read with it, fills the list at once."""
        from wfdesk.ui.change_hub import ChangeHub
        from wfdesk.ui.panel_stack import PanelStack

        self.ws = ws
        content = self.build_content()
        for widget in (content.posts, content.steps, content.sections):
            widget.ws = ws
        self.status.set_workspace(ws)
        self.runs = _make_run_controller(ws, self)
        panels = self.panel_stack = PanelStack(ws, self.runs, content)  # after the slots above: it follows them
        panels.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        panels.state_changed.connect(self._update_step_actions)
        content.panel_area.setWidget(panels)
        self.hub = ChangeHub(ws, self)
        self.hub.changed.connect(self._changes_heard)
        content.sections.watch(self.hub)
        content.steps.watch(self.hub)
        if self.runs is not None:
            self._follow_runs(self.runs, ws)
        self.serve_api()
        self.menus.enable(True)
        self.pages.setCurrentWidget(content)
        panels.sync()
        if first_posts is not None:
            content.posts.fill(*first_posts)
        else:
            content.posts.reload()
        content.steps.reload()
        content.sections.reload()

    def _follow_runs(self, runs: RunController, ws: Workspace) -> None:
        runs.run_started.connect(self._run_started)
        runs.unit_changed.connect(self.steps.unit_changed)
        runs.run_finished.connect(self._run_finished)
        runs.run_failed.connect(self._run_failed)
        runs.active_changed.connect(self.status.set_running)
        self.status.use_provider_status(runs.providers)
        self.run_end_notice = run_end_notice.watch(self, runs, ws)  # a long run's end, in the background

    # --- state --------------------------------------------------------------------------------------------

    @property
    def content(self) -> MainContent:
        return self.build_content()

    @property
    def posts(self) -> PostListWidget:
        return self.content.posts

    @property
    def steps(self) -> StepListWidget:
        return self.content.steps

    @property
    def sections(self) -> SectionsView:
        return self.content.sections

    @property
    def post_id(self) -> int:
        return self._content.posts.current_post_id() if self._content is not None else 0

    def current_panel(self) -> StepPanel | None:
        """The step panel on screen (None while the window says what to choose)."""
        return self.panel_stack.current_panel() if self.panel_stack is not None else None

    def _post_selected(self, post_id: int) -> None:
        title = self.posts.current_title()
        self.steps.set_post(post_id)
        self.sections.set_post(post_id, title)
        self.content.steps_heading.setText(f"Workflow for “{title}”" if post_id else "Workflow")

    def show_post(self, post_id: int) -> None:
        """Choose the post in the list, clearing the search and the status filter that could hide it."""
        self.posts.search.clear()
        self.posts.status_filter.setCurrentIndex(0)
        self.posts.select_post(post_id)

    def _post_changed(self, post_id: int) -> None:
        from PySide6.QtCore import Qt

        if post_id == self.post_id:
            self.posts.loaded.connect(self._retitle, Qt.ConnectionType.SingleShotConnection)

    def _retitle(self) -> None:
        title = self.posts.current_title()
        if title:
            self.sections.heading.setText(f"Sections of “{title}”")
            self.content.steps_heading.setText(f"Workflow for “{title}”")

    def _changes_heard(self, changes: Changes) -> None:
        """The post list and the step panel on screen refresh when a change (here or a colleague's) is theirs."""
        if changes.touches_posts():
            if self.post_id in changes.posts:
                self._post_changed(self.post_id)  # its headings follow a new title
            self.posts.reload()
        if self.panel_stack is not None:
            self.panel_stack.changes_heard(changes, self.post_id)

    def _run_started(self, run_id: int, info: Any) -> None:
        if isinstance(info, dict):
            self._run_posts[run_id] = info.get("post_id")
            self.steps.run_started(run_id, info)

    def _run_failed(self, key: object, message: str) -> None:
        from wfdesk.ui.panels.run_notice import plain_error

        self.steps.run_failed(key)
        self.statusBar().showMessage(plain_error(message), 10000)

    def _update_step_actions(self) -> None:
        """Cancel run (Esc) is on only while the run of the step on screen goes."""
        panel = self.current_panel()
        self.cancel_action.setEnabled(panel is not None and panel.is_running())

    def _run_finished(self, run_id: int, result: Any) -> None:
        post_id = self._run_posts.pop(run_id, None)
        self.steps.run_finished(run_id, result)
        if post_id in (None, self.post_id):
            self.sections.reload()  # the run wrote field text this table shows

    def refresh_all(self) -> None:
        if self.ws is None:
            return
        self.posts.reload()
        self.steps.reload()
        self.sections.reload()
        self.refresh_panels()

    def refresh_panels(self) -> None:
        if self.panel_stack is not None:
            self.panel_stack.refresh_all()

    def serve_api(self) -> None:
        """Settings → Other apps: the HTTP API while the app is open, runs in the window's run process."""
        from wfdesk.ui import api_server

        if self.ws is None:
            return
        message = api_server.serve_for(self, self.ws.settings, in_process=bool(getattr(self.runs, "in_process", 0)))
        if message:
            self.statusBar().showMessage(message, 15000)

    # --- step ---------------------------------------------------------------------------------------------

    def run_step(self) -> None:
        panel = self.current_panel()
        if panel is None:
            self.statusBar().showMessage("Choose a post and a step first.", 5000)
            return
        panel.run()

    def cancel_step(self) -> None:
        panel = self.current_panel()
        if panel is not None:
            panel.cancel()

    # --- the runs window ----------------------------------------------------------------------------------

    def _runs_hub(self) -> RunsHub:
        if self.runs_hub is None:
            from wfdesk.ui.runs_view import RunsHub

            self.runs_hub = RunsHub(self)
        return self.runs_hub

    def show_runs(self) -> QWidget:
        """View → Runs (Ctrl+Shift+R), or a click on the status bar's run count."""
        return self._runs_hub().show()

    # --- first start, geometry and closing ----------------------------------------------------------------

    def offer_demo_if_empty(self) -> bool:
        if self.ws is None or self.closing:
            return False
        from wfdesk.ui import demo

        if demo.offer_demo(self, self.ws):
            self.refresh_all()
            self.statusBar().showMessage("Demo loaded: choose a step, pick sections and press Run.", 10000)
            return True
        return False

    @override
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.status.start()

    def _restore_geometry(self) -> None:
        geometry = QSettings().value("main/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:  # first start: 1280×800, shrunk to a smaller screen so the Run button and status bar stay on it
            fit_to_screen(self, 1280, 800)

    def save_state(self) -> None:
        QSettings().setValue("main/geometry", self.saveGeometry())
        if self._content is not None:
            self._content.save_splitters()

    def settle_unsaved_work(self) -> bool:
        """Unsaved field text saved or dropped, runs in flight cancelled: False when the editor said Cancel."""
        if self._content is not None and not self._content.sections.maybe_save(allow_cancel=True):
            return False
        return confirm_stop_runs(self, self.runs.active_count() if self.runs is not None else 0)

    def close_settled(self) -> None:
        """Close without asking: unsaved text and runs were settled already (the window replacing this one)."""
        self._asked_already = True
        self.close()

    @override
    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing_done:
            event.accept()
            return
        if not self._asked_already and not self.settle_unsaved_work():
            event.ignore()
            return
        self.closing = True
        if self.hub is not None:
            self.hub.stop()  # no refresh starts while the window goes
        self.save_state()
        self.status.stop()
        from wfdesk.ui import api_server

        api_server.release(self)  # before the run process ends: runs the API started are cancelled first
        # Runs still in a provider call after 5 s have their processes ended (RunController.shutdown); the next
        # start marks them interrupted, ready to resume.
        if self.runs is not None and not self.runs.shutdown(5000):
            log.warning("some runs in this process did not stop; their sections are marked interrupted next start")
        # A window that replaces this one (another database) has its first reads queued: they must not be dropped.
        replaced = any(w is not self and not w._closing_done for w in OPEN_WINDOWS)
        drain_background_ops(drop_queued=not replaced)
        self._closing_done = True
        event.accept()
        # The runs window and any box still open go with this window: after a switch of database they would go on
        # showing the old one.
        for child in self.findChildren(QWidget):
            if child.isWindow() and child.isVisible():
                child.close()
        if self in OPEN_WINDOWS:
            OPEN_WINDOWS.remove(self)


def _make_run_controller(ws: Workspace, parent: QWidget) -> RunController | None:
    try:
        from wfdesk.ui.run_controller import RunController
    except ImportError:
        log.exception("runs unavailable: the run controller cannot be imported")
        return None
    return RunController(ws, parent)
