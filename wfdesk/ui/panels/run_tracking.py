"""How a step panel follows its runs: the requests it sent, the run it is attached to, what the RunController says.

StepPanel inherits this, so panels keep overriding `_on_run_finished` / `_start_progress` by name; what the events
look like on screen is the RunStatePresenter's job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfdesk.states import FINAL_UNIT_STATES
from wfdesk.ui.panels.run_notice import plain_error

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from wfdesk.ui.panels.run_banner import RunBanner
    from wfdesk.ui.panels.run_notice import RunNotice
    from wfdesk.ui.panels.run_state_presenter import RunStatePresenter
    from wfdesk.ui.run_controller import RunController


class RunTracking:
    # Set by StepPanel.
    runs: RunController
    presenter: RunStatePresenter
    banner: RunBanner
    notice: RunNotice
    status_message: SignalInstance
    step_id: int | None
    post_id: int | None
    data: dict[str, Any] | None
    run_id: int | None  # the run in flight for this step and post, when there is one
    _pending: dict[str, tuple[int, int]]  # request key -> (step, post) until run_started
    _idle_status_due: bool

    if TYPE_CHECKING:  # StepPanel's, called from here
        def _update_buttons(self) -> None: ...
        def refresh(self) -> None: ...
        def schedule_detail_reload(self) -> None: ...
        def _set_status(self, text: str, *, error: bool = False) -> None: ...
        def live_text(self, section_id: int | None, text: str) -> None: ...
        def section_finished(self, entry: dict[str, Any]) -> None: ...

    def target(self) -> tuple[int, int] | None:
        """(step, post) this panel shows, once show_step chose them."""
        if self.step_id is None or self.post_id is None:
            return None
        return self.step_id, self.post_id

    def _forget_request(self, key: object) -> tuple[int, int] | None:
        """The (step, post) a request was sent for, no longer pending; None for a request not sent from here."""
        return self._pending.pop(key, None) if isinstance(key, str) else None

    def is_running(self) -> bool:
        return self.run_id is not None or any(v == (self.step_id, self.post_id) for v in self._pending.values())

    def cancel(self) -> None:
        if not self.is_running():
            return
        if self.run_id is not None:
            self.runs.cancel(self.run_id)
        for key, target in self._pending.items():
            if target == (self.step_id, self.post_id):
                self.runs.cancel_request(key)
        self._set_status("Cancelling… sections already sent finish, their answers are discarded.")

    def _attach_active_run(self) -> None:
        for active in self.runs.active_runs():
            if (active["step_id"], active["post_id"]) != (self.step_id, self.post_id):
                continue
            if active["run_id"] is None:
                self._pending.setdefault(active["key"], (active["step_id"], active["post_id"]))
                continue
            self.run_id = active["run_id"]
            self._start_progress(active["total"] or 1)
            self.presenter.attached(active)
            current = self.presenter.picker.current_id()
            if current in active.get("texts", {}) and active["units"].get(current, {}).get("status") not in \
                    FINAL_UNIT_STATES:
                self.live_text(current, active["texts"][current])
            self.notice.clear()
        self._update_buttons()

    def _on_run_started(self, run_id: int, info: dict[str, Any]) -> None:
        self._forget_request(info.get("key"))
        if (info["step_id"], info["post_id"]) != (self.step_id, self.post_id):
            return
        self.run_id = run_id
        self.banner.clear()
        self.presenter.started(info)
        self._start_progress(len(info["units"]) or 1)
        self._update_buttons()

    def _on_unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        if run_id == self.run_id and self.presenter.unit_changed(entry):
            self.section_finished(entry)
            self.schedule_detail_reload()

    def _on_text_changed(self, run_id: int, section_id: int | None, text: str) -> None:
        if run_id != self.run_id:
            return
        self.presenter.text_changed(section_id, text)
        if section_id == self.presenter.picker.current_id() and self.presenter.units.get(section_id) not in \
                FINAL_UNIT_STATES:
            self.live_text(section_id, text)

    def _on_run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        mine = run_id == self.run_id
        self._forget_request(result.get("key"))
        if not mine and (result.get("step_id"), result.get("post_id")) != (self.step_id, self.post_id):
            return
        self.run_id = None
        self._idle_status_due = False  # the outcome below stays on screen after the reload
        self.presenter.finished(result)
        self._update_buttons()
        self.refresh()  # the reload also reloads the current section's results

    def _on_run_failed(self, key: object, message: str) -> None:
        target = self._forget_request(key)
        if target is None:
            return
        message = plain_error(message)
        self.status_message.emit(message)
        if target != (self.step_id, self.post_id):
            return
        self.presenter.refused(message, self.data["sections"] if self.data else [])
        self._update_buttons()
        self.banner.update()

    def _start_progress(self, total: int) -> None:
        self.presenter.start_progress(total)
