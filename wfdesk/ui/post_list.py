"""The post list: search by title, filter by status, new post; each row shows the title and the status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wfdesk.ui.db_errors import describe_db_error, is_edit_error
from wfdesk.ui.icons import icon
from wfdesk.ui.tree_items import set_current_item, top_items
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:  # the engine is imported once the workspace is open, never before the first paint
    from wfdesk.services.shapes import PostRow
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
ALL_STATUSES = "All statuses"
SEARCH_DELAY_MS = 200
ID_ROLE = Qt.ItemDataRole.UserRole


TITLE_FIELD_WIDTH = 400  # the window title and a real post title fit, on any window manager


def ask_title(parent: QWidget | None, window_title: str, label: str, text: str = "") -> tuple[str, bool]:
    """QInputDialog.getText, wide enough that neither its window title nor the typed title is cut."""
    dialog = QInputDialog(parent)
    dialog.setWindowTitle(window_title)
    dialog.setLabelText(label)
    dialog.setTextValue(text)
    # The dialog's layout fixes its own size from its contents: widen the field, not the dialog.
    field = dialog.findChild(QLineEdit)
    if field is not None:
        field.setMinimumWidth(TITLE_FIELD_WIDTH)
    ok = dialog.exec() == QInputDialog.DialogCode.Accepted
    return dialog.textValue(), ok


class PostListWidget(QWidget):
    post_selected = Signal(int)  # 0 when no post is selected
    post_changed = Signal(int)  # renamed or given a new status here
    new_post_requested = Signal()
    loaded = Signal()
    run_on_posts_requested = Signal(list)  # [(post id, title)]: several posts chosen, one step to run on all

    def __init__(self, ws: Workspace | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws = ws  # None while the window opens the database
        self._generation = 0
        self._want_selected: int | None = None
        self._current = 0

        self.search = QLineEdit(placeholderText="Search titles…", clearButtonEnabled=True)
        self.search.setAccessibleName("Search posts by title")
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Filter posts by status")
        self.status_filter.addItem(ALL_STATUSES, None)
        self.new_button = QPushButton(icon("new"), "New post")
        self.new_button.setToolTip("Create a post (Ctrl+N)")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Post", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # Ctrl+click and Shift+click choose several posts, to run one step on all of them (a batch).
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.batch_button = QPushButton(icon("run"), "")
        self.batch_button.setToolTip("Run one step on every selected post, one after another (a batch)")
        self.batch_button.hide()

        filters = QHBoxLayout()
        filters.addWidget(self.status_filter, 1)
        filters.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.batch_button)

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(self._search_timer.start)
        self.status_filter.currentIndexChanged.connect(self.reload)
        self.new_button.clicked.connect(self.new_post_requested)
        self.tree.currentItemChanged.connect(self._current_changed)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.batch_button.clicked.connect(self._request_batch)

    # --- loading ------------------------------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        """One greyed line instead of the posts (e.g. while the database opens); the controls wait for it."""
        self.tree.clear()
        item = QTreeWidgetItem([text, ""])
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.tree.addTopLevelItem(item)
        item.setFirstColumnSpanned(True)
        self._set_controls_enabled(self.ws is not None)

    def _set_controls_enabled(self, enabled: bool) -> None:
        for widget in (self.search, self.status_filter, self.new_button):
            widget.setEnabled(enabled)

    def reload(self, select_id: int | None = None) -> None:
        """Read the posts in the background; a newer reload makes an older answer moot."""
        if isinstance(select_id, int) and select_id:
            self._want_selected = select_id
        if self.ws is None:
            return
        self._set_controls_enabled(True)
        self._generation += 1
        generation, ws = self._generation, self.ws
        search, status = self.search.text(), self.status_filter.currentData()

        def load() -> tuple[list[PostRow], list[str]]:
            from wfdesk.services import queries

            return queries.list_posts(ws, search, status), queries.post_statuses(ws)

        (BackgroundOp(load)
         .success(lambda result: self._loaded(generation, *result))
         .failure(self._failed)
         .run_in_background())

    def fill(self, posts: list[dict[str, Any]], statuses: list[str]) -> None:
        """Show posts read elsewhere (with the workspace, on the worker that opened it): no second round trip."""
        self._set_controls_enabled(True)
        self._generation += 1
        self._loaded(self._generation, posts, statuses)

    def _failed(self, exc: Exception) -> None:
        log.warning("loading posts failed: %s", exc)
        self.show_message(f"Cannot read the posts: {exc}")

    def _loaded(self, generation: int, posts: list[dict[str, Any]], statuses: list[str]) -> None:
        if generation != self._generation:
            return
        self._update_statuses(statuses)
        want = self._want_selected or self._current
        self._want_selected = None
        self.tree.blockSignals(True)
        self.tree.clear()
        chosen = None
        for post in posts:
            item = QTreeWidgetItem([post["title"], post["status"]])
            item.setData(0, ID_ROLE, post["id"])
            n = post["sections"]
            item.setToolTip(0, f"{post['title']}\n{n} section{'s' if n != 1 else ''}")
            self.tree.addTopLevelItem(item)
            if post["id"] == want:
                chosen = item
        if not posts:
            text = "No posts match." if self.search.text() or self.status_filter.currentData() else \
                "No posts yet: click “New post”."
            item = QTreeWidgetItem([text, ""])
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.tree.addTopLevelItem(item)
            item.setFirstColumnSpanned(True)
        if chosen is None and posts and not self._current:
            chosen = self.tree.topLevelItem(0)
        set_current_item(self.tree, chosen)
        self.tree.blockSignals(False)
        # A post hidden by the search stays open in the window: searching must not close the editor's work.
        if chosen is not None and chosen.data(0, ID_ROLE) != self._current:
            self._current = chosen.data(0, ID_ROLE)
            self.post_selected.emit(self._current)
        self._selection_changed()
        self.loaded.emit()

    def _update_statuses(self, statuses: list[str]) -> None:
        known = [self.status_filter.itemData(i) for i in range(1, self.status_filter.count())]
        if known == statuses:
            return
        current = self.status_filter.currentData()
        self.status_filter.blockSignals(True)
        while self.status_filter.count() > 1:
            self.status_filter.removeItem(1)
        for status in statuses:
            self.status_filter.addItem(status.capitalize(), status)
        index = self.status_filter.findData(current)
        self.status_filter.setCurrentIndex(max(0, index))
        self.status_filter.blockSignals(False)

    # --- selection ----------------------------------------------------------------------------------------

    def current_post_id(self) -> int:
        return self._current

    def current_title(self) -> str:
        item = self.tree.currentItem()
        return item.text(0) if item is not None and item.data(0, ID_ROLE) else ""

    def select_post(self, post_id: int) -> None:
        for item in top_items(self.tree):
            if item.data(0, ID_ROLE) == post_id:
                self.tree.setCurrentItem(item)
                return
        self.reload(select_id=post_id)

    def selected_posts(self) -> list[tuple[int, str]]:
        """The selected posts (id, title), in list order."""
        chosen = {id(item) for item in self.tree.selectedItems()}
        return [(item.data(0, ID_ROLE), item.text(0)) for item in top_items(self.tree)
                if id(item) in chosen and item.data(0, ID_ROLE)]

    def _selection_changed(self) -> None:
        n = len(self.selected_posts())
        self.batch_button.setText(f"Run step on {n} posts…")
        self.batch_button.setVisible(n > 1)

    def _request_batch(self) -> None:
        posts = self.selected_posts()
        if len(posts) > 1:
            self.run_on_posts_requested.emit(posts)

    def _current_changed(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        post_id = item.data(0, ID_ROLE) if item is not None else None
        post_id = post_id or 0
        if post_id != self._current:
            self._current = post_id
            self.post_selected.emit(post_id)

    # --- editing ------------------------------------------------------------------------------------------

    def _context_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        post_id = item.data(0, ID_ROLE)
        if not post_id:
            return
        title, status_now = item.text(0), item.text(1)
        menu = QMenu(self)
        posts = self.selected_posts()
        if len(posts) > 1 and post_id in {pid for pid, _ in posts}:
            menu.addAction(icon("run"), f"Run step on {len(posts)} posts…", self._request_batch)
            menu.addSeparator()
        menu.addAction(icon("rename"), "Rename…", lambda: self.rename_post(post_id, title))
        status_menu = menu.addMenu("Set status")
        for i in range(1, self.status_filter.count()):
            status: str = self.status_filter.itemData(i)
            action = status_menu.addAction(status.capitalize(), partial(self.set_status, post_id, status))
            action.setCheckable(True)
            action.setChecked(status == status_now)
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def rename_post(self, post_id: int, title: str) -> None:
        from wfdesk.services import editing

        ws = self.ws
        if ws is None:  # no database open, so no post shown to rename
            return
        new, ok = ask_title(self, "Rename post", "Title:", title)
        if ok and new.strip() and new != title:
            self._edit("rename the post", lambda: editing.rename_post(ws, post_id, new), post_id)

    def set_status(self, post_id: int, status: str) -> None:
        from wfdesk.services import editing

        ws = self.ws
        if ws is None:  # no database open, so no post shown to change
            return
        self._edit("change the status", lambda: editing.set_post_status(ws, post_id, status), post_id)

    def _edit(self, what: str, fn: Callable[[], Any], post_id: int) -> None:
        """Write off the GUI thread: a run writing in its child process may hold the database for a while."""
        (BackgroundOp(fn)
         .success(lambda _result: self._edited(post_id))
         .failure(lambda exc: self._edit_failed(what, exc))
         .run_in_background())

    def _edited(self, post_id: int) -> None:
        self.post_changed.emit(post_id)
        self.reload(select_id=post_id)

    def _edit_failed(self, what: str, exc: Exception) -> None:
        if is_edit_error(exc):
            log.warning("could not %s: %s", what, exc)
        else:
            log.error("could not %s", what, exc_info=exc)
        QMessageBox.warning(self, "Post not changed", f"Could not {what}: {describe_db_error(exc)}")
