"""Cancelling a run: the token the engine, handlers and providers check, and the error that says it happened.

Below every layer that sends requests (providers, media downloads, handlers), so none of them reaches up for it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from wfdesk.errors import UnitError


class CancelToken:
    """Checked between units and between streamed chunks; the SDK cannot abort a blocking call from outside."""

    def __init__(self, stopping: threading.Event | None = None) -> None:
        self._event = threading.Event()
        self._stopping = stopping  # set when nobody is left to see the answers (the app went away)
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` once, at the moment of the cancel (at once if it already happened), from the thread
        that cancels: a cancel reaches a stream or another process without anyone polling. Returns the undo."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def wait_to_retry(self, seconds: float) -> bool:
        """The sleep before sending a request again; True (give up) when cancelled, or at once when `stopping` is
        set: a retry is a new request, and a charge, nobody would see. An answer already on its way is kept."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping is not None and self._stopping.is_set():
                return True
            if self._event.wait(min(left, 0.2)):
                return True
        return self.cancelled or bool(self._stopping and self._stopping.is_set())

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep that wakes up on cancel; True when cancelled."""
        return self._event.wait(seconds)


class CancelledError(UnitError):
    def __init__(self) -> None:
        super().__init__("cancelled")


# The old name, kept because plugins import it from wfdesk.scripts.base (see examples/).
Cancelled = CancelledError
