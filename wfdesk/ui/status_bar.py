"""The status bar: which database is open, whether the provider answers, and how many runs are in flight."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStatusBar, QWidget

from wfdesk.ui.icons import state_icon
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:  # requests, sqlalchemy and pydantic load off the GUI thread, after the first paint
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
CHECK_INTERVAL_MS = 60_000
CHECK_TIMEOUT_S = 3.0
SHOWN_REASON_CHARS = 60  # the bar shows the start of why; its tooltip, all of it


def check_provider(ws: Workspace) -> tuple[bool, str]:
    """(reachable, verdict) for the default provider: the Settings dialog's connection test, so both agree on
    the address and on what counts as online (a refused API key does not). Runs on a worker thread."""
    try:
        profile = ws.settings.provider(None)
    except KeyError:
        return False, "no provider configured"
    from wfdesk.providers.connection_test import check_provider as test_connection

    # Short timeouts: the check holds one of the shared background threads (two on a small laptop).
    quick = profile.model_copy(update={"connect_timeout": min(profile.connect_timeout, CHECK_TIMEOUT_S),
                                       "read_timeout": min(profile.read_timeout, CHECK_TIMEOUT_S)})
    return test_connection(quick)


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


class AppStatusBar(QStatusBar):
    def __init__(self, ws: Workspace | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws: Workspace | None = None
        self.database = _Indicator("")
        self.provider = _Indicator("")
        self.jobs = _Indicator("")
        # Shown with a workspace: before it the window says it is opening one, and the coloured dots (QPainter
        # pens make PySide6 build the Qt namespace's enums, ~25 ms) stay out of the window's first paint.
        for widget in (self.jobs, self.provider, self.database):
            self.addPermanentWidget(widget)
            widget.hide()
        self._checking = False
        self._check_again = False
        self._offline_reason: str | None = None
        self._started = False
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check_provider)
        if ws is not None:
            self.set_workspace(ws)

    def set_workspace(self, ws: Workspace) -> None:
        """Show the open database; a bar already started checks the provider now."""
        self.ws = ws
        self._offline_reason = None  # what the last check said was about the previous workspace's settings
        url = ws.db.display_url()
        self.database.set("done", f"Database: {database_label(url)}", f"Database: {url}")
        self.provider.set("never", "Provider: checking…")
        self.set_running(0)
        for widget in (self.jobs, self.provider, self.database):
            widget.show()
        if self._started:
            self.start()

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
        if self.ws is None:
            return
        if self._checking:
            self._check_again = True
            return
        self._checking, self._check_again = True, False
        ws = self.ws
        (BackgroundOp(lambda: check_provider(ws))
         .success(self._provider_checked)
         .failure(self._provider_failed)
         .run_in_background())

    def provider_offline_reason(self) -> str | None:
        """Why the default provider looked offline at the last check; None when it answered or was not checked."""
        return self._offline_reason

    def _provider_checked(self, result: tuple[bool, str]) -> None:
        self._checking = False
        online, verdict = result
        if online:
            self._offline_reason = None
            self.provider.set("done", "Provider: online", verdict)
        else:
            self._offline_reason = verdict or "no answer"
            shown = _shorten(self._offline_reason, SHOWN_REASON_CHARS)
            self.provider.set("failed", f"Provider: offline ({shown})", f"Provider offline: {self._offline_reason}")
        if self._check_again:
            self.check_provider()

    def _provider_failed(self, exc: Exception) -> None:
        log.info("provider check failed: %s", exc)
        self._provider_checked((False, str(exc) or type(exc).__name__))

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
