"""StepPanel: what every script type's panel shares.

Header (step, stage, type, one-line description), the section picker, the step's inputs and LLM settings as
run-time overrides, Run / Cancel, an overall progress bar and a status line. Subclasses supply the results area.
Data is loaded with BackgroundOps and runs go through the RunController, so the GUI thread only updates widgets.
A banner (RunNotice) tells when the last run was interrupted, cancelled or failed, offering to resume only the
sections left, says plainly when the provider could not be reached, and warns before a run when it is offline.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyleOptionProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.providers import openai_compat
from wfdesk.services import review
from wfdesk.states import FINAL_UNIT_STATES, WORKED_ON_UNIT_STATES, RunState, UnitState
from wfdesk.ui.panels.run_notice import RunNotice, describe_latest_run, offline_warning, plain_error
from wfdesk.ui.panels.section_picker import SectionPicker
from wfdesk.ui.provider_status import step_provider_address
from wfdesk.ui.run_controller import RunController
from wfdesk.ui.worker import BackgroundOp
from wfdesk.workspace import Workspace

WIDE_LAYOUT_PX = 960  # from this width the sections sit beside the results, below it above them
# How a finished run and its sections are summed up under the progress bar.
FINISHED_RUN_WORDS = {RunState.SUCCEEDED: "Finished", RunState.PARTIAL: "Finished with errors",
                      RunState.FAILED: "Failed", RunState.CANCELLED: "Cancelled"}
FINISHED_UNIT_WORDS = {UnitState.SUCCESS: "done", UnitState.ERROR: "failed", UnitState.CANCELLED: "cancelled"}
DETAIL_REFRESH_MS = 150  # coalesces bursts of finished sections into one reload of the results area


def is_dark(widget: QWidget) -> bool:
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def error_color(widget: QWidget) -> str:
    return "#ff8a80" if is_dark(widget) else "#c62828"


def show_last_failure(note: QLabel, last: dict[str, Any]) -> None:
    """The note under a section's results: why its last run failed, or nothing."""
    if last.get("status") == UnitState.ERROR:
        note.setText(f"<span style='color:{error_color(note)}'>Last run failed: "
                     f"{html.escape(plain_error(last.get('error') or ''))}</span>")
        note.show()
    else:
        note.hide()


class StepPanel(QWidget):
    status_message = Signal(str)
    loaded = Signal()  # the data of the current step and post is on screen
    busy_changed = Signal(bool)  # a run of this step on this post started (True) or ended (False)
    content_changed = Signal()  # the editor changed results (accepted, rejected, reverted): states may differ now
    # Keys that work inside this panel, for Help → Keyboard shortcuts: (keys, what they do). Subclasses with their
    # own QActions list them here too, so the help shows them before the panel was first opened.
    SHORTCUTS: ClassVar[tuple[tuple[str, str], ...]] = ()

    script_type: ClassVar[str] = ""
    # Which LLM settings make sense for this type ("model", "temperature"); empty hides the group.
    llm_fields: ClassVar[tuple[str, ...]] = ("model", "temperature")

    def __init__(self, ws: Workspace, runs: RunController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws, self.runs = ws, runs
        self.step_id: int | None = None
        self.post_id: int | None = None
        self.data: dict[str, Any] | None = None
        self.run_id: int | None = None  # the run in flight for this step and post, when there is one
        self._load_gen = 0
        self._pending: dict[str, tuple[int, int]] = {}  # request key -> (step, post) until run_started
        self._units: dict[Any, str] = {}  # section id -> status in the attached run
        self._checked: dict[tuple[int, int], set[int]] = {}  # remembered selection per step and post
        self._input_editors: dict[str, QLineEdit | QPlainTextEdit] = {}
        self._defaults: dict[str, Any] = {}
        self._dismissed: set[int] = set()  # runs whose notice the editor closed
        self._offline_ask: list[int] | None = None  # sections of a run waiting for "Run anyway"
        self._idle_status_due = True  # a fresh step/post shows its summary; a run's outcome stays until then
        self._detail_timer = QTimer(self, singleShot=True, interval=DETAIL_REFRESH_MS)
        self._detail_timer.timeout.connect(self.reload_detail)
        self._build()
        runs.run_started.connect(self._on_run_started)
        runs.unit_changed.connect(self._on_unit_changed)
        runs.run_finished.connect(self._on_run_finished)
        runs.run_failed.connect(self._on_run_failed)
        runs.providers.changed.connect(self._on_provider_changed)

    # --- layout -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.title_label = QLabel()
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title_label.setFont(font)
        self.meta_label = QLabel()
        self.meta_label.setTextFormat(Qt.TextFormat.PlainText)
        self.description_label = QLabel()
        self.description_label.setWordWrap(True)
        self.config_error_label = QLabel()
        self.config_error_label.setWordWrap(True)
        self.config_error_label.hide()
        head = QVBoxLayout()
        head.setSpacing(2)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title_label)
        title_row.addWidget(self.meta_label, 1)
        head.addLayout(title_row)
        head.addWidget(self.description_label)
        head.addWidget(self.config_error_label)

        self.picker = SectionPicker()
        self.picker.current_changed.connect(self._on_current_section)
        self.picker.checked_changed.connect(lambda _ids: self._update_buttons())

        # Run options fold away: most runs use each section's own fields and the step's own settings.
        self.options_toggle = QToolButton()
        self.options_toggle.setText("Run options")
        self.options_toggle.setCheckable(True)
        self.options_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.options_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.options_toggle.setAutoRaise(True)
        self.options_toggle.toggled.connect(self._toggle_options)
        self.options_summary = QLabel()
        self.options_summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.options_summary.setEnabled(False)  # greyed: a hint, not content
        toggle_row = QHBoxLayout()
        toggle_row.setContentsMargins(0, 0, 0, 0)
        toggle_row.addWidget(self.options_toggle)
        toggle_row.addWidget(self.options_summary, 1)
        self.options_box = QWidget()
        self.options_box.setObjectName("runOptions")
        self.options_form = QFormLayout(self.options_box)
        self.options_form.setContentsMargins(8, 0, 0, 0)
        self.options_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.options_box.hide()
        self.model_edit = QLineEdit()
        self.temperature_spin = QDoubleSpinBox()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.picker, 3)
        left_layout.addLayout(toggle_row)
        left_layout.addWidget(self.options_box, 0)

        self.results = self.build_results()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("stepPanelSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.results)
        self.splitter.setChildrenCollapsible(False)
        self._apply_orientation(force=True)

        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m sections")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this run (Esc): queued sections are skipped, late answers discarded")
        self.cancel_button.clicked.connect(self.cancel)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run this step on the selected sections (Ctrl+Enter)")
        self.run_button.setDefault(True)
        # Not connected to run() itself: Qt would hand its `checked` flag (False) to run() as the section ids.
        self.run_button.clicked.connect(self._run_clicked)
        bar = QHBoxLayout()
        bar.addWidget(self.progress)
        bar.addWidget(self.status_label, 1)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.run_button)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(line)
        self.notice = RunNotice()
        self.notice.action_clicked.connect(self._on_notice_action)
        self.notice.dismissed.connect(self._on_notice_dismissed)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(bar)
        # Ctrl+Enter and Esc are the main window's Step menu actions (dispatched to the panel on screen), never
        # shortcuts of their own: several panels binding the same key make Qt find it ambiguous and fire none.
        self._busy = False
        self._update_buttons()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        # The wrapped labels would make a scroll area size the panel to its preferred height (taller than the
        # window); the panel fits the height it is given and its lists scroll instead.
        return False

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._apply_orientation()

    def _apply_orientation(self, force: bool = False) -> None:
        wide = self.width() >= WIDE_LAYOUT_PX
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation == self.splitter.orientation() and not force:
            return
        self.splitter.setOrientation(orientation)
        total = max(self.splitter.width() if wide else self.splitter.height(), 400)
        first = int(total * 0.4) if wide else min(220, int(total * 0.3))
        self.splitter.setSizes([first, total - first])

    # --- hooks for subclasses -------------------------------------------------------------------------------------
    def build_results(self) -> QWidget:
        """The right-hand results area."""
        return QWidget()

    def data_loaded(self, data: dict[str, Any]) -> None:
        """New panel data (step, sections) is on screen."""

    def section_shown(self, section_id: int | None) -> None:
        """The picker's current section changed: show its results."""

    def reload_detail(self) -> None:
        """Reload the results of the current section (called coalesced after sections finish)."""

    def extra_context(self) -> dict[str, Any]:
        """More run context (e.g. the generic panel's parameters)."""
        return {}

    def run_problem(self) -> str | None:
        """Why the options as typed cannot run (shown instead of starting), or None."""
        return None

    def llm_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        """What the model / temperature fields show as the step's own values."""
        params = (data["step"]["config"].get("script_config") or {}).get("parameters") or {}
        action = data["step"].get("action") or {}
        temp = params.get("temperature", action.get("temperature"))
        return {"model": params.get("model") or action.get("model") or "",
                "temperature": float(temp) if isinstance(temp, int | float) else 0.7}

    # --- public API -----------------------------------------------------------------------------------------------
    def show_step(self, step_id: int, post_id: int) -> None:
        """Show this step for this post; data loads in the background, a run still in flight is reattached."""
        self._remember_checked()
        changed = (step_id, post_id) != (self.step_id, self.post_id)
        self.step_id, self.post_id = step_id, post_id
        if changed:
            self.data = None
            self._units = {}
            self.run_id = None
            self.progress.hide()
            self._set_status("Loading…")
            self.title_label.setText("Loading…")
            self.picker.set_sections([])
            self._offline_ask = None
            self._idle_status_due = True
            self.notice.clear()
        self._attach_active_run()
        self._load()

    def refresh(self) -> None:
        """Reload after an external change (a section edited, a config saved)."""
        if self.step_id is not None and self.post_id is not None:
            self._remember_checked()
            self._load()

    def is_running(self) -> bool:
        return self.run_id is not None or any(v == (self.step_id, self.post_id) for v in self._pending.values())

    def _run_clicked(self) -> None:
        self.run()

    def run(self, section_ids: list[int] | None = None, *, offline_ok: bool = False) -> str | None:
        """Run the step on the checked sections (or on section_ids). Returns the request key, or None with the
        reason in the status line. When the provider is known to be offline the banner asks first ("Run anyway");
        offline_ok skips that question."""
        if self.data is None or self.step_id is None or self.post_id is None:
            return None
        if self.is_running():
            self._set_status("This step is already running on this post.")
            return None
        if self.data["step"]["config_error"]:
            self._set_status(self.data["step"]["config_error"], error=True)  # names the cause and where to fix it
            return None
        problem = self.run_problem()
        if problem:
            self._set_status(problem, error=True)
            return None
        ids = section_ids if section_ids is not None else self.picker.checked_ids()
        if self.data["sections"] and not ids:
            self._set_status("Select at least one section to run.", error=True)
            return None
        context: dict[str, Any] = {"section_ids": ids} if self.data["sections"] else {}
        inputs = self.input_overrides()
        if inputs:
            context["inputs"] = inputs
        settings = self.llm_overrides()
        if settings:
            context["llm_settings"] = settings
        context.update(self.extra_context())
        offline = None if offline_ok else self.provider_offline()
        if offline is not None:
            self._offline_ask = list(ids)
            self.notice.show_notice(offline_warning(*offline))
            self._set_status("Not started yet: the provider looks offline (see above).")
            return None
        self._offline_ask = None
        self.notice.clear()
        key = self.runs.start(self.step_id, self.post_id, context)
        self._pending[key] = (self.step_id, self.post_id)
        for sid in ids:
            self._units[sid] = "queued"
            self.picker.set_state(sid, "queued")
        self._start_progress(len(ids) or 1)
        self._set_status(f"Starting on {len(ids)} section(s)…" if ids else "Starting on the post…")
        self._update_buttons()
        return key

    def resume(self) -> str | None:
        """Run again only the sections of the latest run that never finished (the banner's button). Returns the
        request key, or None when there is nothing to resume."""
        latest = (self.data or {}).get("latest_run")
        if not latest or not latest.get("resumable") or self.is_running():
            return None
        key = self.runs.resume(latest["run_id"], step_id=self.step_id, post_id=self.post_id)
        self._pending[key] = (self.step_id, self.post_id)
        ids = latest["unfinished_section_ids"]
        for sid in ids:
            self._units[sid] = "queued"
            self.picker.set_state(sid, "queued")
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
        """(address, reason) when the provider this step talks to is known to be offline: the window's
        ProviderStatus (the status bar's checks and every run's sections report to it), or this process's circuit
        breaker for runs kept in the app. Never touches the network."""
        address = self.provider_address()
        if address is None:
            return None
        reason = self.runs.providers.offline_reason(address)
        if reason is None:
            profile_name = ((self.data["step"]["config"].get("script_config") or {}).get("parameters") or {}
                            ).get("provider")
            try:
                profile = self.ws.settings.provider(profile_name)
            except KeyError:
                return None
            reason = openai_compat.gate_for(self.ws, profile).offline_reason()
        return (address, reason) if reason else None

    def _update_notice(self) -> None:
        """The banner about the latest run of this step on this post; hidden while a run is in flight."""
        if self._offline_ask is not None:
            return  # the "looks offline" question stays until answered
        latest = (self.data or {}).get("latest_run")
        notice = None
        if not self.is_running() and latest and latest["run_id"] not in self._dismissed:
            offline = latest.get("offline")
            online_now = self.runs.providers.state(offline.get("address") or self.provider_address())[0] \
                if offline else None
            notice = describe_latest_run(latest, provider_online=online_now)
        if notice is None:
            self.notice.clear()
        else:
            self.notice.show_notice(notice)

    def _on_provider_changed(self) -> None:
        """The provider answers again (or stopped): the banner's words follow; a pending "Run anyway" question
        about a provider that answers now is moot."""
        if self._offline_ask is not None and self.provider_offline() is None:
            self._offline_ask = None
            self._set_status("The provider answers again: press Run.")
        self._update_notice()

    def _on_notice_action(self) -> None:
        if self._offline_ask is not None:
            ids, self._offline_ask = self._offline_ask, None
            self.notice.clear()
            self.run(section_ids=ids if (self.data or {}).get("sections") else None, offline_ok=True)
        else:
            self.resume()

    def _on_notice_dismissed(self) -> None:
        if self._offline_ask is not None:
            self._offline_ask = None
            self._set_status("Not started.")
            self._update_notice()
            return
        latest = (self.data or {}).get("latest_run")
        if latest:
            self._dismissed.add(latest["run_id"])

    def cancel(self) -> None:
        if not self.is_running():
            return
        if self.run_id is not None:
            self.runs.cancel(self.run_id)
        for key, target in self._pending.items():
            if target == (self.step_id, self.post_id):
                self.runs.cancel_request(key)
        self._set_status("Cancelling… sections already sent finish, their answers are discarded.")

    # --- inputs and settings ------------------------------------------------------------------------------------
    def input_overrides(self) -> dict[str, str]:
        """Only the inputs the editor typed something into: the rest come from each section's own field."""
        out = {}
        for key, editor in self._input_editors.items():
            text = editor.toPlainText() if isinstance(editor, QPlainTextEdit) else editor.text()
            if text.strip():
                out[key] = text
        return out

    def llm_overrides(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "model" in self.llm_fields:
            model = self.model_edit.text().strip()
            if model and model != self._defaults.get("model"):
                out["model"] = model
        if "temperature" in self.llm_fields:
            temp = round(self.temperature_spin.value(), 2)
            if abs(temp - float(self._defaults.get("temperature", temp))) > 1e-9:
                out["temperature"] = temp
        return out

    def _build_options(self, data: dict[str, Any]) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._input_editors = {}
        for key, spec in data["step"]["inputs"].items():
            if spec.get("type") == "textarea":
                editor: QLineEdit | QPlainTextEdit = QPlainTextEdit()
                editor.setTabChangesFocus(True)
                editor.setFixedHeight(editor.fontMetrics().lineSpacing() * 3 + 12)
            else:
                editor = QLineEdit()
                editor.setClearButtonEnabled(True)
            editor.setPlaceholderText(f"from each section's own {spec['label']}")
            editor.setToolTip(f"Type here to use this {spec['label']} for every selected section instead of "
                              f"each section's own. Leave empty to use each section's value.")
            editor.setObjectName(f"input_{key}")
            self._input_editors[key] = editor
            self.options_form.addRow(spec["label"], editor)
        self._defaults = self.llm_defaults(data)
        if "model" in self.llm_fields:
            self.model_edit = QLineEdit()
            self.model_edit.setPlaceholderText(self._defaults.get("model") or "the provider's default")
            self.model_edit.setToolTip("Leave empty to use the step's model")
            self.options_form.addRow("Model", self.model_edit)
        if "temperature" in self.llm_fields:
            self.temperature_spin = QDoubleSpinBox()
            self.temperature_spin.setRange(0.0, 2.0)
            self.temperature_spin.setSingleStep(0.1)
            self.temperature_spin.setDecimals(2)
            self.temperature_spin.setValue(float(self._defaults.get("temperature", 0.7)))
            self.temperature_spin.setToolTip("0 = focused and repeatable, 2 = most varied")
            self.options_form.addRow("Temperature", self.temperature_spin)
        self.add_options(self.options_form, data)
        has_options = self.options_form.rowCount() > 0
        self.options_toggle.setVisible(has_options)
        self.options_summary.setVisible(has_options)
        self.options_box.setVisible(has_options and self.options_toggle.isChecked())
        for editor in self._input_editors.values():
            editor.textChanged.connect(self._update_options_summary)
        self.model_edit.textChanged.connect(self._update_options_summary)
        self.temperature_spin.valueChanged.connect(self._update_options_summary)
        self._update_options_summary()

    def _toggle_options(self, on: bool) -> None:
        self.options_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.options_box.setVisible(on and self.options_form.rowCount() > 0)

    def _update_options_summary(self) -> None:
        """One line telling what the next run uses, so the folded options never surprise anyone."""
        parts = []
        typed = self.input_overrides()
        for key, spec in ((self.data or {}).get("step", {}).get("inputs") or {}).items():
            parts.append(f"{spec['label']}: {'typed text' if key in typed else 'each section’s own'}")
        settings = self.llm_overrides()
        if "model" in self.llm_fields:
            parts.append(f"model {settings.get('model') or self._defaults.get('model') or 'default'}")
        if "temperature" in self.llm_fields:
            parts.append(f"temperature {self.temperature_spin.value():g}")
        extra = self.options_note()
        if extra:
            parts.append(extra)
        changed = bool(typed or settings or extra)
        self.options_summary.setEnabled(changed)  # dark text when the run differs from the step's own values
        self.options_summary.setText(" · ".join(parts))
        self.options_summary.setToolTip(" · ".join(parts))

    def options_note(self) -> str:
        """Subclasses' part of the options summary (e.g. changed parameters)."""
        return ""

    def add_options(self, form: QFormLayout, data: dict[str, Any]) -> None:
        """More rows for the options box (the generic panel's parameters)."""

    # --- loading ------------------------------------------------------------------------------------------------
    def _load(self) -> None:
        self._load_gen += 1
        gen, ws, step_id, post_id = self._load_gen, self.ws, self.step_id, self.post_id
        self.in_background(lambda: review.panel_data(ws, step_id, post_id),
                           partial(self._on_loaded, gen), partial(self._on_load_failed, gen))

    def _on_loaded(self, gen: int, data: dict[str, Any]) -> None:
        if gen != self._load_gen:
            return  # the editor moved on to another step or post meanwhile
        rebuild = self.data is None or self.data["step"] != data["step"]
        self.data = data
        step = data["step"]
        self.title_label.setText(step["name"])
        self.meta_label.setText("   " + " · ".join(p for p in (step["stage"], step["script_type"]) if p))
        self.description_label.setText(step["description"])
        if step["config_error"]:
            self.config_error_label.setText(f"<span style='color:{error_color(self)}'>"
                                            f"{_html(step['config_error'])}</span>")
        self.config_error_label.setVisible(bool(step["config_error"]))
        if rebuild:
            self._build_options(data)
        key = (self.step_id, self.post_id)
        current = self.picker.current_id()
        first = next(iter(step["inputs"].values()), None)
        label = first["label"] if first else "Input"
        self.picker.set_sections(data["sections"], self._checked.get(key), label, current)
        for row in data["sections"]:
            self._show_last_state(row)
        for sid, status in self._units.items():
            self.picker.set_state(sid, status)
        if not self.is_running() and self._idle_status_due:
            self._set_status(self._idle_status(data))
            self._idle_status_due = False
        self._update_buttons()
        self._update_notice()
        self.data_loaded(data)
        self.loaded.emit()

    def _on_load_failed(self, gen: int, exc: Exception) -> None:
        if gen != self._load_gen:
            return
        self.title_label.setText("Cannot show this step")
        self.description_label.setText("")
        self._set_status(str(exc), error=True)
        self.status_message.emit(str(exc))
        self._update_buttons()

    def _show_last_state(self, row: dict[str, Any]) -> None:
        last = row.get("last")
        if not last:
            self.picker.set_state(row["id"], None)
            return
        status = last["status"]
        if status not in FINAL_UNIT_STATES:
            self.picker.set_state(row["id"], UnitState.UNFINISHED, f"run #{last['run_id']} did not finish")
        else:
            self.picker.set_state(row["id"], status, plain_error(last["error"]) if last.get("error") else None)

    def _idle_status(self, data: dict[str, Any]) -> str:
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

    def _remember_checked(self) -> None:
        if self.data is not None and self.step_id is not None and self.post_id is not None:
            self._checked[(self.step_id, self.post_id)] = set(self.picker.checked_ids())

    def _on_current_section(self, section_id: int | None) -> None:
        self.section_shown(section_id)

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

    # --- runs ---------------------------------------------------------------------------------------------------
    def _attach_active_run(self) -> None:
        for active in self.runs.active_runs():
            if (active["step_id"], active["post_id"]) != (self.step_id, self.post_id):
                continue
            if active["run_id"] is None:
                self._pending.setdefault(active["key"], (self.step_id, self.post_id))
                continue
            self.run_id = active["run_id"]
            self._units = {sid: e.get("status", UnitState.QUEUED) for sid, e in active["units"].items()}
            self._start_progress(active["total"] or 1)
            self.progress.setValue(active["done"])
            self._set_status(f"Running: {active['done']} of {active['total']} section(s) finished…")
            self.notice.clear()
        self._update_buttons()

    def _on_run_started(self, run_id: int, info: dict[str, Any]) -> None:
        self._pending.pop(info.get("key"), None)
        if (info["step_id"], info["post_id"]) != (self.step_id, self.post_id):
            return
        self.run_id = run_id
        self._offline_ask = None
        self.notice.clear()
        for unit in info["units"]:
            self._units[unit["section_id"]] = UnitState.QUEUED
            self.picker.set_state(unit["section_id"], UnitState.QUEUED)
        self._start_progress(len(info["units"]) or 1)
        self._set_status(f"Running on {len(info['units'])} section(s)…" if info["units"] else "Running…")
        self._update_buttons()

    def _on_unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        if run_id != self.run_id:
            return
        sid, status = entry.get("section_id"), entry.get("status", "")
        self._units[sid] = status
        self.picker.set_state(sid, status, plain_error(entry["error"]) if entry.get("error") else None)
        self.progress.setValue(sum(1 for s in self._units.values() if s in WORKED_ON_UNIT_STATES))
        if status in FINAL_UNIT_STATES and sid == self.picker.current_id():
            self.schedule_detail_reload()

    def _on_run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        mine = run_id == self.run_id
        self._pending.pop(result.get("key"), None)
        if not mine and (result.get("step_id"), result.get("post_id")) != (self.step_id, self.post_id):
            return
        self.run_id = None
        self._idle_status_due = False  # the outcome below stays on screen after the reload
        self._units = {}  # the ledger has the final states now; the reload shows them
        results = result.get("results") or []
        # What was done: a cancelled run's skipped sections do not fill the bar.
        self.progress.setValue(sum(1 for r in results if r.get("status", UnitState.SUCCESS) in WORKED_ON_UNIT_STATES)
                               if results else self.progress.maximum())
        self._set_status(self._finished_status(result), error=result.get("status") == RunState.FAILED)
        self._update_buttons()
        self.refresh()  # the reload also reloads the current section's results

    def _on_run_failed(self, key: object, message: str) -> None:
        target = self._pending.pop(key, None) if isinstance(key, str) else None
        if target is None:
            return
        message = plain_error(message)
        self.status_message.emit(message)
        if target != (self.step_id, self.post_id):
            return
        for sid, status in list(self._units.items()):
            if status == UnitState.QUEUED:
                self.picker.set_state(sid, None)
                self._units.pop(sid)
        if self.data:
            for row in self.data["sections"]:
                if row["id"] not in self._units:
                    self._show_last_state(row)
        self.progress.hide()
        self._set_status(f"Not run: {message}", error=True)
        self._update_buttons()
        self._update_notice()

    def _finished_status(self, result: dict[str, Any]) -> str:
        counts: dict[str, int] = {}
        for item in result.get("results") or []:
            state = item.get("status", UnitState.SUCCESS)
            counts[state] = counts.get(state, 0) + 1
        parts = [f"{counts[k]} {label}" for k, label in FINISHED_UNIT_WORDS.items() if counts.get(k)]
        head = FINISHED_RUN_WORDS.get(result.get("status", ""), "Finished")
        text = f"{head}: {', '.join(parts)}." if parts else f"{head}."
        if result.get("error") and not parts:
            text = f"{head}: {plain_error(result['error'])}"
        return text

    def _start_progress(self, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        # Wide enough for "300 / 300 sections" whatever the style puts around the text.
        option = QStyleOptionProgressBar()
        self.progress.initStyleOption(option)
        label = self.style().subElementRect(QStyle.SubElement.SE_ProgressBarLabel, option, self.progress)
        chrome = max(0, self.progress.width() - label.width()) if self.progress.width() > 1 else 0
        text = self.progress.fontMetrics().horizontalAdvance(f"{total} / {total} sections")
        self.progress.setMinimumWidth(text + max(chrome, 2 * self.progress.fontMetrics().height()) + 8)
        self.progress.show()

    # --- small helpers ------------------------------------------------------------------------------------------
    def _set_status(self, text: str, *, error: bool = False) -> None:
        if error:
            self.status_label.setText(f"<span style='color:{error_color(self)}'>{_html(text)}</span>")
        else:
            self.status_label.setText(_html(text))
        self.status_label.setToolTip(text)

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

    def running_changed(self, running: bool) -> None:
        """A run for this step and post started or ended (subclasses enable their own actions)."""

    def status_text(self) -> str:
        return self.status_label.toolTip()


def _html(text: str) -> str:
    return html.escape(text)
