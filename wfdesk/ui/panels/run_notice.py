"""The banner above a step panel's sections: what happened to the last run, and the one thing to do about it.

It says when the last run was interrupted (the app closed during it), cancelled or failed with sections left to
do (offering to resume just those), when the provider could not be reached, and warns before a run when the
provider is already known to be offline. The wording lives in `describe_latest_run` / `offline_warning` (plain
functions, testable without a window).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStyle, QVBoxLayout, QWidget

from wfdesk.states import RunState

# kind -> (light background, dark background, accent)
COLOURS = {
    "info": ("#e8f1fb", "#17293b", "#1e88e5"),
    "warning": ("#fff6dd", "#3a300f", "#f9a825"),
    "error": ("#fdecea", "#3d1a1a", "#e53935"),
}
ICONS = {"info": QStyle.StandardPixmap.SP_MessageBoxInformation,
         "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
         "error": QStyle.StandardPixmap.SP_MessageBoxCritical}


@dataclass(frozen=True)
class Notice:
    kind: str  # info | warning | error
    message: str
    note: str
    action: str  # the main button's text
    dismiss: str = "Dismiss"
    action_tip: str = ""


def sections(n: int) -> str:
    return f"{n} section{'' if n == 1 else 's'}"


def _done_of(latest: dict[str, Any]) -> str:
    done, total = latest["done"], latest["total"]
    return f"{done} of {sections(total)} {'is' if done == 1 else 'are'} done"


# Words an editor knows for what the network stack and Python call things (the run notes, the status line).
_PLAIN_WORDS: tuple[tuple[str, str], ...] = (
    (r"the run process is not available:.*", "the background process that runs steps stopped unexpectedly; "
                                             "run again"),
    (r"\b[A-Z]\w*Error:\s*(?=\[Errno)", ""),  # "BrokenPipeError: [Errno 32] Broken pipe": one of the two
    (r"\(?'Connection aborted\.',\s*RemoteDisconnected\([^)]*\)\)?", "the server hung up without answering"),
    (r"\(?'Connection aborted\.',\s*\w+\([^)]*\)\)?", "the connection broke off"),
    (r"\[Errno -?\d+\]\s*", ""),
    (r"\bKeyError:\s*", "a value is missing: "),
    (r"\b(?:BrokenPipeError|Broken pipe)\b:?", "the connection broke off"),
    (r"\b(?:ConnectionResetError|Connection reset by peer)\b:?", "the connection was cut"),
    (r"\b(?:ConnectionRefusedError|Connection refused)\b:?", "the connection was refused; is the server running?"),
    (r"\b(?:ConnectError|All connection attempts failed)\b:?", "no connection could be made"),
    (r"\b(?:RemoteProtocolError|Server disconnected without sending a response\.?)\b:?",
     "the server hung up without answering"),
    (r"\b(?:ReadTimeout|ConnectTimeout|TimeoutError|socket\.timeout|timed out)\b:?", "no answer in time"),
    (r"\b(?:Name or service not known|nodename nor servname provided, or not known|gaierror)\b:?",
     "the server's name is unknown"),
    (r"\bConnection error\.", "no connection"),
)
_EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z0-9_.]*(?:Error|Exception|Exit|Interrupt|Warning)\b:?\s*")


def plain_error(message: str) -> str:
    """A run's error in plain words: known network and Python terms translated, other exception names dropped
    (what they said stays). The full text is in the log and the run history."""
    text = message or ""
    for pattern, words in _PLAIN_WORDS:
        text = re.sub(pattern, words, text)
    text = _EXCEPTION_NAME.sub("", text)
    text = re.sub(r"\(\s*\)", "", re.sub(r"\s{2,}", " ", text)).strip(" :;")
    return text or "an unexpected problem (the details are in the log)"


def describe_latest_run(latest: dict[str, Any] | None, provider_online: bool | None = None) -> Notice | None:
    """What the panel says about the latest run of its step on its post (review.latest_run), or None when all
    is well (it succeeded, or there is nothing left that a resume could do). provider_online: whether the window
    sees the provider answer now (None: not known), so the banner never contradicts the status bar."""
    if not latest or not latest.get("resumable"):
        return None
    left = latest["unfinished"]
    tip = (f"Runs only the {sections(left)} that did not finish, with the same settings as run "
           f"#{latest['run_id']}; the finished ones are kept and not sent again.")
    offline = latest.get("offline")
    if offline:
        where = f"The provider at {offline['address']}" if offline["address"] else "The provider"
        done = f" ({_done_of(latest)})" if latest["done"] else ""
        if provider_online:
            return Notice("warning", f"{where} could not be reached during the last run: nothing was generated "
                                     f"for {sections(offline['sections'])}{done}.",
                          "It answers again now.", f"Run again ({sections(left)})", action_tip=tip)
        return Notice("error", f"{where} is offline: nothing was generated for {sections(offline['sections'])}"
                               f"{done}.",
                      "Try again later: check that the server is running and reachable (the status bar shows when "
                      "it answers again), then run again.",
                      f"Run again ({sections(left)})", action_tip=tip)
    status = latest["status"]
    if status == RunState.INTERRUPTED:
        return Notice("warning", f"The last run was interrupted (the app closed during it): {_done_of(latest)}.",
                      f"Nothing that finished was lost; Resume sends only the {sections(left)} that did not finish.",
                      f"Resume the {left} remaining", action_tip=tip)
    if status == RunState.CANCELLED:
        return Notice("info", f"The last run was cancelled: {_done_of(latest)}.", "",
                      f"Run the {left} remaining", action_tip=tip)
    failed = f", {latest['failed']} failed" if latest["failed"] else ""
    first = latest.get("first_error")
    return Notice("error", f"The last run finished with errors: {_done_of(latest)}{failed}.",
                  f"First error: {plain_error(first)}" if first else "", f"Run the {sections(left)} again",
                  action_tip=tip)


def offline_warning(address: str, reason: str) -> Notice:
    """Before a run, when this app has already seen the provider fail to answer (reason: what it saw)."""
    where = f"The provider at {address}" if address else "The provider"
    seen = f"Last seen: {plain_error(reason).rstrip('.')}. " if reason else ""
    return Notice("warning", f"{where} looks offline.",
                  f"{seen}A run now will most likely fail at once for every section; you can still try.",
                  "Run anyway", dismiss="Not now", action_tip="Start the run although the provider looks offline")


class RunNotice(QFrame):
    action_clicked = Signal()
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runNotice")
        self.notice: Notice | None = None
        self.icon_label = QLabel()
        self.icon_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = self.message_label.font()
        font.setBold(True)
        self.message_label.setFont(font)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setTextFormat(Qt.TextFormat.PlainText)
        self.note_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.action_button = QPushButton()
        self.action_button.setAutoDefault(False)
        self.action_button.clicked.connect(self.action_clicked)
        self.dismiss_button = QPushButton()
        self.dismiss_button.setAutoDefault(False)
        self.dismiss_button.setFlat(True)
        self.dismiss_button.clicked.connect(self._dismiss)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        texts.addWidget(self.message_label)
        texts.addWidget(self.note_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 8, 6)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(texts, 1)
        layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.hide()

    def show_notice(self, notice: Notice) -> None:
        self.notice = notice
        dark = self.palette().color(QPalette.ColorRole.Window).lightness() < 128
        light_bg, dark_bg, accent = COLOURS[notice.kind]
        text = "#eeeeee" if dark else "#1f1f1f"
        self.setStyleSheet(f"QFrame#runNotice {{ background: {dark_bg if dark else light_bg}; border: 1px solid "
                           f"{accent}; border-left: 5px solid {accent}; border-radius: 4px; }}"
                           f"QFrame#runNotice QLabel {{ color: {text}; background: transparent; }}")
        size = self.message_label.fontMetrics().height() + 4
        self.icon_label.setPixmap(self.style().standardIcon(ICONS[notice.kind]).pixmap(size, size))
        self.message_label.setText(notice.message)
        self.note_label.setText(notice.note)
        self.note_label.setVisible(bool(notice.note))
        self.action_button.setText(notice.action)
        self.action_button.setToolTip(notice.action_tip)
        self.dismiss_button.setText(notice.dismiss)
        self.show()

    def clear(self) -> None:
        self.notice = None
        self.hide()

    def kind(self) -> str | None:
        return self.notice.kind if self.notice else None

    def _dismiss(self) -> None:
        self.clear()
        self.dismissed.emit()
