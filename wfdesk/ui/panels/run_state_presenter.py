"""What a step panel shows of a run: the progress bar, each section's state in the picker and the status line.

The panel hands on what the RunController reports (a run attached, started, a section changed, finished, refused);
this turns it into widgets. It keeps the state of each section of the run on screen (`units`), so a reload of the
panel's data shows the run's states over the last-run states from the database.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStyle, QStyleOptionProgressBar

from wfdesk.states import FINAL_UNIT_STATES, WORKED_ON_UNIT_STATES, RunState, UnitState
from wfdesk.ui.panels.error_style import error_html
from wfdesk.ui.panels.reuse_answers import reused_note
from wfdesk.ui.panels.run_notice import plain_error
from wfdesk.ui.panels.section_picker import SectionPicker

# How a finished run and its sections are summed up under the progress bar.
FINISHED_RUN_WORDS = {RunState.SUCCEEDED: "Finished", RunState.PARTIAL: "Finished with errors",
                      RunState.FAILED: "Failed", RunState.CANCELLED: "Cancelled"}
FINISHED_UNIT_WORDS = {UnitState.SUCCESS: "done", UnitState.ERROR: "failed", UnitState.CANCELLED: "cancelled"}


def idle_status(data: dict[str, Any]) -> str:
    """The status line of a step and post with no run in flight: what its last runs did."""
    rows = data["sections"]
    if not rows:
        return "This post has no sections: the step runs on the post as a whole."
    last_states = [(r.get("last") or {}).get("status") for r in rows]
    done, failed = last_states.count(UnitState.SUCCESS), last_states.count(UnitState.ERROR)
    cancelled = last_states.count(UnitState.CANCELLED)
    if not any(r.get("last") for r in rows):
        return "Not run on this post yet. Select sections and press Run (Ctrl+Enter)."
    parts = [f"{done} of {len(rows)} section(s) done"]
    if failed:
        parts.append(f"{failed} failed")
    if cancelled:
        parts.append(f"{cancelled} cancelled")
    return "Last runs: " + ", ".join(parts) + "."


def finished_status(result: dict[str, Any]) -> str:
    """The status line after a run: its outcome and how many sections ended how."""
    counts: dict[str, int] = {}
    for item in result.get("results") or []:
        state = item.get("status", UnitState.SUCCESS)
        counts[state] = counts.get(state, 0) + 1
    parts = [f"{counts[k]} {label}" for k, label in FINISHED_UNIT_WORDS.items() if counts.get(k)]
    head = FINISHED_RUN_WORDS.get(result.get("status", ""), "Finished")
    text = f"{head}: {', '.join(parts)}." if parts else f"{head}."
    if result.get("error") and not parts:
        text = f"{head}: {plain_error(result['error'])}"
    if note := reused_note(result):  # result cache: say which answers cost nothing
        text = f"{text} {note}"
    return text


class RunStatePresenter:
    def __init__(self, picker: SectionPicker) -> None:
        self.picker = picker
        self.units: dict[Any, str] = {}  # section id -> status in the attached run
        self.texts: dict[Any, str] = {}  # section id -> its answer so far, while the attached run streams it
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m sections")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    # --- the status line and the bar ------------------------------------------------------------------------------
    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(error_html(self.status_label, text) if error else html.escape(text))
        self.status_label.setToolTip(text)

    def status_text(self) -> str:
        return self.status_label.toolTip()

    def start_progress(self, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        # Wide enough for "300 / 300 sections" whatever the style puts around the text.
        option = QStyleOptionProgressBar()
        self.progress.initStyleOption(option)
        label = self.progress.style().subElementRect(QStyle.SubElement.SE_ProgressBarLabel, option, self.progress)
        chrome = max(0, self.progress.width() - label.width()) if self.progress.width() > 1 else 0
        text = self.progress.fontMetrics().horizontalAdvance(f"{total} / {total} sections")
        self.progress.setMinimumWidth(text + max(chrome, 2 * self.progress.fontMetrics().height()) + 8)
        self.progress.show()

    # --- section states -------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Another step or post: nothing of a run on screen."""
        self.units, self.texts = {}, {}
        self.progress.hide()

    def show_loaded(self, rows: list[dict[str, Any]]) -> None:
        """Freshly loaded sections: their last-run states, under the states of the run in flight."""
        for row in rows:
            self.show_last_state(row)
        for sid, status in self.units.items():
            self.picker.set_state(sid, status)

    def show_last_state(self, row: dict[str, Any]) -> None:
        last = row.get("last")
        if not last:
            self.picker.set_state(row["id"], None)
            return
        status = last["status"]
        if status not in FINAL_UNIT_STATES:
            self.picker.set_state(row["id"], UnitState.UNFINISHED, f"run #{last['run_id']} did not finish")
        else:
            self.picker.set_state(row["id"], status, plain_error(last["error"]) if last.get("error") else None)

    def queued(self, ids: list[int]) -> None:
        for sid in ids:
            self.units[sid] = UnitState.QUEUED
            self.picker.set_state(sid, UnitState.QUEUED)

    # --- run events -----------------------------------------------------------------------------------------------
    def attached(self, active: dict[str, Any]) -> None:
        """A run already in flight (started before this panel showed the step): its states so far. The panel
        started the bar."""
        self.units = {sid: e.get("status", UnitState.QUEUED) for sid, e in active["units"].items()}
        for sid, text in active.get("texts", {}).items():
            self.text_changed(sid, text)
        self.progress.setValue(active["done"])
        self.set_status(f"Running: {active['done']} of {active['total']} section(s) finished…")

    def started(self, info: dict[str, Any]) -> None:
        self.queued([unit["section_id"] for unit in info["units"]])
        self.set_status(f"Running on {len(info['units'])} section(s)…" if info["units"] else "Running…")

    def unit_changed(self, entry: dict[str, Any]) -> bool:
        """One section's new state; True when the section on screen just finished (its results changed)."""
        sid, status = entry.get("section_id"), entry.get("status", "")
        self.units[sid] = status
        self.picker.set_state(sid, status, plain_error(entry["error"]) if entry.get("error") else None)
        self.progress.setValue(sum(1 for s in self.units.values() if s in WORKED_ON_UNIT_STATES))
        return status in FINAL_UNIT_STATES and sid == self.picker.current_id()

    def text_changed(self, section_id: int | None, text: str) -> None:
        """A section's answer so far: a short live preview in its row while it runs."""
        self.texts[section_id] = text
        if self.units.get(section_id) == UnitState.RUNNING:
            self.picker.set_live_text(section_id, text)

    def streaming_text(self, section_id: int | None) -> str | None:
        """The answer so far of a section still being written, else None."""
        return self.texts.get(section_id) if self.units.get(section_id) == UnitState.RUNNING else None

    def finished(self, result: dict[str, Any]) -> None:
        self.units, self.texts = {}, {}  # the ledger has the final states now; the panel's reload shows them
        results = result.get("results") or []
        # What was done: a cancelled run's skipped sections do not fill the bar.
        self.progress.setValue(sum(1 for r in results if r.get("status", UnitState.SUCCESS) in WORKED_ON_UNIT_STATES)
                               if results else self.progress.maximum())
        self.set_status(finished_status(result), error=result.get("status") == RunState.FAILED)

    def refused(self, message: str, rows: list[dict[str, Any]]) -> None:
        """The run never started: the queued sections go back to their last-run states."""
        for sid, status in list(self.units.items()):
            if status == UnitState.QUEUED:
                self.picker.set_state(sid, None)
                self.units.pop(sid)
        for row in rows:
            if row["id"] not in self.units:
                self.show_last_state(row)
        self.progress.hide()
        self.set_status(f"Not run: {message}", error=True)

