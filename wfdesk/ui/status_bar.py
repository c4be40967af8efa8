"""The status bar: which database is open, whether the provider answers (ProviderStatus: the window's one answer to
that), how many runs are in flight, and short messages, cut to the room left beside those so they never overlap."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QStatusBar, QWidget
from typing_extensions import override

from wfdesk.ui.icons import state_icon
from wfdesk.ui.provider_status import ProviderStatus

if TYPE_CHECKING:  # requests, sqlalchemy and pydantic load off the GUI thread, after the first paint
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
CHECK_INTERVAL_MS = 60_000
OFFLINE_CHECK_INTERVAL_MS = 15_000  # while offline, look again sooner: the status bar must not lag a fixed server
SHOWN_REASON_CHARS = 60  # the bar shows the start of why; its tooltip, all of it


class _Indicator(QWidget):
    """A coloured dot and a line of text."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(4)
        self.dot = QLabel()
        self.label = QLabel(text)
        layout.addWidget(self.dot)
        layout.addWidget(self.label)

    def set(self, state: str, text: str, tooltip: str = "") -> None:
        self.dot.setPixmap(state_icon(state).pixmap(14, 14))
        self.label.setText(text)
        self.setToolTip(tooltip or text)


class _RunsIndicator(_Indicator):
    """The run count, which opens the runs view when clicked."""

    clicked = Signal()

    @override
    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        if self.rect().contains(event.position().toPoint()):
            self.clicked.emit()

    def set(self, state: str, text: str, tooltip: str = "") -> None:
        from PySide6.QtCore import Qt  # here, not at import: the bar is in the window's first paint (see above)

        super().set(state, text, tooltip or f"{text}: click to see the runs (Ctrl+Shift+R)")
        self.setCursor(Qt.CursorShape.PointingHandCursor)


class _MessageLabel(QLabel):
    """The bar's message, elided to its width (the full text in its tooltip)."""

    def __init__(self) -> None:
        super().__init__()
        self.full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setContentsMargins(4, 0, 4, 0)

    def show_text(self, text: str) -> None:
        self.full = text
        self.setToolTip(text if text else "")
        self._elide()

    @override
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        from PySide6.QtCore import Qt

        line = self.full.splitlines()[0] if self.full else ""
        room = max(0, self.contentsRect().width())
        self.setText(self.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, room))


class AppStatusBar(QStatusBar):
    runs_requested = Signal()  # the run count was clicked

    def __init__(self, ws: Workspace | None, parent: QWidget | None = None,
                 providers: ProviderStatus | None = None) -> None:
        super().__init__(parent)
        self.ws: Workspace | None = None
        # Messages live in a label of the bar's own, not QStatusBar's painted text: that one is drawn over the
        # whole bar and ran under the indicators when long.
        self.message = _MessageLabel()
        self.addWidget(self.message, 1)
        self._message_timer = QTimer(self, singleShot=True)
        self._message_timer.timeout.connect(self.clearMessage)
        self.database = _Indicator("")
        self.provider = _Indicator("")
        self.jobs = _RunsIndicator("")
        self.jobs.clicked.connect(self.runs_requested)
        # Shown with a workspace: before it the window says it is opening one, and the coloured dots (QPainter
        # pens make PySide6 build the Qt namespace's enums, ~25 ms) stay out of the window's first paint.
        for widget in (self.jobs, self.provider, self.database):
            self.addPermanentWidget(widget)
            widget.hide()
        self.providers: ProviderStatus = providers or ProviderStatus(ws, self)
        self.providers.changed.connect(self._show_provider)
        self._started = False
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check_provider)
        if ws is not None:
            self.set_workspace(ws)

    # --- messages -------------------------------------------------------------------------------------------
    @override
    def showMessage(self, text: str, timeout: int | None = 0) -> None:
        self.message.show_text(text)
        if timeout is not None and timeout > 0:
            self._message_timer.start(timeout)
        else:
            self._message_timer.stop()

    @override
    def clearMessage(self) -> None:
        self.message.show_text("")
        self._message_timer.stop()

    @override
    def currentMessage(self) -> str:
        return self.message.full

    # --- workspace and provider ---------------------------------------------------------------------------
    def set_workspace(self, ws: Workspace) -> None:
        """Show the open database; a bar already started checks the provider now."""
        self.ws = ws
        if self.providers.ws is not ws:
            self.providers.set_workspace(ws)
        url = ws.db.display_url()
        self.database.set("done", f"Database: {database_label(url)}", f"Database: {url}")
        self._show_provider()
        self.set_running(0)
        for widget in (self.jobs, self.provider, self.database):
            widget.show()
        if self._started:
            self.start()

    def use_provider_status(self, providers: ProviderStatus) -> None:
        """Show this ProviderStatus (the run controller's, which runs report to) instead of the bar's own."""
        if providers is self.providers:
            return
        self.providers.changed.disconnect(self._show_provider)
        self.providers = providers
        providers.changed.connect(self._show_provider)
        if self.ws is not None and providers.ws is not self.ws:
            providers.set_workspace(self.ws)
        self._show_provider()
        if self._started:
            self.check_provider()

    def start(self) -> None:
        """Check the provider now and every minute (once a workspace is open)."""
        self._started = True
        if self.ws is None:
            return
        self.check_provider()
        self._timer.start()

    def stop(self) -> None:
        self._started = False
        self._timer.stop()

    def check_provider(self) -> None:
        """Check now, in the background; asked while a check runs (new settings, say), check again after it."""
        self.providers.check()

    def _show_provider(self) -> None:
        online, seen = self.providers.state()
        if online is None:
            self.provider.set("never", "Provider: checking…")
        elif online:
            self.provider.set("done", "Provider: online", seen or "The provider answered")
        else:
            reason = seen or "no answer"
            self.provider.set("failed", f"Provider: offline ({_shorten(reason, SHOWN_REASON_CHARS)})",
                              f"Provider offline: {reason}")
        interval = OFFLINE_CHECK_INTERVAL_MS if online is False else CHECK_INTERVAL_MS
        if self._timer.interval() != interval:
            self._timer.setInterval(interval)

    def set_running(self, count: int) -> None:
        if count:
            self.jobs.set("running", f"{count} run{'s' if count != 1 else ''} in progress")
        else:
            self.jobs.set("never", "No runs in progress")


def database_label(display_url: str) -> str:
    """'wfdesk.db (SQLite)' or 'team@db.example/wfdesk (PostgreSQL)': what tells databases apart, no password."""
    from sqlalchemy.engine import make_url

    url = make_url(display_url)
    if url.get_backend_name() == "sqlite":
        return f"{Path(url.database or 'memory').name} (SQLite)"
    where = f"{url.username + '@' if url.username else ''}{url.host or 'localhost'}/{url.database or ''}"
    return f"{where} ({'PostgreSQL' if url.get_backend_name() == 'postgresql' else url.get_backend_name()})"


def _shorten(text: str, limit: int) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"
