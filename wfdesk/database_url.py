"""Which driver opens a database URL. PostgreSQL goes through psycopg 3 (the maintained line; the `postgres` extra
installs it). URLs written for psycopg2 — `postgresql+psycopg2://` in editors' settings and CI, or plain
`postgresql://` — keep working: they are opened with psycopg 3 when it is installed, and with psycopg2 only when that
is the one installed. A leaf module: the engine, the connection test and the diagnostics all ask it.
"""

from __future__ import annotations

import importlib.util

from sqlalchemy.engine import URL, make_url

from wfdesk.errors import WfdeskError

# Drivers a PostgreSQL URL may name, and the module each needs; the first installed one opens a URL that names none.
POSTGRES_DRIVERS = {"psycopg": "psycopg", "psycopg2": "psycopg2"}
MISSING_DRIVER = ("This installation cannot open a PostgreSQL database: its driver is not installed. Install wfdesk "
                  "with PostgreSQL support (pipx install 'wfdesk[postgres]', or pip install 'psycopg[binary]' "
                  "into wfdesk's environment), or choose a local database file.")


class MissingDriverError(WfdeskError):
    """A PostgreSQL URL on an installation without psycopg: said in words, with the command that fixes it."""


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def postgres_driver(url: str | URL) -> str | None:
    """The driver a PostgreSQL URL will be opened with: psycopg 3 for `postgresql://`, `+psycopg` and `+psycopg2`
    when it is installed, else psycopg2 when that is; another driver the URL names is taken as is. None: none
    installed."""
    parsed = make_url(url)
    named = parsed.get_driver_name() if "+" in parsed.drivername else None
    if named and named not in POSTGRES_DRIVERS:
        return named
    return next((driver for driver, module in POSTGRES_DRIVERS.items() if _installed(module)), None)


def engine_url(url: str | URL) -> URL:
    """The URL as SQLAlchemy opens it: a PostgreSQL URL gets the installed psycopg driver (see postgres_driver).
    Raises MissingDriverError when no PostgreSQL driver is installed."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return parsed
    driver = postgres_driver(parsed)
    if driver is None:
        raise MissingDriverError(MISSING_DRIVER)
    return parsed.set(drivername=f"postgresql+{driver}")
