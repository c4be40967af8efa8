"""Announcing committed changes to every open window on a shared PostgreSQL database: LISTEN/NOTIFY. Qt-free.

One channel per database AND schema (several teams, or tests, may share a server and a database), named by a hash
so it stays a short plain identifier. A message is a small JSON object (PostgreSQL caps a payload at 8000 bytes):
`o` the sender's origin (a window ignores its own echo), `t` "c" (changes) or "p" (presence), and per kind of row
the ids it touched; a message too big for a payload names only the kinds ("b": refresh broadly).

`Notifier` sends after commit (an announcement that fails is logged, never fails the write it follows);
`Listener` is one connection in one background thread (psycopg's notifies()), which reconnects quietly after a
lost connection; `announce_engine_writes` makes a database announce the engine's own writes (runs, their units and
the field text a unit wrote), which do not go through the services.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnElement
from sqlalchemy.sql.visitors import iterate

from wfdesk.db.models import ContentField, ContentVersion, PostSection, Run, RunUnit

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import ORMExecuteState, Session

    from wfdesk.db.engine import Database

log = logging.getLogger(__name__)

PAYLOAD_LIMIT = 7900  # PostgreSQL refuses payloads of 8000 bytes and more
# Wire keys of the kinds of rows a change names.
POSTS, SECTIONS, FIELDS, STEPS, RUNS, UNITS = "p", "s", "f", "w", "r", "u"
KINDS = (POSTS, SECTIONS, FIELDS, STEPS, RUNS, UNITS)
CHANGES, PRESENCE = "c", "p"
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)  # then every 5 s: a server restart is noticed soon, without hammering it
# The engine's writes are announced by the database itself under this origin (no window's).
ENGINE_ORIGIN = f"engine-{uuid.uuid4().hex[:8]}"


def channel_for(database: str, schema: str) -> str:
    """The channel of one database and schema: a plain lower-case identifier under PostgreSQL's 63 characters."""
    digest = hashlib.sha256(f"{database}\x00{schema}".encode()).hexdigest()[:24]
    return f"wfdesk_{digest}"


def encode(message: dict[str, Any]) -> str:
    """The payload of a message; one too big names only the kinds it touched (receivers refresh those broadly)."""
    payload = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if len(payload.encode()) <= PAYLOAD_LIMIT:
        return payload
    kinds = sorted({k for k in KINDS if message.get(k)} | set(message.get("b", ())))
    return json.dumps({"o": message.get("o", ""), "t": message.get("t", CHANGES), "b": kinds},
                      separators=(",", ":"))


def decode(payload: str) -> dict[str, Any] | None:
    """A received message, or None for anything that is not one of ours (logged, never raised)."""
    try:
        message = json.loads(payload)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("t") not in (CHANGES, PRESENCE):
        log.debug("ignoring a notification that is not wfdesk's: %.80s", payload)
        return None
    return message


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as libpq takes it (no driver name; options such as search_path kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


_CHANNEL_SQL = "SELECT current_database(), current_schema()"


class Notifier:
    """Sends messages on the channel of the engine's database and schema (PostgreSQL only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._channel: str | None = None

    @property
    def channel(self) -> str:
        if self._channel is None:
            with self.engine.connect() as conn:
                database, schema = conn.execute(text(_CHANNEL_SQL)).one()
            self._channel = channel_for(database, schema)
        return self._channel

    def send(self, message: dict[str, Any]) -> bool:
        """NOTIFY in a transaction of its own (the change it announces is committed already). False on failure."""
        try:
            channel = self.channel
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                             {"channel": channel, "payload": encode(message)})
        except Exception as exc:  # noqa: BLE001 - the write is done; a lost announcement must not undo it
            log.info("could not announce a change to the other windows: %s", exc)
            return False
        return True


class Listener:
    """One connection LISTENing in one daemon thread; each payload goes to `on_payload` (in that thread).
    `on_live(True/False)` says when it listens and when the connection was lost (it reconnects by itself)."""

    def __init__(self, url: str, on_payload: Callable[[str], None],
                 on_live: Callable[[bool], None] | None = None) -> None:
        self.url = libpq_url(url)
        self.on_payload = on_payload
        self.on_live = on_live or (lambda _live: None)
        self.channel: str | None = None
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wfdesk-listen", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                self._listen()
                attempt = 0
            except ImportError:  # psycopg2 alone opens the database but cannot listen: windows poll instead
                log.info("live updates need psycopg 3 (pip install 'psycopg[binary]'); the lists refresh by polling")
                return
            except Exception as exc:  # noqa: BLE001 - any loss of the connection: wait, then listen again
                log.log(logging.INFO if attempt == 0 else logging.DEBUG,
                        "live updates paused (the database connection was lost): %s", exc)
            if self.listening.is_set():
                self.listening.clear()
                self.on_live(False)
            if self._stop.wait(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]):
                return
            attempt += 1

    def _listen(self) -> None:
        import psycopg

        # Keepalives: a connection cut without a word (a laptop's network gone) is noticed in about half a minute.
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5, keepalives=1, keepalives_idle=10,
                             keepalives_interval=5, keepalives_count=3) as conn:
            database, schema = conn.execute(_CHANNEL_SQL).fetchone() or ("", "")
            self.channel = channel_for(database, schema)
            conn.execute(f"LISTEN {self.channel}")
            self.listening.set()
            self.on_live(True)
            while not self._stop.is_set():
                # A short timeout: stop() is noticed within it; a closed connection raises here.
                for note in conn.notifies(timeout=0.5):
                    self.on_payload(note.payload)


# --- the engine's own writes ------------------------------------------------------------------------------------

_PENDING = "wfdesk_announce"


def announce_engine_writes(db: Database) -> None:
    """After each commit of a session that wrote runs or units (the engine's), announce them with the sections'
    fields written in the same transaction. Heartbeats alone are not news. PostgreSQL only."""
    notifier = Notifier(db.engine)

    @event.listens_for(db.sessionmaker, "after_flush")
    def _flushed(session: Session, _context: Any) -> None:
        pending = session.info.setdefault(_PENDING, _empty())
        for row in (*session.new, *session.dirty, *session.deleted):
            _note_row(pending, row)

    @event.listens_for(db.sessionmaker, "do_orm_execute")
    def _executed(state: ORMExecuteState) -> None:
        if not (state.is_update or state.is_delete) or state.bind_mapper is None:
            return
        entity = state.bind_mapper.class_
        if entity not in (Run, RunUnit):
            return
        values = {getattr(c, "key", str(c)) for c in getattr(state.statement, "_values", None) or {}}
        if values and values <= {"heartbeat_at"}:
            return
        key = RUNS if entity is Run else UNITS
        ids = _ids_in(state.statement.whereclause, entity.__table__.c.id,  # type: ignore[attr-defined]
                      state.parameters)
        pending = state.session.info.setdefault(_PENDING, _empty())
        if ids is None:
            pending["b"].add(key)
        else:
            pending[key].update(ids)

    @event.listens_for(db.sessionmaker, "after_commit")
    def _committed(session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if pending and (pending[RUNS] or pending[UNITS] or RUNS in pending["b"] or UNITS in pending["b"]):
            notifier.send(_message(pending))

    @event.listens_for(db.sessionmaker, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_PENDING, None)


def note_field_written(session: Session, post_id: int, section_id: int | None, name: str) -> None:
    """A field written by a statement rather than through an object (wfdesk.db.text_record), which the flush
    never sees: announced with the rest of the transaction's writes all the same."""
    session.info.setdefault(_PENDING, _empty())[FIELDS].add((post_id, section_id, name))


def _empty() -> dict[str, set[Any]]:
    return {RUNS: set(), UNITS: set(), SECTIONS: set(), FIELDS: set(), "b": set()}


def _note_row(pending: dict[str, set[Any]], row: object) -> None:
    if isinstance(row, Run):
        pending[RUNS].add(row.id)
    elif isinstance(row, RunUnit):
        pending[UNITS].add(row.id)
    elif isinstance(row, ContentField | ContentVersion):
        name = row.name if isinstance(row, ContentField) else row.field
        pending[FIELDS].add((row.post_id, row.section_id, name))
    elif isinstance(row, PostSection):
        pending[SECTIONS].add((row.post_id, row.id))


def _message(pending: dict[str, set[Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"o": ENGINE_ORIGIN, "t": CHANGES}
    for key in (RUNS, UNITS):
        if pending[key]:
            message[key] = sorted(i for i in pending[key] if i is not None)
    for key in (SECTIONS, FIELDS):
        if pending[key]:
            message[key] = [list(item) for item in sorted(pending[key], key=repr)]
    if pending["b"]:
        message["b"] = sorted(pending["b"])
    return message


def _ids_in(clause: Any, id_column: Any, parameters: Any = None) -> set[int] | None:
    """The ids an UPDATE's WHERE names with `id = value` (the engine's form), the value in the statement or in
    the parameters it was executed with (a statement built once); None when it names none."""
    if clause is None:
        return None
    given = parameters if isinstance(parameters, dict) else {}
    values = (
        node.right.value if node.right.value is not None else given.get(node.right.key)
        for node in iterate(clause)
        if isinstance(node, BinaryExpression) and node.operator is operators.eq
        and isinstance(node.left, ColumnElement) and node.left.compare(id_column)
        and isinstance(node.right, BindParameter)
    )
    ids = {value for value in values if isinstance(value, int)}
    return ids or None
