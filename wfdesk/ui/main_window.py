"""The main window: posts on the left, the post's steps and sections in the middle, the step's panel on the right.

Start-up is shaped for a window that paints at once (wfdesk.ui.app): `MainWindow()` is a light shell (menus, status
bar, an "Opening the database…" page) that imports only Qt and small modules; `build_content()` makes the lists and
the sections view once the shell has painted, and `attach_workspace(ws)` fills them when the workspace, opened off the
GUI thread, arrives. `MainWindow(ws)` does all three at once. The engine is imported where it is used, never here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

# No `Qt` namespace here at module level: PySide6 builds its ~100 enums on first use (about 20 ms); the shell paints
# without it and the content (build_content) imports it after the first paint.
from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QSettings
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QProgressBar, QStackedWidget, QVBoxLayout, QWidget
from typing_extensions import override

from wfdesk.ui import run_end_notice, wheel_guard, worker
from wfdesk.ui.icons import icon
from wfdesk.ui.screen_fit import fit_to_screen
from wfdesk.ui.status_bar import AppStatusBar
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:  # the lists and the engine load after the window's first paint
    from PySide6.QtWidgets import QDialog

    from wfdesk.ui.post_list import PostListWidget
    from wfdesk.ui.sections_view import SectionsView
    from wfdesk.ui.step_list import StepListWidget
    from wfdesk.ui.workflow_transfer import WorkflowTransfer
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
OPEN_WINDOWS: list[MainWindow] = []  # a window opened on another database must outlive the slot that made it
OPENING_TEXT = "Opening the database…"
# What attach_workspace needs beyond the engine; wfdesk.ui.app imports them on the worker that opens the database,
# so attaching (and the first step panel) finds them loaded instead of importing on the GUI thread.
DEFERRED_MODULES = ("wfdesk.services.editing", "wfdesk.ui.run_controller", "wfdesk.ui.workflow_transfer",
                    "wfdesk.ui.panels")


class OpeningPage(QWidget):
    """What the window shows until its workspace is open: what is happening, and a busy bar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate
        self.busy.setTextVisible(False)
        self.busy.setFixedWidth(260)
        self.busy.setAccessibleName("Opening the database")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        for widget in (self.label, self.busy):  # centred by stretches (no Qt.AlignmentFlag: see the imports)
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(widget)
            row.addStretch(1)
            layout.addLayout(row)
        layout.addStretch(2)

    def show_text(self, text: str, busy: bool = True) -> None:
        self.label.setText(f"<big>{text}</big>")
        self.busy.setVisible(busy)


class MainWindow(QMainWindow):
    def __init__(self, ws: Workspace | None = None, parent: QWidget | None = None) -> None:
        """A window on `ws`; without one, the "Opening the database…" page until attach_workspace()."""
        super().__init__(parent)
        wheel_guard.install()  # the wheel scrolls forms; it never changes a value under the pointer
        self.ws: Workspace | None = None
        self.setWindowTitle("wfdesk")
        self.undo_stack = QUndoStack(self)
        self.runs: Any = None  # the RunController, made with the workspace
        self.hub: Any = None  # the ChangeHub, made with the workspace
        self.transfer: WorkflowTransfer | None = None
        self.posts: PostListWidget | None = None  # these three: build_content()
        self.steps: StepListWidget | None = None
        self.sections: SectionsView | None = None
        self._panels: dict[str, QWidget] = {}
        self._run_posts: dict[int, int] = {}  # run_id -> post_id, for runs started while this window is open
        self._needs_workspace: list[QAction] = []
        # Icons and shortcuts of the menu actions, set by build_content: QAction.setShortcut and QStyle's icons make
        # PySide6 build the `Qt` namespace's enums (~40 ms), and neither shows before a menu opens.
        self._decorations: list[tuple[QAction, str | None, Any]] = []  # action, icon name, key sequence(s)
        self.closing = False  # set once closing is decided: a workspace arriving now is closed, not attached
        self._closing_done = False
        self._asked_already = False

        self.opening = OpeningPage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.opening)
        self.setCentralWidget(self.pages)
        self.status = AppStatusBar(None)
        self.setStatusBar(self.status)
        self.status.runs_requested.connect(lambda: self.show_runs() if self.ws is not None else None)
        self.runs_hub: Any = None  # wfdesk.ui.runs_view.RunsHub: the runs window and batches, made on first use
        self._build_menus()
        self._restore_geometry()
        if ws is None:
            self.show_opening()
        else:
            self.attach_workspace(ws)

    def show_opening(self, text: str = OPENING_TEXT, busy: bool = True) -> None:
        """The page shown until the workspace is open (or why it is not)."""
        self.opening.show_text(text, busy)
        self.pages.setCurrentWidget(self.opening)
        for action in self._needs_workspace:
            action.setEnabled(False)

    def build_content(self) -> None:
        """The lists, the sections view and the panel area (hidden behind the opening page until attached)."""
        if self.posts is not None:
            return
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter

        from wfdesk.ui.post_list import PostListWidget
        from wfdesk.ui.sections_view import SectionsView
        from wfdesk.ui.shortcuts_dialog import AREA_PROPERTY
        from wfdesk.ui.step_list import StepListWidget

        self.posts = PostListWidget(self.ws)
        self.steps = StepListWidget(self.ws)
        self.sections = SectionsView(self.ws, self.undo_stack)
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setEnabled(False)
        self.panel_stack = QStackedWidget()
        self.panel_stack.addWidget(self.placeholder)

        steps_box = QWidget()
        steps_layout = QVBoxLayout(steps_box)
        steps_layout.setContentsMargins(0, 0, 0, 0)
        self.steps_heading = _heading("Workflow")
        steps_layout.addWidget(self.steps_heading)
        steps_layout.addWidget(self.steps)
        self.middle = QSplitter(Qt.Orientation.Vertical)
        self.middle.setObjectName("middle_splitter")
        self.middle.addWidget(steps_box)
        self.middle.addWidget(self.sections)
        self.middle.setSizes([230, 570])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("main_splitter")
        self.splitter.addWidget(self.posts)
        self.splitter.addWidget(self.middle)
        # A panel wider than its share scrolls instead of pushing the window past a 1280-pixel screen.
        self.panel_area = QScrollArea()
        self.panel_area.setWidgetResizable(True)
        self.panel_area.setFrameShape(QFrame.Shape.NoFrame)
        self.panel_area.setWidget(self.panel_stack)
        self.splitter.addWidget(self.panel_area)
        self.splitter.setSizes([230, 480, 570])
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setChildrenCollapsible(False)
        self.pages.addWidget(self.splitter)

        for widget, area in ((self.posts, "Posts"), (self.steps, "Workflow steps"), (self.sections, "Sections")):
            widget.setProperty(AREA_PROPERTY, area)  # how Help → Keyboard shortcuts names it
        self._connect()
        self._restore_splitters()
        self._decorate_actions()

    def attach_workspace(self, ws: Workspace, first_posts: tuple[list[dict[str, Any]], list[str]] | None = None,
                         ) -> None:
        """Work on `ws` from now on; `first_posts` (posts, statuses), read with it, fills the list at once."""
        from wfdesk.ui.change_hub import ChangeHub
        from wfdesk.ui.workflow_transfer import WorkflowTransfer

        self.ws = ws
        self.build_content()
        for widget in (self.posts, self.steps, self.sections):
            widget.ws = ws
        self.status.set_workspace(ws)
        self.runs = _make_run_controller(ws, self)
        self.transfer = WorkflowTransfer(ws, self)
        self.transfer.status_message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.transfer.imported.connect(lambda ids: self._after_config_saved(ids[0] if ids else None))
        self.hub = ChangeHub(ws, self)  # one signal for every change; each view decides what to refresh
        self.hub.changed.connect(self._changes_heard)
        self.sections.watch(self.hub)
        self.steps.watch(self.hub)
        if self.runs is not None:
            self.runs.run_started.connect(self._run_started)
            self.runs.unit_changed.connect(self.steps.unit_changed)
            self.runs.run_finished.connect(self._run_finished)
            self.runs.run_failed.connect(self._run_failed)
            self.runs.active_changed.connect(self.status.set_running)
            self.status.use_provider_status(self.runs.providers)
            self.run_end_notice = run_end_notice.watch(self, self.runs, ws)  # a long run's end, in the background
        self._serve_api()
        for action in self._needs_workspace:
            action.setEnabled(True)
        self._update_step_actions()
        self.pages.setCurrentWidget(self.splitter)
        self._show_panel()
        if first_posts is not None:
            self.posts.fill(*first_posts)
        else:
            self.posts.reload()
        self.steps.reload()
        self.sections.reload()

    # --- construction -------------------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut=None, icon_name: str | None = None,
                needs_workspace: bool = True) -> QAction:
        action = QAction(text, self)
        self._decorations.append((action, icon_name, shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        if needs_workspace:
            self._needs_workspace.append(action)
        return action

    def _build_menus(self) -> None:
        """The menus, whose actions wait (disabled) for the workspace; slots reach the content when it exists."""
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&New post…", self.new_post, "Ctrl+N", "new")
        file.addSeparator()
        self._action(file, "&Import everything…", self.import_json, None, "import").setStatusTip(
            "Adds posts with their sections, steps and LLM actions from a file made by Export everything")
        self._action(file, "&Export everything…", self.export_json, None, "export").setStatusTip(
            "Saves posts, sections, steps and LLM actions to one file (a backup, or a move to another database)")
        file.addSeparator()
        # Drafts in, posts out (wfdesk.ui.content_io also takes files dropped on the window and pasted drafts).
        from wfdesk.ui.content_io import ContentIO

        self.content_io = ContentIO(self)
        self._action(file, "New post from &file…", self.content_io.new_post_from_file, None, "import").setStatusTip(
            "Makes a post from a Markdown, Word or HTML draft: a section per heading")
        self._action(file, "Export p&ost…", self.content_io.export_current_post, None, "export").setStatusTip(
            "Writes the current post as Markdown, an HTML page or a page bundle, with its accepted images")
        file.addSeparator()
        self._action(file, "Export &workflow…", lambda: self.transfer.export_all(), None, "export").setStatusTip(
            "Saves only the steps and LLM actions, no posts, to reuse the workflow elsewhere")
        self._action(file, "Import wor&kflow…", lambda: self.transfer.import_file(), None, "import").setStatusTip(
            "Adds the steps and LLM actions of a workflow file after yours; no posts are imported or changed")
        self._action(file, "Add the &reference workflow", lambda: self.transfer.add_template("reference"), None, "add")
        file.addSeparator()
        self._action(file, "&Settings…", self.open_settings, "Ctrl+,", "settings")
        file.addSeparator()
        self._action(file, "&Quit", self.close, "Ctrl+Q", "quit", needs_workspace=False)

        edit = bar.addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        self._decorations.append((undo, "undo", QKeySequence.StandardKey.Undo))
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        self._decorations.append((redo, "redo", ["Ctrl+Shift+Z", "Ctrl+Y"]))
        edit.addAction(undo)
        edit.addAction(redo)
        edit.addSeparator()
        self.save_action = self._action(edit, "&Save field", lambda: self.sections.save_field(), "Ctrl+S", "save")

        view = bar.addMenu("&View")
        self._action(view, "&Costs…", self.show_costs, None, "info")
        self._action(view, "&Runs…", self.show_runs, "Ctrl+Shift+R", "run").setStatusTip(
            "Runs in progress and past runs: what each sent and got back; cancel, resume, run again")

        step = bar.addMenu("&Step")
        # Ctrl+Enter and Esc live here, once for the whole window, and go to the panel on screen: panels with keys
        # of their own would bind them several times, which Qt finds ambiguous and then fires none of them.
        # Cancel is enabled only while that panel's run goes, so Esc stays the widgets' own the rest of the time.
        self.run_action = self._action(step, "&Run step", self.run_step, ["Ctrl+Return", "Ctrl+Enter"], "run")
        self.cancel_action = self._action(step, "&Cancel run", self.cancel_step, "Esc", "cancel",
                                          needs_workspace=False)
        self.cancel_action.setEnabled(False)
        step.addSeparator()
        self._action(step, "&Edit step config…", self.edit_step, "Ctrl+E", "edit")
        self._action(step, "&New step…", self.new_step, None, "add")
        self._action(step, "Edit this &post's override…", self.edit_override, None, "rename")
        step.addSeparator()
        self._action(step, "&LLM actions…", self.edit_llm_actions, None, "settings")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_shortcuts, "F1",
                     "info", needs_workspace=False)
        self._action(help_menu, "&Plugins…", self.show_plugins, None, "settings")
        self._action(help_menu, "&About wfdesk…", self.show_about, None, "help", needs_workspace=False)

    def _decorate_actions(self) -> None:
        for action, icon_name, keys in self._decorations:
            if icon_name:
                action.setIcon(icon(icon_name))
            if isinstance(keys, list):
                action.setShortcuts([QKeySequence(k) for k in keys])
            elif keys is not None:
                action.setShortcut(QKeySequence(keys))
        self._decorations.clear()

    def _connect(self) -> None:
        self.posts.post_selected.connect(self._post_selected)
        self.posts.post_changed.connect(self._post_changed)
        self.posts.new_post_requested.connect(self.new_post)
        self.posts.run_on_posts_requested.connect(lambda posts: self._runs_hub().run_on_posts(posts))
        self.steps.step_selected.connect(lambda *_: self._show_panel())
        self.sections.post_requested.connect(self._show_post)
        self.sections.message.connect(lambda text: self.statusBar().showMessage(text, 5000))

    # --- state --------------------------------------------------------------------------------------------

    @property
    def post_id(self) -> int:
        return self.posts.current_post_id() if self.posts is not None else 0

    def _post_selected(self, post_id: int) -> None:
        self.steps.set_post(post_id)
        self.sections.set_post(post_id, self.posts.current_title())
        self.steps_heading.setText(f"Workflow for “{self.posts.current_title()}”" if post_id else "Workflow")
        self._show_panel()

    def _show_post(self, post_id: int) -> None:
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
            self.steps_heading.setText(f"Workflow for “{title}”")

    def current_panel(self) -> QWidget | None:
        if self.posts is None:
            return None
        widget = self.panel_stack.currentWidget()
        return None if widget is self.placeholder else widget

    def _show_panel(self) -> None:
        if self.ws is None:
            return  # the opening state stays until the workspace is attached
        step_id, script_type = self.steps.current_step()
        if not self.post_id or not step_id:
            self.placeholder.setText("Choose a post on the left." if not self.post_id
                                     else "Choose a workflow step to run it on this post's sections.")
            self.panel_stack.setCurrentWidget(self.placeholder)
            self._update_step_actions()
            return
        panel = self._panel_for(script_type)
        if panel is None:
            self.panel_stack.setCurrentWidget(self.placeholder)
            self._update_step_actions()
            return
        self.panel_stack.setCurrentWidget(panel)
        if hasattr(panel, "show_step"):
            panel.show_step(step_id, self.post_id)
        self._update_step_actions()

    def _panel_for(self, script_type: str) -> QWidget | None:
        """One panel per script type, made on first use and reused (napari's type -> widget + stack)."""
        panel = self._panels.get(script_type)
        if panel is not None:
            return panel
        try:
            from wfdesk.ui.panels import create_panel
        except ImportError as exc:
            log.warning("step panels unavailable: %s", exc)
            self.placeholder.setText(f"The step panels could not be loaded ({exc}).")
            return None
        if self.runs is None:
            self.placeholder.setText("Runs are not available in this build.")
            return None
        panel = create_panel(script_type, self.ws, self.runs, self)
        if getattr(panel, "picker", None) is not None:  # the panel's current section is the table's
            from wfdesk.ui.section_sync import link_current_section

            link_current_section(self.sections, panel.picker)
        status = getattr(panel, "status_message", None)
        if status is not None:
            status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        busy = getattr(panel, "busy_changed", None)  # a plugin's panel need not be a StepPanel
        if busy is not None:
            busy.connect(lambda _busy: self._update_step_actions())
        self._panels[script_type] = panel
        self.panel_stack.addWidget(panel)
        return panel

    def _changes_heard(self, changes: Any) -> None:
        """The post list and the step panel on screen refresh when a change (here or a colleague's) is theirs."""
        if changes.touches_posts():
            if self.post_id in changes.posts:
                self._post_changed(self.post_id)  # its headings follow a new title
            self.posts.reload()
        panel = self.current_panel()
        if (panel is not None and hasattr(panel, "refresh") and not getattr(panel, "is_running", lambda: False)()
                and (changes.touches_steps() or changes.touches_runs() or changes.touches_content_of(self.post_id))):
            panel.refresh()

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
        running = panel is not None and getattr(panel, "is_running", lambda: False)()
        self.cancel_action.setEnabled(bool(running))

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
        for panel in self._panels.values():
            if hasattr(panel, "refresh"):
                panel.refresh()

    # --- file ---------------------------------------------------------------------------------------------

    def new_post(self) -> None:
        if self.ws is None:
            return
        from wfdesk.services import editing
        from wfdesk.ui.post_list import ask_title

        title, ok = ask_title(self, "New post", "Title of the new post:")
        if not ok or not title.strip():
            return
        ws = self.ws
        # Off the GUI thread: a run writing in its child process may hold the database for a while.
        (BackgroundOp(lambda: editing.create_post(ws, title))
         .success(lambda post_id: self._post_created(post_id, title.strip()))
         .failure(self._post_not_created)
         .run_in_background())

    def _post_created(self, post_id: int, title: str) -> None:
        self.posts.search.clear()
        self.posts.reload(select_id=post_id)
        self.statusBar().showMessage(f"Created “{title}”. Add its sections below.", 5000)

    def _post_not_created(self, exc: Exception) -> None:
        from PySide6.QtWidgets import QMessageBox

        from wfdesk.ui.db_errors import describe_db_error, is_edit_error

        if is_edit_error(exc):
            log.warning("creating a post failed: %s", exc)
        else:
            log.error("creating a post failed", exc_info=exc)
        QMessageBox.warning(self, "New post", f"Could not create the post: {describe_db_error(exc)}")

    def import_json(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self, "Import steps, actions and posts", "", "JSON (*.json)")
        if not path:
            return
        ws = self.ws

        def run() -> dict[str, int]:
            from pathlib import Path

            from wfdesk.services.transfer import import_bundle, read_json

            data = read_json(Path(path).read_bytes())  # refuses what is not JSON or nested too deeply, in words
            from wfdesk.services.changes import IMPORTED, announce

            with ws.db.session() as s:
                counts = import_bundle(s, data)
            announce(ws, IMPORTED)  # every view (and every colleague's window) refreshes what it shows
            return counts

        self.statusBar().showMessage(f"Importing {path}…")
        (BackgroundOp(run).success(self._imported).failure(lambda exc: self._failed("Import", exc))
         .run_in_background())

    def _imported(self, counts: dict[str, int]) -> None:
        from wfdesk.ui.workflow_transfer import import_summary

        self.statusBar().showMessage(f"Imported {import_summary(counts)}.", 8000)

    def export_json(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Export everything as JSON", "wfdesk-export.json",
                                              "JSON (*.json)")
        if not path:
            return
        ws = self.ws

        def run() -> str:
            import json
            from pathlib import Path

            from wfdesk.fileio import atomic_write_bytes
            from wfdesk.services.transfer import export_bundle

            with ws.db.session() as s:
                data = export_bundle(s)
            atomic_write_bytes(Path(path), json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))
            return path

        (BackgroundOp(run).success(lambda p: self.statusBar().showMessage(f"Exported to {p}.", 8000))
         .failure(lambda exc: self._failed("Export", exc)).run_in_background())

    def _failed(self, what: str, exc: Exception) -> None:
        from PySide6.QtWidgets import QMessageBox

        self.statusBar().clearMessage()
        QMessageBox.warning(self, what, f"{what} failed: {exc}")

    def open_settings(self) -> None:
        from PySide6.QtWidgets import QDialog

        from wfdesk.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.ws, self)
        dialog.settings_saved.connect(lambda: [p.refresh() for p in self._panels.values()])  # apply at once
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.status.check_provider()  # the dialog updated ws.settings in place
        self._serve_api()
        if getattr(dialog, "database_changed", False):
            self.reopen_workspace()

    def _serve_api(self) -> None:
        """Settings → Other apps: the HTTP API while the app is open, runs in the window's run process."""
        from wfdesk.ui import api_server

        message = api_server.serve_for(self, self.ws.settings, in_process=bool(getattr(self.runs, "in_process", 0)))
        if message:
            self.statusBar().showMessage(message, 15000)

    def reopen_workspace(self) -> None:
        """Open the database the settings now name in a new window; this one closes once it is open."""
        if not self._settle_unsaved_work():
            return
        self.statusBar().showMessage("Opening the new database…")
        (BackgroundOp(_open_from_settings)
         .success(self._switch_to)
         .failure(lambda exc: self._failed("Opening the new database", exc))
         .run_in_background())

    def _switch_to(self, ws: Workspace) -> None:
        from wfdesk.workspace import set_current

        old = self.ws
        window = MainWindow(ws)
        window.restoreGeometry(self.saveGeometry())
        OPEN_WINDOWS.append(window)
        set_current(ws)
        window.show()
        window.offer_demo_if_empty()
        self._asked_already = True  # unsaved text and runs were settled before the switch
        self.close()
        old.close()

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

    def _after_config_saved(self, step_id: int | None) -> None:
        if step_id:  # the lists and panels refresh through the hub: the save announced the step
            self.steps.select_step(step_id)

    def edit_step(self) -> None:
        step_id, _ = self.steps.current_step()
        if not step_id:
            self.statusBar().showMessage("Choose a step to edit.", 5000)
            return
        from PySide6.QtWidgets import QDialog

        from wfdesk.ui.config_editor import StepConfigDialog

        dialog = StepConfigDialog(self.ws, step_id, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._after_config_saved(getattr(dialog, "saved_step_id", step_id))

    def new_step(self) -> None:
        from PySide6.QtWidgets import QDialog

        from wfdesk.ui.config_editor import StepConfigDialog

        dialog = StepConfigDialog(self.ws, None, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._after_config_saved(getattr(dialog, "saved_step_id", None))

    def edit_override(self) -> None:
        step_id, _ = self.steps.current_step()
        if not step_id or not self.post_id:
            self.statusBar().showMessage("Choose a post and a step first.", 5000)
            return
        from PySide6.QtWidgets import QDialog

        from wfdesk.ui.config_editor import StepConfigDialog

        dialog = StepConfigDialog(self.ws, step_id, self, post_id=self.post_id)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._after_config_saved(step_id)

    def edit_llm_actions(self) -> None:
        from PySide6.QtWidgets import QDialog

        from wfdesk.ui.config_editor import LLMActionDialog

        step_id, script_type = self.steps.current_step()
        action_id = None
        if step_id and script_type == "llm_action":
            config = self.steps.steps.get(step_id, {}).get("config") or {}
            action_id = (config.get("script_config") or {}).get("action_id") or config.get("action_id")
        dialog = LLMActionDialog(self.ws, action_id if isinstance(action_id, int) else None, self,
                                 preview_post_id=self.post_id or None, open_first=True)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._after_config_saved(None)

    # --- view ---------------------------------------------------------------------------------------------

    def show_costs(self) -> QDialog:
        from PySide6.QtCore import Qt

        from wfdesk.ui.costs_dialog import CostsDialog

        dialog = CostsDialog(self.ws, self, post_id=self.post_id or None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # --- help ---------------------------------------------------------------------------------------------

    def _runs_hub(self) -> Any:
        if self.runs_hub is None:
            from wfdesk.ui.runs_view import RunsHub

            self.runs_hub = RunsHub(self)
        return self.runs_hub

    def show_runs(self) -> QWidget:
        """View → Runs (Ctrl+Shift+R), or a click on the status bar's run count."""
        return self._runs_hub().show()

    def show_plugins(self) -> QDialog:
        from PySide6.QtCore import Qt

        from wfdesk.ui.plugins_dialog import PluginsDialog

        dialog = PluginsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_shortcuts(self) -> QDialog:
        from PySide6.QtCore import Qt

        from wfdesk.ui.shortcuts_dialog import ShortcutsDialog, collect_shortcuts

        if self.posts is None:
            self.build_content()  # the lists' own keys belong in the list too
            self._decorate_actions()
        dialog = ShortcutsDialog(collect_shortcuts(self), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_about(self) -> QDialog:
        from PySide6.QtCore import Qt

        from wfdesk.ui.about_dialog import AboutDialog

        dialog = AboutDialog(self.ws, self, opening_text=OPENING_TEXT)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

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
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.status.start()

    def _restore_geometry(self) -> None:
        geometry = QSettings().value("main/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:  # first start: 1280×800, shrunk to a smaller screen so the Run button and status bar stay on it
            fit_to_screen(self, 1280, 800)

    def _splitters(self) -> list[QWidget]:
        return [self.splitter, self.middle, self.sections.splitter] if self.sections is not None else []

    def _restore_splitters(self) -> None:
        settings = QSettings()
        for splitter in self._splitters():
            state = settings.value(f"main/{splitter.objectName()}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)

    def save_state(self) -> None:
        settings = QSettings()
        settings.setValue("main/geometry", self.saveGeometry())
        for splitter in self._splitters():
            settings.setValue(f"main/{splitter.objectName()}", splitter.saveState())

    def _settle_unsaved_work(self) -> bool:
        """Unsaved field text saved or dropped, runs in flight cancelled: False when the editor said Cancel."""
        if self.sections is not None and not self.sections.maybe_save(allow_cancel=True):
            return False
        return self._confirm_stop_runs()

    def _confirm_stop_runs(self) -> bool:
        count = self.runs.active_count() if self.runs is not None else 0
        if not count:
            return True
        from PySide6.QtWidgets import QMessageBox

        noun = "run is" if count == 1 else "runs are"
        answer = QMessageBox.question(self, "Runs in progress",
                                      f"{count} {noun} in progress. Cancel {'it' if count == 1 else 'them'} "
                                      "and quit?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @override
    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing_done:
            event.accept()
            return
        if not self._asked_already and not self._settle_unsaved_work():
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
        _drain_background_ops(drop_queued=not replaced)
        self._closing_done = True
        event.accept()
        self._close_own_windows()
        if self in OPEN_WINDOWS:
            OPEN_WINDOWS.remove(self)

    def _close_own_windows(self) -> None:
        """The runs window and any box still open go with this window: after a switch of database they would go on
        showing the old one."""
        for child in self.findChildren(QWidget):
            if child.isWindow() and child.isVisible():
                child.close()


def _drain_background_ops(rounds: int = 5, drop_queued: bool = True) -> None:
    """Wait for background reads and deliver their answers while their widgets still exist; an answer may
    start a follow-up read (a list, then the selected item's detail), hence a few rounds."""
    from PySide6.QtCore import QThreadPool

    for _ in range(rounds):
        if drop_queued:
            worker.shutdown()
        else:
            QThreadPool.globalInstance().waitForDone(5000)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.MetaCall)
        if not worker.running_ops():
            return


def _heading(text: str) -> QLabel:
    from PySide6.QtWidgets import QSizePolicy

    label = QLabel(text)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _open_from_settings() -> Workspace:
    """On a worker thread: the database the settings name, with the runs an earlier exit left running there marked
    interrupted (as at app start), so its panels offer to resume them instead of showing them as in progress."""
    from wfdesk.services.opening import open_for_use
    from wfdesk.settings import load_settings

    return open_for_use(settings=load_settings())


def _make_run_controller(ws: Workspace, parent: QWidget) -> Any:
    try:
        from wfdesk.ui.run_controller import RunController
    except ImportError:
        log.exception("runs unavailable: the run controller cannot be imported")
        return None
    return RunController(ws, parent)


