"""Whether each provider answers: one answer for the whole window (status bar, step panels, their banners).

Three things tell it: the status bar's periodic check of the default provider (the Settings dialog's connection
test), and every run, as it goes: a section that could not reach its provider marks that address offline at once,
a section that got an answer marks it online at once. Keyed by address (the base URL, or "the OpenAI API"), which
is also how engine errors name a provider ("cannot reach <address> (...)").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 3.0
OPENAI_API = "the OpenAI API"


def check_provider(ws: Workspace) -> tuple[bool, str]:
    """(reachable, verdict) for the default provider: the Settings dialog's connection test, so both agree on
    the address and on what counts as online (a refused API key does not). Runs on a worker thread."""
    from wfdesk.services import connections

    # Short timeouts: the check holds one of the shared background threads (two on a small laptop).
    return connections.check_default_provider(ws, CHECK_TIMEOUT_S)


def profile_address(ws: Workspace, name: str | None) -> str | None:
    """The address of a provider profile (None: no such profile), as engine errors name it."""
    from wfdesk.services import connections

    return connections.profile_address(ws, name)


def step_provider_address(ws: Workspace, script_type: str, config: dict[str, Any]) -> str | None:
    """The provider address a step talks to; None when it talks to none (a custom script posts to its own base
    URL, an image step may use AUTOMATIC1111 or ComfyUI). The run process names it the same way."""
    from wfdesk.runs.request import provider_address

    return provider_address(ws, script_type, config)


class ProviderStatus(QObject):
    changed = Signal()

    def __init__(self, ws: Workspace | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ws = ws
        self._states: dict[str, tuple[bool, str]] = {}  # address -> (online, what was seen)
        self._checking = False
        self._check_again = False

    def set_workspace(self, ws: Workspace) -> None:
        self.ws = ws
        self._states.clear()  # what was seen was about the previous workspace's settings
        self.changed.emit()

    def default_address(self) -> str | None:
        return profile_address(self.ws, None) if self.ws is not None else None

    def state(self, address: str | None = None) -> tuple[bool | None, str]:
        """(online, what was seen) for an address (default: the default provider's); online None: not known yet."""
        address = address if address is not None else self.default_address()
        online, seen = self._states.get(address or "", (None, ""))
        return online, seen

    def offline_reason(self, address: str | None = None) -> str | None:
        online, seen = self.state(address)
        return (seen or "no answer") if online is False else None

    def report(self, address: str | None, online: bool, seen: str = "") -> None:
        """What a check or a run just saw of an address."""
        if address is None:
            return
        before = self._states.get(address)
        self._states[address] = (online, seen)
        if before is None or before[0] != online or (not online and before[1] != seen):
            self.changed.emit()

    def checking(self) -> bool:
        return self._checking

    def check(self) -> None:
        """Check the default provider now, in the background; asked during a check (new settings, say), check
        again after it."""
        if self.ws is None:
            return
        if self._checking:
            self._check_again = True
            return
        self._checking, self._check_again = True, False
        ws = self.ws
        (BackgroundOp(lambda: (profile_address(ws, None), check_provider(ws)))
         .success(self._checked)
         .failure(self._check_failed)
         .run_in_background())

    def _checked(self, result: tuple[str | None, tuple[bool, str]]) -> None:
        self._checking = False
        address, (online, verdict) = result
        self.report(address or "", online, verdict or ("" if online else "no answer"))  # "": none configured
        if self._check_again:
            self.check()

    def _check_failed(self, exc: Exception) -> None:
        log.info("provider check failed: %s", exc)
        self._checking = False
        self.report(self.default_address() or "", False, str(exc) or "the check failed")
        if self._check_again:
            self.check()
