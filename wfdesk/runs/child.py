"""A run in its own process: `python -m wfdesk.runs.child`, driven by the desktop app.

Why a process: the engine's Python work (the SDK, JSON, the database) holds the GIL; in the window's process that
shows up as a stuttering event loop under a large batch. In its own process it cannot, and a crashing plugin takes
down one run, never the window. The protocol is JSON lines:

stdin, first line:  {"action": "start", "database_url", "data_dir", "settings": {...}, "step_id", "post_id",
                     "context"}  or  {"action": "resume", ..., "run_id"}
stdin, later:       "cancel"
stdout:             {"event": "run_id", "run_id"} {"event": "run_started", "run_id", "units"}
                    {"event": "unit", "run_id", "entry"} {"event": "run_finished", "run_id", "result"}
                    {"event": "refused", "message"}   (nothing was sent: invalid config, budget, unknown ids)
                    {"event": "failed", "message"}    (an unexpected error)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any

_out_lock = threading.Lock()


def emit(event: str, **data: Any) -> None:
    line = json.dumps({"event": event, **data}, default=str)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class _StdoutObserver:
    finished = False

    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None:
        emit("run_started", run_id=run_id, units=units)

    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        emit("unit", run_id=run_id, entry=entry)

    def run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        self.finished = True
        emit("run_finished", run_id=run_id, result=result)


def _watch_stdin(cancel) -> None:
    for line in sys.stdin:
        if line.strip() == "cancel":
            cancel.cancel()
    cancel.cancel()  # the app went away: stop queued sections, keep what is finished


def run(request: dict[str, Any]) -> int:
    from wfdesk.errors import ConfigError, NotFoundError, WfdeskError
    from wfdesk.runs.costs import BudgetError
    from wfdesk.runs.engine import RunOptions, execute_step, resume_run
    from wfdesk.scripts.base import CancelToken
    from wfdesk.settings import Settings
    from wfdesk.workspace import open_workspace, set_current

    cancel = CancelToken()
    threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True, name="stdin").start()
    ws = open_workspace(database_url=request["database_url"], data_dir=request["data_dir"],
                        settings=Settings.model_validate(request.get("settings") or {}), migrate=False)
    set_current(ws)
    observer = _StdoutObserver()
    options = RunOptions(observer=observer, cancel=cancel, on_run_id=lambda run_id: emit("run_id", run_id=run_id))
    try:
        if request.get("action") == "resume":
            result = resume_run(ws, int(request["run_id"]), options)
        else:
            result = execute_step(ws, int(request["step_id"]), int(request["post_id"]),
                                  request.get("context") or {}, options)
        if not observer.finished:  # e.g. a resume with nothing left to run
            emit("run_finished", run_id=result.get("run_id"), result=result)
    except (ConfigError, NotFoundError, BudgetError, ValueError) as exc:
        emit("refused", message=str(exc))
        return 2
    except WfdeskError as exc:
        emit("failed", message=str(exc))
        return 1
    finally:
        ws.close()
    return 0


def main() -> int:
    if hasattr(os, "nice"):
        os.nice(5)  # background work: when the cores are busy, the window the editor is looking at goes first
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        request = json.loads(sys.stdin.readline())
        return run(request)
    except Exception as exc:  # noqa: BLE001 - reported to the app as one line, with the details on stderr
        logging.getLogger("wfdesk").exception("run process failed")
        emit("failed", message=f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
