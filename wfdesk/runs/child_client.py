"""The app's side of `wfdesk.runs.child`: run a step (or a resume) in its own process and relay its progress.

`run_in_child(ws, request, options)` behaves like `execute_step` / `resume_run` in-process: the observer gets the
same callbacks, `options.cancel` stops the run, the result dict is returned, and a refused request raises. It blocks
the calling (worker) thread only, reading the child's output; the child's Python never competes with the window's.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from typing import Any

from wfdesk.errors import WfdeskError
from wfdesk.runs.engine import RunOptions
from wfdesk.scripts.base import CancelToken
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def terminate_all(grace_s: float = 1.0) -> int:
    """Stop every run process still running (at exit, when waiting for them would hang the app). What they had
    finished is in the database; the next start marks their runs interrupted, ready to resume."""
    with _children_lock:
        procs = [p for p in _children if p.poll() is None]
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
    return len(procs)


class RunRefused(WfdeskError, ValueError):
    """The child refused the request before sending anything (invalid config, budget, unknown ids)."""


def run_in_child(ws: Workspace, request: dict[str, Any], options: RunOptions) -> dict[str, Any]:
    payload = {"database_url": ws.db.url, "data_dir": str(ws.data_dir),
               "settings": ws.settings.model_dump(mode="json"), **request}
    proc = subprocess.Popen([sys.executable, "-m", "wfdesk.runs.child"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    with _children_lock:
        _children.add(proc)
    stderr_tail: list[str] = []
    threading.Thread(target=_drain, args=(proc, stderr_tail), daemon=True, name="child-stderr").start()
    cancel = options.cancel or CancelToken()
    finished = threading.Event()
    try:
        proc.stdin.write(json.dumps(payload) + "\n")
        proc.stdin.flush()
        # Only after the request: a cancel line must never arrive first.
        threading.Thread(target=_forward_cancel, args=(proc, cancel, finished), daemon=True,
                         name="child-cancel").start()
        return _relay(proc, options, stderr_tail)
    finally:
        finished.set()
        try:
            proc.stdin.close()  # the child treats end of input as "the app went away"
        except OSError:
            pass
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        with _children_lock:
            _children.discard(proc)


def _relay(proc: subprocess.Popen, options: RunOptions, stderr_tail: list[str]) -> dict[str, Any]:
    observer = options.observer
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            log.warning("run process said something that is not an event: %r", line[:200])
            continue
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
    code = proc.wait(30)
    detail = "".join(stderr_tail[-5:]).strip().splitlines()
    raise WfdeskError(f"the run process ended unexpectedly (exit code {code})"
                      + (f": {detail[-1]}" if detail else ""))


def _forward_cancel(proc: subprocess.Popen, cancel: CancelToken, finished: threading.Event) -> None:
    while not finished.is_set():
        if cancel.wait(0.1):
            try:
                proc.stdin.write("cancel\n")
                proc.stdin.flush()
            except (OSError, ValueError):
                pass  # it already ended
            return


def _drain(proc: subprocess.Popen, tail: list[str]) -> None:
    for line in proc.stderr:
        tail.append(line)
        del tail[:-50]
        if "ERROR" in line or "WARNING" in line:
            log.info("run process: %s", line.rstrip())
