"""The runs view's two lists: runs in progress (anyone's, with this app's batches and their waiting posts) and the
history, one page at a time. Rows carry what they stand for (a run, a batch, a batch's post) for the detail pane."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem

from wfdesk.states import RunState, UnitState
from wfdesk.ui.tree_items import child_items, top_items

if TYPE_CHECKING:
    from wfdesk.services.run_history import RunRow
    from wfdesk.ui.runs_view.batch import Batch, BatchItem

TARGET_ROLE = Qt.ItemDataRole.UserRole  # ("run", run_id) | ("batch", batch_id) | ("item", batch_id, post_id)
HISTORY_COLUMNS = ["Run", "Status", "Post", "Step", "Sections", "Cost", "Started", "By"]
PROGRESS_COLUMNS = ["Run", "Post", "Step", "Progress", "By"]
KEPT_FINISHED_BATCHES = 5


def who(row: RunRow) -> str:
    """"you", or a colleague's user name (their user@host is in the tooltip and the detail)."""
    return "you" if row.mine else row.started_by.partition("@")[0] or row.started_by


def who_in_full(row: RunRow) -> str:
    return "you" if row.mine else f"{row.started_by} (a colleague)"


def when(value: datetime | None, now: datetime | None = None) -> str:
    """"02 Dec 19:51" (with the year when it is not this year's), in local time."""
    if value is None:
        return ""
    local = value.astimezone() if value.tzinfo else value
    this_year = (now or datetime.now()).year == local.year
    return local.strftime("%d %b %H:%M" if this_year else "%d %b %Y %H:%M")


def money(value: float) -> str:
    if not value:
        return ""
    if value < 0.0001:
        return "< $0.0001"
    return f"${value:,.4f}" if value < 10 else f"${value:,.2f}"


def _setup(tree: QTreeWidget, columns: list[str], name: str, stretch: int) -> None:
    tree.setHeaderLabels(columns)
    tree.setAccessibleName(name)
    tree.setUniformRowHeights(True)
    header = tree.header()
    header.setStretchLastSection(False)
    for i in range(len(columns)):
        header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)


class HistoryList(QTreeWidget):
    def __init__(self) -> None:
        super().__init__()
        _setup(self, HISTORY_COLUMNS, "Run history", stretch=2)
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)

    def add_rows(self, rows: list[RunRow]) -> None:
        for row in rows:
            item = QTreeWidgetItem([f"#{row.id}", row.status_label, row.post_title, row.step_name,
                                    f"{row.counts.get(UnitState.SUCCESS, 0)}/{row.total}" if row.total else "",
                                    money(row.cost), when(row.created_at), who(row)])
            item.setData(0, TARGET_ROLE, ("run", row.id))
            item.setToolTip(2, row.post_title)
            if row.error:
                item.setToolTip(1, row.error)
            if not row.mine:
                _italic(item, len(HISTORY_COLUMNS))
                item.setToolTip(7, who_in_full(row))
            self.addTopLevelItem(item)

    def select_run(self, run_id: int) -> bool:
        for item in top_items(self):
            if item.data(0, TARGET_ROLE) == ("run", run_id):
                self.setCurrentItem(item)
                return True
        return False


class ProgressList(QTreeWidget):
    """Runs in progress; a batch is a row with its posts under it."""

    def __init__(self) -> None:
        super().__init__()
        _setup(self, PROGRESS_COLUMNS, "Runs in progress", stretch=1)

    def fill(self, rows: list[RunRow], batches: list[Batch], own: dict[int, tuple[int, int]]) -> None:
        """`own`: this app's runs (run id -> done, total), fresher than the database's counts."""
        current_item = self.currentItem()
        current = current_item.data(0, TARGET_ROLE) if current_item is not None else None
        self.clear()
        in_batches = {i.run_id for b in batches for i in b.items if i.run_id is not None}
        finished = [b for b in batches if b.finished][-KEPT_FINISHED_BATCHES:]
        for batch in batches:
            if batch.finished and batch not in finished:
                continue
            progress = "{}/{} posts".format(*batch.counts()) + (" · ended" if batch.finished else "")
            top = QTreeWidgetItem([f"Batch {batch.id}", f"{len(batch.items)} posts", batch.step_name, progress, "you"])
            top.setData(0, TARGET_ROLE, ("batch", batch.id))
            top.setFirstColumnSpanned(False)
            font = QFont(top.font(0))
            font.setBold(True)
            top.setFont(0, font)
            for batch_item in batch.items:
                top.addChild(self._batch_item(batch, batch_item, rows, own))
            self.addTopLevelItem(top)
            top.setExpanded(not batch.finished)  # a finished batch stays, folded, to show how each post went
        for row in rows:
            if row.id in in_batches:
                continue
            done, total = own.get(row.id, (row.done, row.total))
            item = QTreeWidgetItem([f"#{row.id}", row.post_title, row.step_name, _progress(row.status, done, total),
                                    who(row)])
            item.setData(0, TARGET_ROLE, ("run", row.id))
            if not row.mine:
                _italic(item, len(PROGRESS_COLUMNS))
            self.addTopLevelItem(item)
        if self.topLevelItemCount() == 0:
            empty = QTreeWidgetItem(["", "Nothing is running.", "", "", ""])
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.addTopLevelItem(empty)
        if current is not None:
            self._reselect(current)

    def _batch_item(self, batch: Batch, item: BatchItem, rows: list[RunRow],
                    own: dict[int, tuple[int, int]]) -> QTreeWidgetItem:
        if item.waiting:
            progress = "waiting"
        elif item.run_id is None:
            progress = "starting…" if item.active else _final(item.state)
        elif item.active:
            row = next((r for r in rows if r.id == item.run_id), None)
            done, total = own.get(item.run_id, (row.done, row.total) if row else (0, 0))
            progress = _progress(RunState.RUNNING, done, total)
        else:
            progress = _final(item.state)
        child = QTreeWidgetItem([f"#{item.run_id}" if item.run_id else "", item.post_title, batch.step_name,
                                 progress, "you"])
        child.setData(0, TARGET_ROLE, ("item", batch.id, item.post_id))
        if item.message:
            child.setToolTip(3, item.message)
        return child

    def _reselect(self, target: Any) -> None:
        for top in top_items(self):
            for item in [top, *child_items(top)]:
                if item.data(0, TARGET_ROLE) == target:
                    self.blockSignals(True)
                    self.setCurrentItem(item)
                    self.blockSignals(False)
                    return


def _progress(status: str, done: int, total: int) -> str:
    if status == RunState.QUEUED:
        return "queued"
    return f"{done}/{total} sections" if total else "running"


def _final(state: str) -> str:
    from wfdesk.services.run_history import RUN_STATE_LABELS

    return RUN_STATE_LABELS.get(state, state)


def _italic(item: QTreeWidgetItem, columns: int) -> None:
    font = QFont(item.font(0))
    font.setItalic(True)
    for i in range(columns):
        item.setFont(i, font)
