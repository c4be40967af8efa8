"""One run in detail: who started it and where it ran, its sections with the prompt each was sent, the answer,
tokens, cost, duration and error, and the run's effective config and context. The actions are the window's."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFormLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wfdesk.services.run_history import RUN_STATE_LABELS
from wfdesk.states import UnitState
from wfdesk.ui.runs_view.lists import money, when, who_in_full
from wfdesk.ui.tree_items import set_current_item, top_items

if TYPE_CHECKING:
    from wfdesk.services.run_history import RunDetail, UnitDetail

UNIT_ROLE = Qt.ItemDataRole.UserRole
UNIT_LABELS: dict[str, str] = {UnitState.SUCCESS: "done", UnitState.ERROR: "failed", UnitState.CANCELLED: "cancelled",
               UnitState.QUEUED: "not run yet", UnitState.RUNNING: "running", UnitState.INTERRUPTED: "interrupted"}
INFO_ROWS = ["Status", "Started by", "Ran on", "Started", "Duration", "Sections", "Tokens", "Cost", "Error"]


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s"


def _text_box(name: str) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(True)
    box.setAccessibleName(name)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return box


class RunDetailPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.detail: RunDetail | None = None
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.heading.font()
        bold.setBold(True)
        self.heading.setFont(bold)
        self.info: dict[str, QLabel] = {}
        self.form = form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(2)
        for name in INFO_ROWS:
            label = QLabel()
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.info[name] = label
            form.addRow(f"{name}:", label)
        self.units = QTreeWidget()
        self.units.setHeaderLabels(["Section", "Status", "Tokens", "Cost", "Time"])
        self.units.setAccessibleName("Sections of the run")
        self.units.setRootIsDecorated(False)
        self.units.header().setStretchLastSection(False)
        for i in range(5):
            self.units.header().setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.units.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.prompt = _text_box("Prompt sent")
        self.answer = _text_box("Answer")
        self.error = _text_box("Error")
        self.config = _text_box("Effective config")
        self.context = _text_box("Context")
        self.tabs = QTabWidget()
        for box, title in ((self.prompt, "Prompt sent"), (self.answer, "Answer"), (self.error, "Error"),
                           (self.config, "Config"), (self.context, "Context")):
            self.tabs.addTab(box, title)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.units)
        split.addWidget(self.tabs)
        split.setSizes([140, 260])
        split.setChildrenCollapsible(False)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(form)
        body.addWidget(split, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.body, 1)
        self.units.currentItemChanged.connect(lambda item, _prev: self._show_unit(item))
        self.show_note("Click a run to see what it sent and what came back.")

    def show_note(self, text: str) -> None:
        """A line instead of a run (nothing chosen, a batch, a post still waiting in one)."""
        self.detail = None
        self.heading.setText(text)
        self.body.hide()

    def show_detail(self, detail: RunDetail) -> None:
        """Show a run; the same run shown again (it is still going) keeps the section the editor is reading."""
        same = self.detail is not None and self.detail.run.id == detail.run.id
        current = self.units.currentItem()
        keep = current.data(0, UNIT_ROLE) if same and current is not None else None
        tab = self.tabs.currentIndex()
        self.detail = detail
        run = detail.run
        self.heading.setText(f"Run #{run.id}: “{run.step_name}” on “{run.post_title}”")
        errors = run.failed
        values = {
            "Status": RUN_STATE_LABELS.get(run.status, run.status),
            "Started by": who_in_full(run),
            "Ran on": detail.where,
            "Started": when(run.started_at or run.created_at),
            "Duration": duration_text(run.duration_s) or ("still running" if not run.finished_at else ""),
            "Sections": f"{run.counts.get(UnitState.SUCCESS, 0)} done, {errors} failed, {run.total} in all",
            "Tokens": f"{run.prompt_tokens:,} in, {run.completion_tokens:,} out",
            "Cost": money(run.cost) or "$0.00",
            "Error": run.error or "",
        }
        for name, label in self.info.items():
            label.setText(values[name])
        self.form.setRowVisible(self.info["Error"], bool(run.error))
        self.config.setPlainText(json.dumps(detail.effective_config, indent=2, ensure_ascii=False))
        self.context.setPlainText(json.dumps(detail.context, indent=2, ensure_ascii=False))
        self.units.clear()
        for unit in detail.units:
            took = duration_text(unit.duration_ms / 1000) if unit.duration_ms is not None else ""
            item = QTreeWidgetItem([unit.section_title, UNIT_LABELS.get(unit.status, unit.status), _tokens(unit),
                                    money(unit.cost), took])
            item.setData(0, UNIT_ROLE, unit.id)
            if unit.error:
                item.setToolTip(1, unit.error)
            self.units.addTopLevelItem(item)
        self.body.show()
        items = top_items(self.units)
        chosen = next((i for i in items if i.data(0, UNIT_ROLE) == keep), items[0] if items else None)
        set_current_item(self.units, chosen)
        if chosen is None:
            self._show_unit(None)
        if same:
            self.tabs.setCurrentIndex(tab)

    def _show_unit(self, item: QTreeWidgetItem | None) -> None:
        unit = self._unit(item.data(0, UNIT_ROLE)) if item is not None else None
        if unit is None:
            for box in (self.prompt, self.answer, self.error):
                box.setPlainText("")
            return
        self.prompt.setPlainText(unit.prompt or "(this step sends no prompt, or the run is older than the "
                                                 "record of prompts)")
        self.answer.setPlainText(unit.answer or "")
        self.error.setPlainText(unit.error or "")
        if unit.error and not unit.answer:
            self.tabs.setCurrentWidget(self.error)

    def _unit(self, unit_id: Any) -> UnitDetail | None:
        if self.detail is None:
            return None
        return next((u for u in self.detail.units if u.id == unit_id), None)


def _tokens(unit: UnitDetail) -> str:
    if unit.images:
        return f"{unit.images} image{'s' if unit.images != 1 else ''}"
    total = unit.prompt_tokens + unit.completion_tokens
    return f"{total:,}" if total else ""
