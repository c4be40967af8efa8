"""Runs queued on the team's workers (PostgreSQL only), on procrastinate, a maintained PostgreSQL task queue.

A queued run is a `workflow_run` row in state "queued" (its sections planned, its budget checked, `on_workers` set)
and a procrastinate job naming it, written in one transaction: there is never a job without its run nor a queued run
without its job. A worker (wfdesk.runs.team_worker) takes the job and executes the run with the engine's
resume_run, so the ledger — not the queue — says which sections are done: a run taken over from a dead worker
sends none of its finished sections again.

procrastinate's tables live in the database's current schema (the URL's search_path). Its LISTEN/NOTIFY channels
are database-wide, so the queue's name is derived from the database and the schema: workers of another schema (a
team's second database, or another test) never hear nor take these jobs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import text
from sqlalchemy.engine import make_url

from wfdesk.database_url import engine_url
from wfdesk.db.models import Run, RunUnit, utcnow
from wfdesk.db.storable import unstorable_text
from wfdesk.errors import ConfigError, WfdeskError
from wfdesk.runs import costs, ledger
from wfdesk.runs.planning import build_job, step_effective_config
from wfdesk.scripts import registry
from wfdesk.scripts.base import SectionHandler
from wfdesk.scripts.config import script_type_of
from wfdesk.states import RunState
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    import procrastinate
    from sqlalchemy.orm import Session

TASK_NAME = "wfdesk.run_on_workers"
WORKERS_NEED_POSTGRES = (
    "Workers need the team's PostgreSQL database: this one is a database file on this computer, which no other "
    "machine can reach. Choose the team database (Settings → Database, or --database postgresql://…) to leave runs "
    "to workers.")
NOT_INSTALLED = ("This installation cannot use the team's workers: its queue library is not installed. Install "
                 "wfdesk with PostgreSQL support (pipx install 'wfdesk[postgres]').")


class WorkersUnavailableError(WfdeskError):
    """The team's workers cannot take this run (a SQLite database, a step that cannot run section by section)."""


@dataclass(frozen=True)
class QueuedRun:
    run_id: int
    sections: int
    queue: str


def workers_available(ws: Workspace) -> bool:
    """Only a shared PostgreSQL database has workers: a SQLite file is this computer's alone."""
    return ws.db.dialect == "postgresql"


def require_team_database(ws: Workspace) -> None:
    if not workers_available(ws):
        raise WorkersUnavailableError(WORKERS_NEED_POSTGRES)
    try:
        import procrastinate  # noqa: F401 - only asks whether it is installed
    except ImportError:
        raise WorkersUnavailableError(NOT_INSTALLED) from None


def conninfo(url: str) -> str:
    """The libpq connection string of a database URL (any spelling wfdesk accepts, psycopg2's included), with the
    URL's query options (search_path, sslmode...) kept: procrastinate connects with psycopg 3 itself."""
    from psycopg.conninfo import make_conninfo

    parsed = engine_url(make_url(url))
    options: dict[str, Any] = {k: (v[-1] if isinstance(v, tuple) else v) for k, v in parsed.query.items()}
    return make_conninfo(host=parsed.host, port=parsed.port, dbname=parsed.database, user=parsed.username,
                         password=parsed.password, **options)


def queue_name(ws: Workspace) -> str:
    """This database's and schema's queue: short, because a channel name is at most 63 bytes."""
    def derive() -> str:
        with ws.db.engine.connect() as conn:
            where = conn.execute(text("SELECT current_database() || '.' || current_schema()")).scalar_one()
        return "wfdesk_" + hashlib.sha256(str(where).encode()).hexdigest()[:16]

    return ws.cached(("team-queue", "name"), derive)


def ensure_queue_schema(ws: Workspace) -> None:
    """procrastinate's tables, created in the current schema the first time a run is queued or a worker starts.
    Under an advisory lock namespaced by database and schema, so two first workers never create them twice."""
    def create() -> bool:
        from procrastinate.schema import SchemaManager

        with ws.db.engine.connect() as conn:
            key = conn.execute(text(
                "SELECT hashtext('wfdesk.team-queue:' || current_database() || '.' || current_schema())")).scalar()
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                exists = conn.execute(text(
                    "SELECT to_regclass(quote_ident(current_schema()) || '.procrastinate_jobs')")).scalar()
                if exists is None:
                    # The raw connection: the schema is many statements and uses % as plain text.
                    driver = cast("Any", conn.connection.driver_connection)
                    driver.execute(SchemaManager.get_schema())
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
        return True

    ws.cached(("team-queue", "schema"), create)


def make_app(ws: Workspace, *, worker: bool = False) -> procrastinate.App:
    """A procrastinate app on this database: async (a worker's pool) or sync (deferring from the CLI or window)."""
    import procrastinate

    connector: procrastinate.BaseConnector
    if worker:
        connector = procrastinate.PsycopgConnector(conninfo=conninfo(ws.db.url), min_size=1, max_size=4)
    else:
        connector = procrastinate.SyncPsycopgConnector(conninfo=conninfo(ws.db.url))
    return procrastinate.App(connector=connector)


def queue_step(ws: Workspace, step_id: int, post_id: int, context: dict[str, Any] | None = None) -> QueuedRun:
    """Plans a run as execute_step would (same config, same checks and budget) and leaves it to the workers."""
    require_team_database(ws)
    context = context or {}
    with ws.db.session() as s:
        step, raw = step_effective_config(s, step_id, post_id, context)
        step_name = step.name
    problems = unstorable_text(raw) + unstorable_text(ledger.jsonable(context))
    if problems:
        raise ConfigError(step_name, problems)
    script_type = script_type_of(raw)
    handler = registry.get_handler(script_type)
    if not isinstance(handler, SectionHandler):
        raise WorkersUnavailableError(f"“{step_name}” runs only on this computer: its kind of step cannot be left to "
                                 "workers (they resume a run section by section)")
    job = build_job(ws, handler, step_id=step_id, step_name=step_name, raw_config=raw, post_id=post_id,
                    context=context)
    plans = handler.plan(job)
    costs.enforce_budget(ws, post_id, handler.estimate(job, plans))
    ensure_queue_schema(ws)
    queue = queue_name(ws)
    app = make_app(ws)
    with ws.db.session() as s:
        run = Run(step_id=step_id, post_id=post_id, step_name=step_name, script_type=script_type,
                  status=RunState.QUEUED, effective_config=raw, context=ledger.jsonable(context),
                  created_at=utcnow(), on_workers=True)
        run.units = [RunUnit(section_id=p.section_id, position=i) for i, p in enumerate(plans)]
        s.add(run)
        s.flush()
        run_id = run.id
        # The job goes in with the run, on the session's own connection: both are committed, or neither.
        defer_run(app, queue, run_id, connection=s.connection().connection.driver_connection)
    return QueuedRun(run_id=run_id, sections=len(plans), queue=queue)


def defer_run(app: procrastinate.App, queue: str, run_id: int, *, connection: Any = None) -> int:
    """One job for a run; while a job for it still waits, another one is not added (its queueing lock)."""
    deferrer = app.configure_task(TASK_NAME, queue=queue, queueing_lock=f"run-{run_id}", connection=connection)
    return deferrer.defer(run_id=run_id)



def drop_waiting_job(session: Session, run_id: int) -> None:
    """A cancelled run's job, if no worker has taken it yet, leaves the queue (in the caller's transaction: the run is
    cancelled and its job gone, or neither). A job already taken finds the run cancelled and does nothing."""
    if session.get_bind().dialect.name != "postgresql":
        return  # runs are queued on workers only on PostgreSQL
    exists = session.execute(text(
        "SELECT to_regclass(quote_ident(current_schema()) || '.procrastinate_jobs')")).scalar()
    if exists is not None:
        session.execute(text("DELETE FROM procrastinate_jobs WHERE queueing_lock = :lock AND status = 'todo'"),
                        {"lock": f"run-{run_id}"})
