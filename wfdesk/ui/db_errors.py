"""Failed database edits as one line an editor can act on ("the database is busy, try again"), never a traceback.

SQLAlchemy is imported inside the functions: UI modules load before the engine (see tests/ui/test_startup.py).
"""

from __future__ import annotations

# What SQLite and PostgreSQL say when another writer (a run in its child process, say) holds the lock.
BUSY_MARKERS = ("database is locked", "database table is locked", "database is busy", "lock timeout",
                "could not obtain lock", "deadlock detected")
BUSY_TEXT = "the database is busy, try again"


def edit_errors() -> tuple[type[Exception], ...]:
    """What a database edit raises that is the editor's to read: wfdesk's refusals and the database's own."""
    from sqlalchemy.exc import SQLAlchemyError

    from wfdesk.errors import WfdeskError

    return WfdeskError, SQLAlchemyError


def is_edit_error(exc: BaseException) -> bool:
    return isinstance(exc, edit_errors())


def describe_db_error(exc: BaseException) -> str:
    """One line: BUSY_TEXT for a lock, the driver's first line for other database errors, else the message."""
    from sqlalchemy.exc import DBAPIError

    detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(detail).strip()
    if any(marker in text.lower() for marker in BUSY_MARKERS):
        return BUSY_TEXT
    first = text.splitlines()[0] if text else ""
    return first or type(exc).__name__
