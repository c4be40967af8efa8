"""Step runs in the background: each request goes to the app's run process (wfdesk.runs.child_client), whose one
reader thread decodes its events (wfdesk.runs.events) and emits them here as one queued Qt signal. On the GUI thread
the controller keeps the bookkeeping (active runs, per-section states, live text) and re-emits its public signals.
A cancel is written to the run process the moment it happens. Nothing on the GUI thread waits for a run.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from wfdesk.cancel import CancelToken
from wfdesk.errors import WfdeskError
from wfdesk.runs import child_client
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
)
from wfdesk.runs.request import ending_of, execute_request, target_of
from wfdesk.scripts.registry import SCRIPT_TYPES
from wfdesk.services.review import unreachable_address
from wfdesk.states import FINAL_UNIT_STATES, UnitState
from wfdesk.ui.provider_status import ProviderStatus
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
CHILD_GRACE_S = 1.0  # at shutdown, between asking a run process to end (SIGTERM) and killing it
AFTER_TERMINATE_MS = 3000  # then, for the run process's reader to report its runs ended


class _Inbox(QObject):
    """Emitted from the run process's reader thread (or a run kept in this process); queued to the GUI thread."""

    arrived = Signal(str, object)  # request key, RunEvent


@dataclass
class _Active:
    key: str
    step_id: int | None  # None until a resumed run reports its target
    post_id: int | None
    context: dict[str, Any]
    token: CancelToken
    run_id: int | None = None
    provider: str | None = None  # its provider's address, when it talks to one
    started: bool = False
    units: dict[Any, dict[str, Any]] = field(default_factory=dict)  # section_id -> latest entry
    texts: dict[Any, str] = field(default_factory=dict)  # section_id -> its answer so far (streamed)

    def counts(self) -> tuple[int, int]:
        done = sum(1 for e in self.units.values() if e.get("status") in FINAL_UNIT_STATES)
        return done, len(self.units)


class RunController(QObject):
    run_started = Signal(int, object)
    unit_changed = Signal(int, object)
    text_changed = Signal(int, object, str)  # run id, section id, its answer so far (at most ~10 a second)
    run_finished = Signal(int, object)
    run_failed = Signal(object, str)
    active_changed = Signal(int)

    def __init__(self, ws: Workspace, parent: QObject | None = None, *, max_threads: int = 4,
                 in_process: bool | None = None) -> None:
        super().__init__(parent)
        del max_threads  # kept for callers: runs no longer hold a thread of the app each (the run process has them)
        self.ws = ws
        # WFDESK_RUNS_IN_PROCESS=1 keeps runs in the app's process (debugging with breakpoints).
        self.in_process = os.environ.get("WFDESK_RUNS_IN_PROCESS") == "1" if in_process is None else in_process
        self._inbox = _Inbox(self)
        self._inbox.arrived.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()  # guards _tokens: cancel() may race a run reporting its id
        self._tokens: dict[int, CancelToken] = {}
        self._open: set[str] = set()  # requests whose final event has not been delivered yet (any thread)
        self._ended = threading.Condition()
        # Whether providers answer, for the whole window: each section of a run reports what it saw, at once.
        self.providers = ProviderStatus(ws, self)

    # --- public API -------------------------------------------------------------------------------------------
    def start(self, step_id: int, post_id: int, context: dict[str, Any] | None = None) -> str:
        """Queue a run; returns a request key at once. Its run_id arrives with run_started (payload "key")."""
        run_context = dict(context or {})
        request = {"action": "start", "step_id": step_id, "post_id": post_id, "context": run_context}
        return self._submit(request, step_id, post_id, run_context)

    def resume(self, run_id: int, *, step_id: int | None = None, post_id: int | None = None) -> str:
        """Run again, in the same ledger row, only the sections of run_id that never finished successfully
        (interrupted by a crash, cancelled, failed). Signals as for start(); returns a request key at once.
        step_id / post_id, when the caller knows them, let active_runs() tell whose run it is before the run
        process has read the run."""
        return self._submit({"action": "resume", "run_id": run_id}, step_id, post_id, {"resume_run": run_id},
                            run_id=run_id)

    def _submit(self, request: dict[str, Any], step_id: int | None, post_id: int | None, context: dict[str, Any],
                run_id: int | None = None) -> str:
        key = uuid.uuid4().hex
        active = _Active(key, step_id, post_id, context, CancelToken())
        self._active[key] = active
        with self._ended:
            self._open.add(key)
        if run_id is not None:
            self._on_run_id(key, run_id)  # known up front: cancel(run_id) works before the run reports it
        sink = self._sink(key)
        if self.in_process or any(info.source == "runtime" for info in SCRIPT_TYPES.values()):
            threading.Thread(target=self._run_here, args=(request, active.token, sink), daemon=True,
                             name=f"run-{request['action']}").start()
        else:
            self._send(request, active.token, sink)
        self.active_changed.emit(self.active_count())
        return key

    def _sink(self, key: str) -> Sink:
        """Where a request's events go, on the thread that has them: one queued signal to the GUI thread."""
        def sink(event: RunEvent) -> None:
            if isinstance(event, FINAL_EVENTS):
                with self._ended:
                    self._open.discard(key)
                    self._ended.notify_all()
            try:
                self._inbox.arrived.emit(key, event)
            except RuntimeError:  # the window is gone (its controller deleted): nobody is left to tell
                log.debug("run event after the window closed: %s", type(event).__name__)
        return sink

    def _send(self, request: dict[str, Any], token: CancelToken, sink: Sink) -> None:
        try:
            handle = child_client.start_in_child(self.ws, request, sink)
        except WfdeskError as exc:
            sink(RunFailed(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - a run that cannot start ends in words, never in the event loop
            sink(ending_of(exc))
            return
        token.on_cancel(handle.cancel)  # written to the run process the moment the editor cancels

    def _run_here(self, request: dict[str, Any], token: CancelToken, sink: Sink) -> None:
        """Handlers registered at run time in this process are unknown to the run process: their runs execute
        here (as every run does with WFDESK_RUNS_IN_PROCESS=1); other runs still go to the run process."""
        if not self.in_process:
            try:
                script_type = target_of(self.ws, request)[2]
            except Exception as exc:  # noqa: BLE001 - the request ends in words, like any other
                sink(ending_of(exc))
                return
            info = SCRIPT_TYPES.get(script_type or "")
            if info is None or info.source != "runtime":
                self._send(request, token, sink)
                return
        execute_request(self.ws, request, sink, token)

    def cancel(self, run_id: int) -> None:
        """Queued sections stop at once; answers that arrive later are discarded by the engine."""
        with self._lock:
            token = self._tokens.get(run_id)
        if token is not None:
            token.cancel()
            return
        for active in self._active.values():
            if active.run_id == run_id:
                active.token.cancel()

    def cancel_request(self, key: str) -> None:
        """Cancel by request key, e.g. before the run has an id (still planning)."""
        active = self._active.get(key)
        if active is not None:
            active.token.cancel()

    def cancel_all(self) -> None:
        for active in list(self._active.values()):
            active.token.cancel()

    def active_count(self) -> int:
        return len(self._active)

    def active_runs(self) -> list[dict[str, Any]]:
        out = []
        for a in self._active.values():
            done, total = a.counts()
            out.append({"run_id": a.run_id, "step_id": a.step_id, "post_id": a.post_id, "done": done,
                        "total": total, "key": a.key, "context": a.context,
                        "units": {sid: dict(e) for sid, e in a.units.items()}, "texts": dict(a.texts)})
        return out

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and wait for the runs to end. True when all stopped in time.

        A cancelled run still waits for its in-flight provider calls (minutes on a local model): after timeout_ms
        the run process is ended, so closing the window never hangs. Its runs are marked interrupted (or at the
        next start, should that fail), ready to resume."""
        self.cancel_all()
        stopped = self._wait_ended(timeout_ms)
        if not stopped:
            ended = child_client.terminate_all(CHILD_GRACE_S)
            log.warning("%d run process(es) did not stop within %d ms and were ended", ended, timeout_ms)
            stopped = self._wait_ended(AFTER_TERMINATE_MS)  # runs kept in this process cannot be ended
        if stopped:
            self._active.clear()
            with self._lock:
                self._tokens.clear()
            self.active_changed.emit(0)
        return stopped

    def _wait_ended(self, timeout_ms: int) -> bool:
        with self._ended:
            return self._ended.wait_for(lambda: not self._open, timeout_ms / 1000)

    # --- events, on the GUI thread ----------------------------------------------------------------------------
    def _on_event(self, key: str, event: RunEvent) -> None:
        active = self._active.get(key)
        if active is None:
            return
        if isinstance(event, RunCreated):
            self._on_created(active, event)
        elif isinstance(event, RunStarted):
            self._on_started(active, event.run_id, event.units)
        elif isinstance(event, UnitChanged):
            active.units[event.entry.get("section_id")] = event.entry
            self._report_provider(active, event.entry)
            self.unit_changed.emit(event.run_id, event.entry)
        elif isinstance(event, TextDelta):
            sid = event.section_id
            active.texts[sid] = ("" if event.restart else active.texts.get(sid, "")) + event.text
            self.text_changed.emit(event.run_id, sid, active.texts[sid])
        elif isinstance(event, RunFinished):
            self._on_finished(active, event.run_id, event.result)
        else:  # refused or failed: the message is for a person
            self._release(key)
            self.run_failed.emit(key, event.message)
            self.active_changed.emit(self.active_count())

    def _on_run_id(self, key: str, run_id: int) -> None:
        active = self._active.get(key)
        if active is None:
            return
        active.run_id = run_id
        with self._lock:
            self._tokens[run_id] = active.token

    def _on_created(self, active: _Active, event: RunCreated) -> None:
        self._on_run_id(active.key, event.run_id)
        if active.step_id is None:
            active.step_id, active.post_id = event.step_id, event.post_id
        active.provider = event.provider

    def _report_provider(self, active: _Active, entry: dict[str, Any]) -> None:
        """A section that got an answer says its provider is online; one that could not reach it, offline."""
        status, error = entry.get("status"), entry.get("error")
        if status == UnitState.SUCCESS and active.provider:
            self.providers.report(active.provider, True, f"{active.provider} answered a run just now")
        elif status == UnitState.ERROR:
            named = unreachable_address(error)
            if named is not None:
                self.providers.report(named or active.provider, False, error or "")

    def _on_started(self, active: _Active, run_id: int, units: list[dict[str, Any]]) -> None:
        self._on_run_id(active.key, run_id)
        active.started = True
        for u in units:
            active.units[u["section_id"]] = {"section_id": u["section_id"], "unit_id": u["unit_id"],
                                             "status": UnitState.QUEUED}
        self.run_started.emit(run_id, {"step_id": active.step_id, "post_id": active.post_id,
                                       "units": list(units), "key": active.key})

    def _on_finished(self, active: _Active, run_id: int, result: dict[str, Any]) -> None:
        if not active.started:
            # Plain handlers report no start: announce the run before its end so listeners see both.
            self._on_started(active, run_id, [])
        self._release(active.key)
        payload = dict(result)
        payload.setdefault("run_id", run_id)
        payload.update(step_id=active.step_id, post_id=active.post_id, key=active.key)
        self.run_finished.emit(run_id, payload)
        self.active_changed.emit(self.active_count())

    def _release(self, key: str) -> None:
        active = self._active.pop(key, None)
        if active is not None and active.run_id is not None:
            with self._lock:
                self._tokens.pop(active.run_id, None)
