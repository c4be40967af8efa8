"""The app's side of `wfdesk.runs.child`: run a step (or a resume) in the app's run process and relay its progress.

`run_in_child(ws, request, options)` behaves like `execute_step` / `resume_run` in-process: the observer gets the
same callbacks, `options.cancel` stops the run, the result dict is returned, and a refused request raises. It blocks
the calling (worker) thread only. One run process serves every run of the app, started on first use and again if it
ever dies.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import uuid
from typing import Any

from wfdesk.errors import WfdeskError
from wfdesk.runs.engine import RunOptions
from wfdesk.scripts.base import CancelToken
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


class RunRefused(WfdeskError, ValueError):
    """The run process refused the request before sending anything (invalid config, budget, unknown ids)."""


class _RunProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "wfdesk.runs.child"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self._inboxes: dict[str, queue.Queue] = {}
        self._lock = threading.Lock()
        self.stderr_tail: list[str] = []
        threading.Thread(target=self._read, daemon=True, name="run-process-out").start()
        threading.Thread(target=self._drain, daemon=True, name="run-process-err").start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()

    def open_inbox(self, request_id: str) -> queue.Queue:
        inbox: queue.Queue = queue.Queue()
        with self._lock:
            self._inboxes[request_id] = inbox
        return inbox

    def close_inbox(self, request_id: str) -> None:
        with self._lock:
            self._inboxes.pop(request_id, None)

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                log.warning("the run process said something that is not an event: %r", line[:200])
                continue
            with self._lock:
                inbox = self._inboxes.get(str(event.get("id")))
            if inbox is not None:
                inbox.put(event)
        # The process ended: every run still waiting learns it at once.
        detail = "".join(self.stderr_tail[-5:]).strip().splitlines()
        message = f"the run process ended unexpectedly (exit code {self.proc.wait()})" + (
            f": {detail[-1]}" if detail else "")
        with self._lock:
            inboxes = list(self._inboxes.values())
        for inbox in inboxes:
            inbox.put({"event": "failed", "message": message})

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.stderr_tail.append(line)
            del self.stderr_tail[:-50]
            if "ERROR" in line or "WARNING" in line:
                log.info("run process: %s", line.rstrip())

    def stop(self, grace_s: float) -> None:
        try:
            self.proc.stdin.close()  # end of input: the process cancels its runs and exits
        except OSError:
            pass
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


def run_in_child(ws: Workspace, request: dict[str, Any], options: RunOptions) -> dict[str, Any]:
    request_id = uuid.uuid4().hex
    process = _run_process()
    inbox = process.open_inbox(request_id)
    cancel = options.cancel or CancelToken()
    finished = threading.Event()
    try:
        process.send({"op": request.get("action", "start"), "id": request_id, "database_url": ws.db.url,
                      "data_dir": str(ws.data_dir), "settings": ws.settings.model_dump(mode="json"), **request})
        threading.Thread(target=_forward_cancel, args=(process, request_id, cancel, finished), daemon=True,
                         name="run-cancel").start()
        return _relay(inbox, options)
    except OSError as exc:
        raise WfdeskError(f"the run process is not available: {exc}") from None
    finally:
        finished.set()
        process.close_inbox(request_id)


def _relay(inbox: queue.Queue, options: RunOptions) -> dict[str, Any]:
    observer = options.observer
    while True:
        event = inbox.get()
        kind = event.get("event")
        if kind == "run_id" and options.on_run_id:
            options.on_run_id(event["run_id"])
        elif kind == "run_started" and observer:
            observer.run_started(event["run_id"], event["units"])
        elif kind == "unit" and observer:
            observer.unit_changed(event["run_id"], event["entry"])
        elif kind == "run_finished":
            if observer:
                observer.run_finished(event["run_id"], event["result"])
            return event["result"]
        elif kind == "refused":
            raise RunRefused(event["message"])
        elif kind == "failed":
            raise WfdeskError(event["message"])


def _forward_cancel(process: _RunProcess, request_id: str, cancel: CancelToken, finished: threading.Event) -> None:
    while not finished.is_set():
        if cancel.wait(0.1):
            if not finished.is_set():
                try:
                    process.send({"op": "cancel", "id": request_id})
                except (OSError, ValueError):
                    pass  # it already ended
            return
