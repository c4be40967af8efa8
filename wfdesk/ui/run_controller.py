"""Step runs in the background: each run executes `wfdesk.runs.engine.execute_step` (or `resume_run`, which runs
again only the sections of an earlier run that never finished) in a child process (wfdesk.runs.child), relayed by a
QThreadPool worker that waits on its output.

The engine calls its observer from worker threads; the observer here only emits signals of a per-run QObject,
queued to the GUI thread, where the controller keeps the bookkeeping (active runs, per-section states) and
re-emits its public signals. Nothing on the GUI thread waits for a run.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from wfdesk.cancel import CancelToken
from wfdesk.db.models import Run, WorkflowStepEntity
from wfdesk.errors import NotFoundError, WfdeskError
from wfdesk.runs.child_client import run_in_child
from wfdesk.runs.engine import RunOptions, execute_step, resume_run
from wfdesk.scripts.config import script_type_of
from wfdesk.scripts.registry import SCRIPT_TYPES
from wfdesk.services.review import unreachable_address
from wfdesk.states import FINAL_UNIT_STATES, UnitState
from wfdesk.ui.provider_status import ProviderStatus, step_provider_address
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
CHILD_GRACE_S = 1.0  # at shutdown, between asking a run process to end (SIGTERM) and killing it
AFTER_TERMINATE_MS = 3000  # then, for the relaying threads to notice and return


class _JobSignals(QObject):
    """Emitted from the job's threads; connected with queued connections to the controller."""

    run_id_known = Signal(str, int)
    target = Signal(str, int, int)  # a resumed run's step and post, read on the worker
    provider = Signal(str, str)  # the provider address the run talks to, read on the worker
    started = Signal(str, int, object)
    unit = Signal(str, int, object)
    finished = Signal(str, int, object)
    failed = Signal(str, str)
    done = Signal(str)


class _Observer:
    """The engine's RunObserver: called from engine worker threads, it only emits signals."""

    def __init__(self, key: str, signals: _JobSignals) -> None:
        self.key, self.signals = key, signals
        self.reported_finish = False

    def run_started(self, run_id: int, units: list[dict[str, Any]]) -> None:
        self.signals.started.emit(self.key, run_id, units)

    def unit_changed(self, run_id: int, entry: dict[str, Any]) -> None:
        self.signals.unit.emit(self.key, run_id, dict(entry))

    def run_finished(self, run_id: int, result: dict[str, Any]) -> None:
        self.reported_finish = True
        self.signals.finished.emit(self.key, run_id, result)


class _RunJob(QRunnable):
    """One engine call on a pool thread: `work(job, options)` is execute_step or resume_run with its arguments."""

    def __init__(self, key: str, work: Callable[[_RunJob, RunOptions], dict[str, Any]], what: str, token: CancelToken,
                 signals: _JobSignals) -> None:
        super().__init__()
        # The controller holds the Python reference until `done` arrives; the pool must not delete it.
        self.setAutoDelete(False)
        self.key, self.work, self.what, self.token, self.signals = key, work, what, token, signals

    def run(self) -> None:
        observer = _Observer(self.key, self.signals)
        options = RunOptions(observer=observer, cancel=self.token,
                             on_run_id=lambda run_id: self.signals.run_id_known.emit(self.key, run_id))
        try:
            result = self.work(self, options)
            if not observer.reported_finish and isinstance(result.get("run_id"), int):
                # e.g. a resume with nothing left to do: the engine returns the result without running anything.
                self.signals.finished.emit(self.key, result["run_id"], result)
        except (WfdeskError, ValueError, LookupError) as exc:
            # Config, missing rows, bad context: refused before (or while) starting; the message is for a person.
            self.signals.failed.emit(self.key, str(exc))
        except Exception as exc:  # noqa: BLE001 - never let a worker's exception reach Qt
            log.exception("%s failed", self.what)
            self.signals.failed.emit(self.key, f"{type(exc).__name__}: {exc}")
        finally:
            self.signals.done.emit(self.key)


@dataclass
class _Active:
    key: str
    step_id: int | None  # None until a resumed run's worker has read it
    post_id: int | None
    context: dict[str, Any]
    token: CancelToken
    job: _RunJob
    signals: _JobSignals
    run_id: int | None = None
    provider: str | None = None  # its provider's address, when it talks to one
    started: bool = False
    finished: bool = False
    units: dict[Any, dict[str, Any]] = field(default_factory=dict)  # section_id -> latest entry

    def counts(self) -> tuple[int, int]:
        done = sum(1 for e in self.units.values() if e.get("status") in FINAL_UNIT_STATES)
        return done, len(self.units)


class RunController(QObject):
    run_started = Signal(int, object)
    unit_changed = Signal(int, object)
    run_finished = Signal(int, object)
    run_failed = Signal(object, str)
    active_changed = Signal(int)

    def __init__(self, ws: Workspace, parent: QObject | None = None, *, max_threads: int = 4,
                 in_process: bool | None = None) -> None:
        super().__init__(parent)
        self.ws = ws
        # WFDESK_RUNS_IN_PROCESS=1 keeps runs in the app's process (debugging with breakpoints).
        self.in_process = os.environ.get("WFDESK_RUNS_IN_PROCESS") == "1" if in_process is None else in_process
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: dict[str, _Active] = {}
        self._ending: dict[str, _Active] = {}  # reported its end; kept until its thread emits `done`
        self._lock = threading.Lock()  # guards _tokens: cancel() may race a worker reporting its run id
        self._tokens: dict[int, CancelToken] = {}
        # Whether providers answer, for the whole window: each section of a run reports what it saw, at once.
        self.providers = ProviderStatus(ws, self)

    # --- public API -------------------------------------------------------------------------------------------
    def start(self, step_id: int, post_id: int, context: dict[str, Any] | None = None) -> str:
        """Queue a run; returns a request key at once. Its run_id arrives with run_started (payload "key")."""
        ws, run_context = self.ws, dict(context or {})

        def work(job: _RunJob, options: RunOptions) -> dict[str, Any]:
            script_type, address = _step_target(ws, step_id)
            if address:
                job.signals.provider.emit(job.key, address)
            if self._in_this_process(script_type):
                return execute_step(ws, step_id, post_id, run_context, options)
            return run_in_child(ws, {"action": "start", "step_id": step_id, "post_id": post_id,
                                     "context": run_context}, options)

        return self._submit(work, f"run of step {step_id} on post {post_id}", step_id, post_id, run_context)

    def _in_this_process(self, script_type: str | None) -> bool:
        """Runs go to a child process (their Python work never competes with the window's event loop, and a
        crashing plugin cannot take the window down), except for handlers registered at run time in this process,
        which a child would not know."""
        if self.in_process:
            return True
        info = SCRIPT_TYPES.get(script_type or "")
        return info is not None and info.source == "runtime"

    def resume(self, run_id: int, *, step_id: int | None = None, post_id: int | None = None) -> str:
        """Run again, in the same ledger row, only the sections of run_id that never finished successfully
        (interrupted by a crash, cancelled, failed). Signals as for start(); returns a request key at once.
        step_id / post_id, when the caller knows them, let active_runs() tell whose run it is before the worker
        has read the run."""
        ws = self.ws

        def work(job: _RunJob, options: RunOptions) -> dict[str, Any]:
            with ws.db.session() as s:
                run = s.get(Run, run_id)
                if run is None:
                    raise NotFoundError(f"Run {run_id} does not exist")
                target = (run.step_id, run.post_id)
                script_type = run.script_type
            if None not in target:
                job.signals.target.emit(job.key, *target)
                address = _step_target(ws, target[0])[1]
                if address:
                    job.signals.provider.emit(job.key, address)
            if self._in_this_process(script_type):
                return resume_run(ws, run_id, options)
            return run_in_child(ws, {"action": "resume", "run_id": run_id}, options)

        return self._submit(work, f"resume of run {run_id}", step_id, post_id, {"resume_run": run_id},
                            run_id=run_id)

    def _submit(self, work: Callable[[_RunJob, RunOptions], dict[str, Any]], what: str, step_id: int | None,
                post_id: int | None, context: dict[str, Any], run_id: int | None = None) -> str:
        key = uuid.uuid4().hex
        token = CancelToken()
        signals = _JobSignals()
        queued = Qt.ConnectionType.QueuedConnection
        signals.run_id_known.connect(self._on_run_id, queued)
        signals.target.connect(self._on_target, queued)
        signals.provider.connect(self._on_provider, queued)
        signals.started.connect(self._on_started, queued)
        signals.unit.connect(self._on_unit, queued)
        signals.finished.connect(self._on_finished, queued)
        signals.failed.connect(self._on_failed, queued)
        signals.done.connect(self._on_done, queued)
        job = _RunJob(key, work, what, token, signals)
        self._active[key] = _Active(key, step_id, post_id, context, token, job, signals)
        if run_id is not None:
            self._on_run_id(key, run_id)  # known up front: cancel(run_id) works while it is still queued
        self.pool.start(job)
        self.active_changed.emit(self.active_count())
        return key

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
                        "units": {sid: dict(e) for sid, e in a.units.items()}})
        return out

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything, drop queued jobs, wait for the running ones. True when all stopped in time.

        A cancelled run still waits for its in-flight provider calls (minutes on a local model), and the pool
        thread relaying it waits with it: after timeout_ms the run processes are ended, so closing the window never
        hangs. Their runs stay 'running' in the ledger; mark_interrupted at the next start makes them resumable."""
        self.cancel_all()
        self.pool.clear()
        stopped = self.pool.waitForDone(timeout_ms)
        if not stopped:
            from wfdesk.runs import child_client

            ended = child_client.terminate_all(CHILD_GRACE_S)
            log.warning("%d run process(es) did not stop within %d ms and were ended", ended, timeout_ms)
            # Their relays now read end-of-output and return; runs kept in this process cannot be ended.
            stopped = self.pool.waitForDone(AFTER_TERMINATE_MS)
        if stopped:
            self._active.clear()
            self._ending.clear()
            with self._lock:
                self._tokens.clear()
            self.active_changed.emit(0)
        return stopped

    # --- slots, on the GUI thread -----------------------------------------------------------------------------
    def _on_run_id(self, key: str, run_id: int) -> None:
        active = self._active.get(key)
        if active is None:
            return
        active.run_id = run_id
        with self._lock:
            self._tokens[run_id] = active.token

    def _on_target(self, key: str, step_id: int, post_id: int) -> None:
        active = self._active.get(key)
        if active is not None:
            active.step_id, active.post_id = step_id, post_id

    def _on_provider(self, key: str, address: str) -> None:
        active = self._active.get(key)
        if active is not None:
            active.provider = address

    def _report_provider(self, active: _Active | None, entry: dict[str, Any]) -> None:
        """A section that got an answer says its provider is online; one that could not reach it, offline."""
        status, error = entry.get("status"), entry.get("error")
        if status == UnitState.SUCCESS and active is not None and active.provider:
            self.providers.report(active.provider, True, f"{active.provider} answered a run just now")
        elif status == UnitState.ERROR:
            named = unreachable_address(error)
            if named is not None:
                self.providers.report(named or (active.provider if active else None), False, error or "")

    def _on_started(self, key: str, run_id: int, units: list[dict[str, Any]]) -> None:
        active = self._active.get(key)
        if active is None:
            return
        self._on_run_id(key, run_id)
        active.started = True
        for u in units:
            active.units[u["section_id"]] = {"section_id": u["section_id"], "unit_id": u["unit_id"],
                                             "status": UnitState.QUEUED}
        self.run_started.emit(run_id, {"step_id": active.step_id, "post_id": active.post_id,
                                       "units": list(units), "key": key})

    def _on_unit(self, key: str, run_id: int, entry: dict[str, Any]) -> None:
        active = self._active.get(key)
        if active is not None:
            active.units[entry.get("section_id")] = entry
        self._report_provider(active, entry)
        self.unit_changed.emit(run_id, entry)

    def _on_finished(self, key: str, run_id: int, result: dict[str, Any]) -> None:
        active = self._active.get(key)
        if active is None:
            return
        if not active.started:
            # Plain handlers report no start: announce the run before its end so listeners see both.
            self._on_started(key, run_id, [])
        active.finished = True
        self._release(key)
        payload = dict(result)
        payload.setdefault("run_id", run_id)
        payload.update(step_id=active.step_id, post_id=active.post_id, key=key)
        self.run_finished.emit(run_id, payload)
        self.active_changed.emit(self.active_count())

    def _on_failed(self, key: str, message: str) -> None:
        active = self._active.get(key)
        if active is None:
            return
        self._release(key)
        self.run_failed.emit(key, message)
        self.active_changed.emit(self.active_count())

    def _on_done(self, key: str) -> None:
        if key in self._active:  # ended without reporting finished or failed (should not happen)
            self._release(key)
            self.active_changed.emit(self.active_count())
        ended = self._ending.pop(key, None)
        if ended is not None:
            # `done` is the job's last emission: its signals object and runnable may go now.
            ended.signals.deleteLater()

    def _release(self, key: str) -> None:
        active = self._active.pop(key, None)
        if active is None:
            return
        self._ending[key] = active
        if active.run_id is not None:
            with self._lock:
                self._tokens.pop(active.run_id, None)


def _step_target(ws: Workspace, step_id: int) -> tuple[str | None, str | None]:
    """(script type, provider address) of a step; on a worker thread."""
    with ws.db.session() as s:
        step = s.get(WorkflowStepEntity, step_id)
        if step is None:
            return None, None
        script_type, config = script_type_of(step.config), dict(step.config or {})
    try:
        return script_type, step_provider_address(ws, script_type, config)
    except Exception:  # noqa: BLE001 - knowing the provider is a nicety: the run goes ahead without it
        log.debug("cannot tell the provider of step %s", step_id, exc_info=True)
        return script_type, None
