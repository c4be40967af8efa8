"""What a caller hands a run beside the step and the post: who watches, how it is cancelled or stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wfdesk.cancel import CancelToken
from wfdesk.runs.events import RunObserver


class NullObserver:
    """Nobody watches: the run's events go nowhere."""

    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None:
        pass

    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        pass

    def text_delta(self, run_id: int, section_id: int | None, text: str, restart: bool = False) -> None:
        pass

    def run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        pass


@dataclass
class RunOptions:
    observer: RunObserver | None = None
    cancel: CancelToken | None = None
    on_run_id: Callable[[int], None] | None = None
    # Set when the app goes away: no new section starts, answers in flight are saved, the run ends interrupted.
    stop: threading.Event | None = None
    # Result cache: True = ask the provider even where an identical earlier answer could be reused (--no-cache).
    fresh_answers: bool = False
