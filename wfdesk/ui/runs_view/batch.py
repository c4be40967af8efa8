"""A batch: one step run on several posts, queued in the app and started a few at a time through the run
controller's public API (start / cancel / cancel_request and its signals), so a batch of 40 posts neither takes
every run slot from the editor nor floods the provider. Cancelling a batch drops its waiting posts and cancels
its runs in flight; one post can be taken out the same way."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal

from wfdesk.states import ACTIVE_RUN_STATES, RunState

log = logging.getLogger(__name__)
BATCH_PARALLEL = 2  # runs of one batch going at once; the rest wait their turn in the app
_ids = itertools.count(1)


@dataclass
class BatchItem:
    post_id: int
    post_title: str
    section_ids: list[int]
    state: str = RunState.QUEUED  # queued: waiting its turn (no run yet); then the run's own state
    key: str | None = None  # the controller's request key, once started
    run_id: int | None = None
    message: str = ""

    @property
    def waiting(self) -> bool:
        return self.state == RunState.QUEUED and self.key is None

    @property
    def active(self) -> bool:
        return self.key is not None and self.state in ACTIVE_RUN_STATES


@dataclass
class Batch:
    id: int
    step_id: int
    step_name: str
    items: list[BatchItem] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return all(not (i.waiting or i.active) for i in self.items)

    def counts(self) -> tuple[int, int]:
        """(posts finished, posts in the batch)."""
        return sum(1 for i in self.items if not (i.waiting or i.active)), len(self.items)

    @property
    def label(self) -> str:
        done, total = self.counts()
        return f"Batch {self.id}: “{self.step_name}” on {total} post{'s' if total != 1 else ''} ({done} done)"


class BatchQueue(QObject):
    changed = Signal()

    def __init__(self, runs: Any, parent: QObject | None = None, parallel: int = BATCH_PARALLEL) -> None:
        super().__init__(parent)
        self.runs, self.parallel = runs, parallel
        self._batches: list[Batch] = []
        self._by_key: dict[str, BatchItem] = {}
        runs.run_started.connect(self._started)
        runs.run_finished.connect(self._finished)
        runs.run_failed.connect(self._failed)

    def batches(self) -> list[Batch]:
        return list(self._batches)

    def batch(self, batch_id: int) -> Batch | None:
        return next((b for b in self._batches if b.id == batch_id), None)

    def submit(self, step_id: int, step_name: str, posts: list[tuple[int, str]],
               sections: dict[int, list[int]]) -> Batch:
        """Queue `step_id` on every post (all its sections); starts the first ones at once."""
        batch = Batch(next(_ids), step_id, step_name,
                      [BatchItem(pid, title, list(sections.get(pid, []))) for pid, title in posts])
        self._batches.append(batch)
        self._pump()
        self.changed.emit()
        return batch

    def cancel_batch(self, batch_id: int) -> None:
        batch = self.batch(batch_id)
        for item in batch.items if batch else []:
            self._cancel(item)
        self.changed.emit()

    def cancel_item(self, batch_id: int, post_id: int) -> None:
        batch = self.batch(batch_id)
        item = next((i for i in batch.items if i.post_id == post_id), None) if batch else None
        if item is not None:
            self._cancel(item)
            self._pump()
            self.changed.emit()

    def item_of_run(self, run_id: int) -> tuple[Batch, BatchItem] | None:
        for batch in self._batches:
            for item in batch.items:
                if item.run_id == run_id:
                    return batch, item
        return None

    def _cancel(self, item: BatchItem) -> None:
        if item.waiting:
            item.state, item.message = RunState.CANCELLED, "taken out of the batch before it started"
        elif item.active:
            if item.run_id is not None:
                self.runs.cancel(item.run_id)
            elif item.key is not None:
                self.runs.cancel_request(item.key)

    def _pump(self) -> None:
        """Start waiting posts while fewer than `parallel` of a batch's runs go."""
        for batch in self._batches:
            going = sum(1 for i in batch.items if i.active)
            for item in batch.items:
                if going >= self.parallel:
                    break
                if item.waiting:
                    context: dict[str, Any] = {"section_ids": item.section_ids} if item.section_ids else {}
                    item.key = self.runs.start(batch.step_id, item.post_id, context)
                    item.state = RunState.RUNNING
                    self._by_key[item.key] = item
                    going += 1

    def _started(self, run_id: int, info: Any) -> None:
        key = info.get("key") if isinstance(info, dict) else None
        item = self._by_key.get(key) if isinstance(key, str) else None
        if item is not None:
            item.run_id = run_id
            self.changed.emit()

    def _finished(self, run_id: int, payload: Any) -> None:
        key = payload.get("key") if isinstance(payload, dict) else None
        item = self._by_key.pop(key, None) if isinstance(key, str) else None
        if item is None:
            return
        item.run_id = run_id
        status = payload.get("status")
        item.state = status if isinstance(status, str) and status not in ACTIVE_RUN_STATES else RunState.SUCCEEDED
        self._pump()
        self.changed.emit()

    def _failed(self, key: object, message: str) -> None:
        item = self._by_key.pop(key, None) if isinstance(key, str) else None
        if item is None:
            return
        item.state, item.message = RunState.FAILED, message
        self._pump()
        self.changed.emit()
