"""Cancelling a run: the token the engine, handlers and providers check, and the error that says it happened.

Below every layer that sends requests (providers, media downloads, handlers), so none of them reaches up for it.
"""

from __future__ import annotations

import threading
import time

from wfdesk.errors import UnitError


class CancelToken:
    """Checked between units and between streamed chunks; the SDK cannot abort a blocking call from outside."""

    def __init__(self, stopping: threading.Event | None = None) -> None:
        self._event = threading.Event()
        self._stopping = stopping  # set when nobody is left to see the answers (the app went away)

    def cancel(self) -> None:
        self._event.set()

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


class Cancelled(UnitError):
    def __init__(self) -> None:
        super().__init__("cancelled")
