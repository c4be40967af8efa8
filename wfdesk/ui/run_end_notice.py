"""A system notification when a long run ends while the window is in the background: what finished and how it
went ("polish_sections: 12 sections done, 1 failed — Post title"). Clicking it brings the window to the front with
that post and step chosen.

Only the RunController's public signals are used (run_started, run_finished, run_failed); the words come from the
run ledger (services.run_outcome). Without a system tray (some Linux desktops) the window's taskbar entry asks for
attention instead. The threshold is the setting `run_end_notice_after_s` (10 s unless set).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget
from typing_extensions import override

from wfdesk.ui.post_list import ID_ROLE
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:  # the ledger's modules load with the workspace, after the window's first paint (test_startup)
    from wfdesk.services.run_outcome import RunOutcome
    from wfdesk.workspace import Workspace

DEFAULT_AFTER_S = 10.0
MESSAGE_MS = 15_000


@dataclass(frozen=True)
class Notice:
    title: str
    text: str
    step_id: int | None
    post_id: int | None
    shown_by: str  # "tray" (a system notification) or "alert" (the taskbar entry flashes)


@dataclass
class _Started:
    at: float
    step_id: int | None
    post_id: int | None


class RunEndNotice(QObject):
    """Watches the runs of one window. `last_notice` is the latest one asked of the system: a click on it opens
    its post and step."""

    def __init__(self, window: QWidget, runs: Any, ws: Workspace) -> None:
        super().__init__(window)
        self.window, self.runs, self.ws = window, runs, ws
        self.last_notice: Notice | None = None
        self.tray: QSystemTrayIcon | None = None
        self._started: dict[Any, _Started] = {}  # by run id and by request key: run_failed names only the key
        runs.run_started.connect(self._on_started)
        runs.run_finished.connect(self._on_finished)
        runs.run_failed.connect(self._on_failed)
        window.installEventFilter(self)

    # --- the runs -------------------------------------------------------------------------------------------------
    def _on_started(self, run_id: int, info: Any) -> None:
        info = info if isinstance(info, dict) else {}
        started = _Started(time.monotonic(), info.get("step_id"), info.get("post_id"))
        self._started[run_id] = started
        if info.get("key") is not None:
            self._started[info["key"]] = started

    def _on_finished(self, run_id: int, result: Any) -> None:
        result = result if isinstance(result, dict) else {}
        started = self._forget(run_id, result.get("key"))
        if started is None or not self._worth_telling(started):
            return
        ws = self.ws
        (BackgroundOp(lambda: _outcomes().run_outcome(ws, run_id))
         .success(self._alive(self._tell))
         .failure(lambda _exc: None)  # the notice is a nicety; the panel shows the run's end anyway
         .run_in_background())

    def _on_failed(self, key: object, message: str) -> None:
        started = self._forget(None, key)
        if started is None or not self._worth_telling(started):
            return
        ws, step_id, post_id = self.ws, started.step_id, started.post_id
        (BackgroundOp(lambda: _outcomes().not_started(ws, step_id, post_id))
         .success(self._alive(self._tell))
         .failure(lambda _exc: None)
         .run_in_background())

    def _forget(self, run_id: int | None, key: object) -> _Started | None:
        started = self._started.pop(run_id, None) if run_id is not None else None
        by_key = self._started.pop(key, None) if key is not None else None
        started = started or by_key
        if started is not None:  # the other name of the same run
            for name in [k for k, v in self._started.items() if v is started]:
                del self._started[name]
        return started

    def _worth_telling(self, started: _Started) -> bool:
        after = getattr(self.ws.settings, "run_end_notice_after_s", DEFAULT_AFTER_S)
        return time.monotonic() - started.at >= after and not self._in_front()

    def _in_front(self) -> bool:
        """The window (or one of its dialogs) has the keyboard: the editor sees the run end."""
        active = QApplication.activeWindow()
        while active is not None:
            if active is self.window:
                return True
            active = active.parentWidget()
        return False

    # --- telling --------------------------------------------------------------------------------------------------
    def _alive(self, fn):
        return lambda *args: fn(*args) if shiboken6.isValid(self) and shiboken6.isValid(self.window) else None

    def _tell(self, outcome: RunOutcome) -> None:
        if self._in_front():
            return  # the editor came back while the words were read
        tray = self._tray()
        shown_by = "tray" if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages() \
            else "alert"
        self.last_notice = Notice(outcome.title(), outcome.summary(), outcome.step_id, outcome.post_id, shown_by)
        if shown_by == "tray":
            tray.show()
            tray.showMessage(self.last_notice.title, self.last_notice.text, self._icon(), MESSAGE_MS)
        else:
            QApplication.alert(self.window)  # no tray here: the taskbar entry asks for attention

    def _icon(self) -> QIcon:
        icon = self.window.windowIcon()
        return icon if not icon.isNull() else QApplication.windowIcon()

    def _tray(self) -> QSystemTrayIcon:
        if self.tray is None:
            self.tray = QSystemTrayIcon(self._icon(), self)
            self.tray.setToolTip("wfdesk")
            self.tray.messageClicked.connect(self.bring_to_front)
            self.tray.activated.connect(lambda _reason: self.bring_to_front())
        return self.tray

    def bring_to_front(self) -> None:
        """The editor clicked the notice: the window in front, on the run's post and step."""
        notice, window = self.last_notice, self.window
        if window.isMinimized():
            window.showNormal()
        window.raise_()
        window.activateWindow()
        if notice is not None:
            show_step_of_post(window, notice.step_id, notice.post_id)

    @override
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.WindowActivate and self.tray is not None:
            self.tray.hide()  # the icon is there only while a notice waits to be seen
        return False


def show_step_of_post(window: Any, step_id: int | None, post_id: int | None) -> None:
    """Choose the post in the list (clearing a search or filter that hides it) and the step in the workflow."""
    posts, steps = getattr(window, "posts", None), getattr(window, "steps", None)
    if post_id and posts is not None and window.post_id != post_id:
        listed = any(posts.tree.topLevelItem(i).data(0, ID_ROLE) == post_id
                     for i in range(posts.tree.topLevelItemCount()))
        if not listed:
            posts.search.clear()
            posts.status_filter.setCurrentIndex(0)
        posts.select_post(post_id)
    if step_id and steps is not None:
        steps.select_step(step_id)


def watch(window: QWidget, runs: Any, ws: Workspace) -> RunEndNotice:
    """The main window's one line: notices for this window's runs."""
    return RunEndNotice(window, runs, ws)


def _outcomes() -> Any:
    from wfdesk.services import run_outcome

    return run_outcome
