"""Engine and session factory. SQLite gets WAL, a busy timeout and foreign keys; PostgreSQL is used as is, through
the driver wfdesk.database_url picks (psycopg 3; URLs written for psycopg2 keep working)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from wfdesk.database_url import engine_url

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry
    from sqlalchemy.sql.compiler import SQLCompiler

SQLITE_BUSY_TIMEOUT_MS = 10_000


def sqlite_url_for(path: str) -> str:
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=16,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection,
                            _record: ConnectionPoolEntry) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            if parsed.database and parsed.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=16, max_overflow=16)


class DbUtcNow(FunctionElement[datetime]):
    """The database server's clock (UTC). Heartbeats are written and judged by it, so hosts whose clocks disagree
    never take a live run from one another."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "db_utcnow"


# In queries it reads as the SQL function it is: db_utcnow().
db_utcnow = DbUtcNow


@compiles(DbUtcNow)  # SQLAlchemy's compiler hooks, one per dialect
def _db_utcnow_default(element: DbUtcNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(DbUtcNow, "postgresql")
def _db_utcnow_postgresql(element: DbUtcNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "clock_timestamp()"  # now() would be the transaction's start


@compiles(db_utcnow, "sqlite")
def _db_utcnow_sqlite(element: DbUtcNow, compiler: SQLCompiler, **kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"  # the text SQLAlchemy itself stores, so values compare equal


def is_outage(exc: BaseException) -> bool:
    """The database is away or stuck (server down or restarting, connection cut, file locked past the busy timeout,
    disk full), as opposed to a bad statement: the same write may succeed a moment later."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    detail = str(exc.orig).lower()
    return not any(word in detail for word in ("no such table", "no such column", "syntax error"))


def describe_outage(exc: BaseException) -> str:
    """What is wrong with the database, in words (never the statement or its parameters)."""
    detail = str(getattr(exc, "orig", None) or exc).lower()
    if "locked" in detail or "busy" in detail:
        return "the database stayed locked by another program"
    if "full" in detail or "no space" in detail:
        return "the disk holding the database is full"
    if "read-only" in detail or "readonly" in detail:
        return "the database can no longer be written (read-only)"
    if "disk i/o" in detail or "unable to open" in detail:
        return "the database file could not be read or written"
    return "the database server could not be reached"


def database_error_message(exc: BaseException) -> str:
    """One line for an editor about any database error: what went wrong, never the SQL or its parameters."""
    if is_outage(exc):
        return describe_outage(exc)
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"the database refused the change: {detail[0][:200]}" if detail else "the database refused the change"


class Database:
    """A connected database: one engine, one session factory. Sessions are per unit of work and per thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        if self.dialect == "postgresql":  # the engine's writes (runs, units) reach every window live
            from wfdesk.db.notify import announce_engine_writes

            announce_engine_writes(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()
