"""The desktop app's run process: `python -m wfdesk.runs.child`, one per app, running every run of the app.

Why a process: the engine's Python work (the SDK, JSON, the database) holds the GIL; in the window's process that
shows up as a stuttering event loop under a large batch. In here it cannot. Why one process for all runs: the
provider gates (concurrency cap, 429 pause, offline breaker) are shared by every run, as they are in the CLI.

Protocol, JSON lines. stdin:
    {"op": "start", "id": "<request id>", "database_url", "data_dir", "settings": {...}, "step_id", "post_id",
     "context"}
    {"op": "resume", "id", "database_url", "data_dir", "settings", "run_id"}
    {"op": "cancel", "id"}
stdout: the request's events (wfdesk.runs.events, one encoded line each, with the request's "id"), ending with
run_finished, refused (nothing was sent) or failed.
End of input means the app went away (quit, crash or kill -9; its parent pid changing says the same, should the
input stay open): no new section starts, answers already on their way are saved, every run ends interrupted (ready
to resume) and the process exits. Writing to an app that is gone never fails a run.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import sys
import threading
from functools import partial
from typing import TYPE_CHECKING, Any

from wfdesk.runs.events import RunEvent, encode

if TYPE_CHECKING:
    from wfdesk.cancel import CancelToken
    from wfdesk.workspace import Workspace

log = logging.getLogger("wfdesk.runs.child")
_out_lock = threading.Lock()
app_gone = threading.Event()  # the app (our parent) went away: runs stop starting sections and end interrupted
PARENT_POLL_S = 0.5


def emit(request_id: str, event: RunEvent) -> None:
    line = encode(request_id, event)
    with _out_lock:
        if app_gone.is_set():
            return
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):  # broken pipe: nobody is listening any more
            app_gone.set()


class Runner:
    """Keeps one workspace per (database, data dir, settings), so provider gates and clients are shared."""

    MAX_IDLE_WORKSPACES = 4

    def __init__(self) -> None:
        self._workspaces: dict[str, Any] = {}  # in order of last use
        self._in_use: dict[str, int] = {}
        self._cancels: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def workspace(self, request: dict[str, Any]) -> tuple[str, Workspace]:
        from wfdesk.settings import Settings
        from wfdesk.workspace import open_workspace, set_current

        key = json.dumps([request["database_url"], request["data_dir"], request.get("settings") or {}],
                         sort_keys=True)
        with self._lock:
            ws = self._workspaces.pop(key, None)
            if ws is None:
                ws = open_workspace(database_url=request["database_url"], data_dir=request["data_dir"],
                                    settings=Settings.model_validate(request.get("settings") or {}), migrate=False)
                set_current(ws)  # for plain handlers that call execute_step_script themselves
            self._workspaces[key] = ws
            self._in_use[key] = self._in_use.get(key, 0) + 1
            idle = [k for k in self._workspaces if not self._in_use.get(k)]
            for old in idle[:max(0, len(idle) - self.MAX_IDLE_WORKSPACES)]:
                self._workspaces.pop(old).close()
            return key, ws

    def release(self, key: str) -> None:
        with self._lock:
            self._in_use[key] -= 1

    def handle(self, request: dict[str, Any]) -> None:
        from wfdesk.cancel import CancelToken

        op, request_id = request.get("op"), str(request.get("id"))
        if op == "cancel":
            with self._lock:
                token = self._cancels.get(request_id)
            if token is not None:
                token.cancel()
            return
        token = CancelToken(stopping=app_gone)  # the app gone: sections waiting to retry send nothing more
        with self._lock:
            self._cancels[request_id] = token
            self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=self._run, args=(request, token), daemon=True, name=f"req-{request_id}")
        self._threads.append(thread)
        thread.start()

    def _run(self, request: dict[str, Any], token: CancelToken) -> None:
        from wfdesk.runs.request import ending_of, execute_request

        request_id = str(request.get("id"))
        key = None
        try:
            key, ws = self.workspace(request)
            action = "resume" if request.get("op") == "resume" else "start"
            execute_request(ws, {**request, "action": action}, partial(emit, request_id), token, app_gone,
                            f"request {request_id}")
        except Exception as exc:  # noqa: BLE001 - the workspace would not open: the request ends in words
            emit(request_id, ending_of(exc, f"request {request_id}"))
        finally:
            with self._lock:
                self._cancels.pop(request_id, None)
            if key is not None:
                self.release(key)

    def stop_all_and_wait(self) -> None:
        """The app went away: runs start nothing new, save what is in flight and end interrupted."""
        app_gone.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join()
        with self._lock:
            for ws in self._workspaces.values():
                ws.close()
            self._workspaces.clear()


def _watch_parent(runner: Runner, parent_pid: int, input_ended: threading.Event) -> None:
    """Should our input stay open after the app died (another process holding the pipe), the parent pid changing
    or a broken output pipe tells; the end of input is the main thread's to handle."""
    while not input_ended.wait(PARENT_POLL_S):
        if os.getppid() != parent_pid or app_gone.is_set():
            log.warning("the app went away; finishing the sections in flight")
            runner.stop_all_and_wait()
            os._exit(0)


def main() -> int:
    if hasattr(os, "nice"):
        os.nice(5)  # background work: when the cores are busy, the window the editor is looking at goes first
    # One record per line start, "LEVEL name: message": the app files each line in its log at that level.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    faulthandler.enable()  # a crash in C code (a driver, Pillow) leaves its stacks in the app's log
    runner = Runner()
    input_ended = threading.Event()
    threading.Thread(target=_watch_parent, args=(runner, os.getppid(), input_ended), daemon=True,
                     name="parent-watch").start()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            runner.handle(json.loads(line))
        except ValueError:
            log.warning("not a request: %r", line[:200])
    input_ended.set()
    runner.stop_all_and_wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
