"""The status bar: which database is open, whether the provider answers, and how many runs are in flight."""

from __future__ import annotations

import logging
import os
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
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def check_provider(ws: Workspace) -> tuple[bool, str]:
    """(reachable, reason) for the default provider: GET {base_url}/models. Runs on a worker thread."""
    import requests

    from wfdesk.settings import get_api_key

    try:
        profile = ws.settings.provider(None)
    except KeyError:
        return False, "no provider configured"
    base = (profile.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    headers = {}
    if key := get_api_key(profile):
        headers["Authorization"] = f"Bearer {key}"
    try:
        response = requests.get(f"{base}/models", headers=headers, timeout=CHECK_TIMEOUT_S)
    except requests.Timeout:
        return False, f"no answer in {CHECK_TIMEOUT_S:.0f} s"
    except requests.ConnectionError:
        return False, f"cannot connect to {base}"
    except requests.RequestException as exc:
        return False, type(exc).__name__
    if response.status_code in (401, 403):
        return True, "API key refused"
    if response.status_code >= 500:
        return False, f"HTTP {response.status_code}"
    return True, ""


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
        self._started = False
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check_provider)
        if ws is not None:
            self.set_workspace(ws)

    def set_workspace(self, ws: Workspace) -> None:
        """Show the open database; a bar already started checks the provider now."""
        self.ws = ws
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
        if self._checking or self.ws is None:
            return
        self._checking = True
        ws = self.ws
        (BackgroundOp(lambda: check_provider(ws))
         .success(self._provider_checked)
         .failure(self._provider_failed)
         .run_in_background())

    def _provider_checked(self, result: tuple[bool, str]) -> None:
        self._checking = False
        online, reason = result
        if online:
            text = "Provider: online" + (f" ({reason})" if reason else "")
            self.provider.set("partial" if reason else "done", text)
        else:
            self.provider.set("failed", f"Provider: offline ({reason})")

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
