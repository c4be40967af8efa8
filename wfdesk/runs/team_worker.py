"""`wfdesk worker`: takes the runs queued for the team's workers and executes them with the engine.

Each job names a run; the worker resumes it with resume_run, which claims the run in the ledger (compare-and-set)
and runs only the sections that have not succeeded. Several workers share one queue (procrastinate hands each job
to one of them). A worker that dies stops its heartbeat in procrastinate's table: after `takeover_after` seconds any
other worker puts its job back in the queue, and whoever takes it resumes the run from the ledger, so finished
sections are never sent again. SIGTERM (or Ctrl+C) is graceful: no new section starts, the sections in flight are
saved, and the run goes back to the queue for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

from wfdesk.errors import NotFoundError
from wfdesk.runs import ledger, run_cancel, team_queue
from wfdesk.runs.engine import RunOptions, resume_run
from wfdesk.states import RunState
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    import procrastinate
    from procrastinate.job_context import JobContext

log = logging.getLogger(__name__)
DEFAULT_TAKEOVER_AFTER_S = 30.0
# A run still marked running elsewhere (its owner on another host, heartbeat fresh) is tried again this often, and
# long enough for the ledger to call a dead owner's run interrupted (ledger.STALE_AFTER).
BUSY_RETRY_S = 15
BUSY_ATTEMPTS = 20
# States in which a job's run still has work for a worker; any other (finished) run is left as it is.
RUNS_TO_EXECUTE = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.INTERRUPTED})
ABORT_POLL_S = 0.2


class ReleasedError(Exception):
    """The worker is stopping: the run was left interrupted, its job goes back to the queue at once."""


def _retry_strategy() -> procrastinate.BaseRetryStrategy:
    from procrastinate import BaseRetryStrategy, RetryDecision
    from procrastinate.jobs import Job

    class RunRetry(BaseRetryStrategy):
        def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
            if isinstance(exception, ReleasedError):
                return RetryDecision(retry_in={"seconds": 0})
            if isinstance(exception, ledger.RunBusyError) and job.attempts < BUSY_ATTEMPTS:
                return RetryDecision(retry_in={"seconds": BUSY_RETRY_S})
            return None  # the run itself records how it failed; the job is done with

    return RunRetry()


def execute_queued_run(ws: Workspace, run_id: int, stop: threading.Event | None = None) -> str | None:
    """One job: the run's status afterwards, None when there was nothing to do (deleted, or already finished).
    Raises ReleasedError when `stop` interrupted it, RunBusyError when it is still running elsewhere."""
    try:
        status = ledger.run_state(ws, run_id)[0]
    except NotFoundError:
        log.info("run %s was deleted before a worker took it", run_id)
        return None
    if status not in RUNS_TO_EXECUTE:
        log.info("run %s is already %s", run_id, status)
        return None
    if run_cancel.cancel_requested(ws, run_id) is not None:  # its executor stops it, or died and it ends cancelled
        ledger.mark_interrupted(ws, run_id)
        log.info("run %s was asked to stop: not resumed", run_id)
        return None
    log.info("run %s: taken by this worker", run_id)
    try:
        result = resume_run(ws, run_id, RunOptions(stop=stop))
    except ledger.RunCancelledError:  # cancelled while it waited (wfdesk.runs.run_cancel): nothing is sent
        log.info("run %s was cancelled before this worker could start it", run_id)
        with contextlib.suppress(run_cancel.RunNotCancellableError):
            run_cancel.request_cancel(ws, run_id, by="wfdesk worker")  # an interrupted one ends cancelled too
        return RunState.CANCELLED
    final = str(result.get("status"))
    if stop is not None and stop.is_set() and final == RunState.INTERRUPTED:
        raise ReleasedError(f"run {run_id} released: the worker is stopping")
    log.info("run %s: %s", run_id, final)
    return final


def _run_job(context: JobContext, run_id: int) -> None:
    """procrastinate's task (in a thread of its own): the engine, stopped when the worker is asked to stop."""
    ws: Workspace = context.additional_context["workspace"]
    stop, done = threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(ABORT_POLL_S):
            if context.should_abort():
                stop.set()
                return

    watcher = threading.Thread(target=watch, daemon=True, name=f"run{run_id}-stop")
    watcher.start()
    try:
        execute_queued_run(ws, run_id, stop)
    finally:
        done.set()


async def _take_over_stalled(app: procrastinate.App, queue: str, after_s: float) -> None:
    """Jobs of workers silent for `after_s` seconds (killed, powered off) go back to the queue."""
    from procrastinate.exceptions import ProcrastinateException

    while True:
        try:
            for job in await app.job_manager.get_stalled_jobs(queue=queue, seconds_since_heartbeat=after_s):
                log.warning("run %s: its worker stopped answering; back in the queue", job.task_kwargs.get("run_id"))
                try:
                    await app.job_manager.retry_job(job)
                except ProcrastinateException:  # another worker put it back first
                    log.debug("job %s already retried", job.id)
        except ProcrastinateException:
            log.warning("could not look for stalled runs", exc_info=True)
        await asyncio.sleep(max(0.5, after_s / 3))


def serve_worker(ws: Workspace, concurrency: int = 1, takeover_after: float = DEFAULT_TAKEOVER_AFTER_S) -> int:
    """Works until SIGTERM or Ctrl+C; the exit code of `wfdesk worker`."""
    team_queue.require_team_database(ws)
    team_queue.ensure_queue_schema(ws)
    queue = team_queue.queue_name(ws)
    app = team_queue.make_app(ws, worker=True)
    app.task(name=team_queue.TASK_NAME, pass_context=True, queue=queue, retry=_retry_strategy())(_run_job)
    print(f"wfdesk worker on {ws.db.display_url()} ({ledger.HOST}): up to {concurrency} run(s) at once. "
          "Stop it with Ctrl+C or SIGTERM: a run in progress goes back to the queue.", file=sys.stderr, flush=True)

    async def main() -> None:
        async with app.open_async():
            sweeper = asyncio.create_task(_take_over_stalled(app, queue, takeover_after))
            try:
                await app.run_worker_async(**_worker_options(ws, queue, concurrency, takeover_after))
            finally:
                sweeper.cancel()

    asyncio.run(main())
    print("wfdesk worker stopped.", file=sys.stderr, flush=True)
    return 0


def _worker_options(ws: Workspace, queue: str, concurrency: int, takeover_after: float) -> dict[str, Any]:
    return {"queues": [queue], "concurrency": max(1, concurrency), "name": f"wfdesk@{ledger.HOST}",
            # Stopping asks the runs to release at once (their sections in flight are still saved).
            "shutdown_graceful_timeout": 0, "additional_context": {"workspace": ws},
            "update_heartbeat_interval": max(0.2, takeover_after / 3), "stalled_worker_timeout": takeover_after,
            "delete_jobs": "successful"}
