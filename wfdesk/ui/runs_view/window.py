"""View → Runs (and a click on the status bar's run count): runs in progress, anyone's, with this app's batches;
the history, filtered by post, step, status, date and who, a page at a time; a run's detail; and what can be done
with a run: cancel it (or its batch), resume it, run its failed sections again, open its post and step.

Everything is read in BackgroundOps (wfdesk.services.run_history); runs start and stop through the run
controller's public API only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from typing_extensions import override

from wfdesk.services import run_history
from wfdesk.services.run_history import RUN_STATE_LABELS, RunFilter
from wfdesk.states import ACTIVE_RUN_STATES
from wfdesk.ui.runs_view.batch import BatchQueue
from wfdesk.ui.runs_view.detail import RunDetailPane
from wfdesk.ui.runs_view.lists import TARGET_ROLE, HistoryList, ProgressList
from wfdesk.ui.screen_fit import fit_to_screen
from wfdesk.ui.worker import BackgroundOp

log = logging.getLogger(__name__)
POLL_MS = 4000  # colleagues' runs and runs of other processes: nothing signals them, so look again while shown
REFRESH_DELAY_MS = 300  # many section updates in a row make one refresh
PERIODS = [("Any time", None), ("Today", "today"), ("Last 7 days", 7), ("Last 30 days", 30)]
ACTIONS = [("cancel", "Cancel run"), ("cancel_batch", "Cancel batch"), ("resume", "Resume"),
           ("again", "Run failed sections again"), ("open", "Open post and step")]


def period_start(choice: Any, now: datetime | None = None) -> datetime | None:
    """The first moment a period of the When filter covers, in UTC."""
    if choice is None:
        return None
    now = now or datetime.now(UTC)
    if choice == "today":
        local = now.astimezone()
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    return now - timedelta(days=int(choice))


class RunsWindow(QWidget):
    open_requested = Signal(int, int)  # post id, step id (0: none)

    def __init__(self, ws: Any, runs: Any, batches: BatchQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Runs")
        self.ws, self.runs, self.batches = ws, runs, batches
        self._target: tuple[Any, ...] | None = None
        self._next_before: int | None = None
        self._generations = {"history": 0, "progress": 0, "detail": 0}
        self._fitted = False
        self._build()
        self._connect()

    # --- construction -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.post_filter = QLineEdit(placeholderText="Post title…", clearButtonEnabled=True)
        self.post_filter.setAccessibleName("Filter runs by post")
        self.step_filter = QComboBox()
        self.step_filter.setAccessibleName("Filter runs by step")
        self.step_filter.addItem("All steps", None)
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Filter runs by status")
        self.status_filter.addItem("All statuses", None)
        for state, label in RUN_STATE_LABELS.items():
            self.status_filter.addItem(label.capitalize(), str(state))
        self.when_filter = QComboBox()
        self.when_filter.setAccessibleName("Filter runs by date")
        for label, value in PERIODS:
            self.when_filter.addItem(label, value)
        self.mine_filter = QCheckBox("Only mine")
        filters = QHBoxLayout()
        filters.addWidget(self.post_filter, 2)
        for widget in (self.step_filter, self.status_filter, self.when_filter, self.mine_filter):
            filters.addWidget(widget)

        self.progress = ProgressList()
        self.history = HistoryList()
        self.more_button = QPushButton("Show older runs")
        self.more_button.hide()
        running_box = QGroupBox("In progress")
        QVBoxLayout(running_box).addWidget(self.progress)
        history_box = QGroupBox("History")
        history_layout = QVBoxLayout(history_box)
        history_layout.addLayout(filters)
        history_layout.addWidget(self.history, 1)
        history_layout.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignLeft)
        lists = QSplitter(Qt.Orientation.Vertical)
        lists.addWidget(running_box)
        lists.addWidget(history_box)
        lists.setSizes([170, 430])
        lists.setChildrenCollapsible(False)

        self.detail = RunDetailPane()
        self.buttons: dict[str, QPushButton] = {}
        actions = QHBoxLayout()
        for name, text in ACTIONS:
            button = QPushButton(text)
            button.setEnabled(False)
            self.buttons[name] = button
            actions.addWidget(button)
        actions.addStretch(1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(actions)
        right_layout.addWidget(self.detail, 1)
        right_layout.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(lists)
        split.addWidget(right)
        split.setSizes([700, 560])
        split.setChildrenCollapsible(False)
        QVBoxLayout(self).addWidget(split)

    def _connect(self) -> None:
        self._search_timer = QTimer(self, singleShot=True, interval=REFRESH_DELAY_MS)
        self._search_timer.timeout.connect(self.reload_history)
        self.post_filter.textChanged.connect(self._search_timer.start)
        for combo in (self.step_filter, self.status_filter, self.when_filter):
            combo.currentIndexChanged.connect(self.reload_history)
        self.mine_filter.toggled.connect(self.reload_history)
        self.more_button.clicked.connect(lambda: self._load_history(append=True))
        self.history.currentItemChanged.connect(lambda item, _p: self._chosen(item, self.progress))
        self.progress.currentItemChanged.connect(lambda item, _p: self._chosen(item, self.history))
        for name, button in self.buttons.items():
            button.clicked.connect(getattr(self, f"_{name}"))
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self._refresh_all)
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._refresh_all)
        for signal in (self.runs.run_started, self.runs.unit_changed, self.runs.run_finished, self.runs.run_failed,
                       self.runs.active_changed, self.batches.changed):
            signal.connect(self._soon)

    # --- showing ----------------------------------------------------------------------------------------------
    @override
    def showEvent(self, event) -> None:
        if not self._fitted:
            self._fitted = True
            fit_to_screen(self, 1600, 900)  # shrunk to smaller screens (1280×720: the whole screen)
        super().showEvent(event)
        self._load_steps()
        self.reload_history()
        self.reload_progress()
        self._poll.start()

    @override
    def hideEvent(self, event) -> None:
        self._poll.stop()
        super().hideEvent(event)

    def _soon(self, *_args: Any) -> None:
        if self.isVisible():
            self._refresh_timer.start()

    def _refresh_all(self) -> None:
        self.reload_progress()
        shown = self.detail.detail
        if self._target is not None and self._target[0] != "batch" and (shown is None or self.is_active(shown)):
            self._load_target()  # a run that has ended does not change: read it again only while it goes
        if self._next_before is None or self.history.topLevelItemCount() <= run_history.PAGE_SIZE:
            self.reload_history()  # the first page only: a page the editor scrolled to stays as it is

    # --- loading ----------------------------------------------------------------------------------------------
    def _run(self, kind: str, fn: Any, done: Any) -> None:
        self._generations[kind] += 1
        generation = self._generations[kind]

        def arrived(result: Any) -> None:
            if shiboken6.isValid(self) and generation == self._generations[kind]:
                done(result)

        def failed(exc: Exception) -> None:
            if shiboken6.isValid(self):
                self._failed(kind, exc)

        BackgroundOp(fn).success(arrived).failure(failed).run_in_background()

    def _failed(self, kind: str, exc: Exception) -> None:
        log.warning("runs view: reading the %s failed: %s", kind, exc)
        self.message.setText(f"Could not read the runs: {exc}")

    def _load_steps(self) -> None:
        from wfdesk.services import queries

        ws = self.ws

        def filled(steps: list[dict[str, Any]]) -> None:
            current = self.step_filter.currentData()
            self.step_filter.blockSignals(True)
            while self.step_filter.count() > 1:
                self.step_filter.removeItem(1)
            for step in steps:
                self.step_filter.addItem(step["name"], step["id"])
            self.step_filter.setCurrentIndex(max(0, self.step_filter.findData(current)))
            self.step_filter.blockSignals(False)

        BackgroundOp(lambda: queries.list_steps(ws)).success(
            lambda steps: filled(steps) if shiboken6.isValid(self) else None).run_in_background()

    def current_filter(self) -> RunFilter:
        return RunFilter(post=self.post_filter.text(), step_id=self.step_filter.currentData(),
                         status=self.status_filter.currentData(), since=period_start(self.when_filter.currentData()),
                         mine_only=self.mine_filter.isChecked())

    def reload_history(self) -> None:
        self._load_history(append=False)

    def _load_history(self, append: bool) -> None:
        ws, flt, before = self.ws, self.current_filter(), self._next_before if append else None
        self._run("history", lambda: run_history.list_runs(ws, flt, before_id=before),
                  lambda page: self._history_loaded(page, append))

    def _history_loaded(self, page: run_history.RunPage, append: bool) -> None:
        self.history.blockSignals(True)
        scrolled = self.history.verticalScrollBar().value()
        if not append:
            self.history.clear()
        self.history.add_rows(page.rows)
        if self._target is not None and self._target[0] == "run":
            self.history.select_run(self._target[1])
        self.history.blockSignals(False)
        self.history.verticalScrollBar().setValue(scrolled)  # a refresh while runs end keeps the editor's place
        self._next_before = page.next_before
        self.more_button.setVisible(page.next_before is not None)
        if not append and not page.rows:
            empty = QTreeWidgetItem(["", "No runs match."])
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.history.addTopLevelItem(empty)

    def reload_progress(self) -> None:
        ws = self.ws
        self._run("progress", lambda: run_history.runs_in_progress(ws), self._progress_loaded)

    def _progress_loaded(self, rows: list[run_history.RunRow]) -> None:
        own = {a["run_id"]: (a["done"], a["total"]) for a in self.runs.active_runs() if a.get("run_id")}
        self.progress.fill(rows, self.batches.batches(), own)
        self._update_buttons()

    # --- choosing ---------------------------------------------------------------------------------------------
    def _chosen(self, item: QTreeWidgetItem | None, other: Any) -> None:
        target = item.data(0, TARGET_ROLE) if item is not None else None
        if target is None:
            return
        other.blockSignals(True)
        other.setCurrentItem(None)
        other.clearSelection()
        other.blockSignals(False)
        self._target = tuple(target)
        self.detail.show_note("Reading the run…")
        self._load_target()

    def _run_id_of_target(self) -> int | None:
        if self._target is None:
            return None
        if self._target[0] == "run":
            return int(self._target[1])
        item = self._batch_item()
        return item.run_id if item is not None else None

    def _batch_item(self) -> Any:
        if self._target is None or self._target[0] != "item":
            return None
        batch = self.batches.batch(self._target[1])
        return next((i for i in batch.items if i.post_id == self._target[2]), None) if batch else None

    def _load_target(self) -> None:
        run_id = self._run_id_of_target()
        if run_id is None:
            self._show_batch_note()
            return
        ws = self.ws
        self._run("detail", lambda: run_history.run_detail(ws, run_id), self._detail_loaded)

    def _show_batch_note(self) -> None:
        if self._target is None:
            return
        batch = self.batches.batch(self._target[1])
        item = self._batch_item()
        if item is not None:
            state = "waits for its turn" if item.waiting else RUN_STATE_LABELS.get(item.state, item.state)
            self.detail.show_note(f"“{item.post_title}” {state} in batch {self._target[1]}."
                                  + (f"\n{item.message}" if item.message else ""))
        elif batch is not None:
            self.detail.show_note(batch.label)
        self._update_buttons()

    def _detail_loaded(self, detail: run_history.RunDetail) -> None:
        if detail.run.id != self._run_id_of_target():
            return
        self.detail.show_detail(detail)
        self._update_buttons()

    # --- actions ----------------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        from wfdesk.ui.runs_view.actions import button_states

        for name, (enabled, tip) in button_states(self).items():
            self.buttons[name].setEnabled(enabled)
            self.buttons[name].setToolTip(tip)

    def _cancel(self) -> None:
        from wfdesk.ui.runs_view.actions import cancel

        cancel(self)

    def _cancel_batch(self) -> None:
        from wfdesk.ui.runs_view.actions import cancel_batch

        cancel_batch(self)

    def _resume(self) -> None:
        from wfdesk.ui.runs_view.actions import resume

        resume(self)

    def _again(self) -> None:
        from wfdesk.ui.runs_view.actions import run_failed_again

        run_failed_again(self)

    def _open(self) -> None:
        detail = self.detail.detail
        if detail is not None and detail.run.post_id is not None:
            self.open_requested.emit(detail.run.post_id, detail.run.step_id or 0)

    def is_active_here(self, run_id: int) -> bool:
        return any(a.get("run_id") == run_id for a in self.runs.active_runs())

    def is_active(self, detail: run_history.RunDetail) -> bool:
        return detail.run.status in ACTIVE_RUN_STATES or self.is_active_here(detail.run.id)
