"""The window's one signal for "something changed" (Anki's operation changes, for wfdesk).

Every write a service commits is announced (wfdesk.services.changes); on PostgreSQL a colleague's writes and the
run processes' are heard too (LISTEN/NOTIFY, one background listener per workspace). The hub takes them from any
thread onto the GUI thread, merges those that arrive together, and emits `changed` once; each view asks the
Changes whether it shows any of it and refreshes itself. It also keeps who else is editing which field (presence):
announced when an editor's field text gains or loses focus, repeated while it keeps it, forgotten after a while
when its window vanished without a word.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from wfdesk.services.changes import EVERYTHING, Changes, FieldRef, Presence, publisher

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

MERGE_MS = 30  # changes heard within this are one refresh...
THROTTLE_MS = 250  # ...and views refresh at most this often (a batch run announces every section it finishes)
PRESENCE_REPEAT_MS = 20_000  # an editor still in a field says so again this often...
PRESENCE_EXPIRES_S = 60.0  # ...and is forgotten when not heard of for this long (their window crashed)


class ChangeHub(QObject):
    changed = Signal(object)  # Changes, on the GUI thread
    presence_changed = Signal()  # someone started or stopped editing a field
    live_changed = Signal(bool)  # the connection that hears colleagues is up (PostgreSQL only)
    _heard = Signal(object)  # from any thread (the publisher's caller, the listener)
    _heard_presence = Signal(object)
    _heard_live = Signal(bool)

    def __init__(self, ws: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.publisher = publisher(ws)
        self.live = False
        self._was_live = False
        self._pending: Changes | None = None
        self._last_flush = 0.0
        self._editing: dict[str, tuple[Presence, float]] = {}  # origin -> what they edit, when last heard
        self._mine: FieldRef | None = None
        self._merge = QTimer(self, singleShot=True, interval=MERGE_MS)
        self._merge.timeout.connect(self._flush)
        self._repeat = QTimer(self, interval=PRESENCE_REPEAT_MS)
        self._repeat.timeout.connect(self._repeat_presence)
        self._repeat.start()
        queued = Qt.ConnectionType.QueuedConnection
        self._heard.connect(self._collect, queued)
        self._heard_presence.connect(self._presence, queued)
        self._heard_live.connect(self._live, queued)
        self._unsubscribe = self.publisher.subscribe(self._heard.emit, self._heard_presence.emit)
        self.destroyed.connect(lambda *_: self._unsubscribe())  # no emit into a deleted hub
        self.publisher.listen(self._heard_live.emit)

    def stop(self) -> None:
        """The window closes: nothing more is heard or refreshed; colleagues stop seeing this editor in a field."""
        self._unsubscribe()
        self._merge.stop()
        self._repeat.stop()
        self._pending = None
        if self._mine is not None:
            self.editing(self._mine, False)

    @property
    def shared(self) -> bool:
        """Colleagues' changes can reach this window (a shared PostgreSQL database)."""
        return self.publisher.shared

    # --- changes --------------------------------------------------------------------------------------------

    def _collect(self, changes: Changes) -> None:
        self._pending = changes if self._pending is None else self._pending | changes
        if not self._merge.isActive():
            since = (time.monotonic() - self._last_flush) * 1000
            self._merge.start(int(max(MERGE_MS, THROTTLE_MS - since)))

    def _flush(self) -> None:
        changes, self._pending = self._pending, None
        self._last_flush = time.monotonic()
        if changes:
            self.changed.emit(changes)

    def _live(self, live: bool) -> None:
        self.live = live
        if live and self._was_live:
            self._collect(EVERYTHING)  # back after a lost connection: what was said meanwhile was not heard
        if live:
            self._was_live = True
            if self._mine is not None:
                self.publisher.announce_presence(self._mine, True)
        self.live_changed.emit(live)

    # --- presence -------------------------------------------------------------------------------------------

    def editing(self, field: FieldRef, editing: bool) -> None:
        """This window's editor started (or stopped) editing `field`: the colleagues' windows hear it."""
        if editing:
            self._mine = field
        elif self._mine != field:
            return
        else:
            self._mine = None
        self.publisher.announce_presence(field, editing)

    def editors_of(self, field: FieldRef) -> list[str]:
        """Who else is editing this field now, by name."""
        now = time.monotonic()
        return sorted({p.who for p, heard in self._editing.values()
                       if p.field == field and now - heard < PRESENCE_EXPIRES_S})

    def _presence(self, presence: Presence) -> None:
        if presence.editing:
            self._editing[presence.origin] = (presence, time.monotonic())
        elif presence.origin in self._editing and self._editing[presence.origin][0].field == presence.field:
            del self._editing[presence.origin]
        self.presence_changed.emit()

    def _repeat_presence(self) -> None:
        if self._mine is not None:
            self.publisher.announce_presence(self._mine, True)
        now = time.monotonic()
        stale = [o for o, (_p, heard) in self._editing.items() if now - heard >= PRESENCE_EXPIRES_S]
        for origin in stale:
            del self._editing[origin]
        if stale:
            self.presence_changed.emit()
