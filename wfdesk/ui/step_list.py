"""The workflow steps of the selected post, grouped by stage, each with its state for that post.

States come from the database (queries.step_states) and are kept live between reloads from the RunController's
signals, so "running 3/8" counts up without a query per section. Runs this window did not start (the command line,
a colleague on the shared database, a run process that outlived a crashed app) are seen through the window's
ChangeHub: on a shared PostgreSQL database they are announced, and the states are re-read when one is; elsewhere
(SQLite, or while the live connection is down) by re-reading the states every few seconds while the list is shown.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from wfdesk.states import FINAL_UNIT_STATES, StepState
from wfdesk.ui.icons import state_colour, state_icon
from wfdesk.ui.tree_items import child_items, set_current_item, top_items
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:  # the engine is imported once the workspace is open, never before the first paint
    from wfdesk.services.changes import Changes
    from wfdesk.services.shapes import StepRow, StepStateInfo
    from wfdesk.ui.change_hub import ChangeHub
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
ID_ROLE = Qt.ItemDataRole.UserRole
TYPE_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_LABELS = {"llm_action": "Text (LLM)", "image_generation": "Images", "custom_script": "Custom script"}
COL_STEP, COL_KIND, COL_STATE = range(3)
POLL_MS = 3000  # how soon a run started elsewhere shows; three small queries each time


class StepListWidget(QTreeWidget):
    step_selected = Signal(int, str)  # step id (0: none), script type
    loaded = Signal()

    def __init__(self, ws: Workspace | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws = ws  # None while the window opens the database
        self.post_id = 0
        self.steps: dict[int, dict[str, Any]] = {}
        self.states: dict[int, dict[str, Any]] = {}
        self._live: dict[int, dict[str, Any]] = {}  # run_id -> step_id, done, total (runs on this post)
        self._generation = 0
        self._current = 0
        self.setHeaderLabels(["Step", "Kind", "State for this post"])
        self.setUniformRowHeights(True)
        self.setAccessibleName("Workflow steps")
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_STEP, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_KIND, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_STATE, QHeaderView.ResizeMode.ResizeToContents)
        self.currentItemChanged.connect(self._current_changed)
        self._polling = self._again = False
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._refresh_states)
        self._poll.start()

    def watch(self, hub: ChangeHub) -> None:
        """Refresh on the window's changes; no polling while colleagues' changes are heard live."""
        hub.changed.connect(self._changes_heard)
        hub.live_changed.connect(lambda live: self._poll.stop() if live else self._poll.start())

    def _changes_heard(self, changes: Changes) -> None:
        if changes.touches_steps():
            self.reload()  # a step added, renamed or its config saved
        elif changes.touches_runs() or (self.post_id and changes.touches_content_of(self.post_id)):
            self._refresh_states()  # a run went on, or results were accepted or rejected

    # --- loading ------------------------------------------------------------------------------------------

    def set_post(self, post_id: int) -> None:
        if post_id != self.post_id:
            self._live.clear()
        self.post_id = post_id
        self.reload()

    def reload(self) -> None:
        if self.ws is None:
            return
        self._generation += 1
        generation, ws, post_id = self._generation, self.ws, self.post_id

        def load() -> tuple[list[StepRow], dict[int, StepStateInfo]]:
            from wfdesk.services import queries

            states: dict[int, StepStateInfo] = queries.step_states(ws, post_id) if post_id else {}
            return queries.list_steps(ws), states

        (BackgroundOp(load)
         .success(lambda result: self._loaded(generation, *result))
         .failure(self._failed)
         .run_in_background())

    def _failed(self, exc: Exception) -> None:
        log.warning("loading steps failed: %s", exc)
        self.clear()
        item = QTreeWidgetItem([f"Cannot read the steps: {exc}"])
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.addTopLevelItem(item)
        item.setFirstColumnSpanned(True)

    def _loaded(self, generation: int, steps: list[dict[str, Any]], states: dict[int, dict[str, Any]]) -> None:
        if generation != self._generation:
            return
        self.steps = {s["id"]: s for s in steps}
        self.states = states
        self.blockSignals(True)
        self.clear()
        stages: dict[str, QTreeWidgetItem] = {}
        chosen = None
        bold = QFont(self.font())
        bold.setBold(True)
        for step in steps:
            stage = step["stage"] or "No stage"
            parent = stages.get(stage)
            if parent is None:
                parent = QTreeWidgetItem([stage])
                parent.setFont(COL_STEP, bold)
                parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
                parent.setFirstColumnSpanned(False)
                self.addTopLevelItem(parent)
                stages[stage] = parent
            item = QTreeWidgetItem(parent, [step["name"], KIND_LABELS.get(step["script_type"],
                                                                           step["script_type"])])
            item.setData(0, ID_ROLE, step["id"])
            item.setData(0, TYPE_ROLE, step["script_type"])
            item.setToolTip(COL_STEP, f"{step['name']}\nType: {step['script_type']}\nStage: {stage}")
            self._paint_state(item, self._state_for(step["id"]))
            if step["id"] == self._current:
                chosen = item
        if not steps:
            item = QTreeWidgetItem(["No steps yet: Step → New step…"])
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.addTopLevelItem(item)
            item.setFirstColumnSpanned(True)
        self.expandAll()
        if chosen is None and steps:
            chosen = self._first_step_item()
        set_current_item(self, chosen)
        self.blockSignals(False)
        self._emit_current(chosen)
        self.loaded.emit()

    def _refresh_states(self) -> None:
        """Re-read the states only (no rebuild, no change of the chosen step): what other processes did."""
        if self.ws is None or not self.post_id or not self.isVisible():
            return
        if self._polling:
            self._again = True  # news heard while a read is under way: read once more after it
            return
        self._polling, self._again = True, False
        generation, ws, post_id = self._generation, self.ws, self.post_id

        def load() -> dict[int, StepStateInfo]:
            from wfdesk.services import queries

            return queries.step_states(ws, post_id)

        def loaded(states: dict[int, dict[str, Any]]) -> None:
            self._read_done()
            if generation != self._generation or states == self.states:
                return
            self.states = states
            for step_id in self.steps:
                self._repaint(step_id)

        def failed(exc: Exception) -> None:
            self._read_done()
            log.debug("re-reading the step states failed: %s", exc)

        BackgroundOp(load).success(loaded).failure(failed).run_in_background()

    def _read_done(self) -> None:
        self._polling = False
        if self._again:
            QTimer.singleShot(0, self, self._refresh_states)

    def _first_step_item(self) -> QTreeWidgetItem | None:
        for stage in top_items(self):
            if steps := child_items(stage):
                return steps[0]
        return None

    # --- states -------------------------------------------------------------------------------------------

    def _state_for(self, step_id: int) -> dict[str, Any]:
        from wfdesk.services import queries  # loaded with the workspace: free here

        for live in self._live.values():
            if live["step_id"] == step_id:
                return {"state": StepState.RUNNING, "done": live["done"], "total": live["total"],
                        "label": queries.state_label(StepState.RUNNING, live["done"], live["total"])}
        if not self.post_id:
            return {"state": StepState.NEVER, "label": "—"}
        return self.states.get(step_id) or {"state": StepState.NEVER,
                                            "label": queries.state_label(StepState.NEVER)}

    def _paint_state(self, item: QTreeWidgetItem, state: dict[str, Any]) -> None:
        item.setIcon(COL_STATE, state_icon(state["state"]))
        item.setText(COL_STATE, state["label"])
        item.setData(COL_STATE, ID_ROLE, state["state"])
        colour = state_colour(state["state"])
        if colour is not None and state["state"] in ("failed", "review", "interrupted"):
            item.setForeground(COL_STATE, colour)
        else:
            item.setData(COL_STATE, Qt.ItemDataRole.ForegroundRole, None)
        tip = state["label"]
        if state.get("error"):
            tip += f"\n{state['error']}"
        item.setToolTip(COL_STATE, tip)

    def item_for(self, step_id: int) -> QTreeWidgetItem | None:
        for stage in top_items(self):
            for step in child_items(stage):
                if step.data(0, ID_ROLE) == step_id:
                    return step
        return None

    def _repaint(self, step_id: int) -> None:
        item = self.item_for(step_id)
        if item is not None:
            self._paint_state(item, self._state_for(step_id))

    def run_started(self, run_id: int, info: dict[str, Any]) -> None:
        if info.get("post_id") != self.post_id or not info.get("step_id"):
            return
        self._live[run_id] = {"step_id": info["step_id"], "done": 0, "total": len(info.get("units") or []),
                              "key": info.get("key")}
        self._repaint(info["step_id"])

    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        live = self._live.get(run_id)
        if live is not None and entry.get("status") in FINAL_UNIT_STATES:
            live["done"] = min(live["total"] or live["done"] + 1, live["done"] + 1)
            self._repaint(live["step_id"])

    def run_finished(self, run_id: int, _result: Any = None) -> None:
        """Any finished run may change a state here (review candidates too): re-read them all, it is cheap."""
        self._live.pop(run_id, None)
        self.reload()

    def run_failed(self, key: object) -> None:
        """A run that ended without a result (refused, or its process died): it no longer counts as running; the
        database says what became of it (e.g. interrupted)."""
        for run_id in [r for r, live in self._live.items() if live.get("key") == key]:
            self._live.pop(run_id)
        self.reload()

    # --- selection ----------------------------------------------------------------------------------------

    def current_step(self) -> tuple[int, str]:
        item = self.currentItem()
        if item is None or not item.data(0, ID_ROLE):
            return 0, ""
        return item.data(0, ID_ROLE), item.data(0, TYPE_ROLE)

    def select_step(self, step_id: int) -> None:
        item = self.item_for(step_id)
        if item is not None:
            self.setCurrentItem(item)
        else:
            self._current = step_id  # picked up by the next reload

    def _current_changed(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None and not item.data(0, ID_ROLE):
            return  # a stage header: the step panel stays as it is
        self._emit_current(item)

    def _emit_current(self, item: QTreeWidgetItem | None) -> None:
        step_id = (item.data(0, ID_ROLE) if item is not None else 0) or 0
        if step_id != self._current:
            self._current = step_id
            kind = item.data(0, TYPE_ROLE) if item is not None and step_id else ""
            self.step_selected.emit(step_id, kind or "")
