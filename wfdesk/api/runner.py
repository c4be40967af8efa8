"""Who executes the API's runs: the engine in this process (`wfdesk serve`), or the desktop app's run process
(so the window's runs and the API's share its provider gates). Both relay the engine's callbacks into a RunTicket.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from wfdesk.runs.engine import RunOptions
from wfdesk.scripts.base import CancelToken
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


class RunTicket:
    """One request's run: `run_id` resolves once the ledger has the run (or with the refusal), `result` at its end.

    A refusal (bad config, unknown ids, budget) or failure sets the exception on both futures."""

    def __init__(self) -> None:
        self.run_id: Future[int | None] = Future()
        self.result: Future[dict[str, Any]] = Future()
        self.cancel = CancelToken()

    def _run_id_known(self, run_id: int | None) -> None:
        _settle(self.run_id, result=run_id)

    def _finished(self, result: dict[str, Any]) -> None:
        self._run_id_known(result.get("run_id"))
        _settle(self.result, result=result)

    def _failed(self, exc: BaseException) -> None:
        _settle(self.run_id, exc=exc)
        _settle(self.result, exc=exc)


def _settle(future: Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    """Once only; a future its waiter cancelled (the client hung up) is left alone: the run goes on regardless."""
    if future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


class StepRunner(ABC):
    """Starts runs on a thread each and keeps their cancel tokens by run id while they go."""

    def __init__(self, workspace: Callable[[], Workspace]) -> None:
        self._workspace = workspace  # the app may switch databases: asked at each start
        self._lock = threading.Lock()
        self._live: dict[int, RunTicket] = {}
        self._threads: set[threading.Thread] = set()
        self.stopping = threading.Event()  # set by shutdown(): no new section starts, the runs end interrupted

    @property
    def ws(self) -> Workspace:
        return self._workspace()

    def start(self, step_id: int, post_id: int, context: dict[str, Any]) -> RunTicket:
        return self._launch({"action": "start", "step_id": step_id, "post_id": post_id, "context": context})

    def resume(self, run_id: int) -> RunTicket:
        return self._launch({"action": "resume", "run_id": run_id}, run_id)

    def cancel(self, run_id: int) -> bool:
        """True when this runner had the run going and asked it to stop."""
        with self._lock:
            ticket = self._live.get(run_id)
        if ticket is None:
            return False
        ticket.cancel.cancel()
        return True

    def cancel_all(self) -> None:
        with self._lock:
            tickets = list(self._live.values())
        for ticket in tickets:
            ticket.cancel.cancel()

    def is_live(self, run_id: int) -> bool:
        with self._lock:
            return run_id in self._live

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Sections in flight finish and are saved; the rest stay queued in the ledger (resume runs them)."""
        self.stopping.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_s)

    @abstractmethod
    def execute(self, ws: Workspace, request: dict[str, Any], options: RunOptions) -> dict[str, Any]:
        """Run `request` ({"action": "start"|"resume", ...}) to its end; raise when it is refused."""

    def _launch(self, request: dict[str, Any], run_id: int | None = None) -> RunTicket:
        ticket = RunTicket()
        ws = self.ws

        def known(rid: int) -> None:
            with self._lock:
                self._live[rid] = ticket
            ticket._run_id_known(rid)

        def work() -> None:
            options = RunOptions(cancel=ticket.cancel, on_run_id=known, stop=self.stopping)
            try:
                ticket._finished(self.execute(ws, request, options))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the ticket
                ticket._failed(exc)
            finally:
                with self._lock:
                    for rid in [r for r, t in self._live.items() if t is ticket]:
                        del self._live[rid]
                    self._threads.discard(threading.current_thread())

        if run_id is not None:  # a resume: cancellable by its id before the engine reports it
            with self._lock:
                self._live[run_id] = ticket
        thread = threading.Thread(target=work, daemon=True, name=f"api-{request['action']}")
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return ticket


class InProcessRunner(StepRunner):
    """`wfdesk serve`: the engine in this process, as `wfdesk run-step` runs it. One workspace for all runs, so
    the provider gates (concurrency cap, 429 pause) hold across concurrent requests."""

    def execute(self, ws: Workspace, request: dict[str, Any], options: RunOptions) -> dict[str, Any]:
        from wfdesk.runs.engine import execute_step, resume_run

        if request["action"] == "resume":
            return resume_run(ws, request["run_id"], options)
        return execute_step(ws, request["step_id"], request["post_id"], request["context"], options)


class RunProcessRunner(StepRunner):
    """The desktop app: the same run process as the window's own runs (wfdesk.runs.child_client), so the provider
    gates there are shared between the editor's runs and the API's."""

    def execute(self, ws: Workspace, request: dict[str, Any], options: RunOptions) -> dict[str, Any]:
        from wfdesk.runs.child_client import run_in_child

        return run_in_child(ws, request, options)
