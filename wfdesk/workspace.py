"""The open workspace: database, data dir and settings the engine works against (GUI and CLI alike)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from wfdesk.db.engine import Database, sqlite_url_for
from wfdesk.db.migrate import upgrade
from wfdesk.settings import Settings, default_data_dir, load_settings

T = TypeVar("T")


@dataclass
class Workspace:
    db: Database
    data_dir: Path
    settings: Settings
    # Provider clients are thread-safe and costly to build: one per profile, shared by every worker.
    _clients: dict[Any, Any] = field(default_factory=dict, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cached(self, key: Any, factory: Callable[[], T]) -> T:
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = factory()
            client: T = self._clients[key]  # what a factory made for this key
            return client

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients.values():
                close = getattr(client, "close", None)
                if callable(close):
                    close()
            self._clients.clear()
        self.db.dispose()


def open_workspace(database_url: str | None = None, data_dir: str | Path | None = None,
                   settings: Settings | None = None, migrate: bool = True) -> Workspace:
    settings = settings or load_settings()
    data = Path(data_dir or settings.data_dir or default_data_dir())
    data.mkdir(parents=True, exist_ok=True)
    url = database_url or settings.database_url or sqlite_url_for(str(data / "wfdesk.db"))
    db = Database(url)
    if migrate:
        upgrade(db)
    return Workspace(db=db, data_dir=data, settings=settings)


_current: Workspace | None = None
_current_lock = threading.Lock()


def set_current(ws: Workspace | None) -> None:
    global _current
    with _current_lock:
        _current = ws


def current() -> Workspace:
    """The process's workspace; opened on the defaults the first time when nobody set one."""
    global _current
    with _current_lock:
        if _current is None:
            _current = open_workspace()
        return _current
