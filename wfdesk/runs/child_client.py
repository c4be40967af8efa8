"""The app's side of `wfdesk.runs.child`: send a run request (or a cancel) to the app's run process, and hand each
of its events, decoded once by one reader thread, to the request's sink.

`start_in_child(ws, request, sink)` returns at once (the window: its sink emits a Qt signal); `run_in_child(ws,
request, options)` blocks like `execute_step` / `resume_run` in-process (the API server): the observer gets the
same callbacks, `options.cancel` stops the run (the cancel is written to the process at the moment it happens), the
result dict is returned, and a refused request raises. One run process serves every run of the app, started on
first use and again if it ever dies; when it dies, each of its runs is marked interrupted and fails in words.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import subprocess
import threading
import uuid
from dataclasses import dataclass
from typing import IO, Any

from wfdesk.cancel import CancelToken
from wfdesk.errors import WfdeskError
from wfdesk.frozen import run_process_command
from wfdesk.runs.engine import RunOptions
from wfdesk.runs.events import (
    FINAL_EVENTS,
    RunCreated,
    RunEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    Sink,
    TextDelta,
    UnitChanged,
    decode,
)
from wfdesk.runs.events import (
    RunRefusedError as Refused,
)
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
process_log = logging.getLogger("wfdesk.run_process")  # the run process's own lines, as it wrote them
_LEVELS = {name: getattr(logging, name) for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}


class RunRefusedError(WfdeskError, ValueError):
    """The run process refused the request before sending anything (invalid config, budget, unknown ids)."""


def _pipe(stream: IO[str] | None) -> IO[str]:
    """One of the run process's pipes: all three are opened with PIPE, so none is ever None."""
    assert stream is not None
    return stream


@dataclass
class _Request:
    ws: Workspace
    sink: Sink
    run_id: int | None = None


class _RunProcess:
    def __init__(self) -> None:
        # In the bundle this is its own executable in run-process mode (wfdesk.frozen), else `python -m`.
        self.proc = subprocess.Popen(run_process_command(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self._requests: dict[str, _Request] = {}
        self._lock = threading.Lock()
        self.stderr_tail: list[str] = []
        threading.Thread(target=self._read, daemon=True, name="run-process-out").start()
        threading.Thread(target=self._drain, daemon=True, name="run-process-err").start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            _pipe(self.proc.stdin).write(json.dumps(message) + "\n")
            _pipe(self.proc.stdin).flush()

    def submit(self, request_id: str, message: dict[str, Any], ws: Workspace, sink: Sink) -> None:
        with self._lock:
            self._requests[request_id] = _Request(ws, sink)
        try:
            self.send(message)
        except BaseException:
            with self._lock:
                self._requests.pop(request_id, None)
            raise

    def _read(self) -> None:
        for line in _pipe(self.proc.stdout):
            try:
                request_id, event = decode(line)
            except ValueError:
                log.warning("the run process said something that is not an event: %r", line[:200])
                continue
            with self._lock:
                request = self._requests.get(request_id)
                if request is not None and isinstance(event, FINAL_EVENTS):
                    del self._requests[request_id]
            if request is None:
                continue
            if isinstance(event, RunCreated):
                request.run_id = event.run_id
            _deliver(request.sink, event)
        # The process ended: every run still waiting learns it at once, in words; its last log lines (which may
        # be anything, e.g. an HTTP request it had just made) go to the app's log, not to the editor.
        code = self.proc.wait()
        with self._lock:
            requests, self._requests = list(self._requests.values()), {}
        if requests:
            log.warning("the run process ended (exit code %s); its last lines:\n%s", code,
                        "".join(self.stderr_tail[-10:]).rstrip())
        for request in requests:
            if request.run_id is not None:
                _mark_interrupted(request.ws, request.run_id)
            _deliver(request.sink, RunFailed(ended_message(code), process_ended=True))

    def _drain(self) -> None:
        """Every line the run process logs goes to the app's log (wfdesk.log), at its own level; the lines of a
        traceback (or of a faulthandler dump) follow the record they belong to."""
        level = logging.WARNING  # what a line before any record is (Python's own crash output)
        for line in _pipe(self.proc.stderr):
            self.stderr_tail.append(line)
            del self.stderr_tail[:-50]
            head = line.split(" ", 1)[0]
            if head in _LEVELS:
                level = _LEVELS[head]
            elif line.startswith("Fatal Python error"):
                level = logging.CRITICAL
            process_log.log(level, "%s", line.rstrip())

    def stop(self, grace_s: float) -> None:
        with contextlib.suppress(OSError):
            _pipe(self.proc.stdin).close()  # end of input: the process cancels its runs and exits
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_process: _RunProcess | None = None
_process_lock = threading.Lock()


def ended_message(exit_code: int) -> str:
    """Why the run process ended, as an editor can read it."""
    fatal = {getattr(signal, name) for name in ("SIGSEGV", "SIGBUS", "SIGABRT", "SIGILL") if hasattr(signal, name)}
    if exit_code < 0 and -exit_code == getattr(signal, "SIGKILL", None):
        why = "it was killed (by the system, e.g. when memory ran out, or by another program)"
    elif exit_code < 0 and -exit_code == signal.SIGTERM:
        why = "it was stopped by another program"
    elif exit_code < 0 and -exit_code in fatal:
        why = "it crashed"
    elif exit_code < 0:
        why = "it was stopped by the system"
    else:
        why = f"it quit with exit code {exit_code}"
    return (f"the run process ended unexpectedly: {why}. The sections that finished are saved; resume the run to "
            "do the rest.")


def _run_process() -> _RunProcess:
    global _process
    with _process_lock:
        if _process is None or not _process.alive():
            _process = _RunProcess()
        return _process


def terminate_all(grace_s: float = 1.0) -> int:
    """Stop the run process (at exit, when waiting for it would hang the app). What its runs had finished is in
    the database; the next start marks them interrupted, ready to resume. Returns how many processes it stopped."""
    global _process
    with _process_lock:
        process, _process = _process, None
    if process is None or not process.alive():
        return 0
    process.stop(grace_s)
    return 1


@dataclass
class RunHandle:
    """A request sent to the run process: cancel() writes the cancel to it at once."""

    request_id: str
    process: _RunProcess

    def cancel(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # it already ended
            self.process.send({"op": "cancel", "id": self.request_id})


def start_in_child(ws: Workspace, request: dict[str, Any], sink: Sink) -> RunHandle:
    """Send `request` to the run process; its events go to `sink`, on the reader thread, the last one final."""
    request_id = uuid.uuid4().hex
    message = {"op": request.get("action", "start"), "id": request_id, "database_url": ws.db.url,
               "data_dir": str(ws.data_dir), "settings": ws.settings.model_dump(mode="json"), **request}
    try:
        process = _run_process()
        process.submit(request_id, message, ws, sink)
    except OSError as exc:
        raise WfdeskError(f"the run process is not available: {exc}") from None
    return RunHandle(request_id, process)


def run_in_child(ws: Workspace, request: dict[str, Any], options: RunOptions) -> dict[str, Any]:
    inbox: queue.Queue[RunEvent] = queue.Queue()
    handle = start_in_child(ws, request, inbox.put)
    forget = (options.cancel or CancelToken()).on_cancel(handle.cancel)
    try:
        while True:
            result = observe(inbox.get(), options)
            if result is not None:
                return result
    finally:
        forget()


def observe(event: RunEvent, options: RunOptions) -> dict[str, Any] | None:
    """An event for the callbacks of `options`: the result when it is the run's end; raises when it was refused
    or failed."""
    observer = options.observer
    if isinstance(event, RunCreated) and options.on_run_id:
        options.on_run_id(event.run_id)
    elif isinstance(event, RunStarted) and observer:
        observer.run_started(event.run_id, event.units)
    elif isinstance(event, UnitChanged) and observer:
        observer.unit_changed(event.run_id, event.entry)
    elif isinstance(event, TextDelta) and observer and hasattr(observer, "text_delta"):
        observer.text_delta(event.run_id, event.section_id, event.text, event.restart)
    elif isinstance(event, RunFinished):
        if observer:
            observer.run_finished(event.run_id, event.result)
        return event.result
    elif isinstance(event, Refused):
        raise RunRefusedError(event.message)
    elif isinstance(event, RunFailed):
        raise WfdeskError(event.message)
    return None


def _deliver(sink: Sink, event: RunEvent) -> None:
    try:
        sink(event)
    except Exception:  # noqa: BLE001 - a listener's bug must not stop the reader of every run
        log.exception("a run event could not be delivered")


def _mark_interrupted(ws: Workspace, run_id: int) -> None:
    """Its process is gone: the run is interrupted now, not at the app's next start (so Resume is offered)."""
    from sqlalchemy.exc import SQLAlchemyError

    from wfdesk.runs.ledger import mark_interrupted

    try:
        mark_interrupted(ws, run_id)
    except SQLAlchemyError:
        log.warning("could not mark run %s interrupted; the next start will", run_id)
