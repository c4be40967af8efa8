"""The step panels on the right of the main window: the panel of the chosen step's script type, showing the chosen
post, or a line saying what to choose.

Modelled on napari's layer-controls container: one panel per script type, made on first use by the TEMPLATE_MAP's
factory (wfdesk.ui.panels.create_panel), kept in a stack, and brought to the front when the selection changes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QStackedWidget, QWidget

if TYPE_CHECKING:
    from wfdesk.services.changes import Changes
    from wfdesk.ui.main_content import MainContent
    from wfdesk.ui.panels import StepPanel
    from wfdesk.ui.run_controller import RunController
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


class PanelStack(QStackedWidget):
    """Follows the post and step lists of `content`; says when the panel on screen starts or stops running."""

    status_message = Signal(str)  # a panel's message for the status bar
    state_changed = Signal()  # another panel is on screen, or the one on screen started or ended a run

    def __init__(self, ws: Workspace, runs: RunController | None, content: MainContent,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws = ws
        self.runs = runs
        self.content = content
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setEnabled(False)
        self.addWidget(self.placeholder)
        self._panels: dict[str, StepPanel] = {}
        # After the window's own slots (they move the step list to the post first): connected once attached.
        content.posts.post_selected.connect(lambda _post_id: self.sync())
        content.steps.step_selected.connect(lambda *_: self.sync())

    def current_panel(self) -> StepPanel | None:
        widget = self.currentWidget()
        return next((panel for panel in self._panels.values() if panel is widget), None)

    def sync(self) -> None:
        """Show the panel of the chosen step on the chosen post, or what to choose."""
        post_id = self.content.posts.current_post_id()
        step_id, script_type = self.content.steps.current_step()
        panel = self._panel_for(script_type) if post_id and step_id else None
        if panel is None:
            if not post_id or not step_id:
                self.placeholder.setText("Choose a post on the left." if not post_id
                                         else "Choose a workflow step to run it on this post's sections.")
            self.setCurrentWidget(self.placeholder)
        else:
            self.setCurrentWidget(panel)
            panel.show_step(step_id, post_id)
        self.state_changed.emit()

    def refresh_all(self) -> None:
        for panel in self._panels.values():
            panel.refresh()

    def changes_heard(self, changes: Changes, post_id: int) -> None:
        """The panel on screen reloads when a change is its own, unless it is running (its run updates it)."""
        panel = self.current_panel()
        if (panel is not None and not panel.is_running()
                and (changes.touches_steps() or changes.touches_runs() or changes.touches_content_of(post_id))):
            panel.refresh()

    def _panel_for(self, script_type: str) -> StepPanel | None:
        """One panel per script type, made on first use and reused."""
        panel = self._panels.get(script_type)
        if panel is not None:
            return panel
        try:
            from wfdesk.ui.panels import create_panel
        except ImportError as exc:
            log.warning("step panels unavailable: %s", exc)
            self.placeholder.setText(f"The step panels could not be loaded ({exc}).")
            return None
        if self.runs is None:
            self.placeholder.setText("Runs are not available in this build.")
            return None
        panel = create_panel(script_type, self.ws, self.runs, self)
        from wfdesk.ui.section_sync import link_current_section

        link_current_section(self.content.sections, panel.picker)  # the panel's current section is the table's
        panel.status_message.connect(self.status_message)
        panel.busy_changed.connect(lambda _busy: self.state_changed.emit())
        self._panels[script_type] = panel
        self.addWidget(panel)
        return panel
