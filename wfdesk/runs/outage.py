"""Riding out a database outage during a run: retry writes with backoff, keep answers in memory meanwhile.

One gate per run. The first failed write starts the outage clock; every writer retries (the answer it holds stays in
memory) and no new section starts until a write succeeds again. When the database stays away longer than the budget
the run is lost to it: writers give up at once, the run ends interrupted, resume does the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from wfdesk.db.engine import describe_outage, is_outage
from wfdesk.errors import WfdeskError

log = logging.getLogger(__name__)
T = TypeVar("T")
OUTAGE_BUDGET_S = 60.0  # how long a run waits for its database to come back
FIRST_DELAY_S, MAX_DELAY_S = 0.25, 5.0


class DatabaseLostError(WfdeskError):
    """The database stayed away longer than the budget; the message says why, in words."""


class OutageGate:
    def __init__(self, budget_s: float | None = None) -> None:
        self.budget_s = OUTAGE_BUDGET_S if budget_s is None else budget_s
        self._lock = threading.Lock()
        self._since: float | None = None
        self._reachable = threading.Event()
        self._reachable.set()
        self.lost: str | None = None

    def call(self, fn: Callable[[], T], what: str = "a write") -> T:
        delay = FIRST_DELAY_S
        while True:
            if self.lost:
                raise DatabaseLostError(self.lost)
            try:
                result = fn()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                waited = self._failed(exc, what)
                if waited >= self.budget_s:
                    self._lose(exc, waited)
                    raise DatabaseLostError(self.lost) from None
                time.sleep(min(delay, max(0.05, self.budget_s - waited)))
                delay = min(delay * 2, MAX_DELAY_S)
                continue
            self._succeeded()
            return result

    def wait_reachable(self, stop: threading.Event | None = None) -> bool:
        """Blocks while an outage is under way; False once the database is lost (or `stop` is set)."""
        while not self._reachable.wait(0.2):
            if self.lost or (stop is not None and stop.is_set()):
                break
        return not self.lost

    def _failed(self, exc: BaseException, what: str) -> float:
        now = time.monotonic()
        with self._lock:
            if self._since is None:
                self._since = now
                self._reachable.clear()
                log.warning("%s (while saving %s); retrying", describe_outage(exc).capitalize(), what)
            return now - self._since

    def _succeeded(self) -> None:
        with self._lock:
            if self._since is not None:
                log.warning("the database answers again after %.1f s; the run goes on",
                            time.monotonic() - self._since)
            self._since = None
            self._reachable.set()

    def _lose(self, exc: BaseException, waited: float) -> None:
        with self._lock:
            if not self.lost:
                self.lost = (f"{describe_outage(exc)} for {waited:.0f} s; the sections saved until then are kept, "
                             "resume the run when the database is back")
            self._reachable.set()
