"""A run's progress as one typed event stream, and the one observer protocol the engine calls.

The engine calls a RunObserver; `EventObserver` turns each call into an event for a sink. In the run process the
sink writes one JSON line (`encode`); in the app one reader decodes it (`decode`) and hands it on: to Qt signals in
the window, to the observer of a blocking call in the API server. Live text is coalesced on its way out
(`TextCoalescer`): at most one delta per section every 100 ms, whatever the model's token rate.

The path of a run in the app, one hop each way:
    ui/panels/base.py (Run) -> ui/run_controller.py -> runs/child_client.py -> [pipe] -> runs/child.py ->
    runs/request.py -> runs/engine.py (-> the handler) -> runs/events.py (encoded) -> [pipe] ->
    runs/child_client.py (decoded) -> ui/run_controller.py (one queued signal) -> ui/panels/run_tracking.py
A cancel goes the first way only: ui/run_controller.py -> runs/child_client.py -> runs/child.py (the run's token).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class RunCreated:
    """The run has its ledger row: from now on it can be cancelled and resumed by its id."""

    run_id: int
    step_id: int | None = None
    post_id: int | None = None
    provider: str | None = None  # the provider address it talks to, when it talks to one


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    units: list[dict[str, Any]] = field(default_factory=list)  # {"unit_id", "section_id"} in run order


@dataclass(frozen=True)
class UnitChanged:
    run_id: int
    entry: dict[str, Any]  # section_id, unit_id, status; when it ended: output / error / version_ids / metadata


@dataclass(frozen=True)
class TextDelta:
    """More of a section's answer as it is generated; `restart`: the text starts over (the request was sent
    again)."""

    run_id: int
    section_id: int | None
    text: str
    restart: bool = False


@dataclass(frozen=True)
class RunFinished:
    run_id: int
    result: dict[str, Any]


@dataclass(frozen=True)
class RunRefusedError:
    """Nothing was sent: invalid config, budget, unknown ids."""

    message: str


@dataclass(frozen=True)
class RunFailed:
    """An unexpected error, or the run process ended under the run."""

    message: str
    process_ended: bool = False


RunEvent = RunCreated | RunStarted | UnitChanged | TextDelta | RunFinished | RunRefusedError | RunFailed
FINAL_EVENTS = (RunFinished, RunRefusedError, RunFailed)
# The wire names (kept from the first JSON-lines protocol).
KINDS: dict[type, str] = {RunCreated: "run_id", RunStarted: "run_started", UnitChanged: "unit", TextDelta: "text",
                          RunFinished: "run_finished", RunRefusedError: "refused", RunFailed: "failed"}
_BY_KIND = {kind: cls for cls, kind in KINDS.items()}


def encode(request_id: str, event: RunEvent) -> str:
    """One line (no newline) naming the request the event belongs to."""
    return json.dumps({"id": request_id, "event": KINDS[type(event)], **asdict(event)}, default=str)


def decode(line: str) -> tuple[str, RunEvent]:
    """(request id, event); ValueError for anything that is not an event."""
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("event") not in _BY_KIND:
        raise ValueError("not an event")
    request_id = str(data.pop("id", ""))
    cls = _BY_KIND[data.pop("event")]
    try:
        return request_id, cls(**data)
    except TypeError as exc:
        raise ValueError(f"a malformed {cls.__name__}: {exc}") from None


class RunObserver(Protocol):
    """Progress callbacks. Called from worker threads: a GUI must hop to its own thread (Qt signals do)."""

    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None: ...
    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None: ...
    def text_delta(self, run_id: int, section_id: int | None, text: str, restart: bool) -> None: ...
    def run_finished(self, run_id: int, result: dict[str, Any]) -> None: ...


Sink = Callable[[RunEvent], None]


class EventObserver:
    """The engine's observer as events for `sink`; live text goes through a coalescer, flushed before the
    section's next state so the text always arrives before the section's end."""

    def __init__(self, sink: Sink, interval_s: float = 0.1) -> None:
        self.sink = sink
        self.text = TextCoalescer(sink, interval_s)
        self.finished = False

    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None:
        self.sink(RunStarted(run_id, units))

    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        self.text.flush(run_id, entry.get("section_id"))
        self.sink(UnitChanged(run_id, dict(entry)))

    def text_delta(self, run_id: int, section_id: int | None, text: str, restart: bool = False) -> None:
        self.text.add(TextDelta(run_id, section_id, text, restart))

    def run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        self.text.flush()
        self.finished = True
        self.sink(RunFinished(run_id, result))


class TextCoalescer:
    """Deltas of one section within `interval_s` of the last one sent are joined and sent together: the first
    at once, the rest at most every `interval_s` (a timer thread sends what waits, so the end of a burst is not
    held back). Sent under the lock: two deltas of a section never overtake each other."""

    def __init__(self, send: Sink, interval_s: float = 0.1) -> None:
        self._send, self.interval_s = send, interval_s
        self._pending: dict[tuple[int, int | None], TextDelta] = {}
        self._last: dict[tuple[int, int | None], float] = {}
        self._lock = threading.Lock()
        self._timer: threading.Thread | None = None

    def add(self, delta: TextDelta) -> None:
        key = (delta.run_id, delta.section_id)
        with self._lock:
            waiting = self._pending.pop(key, None)
            if waiting is not None and not delta.restart:
                delta = TextDelta(delta.run_id, delta.section_id, waiting.text + delta.text, waiting.restart)
            now = time.monotonic()
            if now - self._last.get(key, -1e9) >= self.interval_s:
                self._last[key] = now
                self._send(delta)
                return
            self._pending[key] = delta
            if self._timer is None:
                self._timer = threading.Thread(target=self._tick, daemon=True, name="live-text")
                self._timer.start()

    def flush(self, run_id: int | None = None, section_id: int | None = None) -> None:
        """Send what waits now: of one section, or of all (run_id None)."""
        with self._lock:
            keys = [k for k in self._pending if run_id is None or k == (run_id, section_id)]
            for key in keys:
                self._last[key] = time.monotonic()
                self._send(self._pending.pop(key))

    def _tick(self) -> None:
        while True:
            time.sleep(self.interval_s / 2)
            with self._lock:
                now = time.monotonic()
                for key in [k for k in self._pending if now - self._last.get(k, -1e9) >= self.interval_s]:
                    self._last[key] = now
                    self._send(self._pending.pop(key))
                if not self._pending:
                    self._timer = None
                    return
