"""StepPanel: what every script type's panel shares.

Header (step, stage, type, one-line description), the section picker, the step's inputs and LLM settings as
run-time overrides, Run / Cancel, an overall progress bar and a status line. Subclasses supply the results area.
Data is loaded with BackgroundOps and runs go through the RunController, so the GUI thread only updates widgets.
A banner (RunNotice) tells when the last run was interrupted, cancelled or failed, offering to resume only the
sections left, says plainly when the provider could not be reached, and warns before a run when it is offline.

The panel composes its parts and hands on what happens between them: StepHeader (the head), RunOptions (the
folding overrides), RunBanner (the banner's logic), RunStatePresenter (run events into the bar, the picker's states
and the status line) and ResultsSplitter (where the results area sits).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from typing_extensions import override

from wfdesk.runs import team_queue
from wfdesk.services import review
from wfdesk.ui.panels.error_style import error_color, is_dark, show_last_failure
from wfdesk.ui.panels.panel_hooks import PanelHooks
from wfdesk.ui.panels.results_splitter import WIDE_LAYOUT_PX, ResultsSplitter
from wfdesk.ui.panels.run_banner import RunBanner, known_offline_reason
from wfdesk.ui.panels.run_options import RunOptions
from wfdesk.ui.panels.run_state_presenter import (
    FINISHED_RUN_WORDS,
    FINISHED_UNIT_WORDS,
    RunStatePresenter,
    idle_status,
)
from wfdesk.ui.panels.run_tracking import RunTracking
from wfdesk.ui.panels.section_picker import SectionPicker
from wfdesk.ui.panels.step_header import StepHeader
from wfdesk.ui.provider_status import step_provider_address
from wfdesk.ui.run_controller import RunController
from wfdesk.ui.worker import BackgroundOp
from wfdesk.workspace import Workspace

# Names other modules and plugins import from here.
__all__ = ["FINISHED_RUN_WORDS", "FINISHED_UNIT_WORDS", "WIDE_LAYOUT_PX", "StepPanel", "error_color", "is_dark",
           "show_last_failure"]

WORKERS_NEED_POSTGRES_TIP = ("Only with the team's PostgreSQL database: workers on other machines cannot reach a "
                             "database file on this computer")
DETAIL_REFRESH_MS = 150  # coalesces bursts of finished sections into one reload of the results area


class StepPanel(RunTracking, PanelHooks, QWidget):
    status_message = Signal(str)
    loaded = Signal()  # the data of the current step and post is on screen
    busy_changed = Signal(bool)  # a run of this step on this post started (True) or ended (False)
    content_changed = Signal()  # the editor changed results (accepted, rejected, reverted): states may differ now
    # Keys that work inside this panel, for Help → Keyboard shortcuts: (keys, what they do). Subclasses with their
    # own QActions list them here too, so the help shows them before the panel was first opened.
    SHORTCUTS: ClassVar[tuple[tuple[str, str], ...]] = ()

    script_type: ClassVar[str] = ""

    def __init__(self, ws: Workspace, runs: RunController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws, self.runs = ws, runs
        self.step_id: int | None = None
        self.post_id: int | None = None
        self.data: dict[str, Any] | None = None
        self.run_id: int | None = None  # the run in flight for this step and post, when there is one
        self._load_gen = 0
        self._pending: dict[str, tuple[int, int]] = {}  # request key -> (step, post) until run_started
        self._checked: dict[tuple[int, int], set[int]] = {}  # remembered selection per step and post
        self._idle_status_due = True  # a fresh step/post shows its summary; a run's outcome stays until then
        self._detail_timer = QTimer(self, singleShot=True, interval=DETAIL_REFRESH_MS)
        self._detail_timer.timeout.connect(self.reload_detail)
        self._build()
        runs.run_started.connect(self._on_run_started)
        runs.unit_changed.connect(self._on_unit_changed)
        runs.text_changed.connect(self._on_text_changed)
        runs.run_finished.connect(self._on_run_finished)
        runs.run_failed.connect(self._on_run_failed)
        runs.providers.changed.connect(self._on_provider_changed)  # a slot of the panel: gone with it

    # --- layout -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.header = StepHeader()
        self.title_label, self.meta_label = self.header.title_label, self.header.meta_label
        self.description_label, self.config_error_label = (self.header.description_label,
                                                           self.header.config_error_label)
        self.picker = SectionPicker()
        self.picker.current_changed.connect(self.section_shown)
        self.picker.checked_changed.connect(lambda _ids: self._update_buttons())
        self.options = RunOptions(self.llm_fields)
        self.options.set_workers(team_queue.workers_available(self.ws), WORKERS_NEED_POSTGRES_TIP)

        self.sections_pane = left = QWidget()  # the picker and the run options, beside the results
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.picker, 3)
        left_layout.addWidget(self.options, 0)
        self.results = self.build_results()
        self.splitter = ResultsSplitter(left, self.results)
        self.splitter.fit_width(self.width(), force=True)

        self.presenter = RunStatePresenter(self.picker)
        self.progress, self.status_label = self.presenter.progress, self.presenter.status_label
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this run (Esc): queued sections are skipped, late answers discarded")
        self.cancel_button.clicked.connect(self.cancel)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run this step on the selected sections (Ctrl+Enter)")
        self.run_button.setDefault(True)
        # Not connected to run() itself: Qt would hand its `checked` flag (False) to run() as the section ids.
        self.run_button.clicked.connect(lambda: self.run())
        bar = QHBoxLayout()
        bar.addWidget(self.progress)
        bar.addWidget(self.status_label, 1)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.run_button)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(line)
        self.banner = RunBanner(self)
        self.notice = self.banner.notice
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(bar)
        # Ctrl+Enter and Esc are the main window's Step menu actions (dispatched to the panel on screen), never
        # shortcuts of their own: several panels binding the same key make Qt find it ambiguous and fire none.
        self._busy = False
        self._update_buttons()

    # The run options' widgets, by the names tests and subclasses have always used (rebuilt with every step).
    options_toggle = property(lambda self: self.options.toggle)
    options_summary = property(lambda self: self.options.summary)
    options_box = property(lambda self: self.options.box)
    options_form = property(lambda self: self.options.form)
    model_edit = property(lambda self: self.options.model_edit)
    temperature_spin = property(lambda self: self.options.temperature_spin)
    _input_editors = property(lambda self: self.options.input_editors)

    @override
    def hasHeightForWidth(self) -> bool:
        # The wrapped labels would make a scroll area size the panel to its preferred height (taller than the
        # window); the panel fits the height it is given and its lists scroll instead.
        return False

    @override
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.splitter.fit_width(self.width())

    # --- public API -----------------------------------------------------------------------------------------------
    def show_step(self, step_id: int, post_id: int) -> None:
        """Show this step for this post; data loads in the background, a run still in flight is reattached."""
        self._remember_checked()
        changed = (step_id, post_id) != (self.step_id, self.post_id)
        self.step_id, self.post_id = step_id, post_id
        if changed:
            self.data = None
            self.run_id = None
            self.presenter.reset()
            self._set_status("Loading…")
            self.header.show_title("Loading…")
            self.picker.set_sections([])
            self._idle_status_due = True
            self.banner.clear()
        self._attach_active_run()
        self._load()

    def refresh(self) -> None:
        """Reload after an external change (a section edited, a config saved)."""
        if self.target() is not None:
            self._remember_checked()
            self._load()

    def run(self, section_ids: list[int] | None = None, *, offline_ok: bool = False) -> str | None:
        """Run the step on the checked sections (or on section_ids). Returns the request key, or None with the
        reason in the status line. When the provider is known to be offline the banner asks first ("Run anyway");
        offline_ok skips that question."""
        target = self.target()
        if self.data is None or target is None:
            return None
        ids = section_ids if section_ids is not None else self.picker.checked_ids()
        refusal = self._refusal(ids)
        if refusal is not None:
            text, error = refusal
            self._set_status(text, error=error)
            return None
        if self.options.on_workers():  # a worker's own provider settings apply, not this computer's
            self.banner.clear()
            self._queue_on_workers(target, ids)
            return None
        offline = None if offline_ok else self.provider_offline()
        if offline is not None:
            self.banner.ask_offline(ids, offline)
            self._set_status("Not started yet: the provider looks offline (see above).")
            return None
        self.banner.clear()
        key = self.runs.start(*target, self._run_context(ids))
        self._pending[key] = target
        self.presenter.queued(ids)
        self._start_progress(len(ids) or 1)
        self._set_status(f"Starting on {len(ids)} section(s)…" if ids else "Starting on the post…")
        self._update_buttons()
        return key

    def _queue_on_workers(self, target: tuple[int, int], ids: list[int]) -> None:
        """The team's workers (issue 17): queued in the database, executed by `wfdesk worker`; the step list and
        this panel show the run as they refresh."""
        ws, (step_id, post_id), context = self.ws, target, self._run_context(ids)
        self._set_status(f"Queuing {len(ids)} section(s) for the team's workers…")

        def queued(run: team_queue.QueuedRun) -> None:
            self._set_status(f"Run #{run.run_id} is queued for the team's workers ({run.sections} section(s)).")
            self.content_changed.emit()  # the step list shows the run as it rereads the states
            self.refresh()

        self.in_background(lambda: team_queue.queue_step(ws, step_id, post_id, context), queued)

    def _refusal(self, ids: list[int]) -> tuple[str, bool] | None:
        """(why not, whether it is an error) when a run cannot start as things are, else None."""
        assert self.data is not None
        if self.is_running():
            return "This step is already running on this post.", False
        if self.data["step"]["config_error"]:
            return self.data["step"]["config_error"], True  # names the cause and where to fix it
        problem = self.run_problem()
        if problem:
            return problem, True
        if self.data["sections"] and not ids:
            return "Select at least one section to run.", True
        return None

    def _run_context(self, ids: list[int]) -> dict[str, Any]:
        assert self.data is not None
        context: dict[str, Any] = {"section_ids": ids} if self.data["sections"] else {}
        inputs = self.input_overrides()
        if inputs:
            context["inputs"] = inputs
        settings = self.llm_overrides()
        if settings:
            context["llm_settings"] = settings
        context.update(self.extra_context())
        return context

    def resume(self) -> str | None:
        """Run again only the sections of the latest run that never finished (the banner's button). Returns the
        request key, or None when there is nothing to resume."""
        latest = (self.data or {}).get("latest_run")
        target = self.target()
        if not latest or not latest.get("resumable") or self.is_running() or target is None:
            return None
        key = self.runs.resume(latest["run_id"], step_id=target[0], post_id=target[1])
        self._pending[key] = target
        ids = latest["unfinished_section_ids"]
        self.presenter.queued(ids)
        self.notice.clear()
        self._start_progress(len(ids) or 1)
        self._set_status(f"Resuming run #{latest['run_id']} on the {len(ids)} section(s) left…")
        self._update_buttons()
        return key

    def provider_address(self) -> str | None:
        """The provider address this step talks to (None: none, e.g. a custom script's own endpoint)."""
        if self.data is None:
            return None
        step = self.data["step"]
        return step_provider_address(self.ws, step["script_type"], step["config"])

    def provider_offline(self) -> tuple[str, str] | None:
        """(address, reason) when the provider this step talks to is known to be offline. Never touches the
        network."""
        address = self.provider_address()
        if address is None or self.data is None:
            return None
        reason = known_offline_reason(self.ws, self.runs, self.data["step"], address)
        return (address, reason) if reason else None

    def _on_provider_changed(self) -> None:
        self.banner.provider_changed()

    # --- inputs and settings ------------------------------------------------------------------------------------
    def input_overrides(self) -> dict[str, str]:
        """Only the inputs the editor typed something into: the rest come from each section's own field."""
        return self.options.input_overrides()

    def llm_overrides(self) -> dict[str, Any]:
        return self.options.llm_overrides()

    def _build_options(self, data: dict[str, Any]) -> None:
        self.options.rebuild(data["step"]["inputs"], self.llm_defaults(data),
                             lambda form: self.add_options(form, data), self._update_options_summary)
        self._update_options_summary()

    def _update_options_summary(self) -> None:
        """One line telling what the next run uses, so the folded options never surprise anyone."""
        self.options.update_summary((self.data or {}).get("step", {}).get("inputs") or {}, self.options_note())

    # --- loading ------------------------------------------------------------------------------------------------
    def _load(self) -> None:
        target = self.target()
        if target is None:
            return
        self._load_gen += 1
        gen, ws, (step_id, post_id) = self._load_gen, self.ws, target
        self.in_background(lambda: review.panel_data(ws, step_id, post_id),
                           partial(self._on_loaded, gen), partial(self._on_load_failed, gen))

    def _on_loaded(self, gen: int, data: dict[str, Any]) -> None:
        if gen != self._load_gen:
            return  # the editor moved on to another step or post meanwhile
        rebuild = self.data is None or self.data["step"] != data["step"]
        self.data = data
        step = data["step"]
        self.header.show_step(step)
        if rebuild:
            self._build_options(data)
        current = self.picker.current_id()
        first = next(iter(step["inputs"].values()), None)
        label = first["label"] if first else "Input"
        target = self.target()
        checked = self._checked.get(target) if target is not None else None
        self.picker.set_sections(data["sections"], checked, label, current)
        self.presenter.show_loaded(data["sections"])
        if not self.is_running() and self._idle_status_due:
            self._set_status(idle_status(data))
            self._idle_status_due = False
        self._update_buttons()
        self.banner.update()
        self.data_loaded(data)
        self.loaded.emit()

    def _on_load_failed(self, gen: int, exc: Exception) -> None:
        if gen != self._load_gen:
            return
        self.header.show_title("Cannot show this step")
        self.description_label.setText("")
        self._set_status(str(exc), error=True)
        self.status_message.emit(str(exc))
        self._update_buttons()

    def _remember_checked(self) -> None:
        target = self.target()
        if self.data is not None and target is not None:
            self._checked[target] = set(self.picker.checked_ids())

    def in_background(self, fn: Callable[[], Any], success: Callable[[Any], None],
                      failure: Callable[[Exception], None] | None = None,
                      finished: Callable[[], None] | None = None) -> None:
        """Run fn on a worker; the callbacks run on the GUI thread, and only while this panel still exists."""
        def alive(callback: Callable[..., None]) -> Callable[..., None]:
            return lambda *args: callback(*args) if shiboken6.isValid(self) else None

        op = BackgroundOp(fn).success(alive(success))
        op.failure(alive(failure or (lambda exc: self._set_status(str(exc), error=True))))
        if finished is not None:
            op.finished(alive(finished))
        op.run_in_background()

    def schedule_detail_reload(self) -> None:
        if not self._detail_timer.isActive():
            self._detail_timer.start()

    # --- small helpers ------------------------------------------------------------------------------------------
    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.presenter.set_status(text, error=error)

    def _update_buttons(self) -> None:
        running = self.is_running()
        ok = self.data is not None and not self.data["step"]["config_error"]
        has_targets = bool(self.picker.checked_ids()) or (self.data is not None and not self.data["sections"])
        self.cancel_button.setEnabled(running)
        if running and self.run_button.hasFocus():
            # Qt would pass the focus of the button going grey to the next widget in the window (the post
            # search box); Cancel, beside it, is what the editor wants next (Space or Esc there stops the run).
            self.cancel_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self.run_button.setEnabled(ok and not running and has_targets)
        self.running_changed(running)
        if running != self._busy:
            self._busy = running
            self.busy_changed.emit(running)

    def status_text(self) -> str:
        return self.presenter.status_text()
