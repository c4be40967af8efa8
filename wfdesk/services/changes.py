"""What a write changed, and who hears of it (Anki's OpChanges, for wfdesk). Qt-free.

A service that commits a write announces a `Changes` (which posts, sections, fields, step configs, runs and units
it touched) through the workspace's `ChangePublisher`: every subscriber in this process hears it at once (the
window's ChangeHub fans it out, and each view decides whether it must refresh), and on PostgreSQL it is also
NOTIFYed to every other process on the same database and schema (wfdesk.db.notify). A message carries its sender's
origin, so a window ignores its own echo. `Presence` says who is editing which field (ephemeral, never stored).
"""

from __future__ import annotations

import getpass
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from wfdesk.db import notify
from wfdesk.db.notify import CHANGES, FIELDS, KINDS, POSTS, PRESENCE, RUNS, SECTIONS, STEPS, UNITS

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class FieldRef:
    """One field of a section (section_id None: a post-level field)."""

    post_id: int
    section_id: int | None
    name: str


@dataclass(frozen=True)
class Changes:
    """The rows a write touched. `posts`: a post itself (title, status, created); `sections`: (post, section)
    pairs added, renamed, moved or deleted; `broad`: kinds changed without ids (refresh everything of that kind)."""

    posts: frozenset[int] = frozenset()
    sections: frozenset[tuple[int, int]] = frozenset()
    fields: frozenset[FieldRef] = frozenset()
    steps: frozenset[int] = frozenset()
    runs: frozenset[int] = frozenset()
    units: frozenset[int] = frozenset()
    broad: frozenset[str] = frozenset()
    origin: str = field(default="", compare=False)

    @classmethod
    def of(cls, *, posts: Iterable[int] = (), sections: Iterable[tuple[int, int]] = (),
           fields: Iterable[FieldRef] = (), steps: Iterable[int] = (), runs: Iterable[int] = (),
           units: Iterable[int] = (), broad: Iterable[str] = ()) -> Changes:
        return cls(frozenset(posts), frozenset(sections), frozenset(fields), frozenset(steps), frozenset(runs),
                   frozenset(units), frozenset(broad))

    def __bool__(self) -> bool:
        return any((self.posts, self.sections, self.fields, self.steps, self.runs, self.units, self.broad))

    def __or__(self, other: Changes) -> Changes:
        return Changes(self.posts | other.posts, self.sections | other.sections, self.fields | other.fields,
                       self.steps | other.steps, self.runs | other.runs, self.units | other.units,
                       self.broad | other.broad, self.origin if self.origin == other.origin else "")

    # --- what a view asks ------------------------------------------------------------------------------------

    def touches_posts(self) -> bool:
        """The post list's question: a post's title or status (or a post) changed."""
        return bool(self.posts) or POSTS in self.broad

    def touches_content_of(self, post_id: int) -> bool:
        """The sections view's question: a section or a field of this post changed (or maybe did)."""
        return (bool({SECTIONS, FIELDS} & self.broad) or any(p == post_id for p, _ in self.sections)
                or any(f.post_id == post_id for f in self.fields))

    def touches_steps(self) -> bool:
        return bool(self.steps) or STEPS in self.broad

    def touches_runs(self) -> bool:
        return bool(self.runs or self.units) or bool({RUNS, UNITS} & self.broad)

    # --- on the wire ----------------------------------------------------------------------------------------

    def to_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"o": self.origin, "t": CHANGES}
        for key, ids in ((POSTS, self.posts), (STEPS, self.steps), (RUNS, self.runs), (UNITS, self.units)):
            if ids:
                message[key] = sorted(ids)
        if self.sections:
            message[SECTIONS] = [list(s) for s in sorted(self.sections)]
        if self.fields:
            message[FIELDS] = [[f.post_id, f.section_id, f.name] for f in sorted(self.fields, key=_field_key)]
        if self.broad:
            message["b"] = sorted(self.broad)
        return message

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Changes:
        """A received message; anything malformed in it widens to "that kind changed" rather than failing."""
        broad = {k for k in message.get("b", ()) if k in KINDS}
        ids: dict[str, list[Any]] = {}
        for key in KINDS:
            try:
                ids[key] = list(_parse(key, message.get(key) or ()))
            except (TypeError, ValueError):
                broad.add(key)
                ids[key] = []
        return replace(cls.of(posts=ids[POSTS], sections=ids[SECTIONS], fields=ids[FIELDS], steps=ids[STEPS],
                              runs=ids[RUNS], units=ids[UNITS], broad=broad), origin=str(message.get("o", "")))


EVERYTHING = Changes.of(broad=KINDS)  # after the live connection was lost: anything may have changed meanwhile
IMPORTED = Changes.of(broad=(POSTS, SECTIONS, FIELDS, STEPS))  # a bundle (or the demo) was imported
WORKFLOW_IMPORTED = Changes.of(broad=(STEPS,))


@dataclass(frozen=True)
class Presence:
    """`who` is (or stopped being, editing=False) editing `field`; `origin`: their window."""

    who: str
    field: FieldRef
    editing: bool
    origin: str = ""

    def to_message(self) -> dict[str, Any]:
        f = self.field
        return {"o": self.origin, "t": PRESENCE, "n": self.who[:80], "f": [f.post_id, f.section_id, f.name],
                "e": self.editing}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Presence | None:
        try:
            post_id, section_id, name = message["f"]
            return cls(str(message["n"]), FieldRef(int(post_id), None if section_id is None else int(section_id),
                                                   str(name)), bool(message["e"]), str(message.get("o", "")))
        except (KeyError, TypeError, ValueError):
            return None


def who_am_i() -> str:
    """How colleagues see this editor: the login name, and the machine when it says more."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container): the machine alone
        user = ""
    host = socket.gethostname().split(".")[0]
    return f"{user} ({host})" if user and host else user or host or "someone"


Subscriber = Callable[[Changes], None]
PresenceSubscriber = Callable[[Presence], None]


class ChangePublisher:
    """The workspace's announcer: local subscribers hear every change; on PostgreSQL other processes do too.
    Subscribers are called in the thread that publishes (or the listener's thread): a GUI queues them."""

    def __init__(self, ws: Workspace) -> None:
        self.origin = uuid.uuid4().hex[:12]
        self.who = who_am_i()
        self._subscribers: list[Subscriber] = []
        self._presence: list[PresenceSubscriber] = []
        self._lock = threading.Lock()
        self._notifier = notify.Notifier(ws.db.engine) if ws.db.dialect == "postgresql" else None
        self._url = ws.db.url
        self._listener: notify.Listener | None = None

    @property
    def shared(self) -> bool:
        """Other processes hear this workspace's changes (PostgreSQL)."""
        return self._notifier is not None

    def subscribe(self, on_changes: Subscriber, on_presence: PresenceSubscriber | None = None
                  ) -> Callable[[], None]:
        """Hear changes (and presence); returns the call that stops it."""
        with self._lock:
            self._subscribers.append(on_changes)
            if on_presence is not None:
                self._presence.append(on_presence)

        def unsubscribe() -> None:
            with self._lock:
                if on_changes in self._subscribers:
                    self._subscribers.remove(on_changes)
                if on_presence in self._presence:
                    self._presence.remove(on_presence)
        return unsubscribe

    def publish(self, changes: Changes) -> Changes:
        """Announce a committed write (here and, on PostgreSQL, to the others). Returns it, stamped."""
        if not changes:
            return changes
        changes = replace(changes, origin=self.origin)
        self._deliver(changes)
        if self._notifier is not None:
            self._notifier.send(changes.to_message())
        return changes

    def announce_presence(self, target: FieldRef, editing: bool) -> None:
        """Tell the other windows this editor started (or stopped) editing a field. Only others hear it."""
        if self._notifier is not None:
            self._notifier.send(Presence(self.who, target, editing, self.origin).to_message())

    def receive(self, payload: str) -> None:
        """A payload heard on the channel: delivered unless it is this publisher's own echo."""
        message = notify.decode(payload)
        if message is None or message.get("o") == self.origin:
            return
        if message["t"] == PRESENCE:
            presence = Presence.from_message(message)
            if presence is not None:
                for on_presence in self._snapshot(self._presence):
                    _call(on_presence, presence)
            return
        self._deliver(Changes.from_message(message))

    def listen(self, on_live: Callable[[bool], None] | None = None) -> notify.Listener | None:
        """Start hearing the other processes (PostgreSQL; None elsewhere). One listener per publisher."""
        if self._notifier is None:
            return None
        if self._listener is None:
            self._listener = notify.Listener(self._url, self.receive, on_live).start()
        return self._listener

    def close(self) -> None:
        """Called by Workspace.close: the listener's connection goes with the workspace."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def _deliver(self, changes: Changes) -> None:
        for subscriber in self._snapshot(self._subscribers):
            _call(subscriber, changes)

    def _snapshot(self, subscribers: list[Any]) -> list[Any]:
        with self._lock:
            return list(subscribers)


def publisher(ws: Workspace) -> ChangePublisher:
    """The workspace's one publisher (made on first use, closed with the workspace)."""
    return ws.cached(ChangePublisher, lambda: ChangePublisher(ws))


def announce(ws: Workspace, changes: Changes) -> Changes:
    """What a service calls after its commit."""
    return publisher(ws).publish(changes)


def _call(subscriber: Callable[[Any], None], arg: Any) -> None:
    try:
        subscriber(arg)
    except Exception:  # noqa: BLE001 - one broken view must not keep the news from the others
        log.exception("a change subscriber failed")


def _field_key(f: FieldRef) -> tuple[int, int, str]:
    return f.post_id, -1 if f.section_id is None else f.section_id, f.name


def _parse(key: str, items: Iterable[Any]) -> Iterable[Any]:
    for item in items:
        if key == SECTIONS:
            post_id, section_id = item
            yield int(post_id), int(section_id)
        elif key == FIELDS:
            post_id, section_id, name = item
            yield FieldRef(int(post_id), None if section_id is None else int(section_id), str(name))
        else:
            yield int(item)
