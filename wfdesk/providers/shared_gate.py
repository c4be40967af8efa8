"""One provider budget for the team: on PostgreSQL, a provider's concurrency cap and 429 pauses hold across every
machine on the database, not per process.

Slots are PostgreSQL session advisory locks, held on a dedicated connection per provider and process. Chosen over a
lease table (rows with an expiry, renewed by a heartbeat) because PostgreSQL itself lets go of a session's locks the
moment its connection ends: a crashed, killed or unplugged holder frees its slots at once (TCP keepalives, set below,
notice a vanished laptop in about a minute), with no expiry to tune (short: a slow request loses its lease; long:
a crash leaks slots that long), no heartbeat writes, no clocks, no rows to clean up. The price: a connection per
provider and process (two while machines queue for turns), and a pooler in transaction mode (PgBouncer) must not sit
in between — session locks need the session. The 429 pause needs a value (until when), so it is a row:
`provider_pause`, on the server's clock, written before the refused request gives its slot back.

Keys: a 64-bit hash of (database, schema, provider address) with the slot number in its low byte, so two schemas
(or wfdesk databases) on one server never share a budget. A provider address on this machine (localhost) is prefixed
with the host name: every editor's own Ollama is their own. A machine tries the slots 0..its cap-1, so the team's
cap is the largest any machine sets for that provider (set the same on every machine).

While the database cannot be reached, a gate falls back to the machine's own cap and pauses, and tries again later.
On SQLite (one workstation) the gates stay in-process, as they always were.
"""

from __future__ import annotations

import hashlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from wfdesk.cancel import CancelledError, CancelToken
from wfdesk.db.engine import Database, is_outage
from wfdesk.providers.resilience import ProviderGate

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)
T = TypeVar("T")
OPENAI_DEFAULT = "https://api.openai.com/v1"  # the SDK's address when a profile names none
POLL_S = (0.01, 0.03)  # how often the machine whose turn it is looks for a free slot (jittered)
QUEUE_WAIT_S = 1.0  # the turnstile is waited for in pieces this long, checking for a cancelled run in between
TURNSTILE = 0xFF  # the "slot" number of the turnstile's key (real slots are 0..63)
AWAY_RETRY_S = 5.0  # after the database failed us, how long to use the machine's own cap before trying it again
APPLICATION_NAME = "wfdesk provider gate"  # how its connections show in pg_stat_activity
# Libpq options of the dedicated connection: a dead server or network is noticed in seconds, not hours.
CLIENT_OPTIONS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                  "connect_timeout": 5, "application_name": APPLICATION_NAME}
# The same from the server's side, so a holder that vanished (laptop closed) frees its slots in about a minute.
SERVER_KEEPALIVES = ("SET tcp_keepalives_idle = 30", "SET tcp_keepalives_interval = 10",
                     "SET tcp_keepalives_count = 3")
_LOCAL_HOSTS = ("localhost", "::1", "0.0.0.0", "host.docker.internal")


def provider_address(base_url: str | None) -> str:
    """Who the provider is, for the team: its normalised URL; one on this machine carries the host name."""
    url = (base_url or OPENAI_DEFAULT).strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    except ValueError:
        return url
    address = f"{parts.scheme.lower()}://{host}:{port}{parts.path.rstrip('/')}"
    if host in _LOCAL_HOSTS or host.startswith("127.") or host.endswith(".localhost"):
        return f"{socket.gethostname()}:{address}"
    return address


def gate_for_provider(db: Database, name: str, base_url: str | None, concurrency: int) -> ProviderGate:
    """The provider's gate for this process: shared with the team on PostgreSQL, in-process on SQLite."""
    if db.dialect == "postgresql":
        return SharedProviderGate(db, name, provider_address(base_url), concurrency)
    return ProviderGate(name, concurrency)


def slot_key(namespace: str, address: str, slot: int) -> int:
    """The advisory lock of one slot: signed 64 bits, the slot number in the low byte (concurrency <= 64)."""
    digest = hashlib.blake2b(f"wfdesk-provider\0{namespace}\0{address}".encode(), digest_size=8).digest()
    unsigned = (int.from_bytes(digest, "big") & ~0xFF) | slot
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


class _AwayError(Exception):
    """The database cannot be asked right now: the machine's own cap and pauses apply."""


def _lock_timeout(exc: DBAPIError) -> bool:
    """lock_timeout ran out while queueing (SQLSTATE 55P03; psycopg 3 names it sqlstate, psycopg2 pgcode)."""
    return "55P03" in (getattr(exc.orig, "sqlstate", None), getattr(exc.orig, "pgcode", None))


class SharedProviderGate(ProviderGate):
    """A ProviderGate whose slots and pauses are the team's (see the module's docstring). The offline breaker and
    the out-of-credit hold stay per machine: they are about this machine's network and are cheap to relearn.

    Taking turns: whoever wants a slot first queues for the provider's turnstile, a blocking advisory lock, which
    PostgreSQL grants in arrival order; only its holder looks for a free slot. Without it, the machine that just gave
    a slot back takes it again before a colleague's next look, and a long batch starves everyone else (measured: 191
    requests to 5). Two connections, so that giving a slot back never waits behind a thread standing in the queue."""

    def __init__(self, db: Database, name: str, address: str, concurrency: int) -> None:
        super().__init__(name, concurrency)
        self.address = address
        self._db = db
        self._engine: Engine | None = None
        self._conns: dict[str, Connection] = {}  # "slots": takes, gives back, pauses; "queue": the turnstile
        self._namespace = ""
        self._generation = 0  # bumped when the slots connection is lost: its locks went with it
        self._held: set[int] = set()  # slots the slots connection holds
        self._cond = threading.Condition()  # guards the slots connection and the fields above; wakes the turnstile
        self._queue = threading.Lock()  # one thread of this process stands in the team's queue (its connection)
        self._opening = threading.Lock()  # the engine is made once, whichever connection needs it first
        self._away_until = 0.0

    @contextmanager
    def slot(self, cancel: CancelToken) -> Iterator[None]:
        while not self._slots.acquire(timeout=0.25):  # this machine's own cap first: no more waiters than slots
            if cancel.cancelled:
                raise CancelledError()
        try:
            claim = self._claim(cancel)
            try:
                self.wait_until_open(cancel)
                yield
            finally:
                self._unclaim(claim)
        finally:
            self._slots.release()

    def pause_for(self, seconds: float) -> None:
        super().pause_for(seconds)  # this machine pauses at once, whatever the database says
        with self._cond, suppress(_AwayError):
            self._ask("slots", lambda conn: conn.execute(text(
                "INSERT INTO provider_pause (provider, paused_until) "
                "VALUES (:p, clock_timestamp() + make_interval(secs => :s)) ON CONFLICT (provider) DO UPDATE "
                "SET paused_until = GREATEST(provider_pause.paused_until, EXCLUDED.paused_until)"),
                {"p": self.address, "s": seconds}))

    def paused_for(self) -> float:
        here = super().paused_for()
        with self._cond:
            try:
                there = self._ask("slots", lambda conn: conn.execute(text(
                    "SELECT EXTRACT(EPOCH FROM paused_until - clock_timestamp()) FROM provider_pause "
                    "WHERE provider = :p"), {"p": self.address}).scalar())
            except _AwayError:
                there = None
        return max(here, float(there or 0.0))

    def close(self) -> None:
        """Ends the connections, which frees every slot they held (the workspace calls this when it closes)."""
        queued = self._queue.acquire(timeout=2 * QUEUE_WAIT_S)  # a thread in the queue gives up within that
        try:
            with self._cond:
                self._drop("slots")
                if queued:
                    self._drop("queue")
                if self._engine is not None and queued:
                    self._engine.dispose()
                    self._engine = None
        finally:
            if queued:
                self._queue.release()

    # -- slots ------------------------------------------------------------------------------------------------

    def _claim(self, cancel: CancelToken) -> tuple[int, int] | None:
        """(generation, slot) of a slot taken for this request; None while the database is away."""
        with self._cond:
            try:  # nobody waiting for a turn and a slot free: taken in one round trip, no queueing
                fast = self._ask("slots", lambda conn: self._try_slots(conn, unless_queued=True))
            except _AwayError:
                return None
        if fast is not None:
            return fast
        while not self._queue.acquire(timeout=0.25):
            if cancel.cancelled:
                raise CancelledError()
        try:
            if not self._enter_turnstile(cancel):
                return None
            try:
                return self._first_free_slot(cancel)
            finally:
                with suppress(_AwayError):  # else the connection is gone, and the turnstile with it
                    self._ask("queue", lambda conn: conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                                                 {"k": self._key(TURNSTILE)}))
        finally:
            self._queue.release()

    def _enter_turnstile(self, cancel: CancelToken) -> bool:
        """Waits for this provider's turn (False: the database is away). The wait is cut into lock_timeout pieces
        so a cancelled run stops waiting."""
        while True:
            try:
                self._ask("queue", lambda conn: conn.execute(text("SELECT pg_advisory_lock(:k)"),
                                                             {"k": self._key(TURNSTILE)}))
                return True
            except _AwayError:
                return False
            except DBAPIError as exc:
                if not _lock_timeout(exc):
                    raise
            if cancel.cancelled:
                raise CancelledError()

    def _first_free_slot(self, cancel: CancelToken) -> tuple[int, int] | None:
        with self._cond:
            while True:
                try:
                    claim = self._ask("slots", self._try_slots)
                except _AwayError:
                    return None
                if claim is not None:
                    return claim
                # Only the turnstile's holder looks, so looking often is cheap; a slot given back here wakes it.
                self._cond.wait(random.uniform(*POLL_S))
                if cancel.cancelled:
                    raise CancelledError()

    def _try_slots(self, conn: Connection, unless_queued: bool = False) -> tuple[int, int] | None:
        free = [s for s in range(self.concurrency) if s not in self._held]
        if not free:
            return None
        start = random.randrange(len(free))  # machines start at different slots: fewer tries wasted on a taken one
        order = free[start:] + free[:start]
        # CASE evaluates its branches in order and stops at the first true one: at most one lock is taken, in one
        # round trip (the keys and slot numbers are this code's own integers).
        tries = " ".join(f"WHEN pg_try_advisory_lock({self._key(s)}) THEN {s}" for s in order)
        query = f"CASE {tries} ELSE -1 END"
        if unless_queued:
            # A shared try on the turnstile fails while anyone holds it or waits for it (PostgreSQL lets no request
            # overtake a waiter it conflicts with); as a transaction lock it ends with this statement.
            query = f"CASE WHEN pg_try_advisory_xact_lock_shared({self._key(TURNSTILE)}) THEN {query} ELSE -1 END"
        slot = conn.execute(text(f"SELECT {query}")).scalar()
        if slot is None or slot < 0:
            return None
        self._held.add(slot)
        return self._generation, slot

    def _unclaim(self, claim: tuple[int, int] | None) -> None:
        with self._cond:
            if claim is not None and claim[0] == self._generation and claim[1] in self._held:
                self._held.discard(claim[1])
                key = self._key(claim[1])
                with suppress(_AwayError):  # else the connection is gone, and its locks with it
                    self._ask("slots", lambda conn: conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key}))
            self._cond.notify_all()

    def _key(self, slot: int) -> int:
        return slot_key(self._namespace, self.address, slot)

    # -- the dedicated connections -----------------------------------------------------------------------------

    def _ask(self, which: str, query: Callable[[Connection], T]) -> T:
        """query(connection) on the slots or queue connection (opened on first use); _AwayError if the database cannot
        be asked. The caller holds self._cond (slots) or self._queue (queue)."""
        try:
            return query(self._connection(which))
        except DBAPIError as exc:
            if _lock_timeout(exc) or not is_outage(exc):
                raise
            log.warning("provider %s: the database cannot be reached; this machine keeps to its own cap of %d "
                        "until it can", self.name, self.concurrency)
            self._drop(which)
            self._away_until = time.monotonic() + AWAY_RETRY_S
            raise _AwayError() from None

    def _connection(self, which: str) -> Connection:
        if (conn := self._conns.get(which)) is not None:
            return conn
        if time.monotonic() < self._away_until:
            raise _AwayError()
        with self._opening:
            if self._engine is None:
                # Its own engine without a pool: closing a connection ends its session, and frees its locks with it
                # (a pooled connection would keep them for the next borrower).
                self._engine = create_engine(self._db.engine.url, poolclass=NullPool, connect_args=CLIENT_OPTIONS)
            engine = self._engine
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        for statement in SERVER_KEEPALIVES:
            with suppress(DBAPIError):  # a server (or pooler) that refuses them: the client's keepalives remain
                conn.execute(text(statement))
        if which == "queue":
            conn.execute(text(f"SET lock_timeout = '{int(QUEUE_WAIT_S * 1000)}ms'"))
        database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
        self._namespace = f"{database}\0{schema}"
        self._conns[which] = conn
        return conn

    def _drop(self, which: str) -> None:
        conn = self._conns.pop(which, None)
        if conn is not None:
            try:
                conn.close()
            except DBAPIError:
                conn.invalidate()
        if which == "slots":
            self._held.clear()
            self._generation += 1
