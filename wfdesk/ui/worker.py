"""Running work off the GUI thread, in the shape of Anki's CollectionOp and superqt's WorkerBase
(not superqt itself: the op's lifetime rules below are what this app needs).

    op = BackgroundOp(lambda: slow(ids)).success(on_done).failure(on_error)
    op.run_in_background()

`fn` runs on a QThreadPool worker and must never touch widgets; the callbacks run on the GUI thread.
Every running op is referenced until it finishes (a dropped QRunnable's signals object crashes at exit), and the
last reference to an op is always dropped on the GUI thread: its callbacks may hold the only reference to a dialog
opened without a parent, and a widget deleted by a pool thread crashes the app.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)
_running: dict[int, BackgroundOp] = {}
_running_lock = threading.Lock()
_ids = itertools.count(1)


class _Signals(QObject):
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()


class _Releaser(QObject):
    """Lives on the GUI thread as long as the module: a pool thread that has let go of its op asks it, by id, to
    drop the op's last reference there (queued after the op's own signals, so after all of its callbacks)."""

    release = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.release.connect(self._release)

    @staticmethod
    def _release(op_id: int) -> None:
        with _running_lock:
            op = _running.pop(op_id, None)
        del op  # the last reference, here on the GUI thread


_releaser: _Releaser | None = None


def _the_releaser() -> _Releaser:
    global _releaser
    if _releaser is None:  # made on the GUI thread: ops are started there
        _releaser = _Releaser()
    return _releaser


class _Runnable(QRunnable):
    """Holds only the op's id: the op itself stays with _running, so this thread never holds its last reference."""

    def __init__(self, op_id: int, releaser: _Releaser) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._op_id, self._releaser = op_id, releaser

    def run(self) -> None:
        _execute(self._op_id)  # every reference to the op lives and dies in that call's frame
        self._releaser.release.emit(self._op_id)


def _execute(op_id: int) -> None:
    with _running_lock:
        op = _running[op_id]
        dropped, op.started = op.dropped, not op.dropped
    if dropped:  # shutdown() dropped it while queued: report it finished, so it is let go of
        op.signals.finished.emit()
        return
    try:
        result = op.fn()
    except Exception as exc:  # noqa: BLE001 - delivered to the failure callback, never raised in Qt
        log.debug("background op failed", exc_info=True)
        op.signals.failed.emit(exc)
    else:
        op.signals.succeeded.emit(result)
    finally:
        op.signals.finished.emit()


class BackgroundOp:
    def __init__(self, fn: Callable[[], Any], pool: QThreadPool | None = None) -> None:
        self.fn = fn
        self.pool = pool or default_pool()
        self.signals = _Signals()
        self.started = False  # these two under _running_lock
        self.dropped = False

    def success(self, callback: Callable[[Any], None]) -> BackgroundOp:
        self.signals.succeeded.connect(callback)
        return self

    def failure(self, callback: Callable[[Exception], None]) -> BackgroundOp:
        self.signals.failed.connect(callback)
        return self

    def finished(self, callback: Callable[[], None]) -> BackgroundOp:
        self.signals.finished.connect(callback)
        return self

    def run_in_background(self) -> BackgroundOp:
        op_id = next(_ids)
        with _running_lock:
            _running[op_id] = self
        self.pool.start(_Runnable(op_id, _the_releaser()))
        return self


# The window's work here waits (on the database, a provider, a disk) far more than it computes: Qt's default of one
# thread per core let two slow jobs on a two-core laptop hold up every list and panel behind them.
MIN_THREADS = 8


def default_pool() -> QThreadPool:
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MIN_THREADS:
        pool.setMaxThreadCount(MIN_THREADS)
    return pool


def running_ops() -> int:
    with _running_lock:
        return len(_running)


def shutdown(pool: QThreadPool | None = None, timeout_ms: int = 5000) -> bool:
    """At exit: drop queued work and wait for running work. True when everything stopped in time.

    Queued ops are not removed from the pool (QThreadPool.clear would lose them, and running_ops() would count
    them forever): each is marked, and skips its work when its turn comes."""
    pool = pool or default_pool()
    with _running_lock:
        for op in _running.values():
            if op.pool is pool and not op.started:
                op.dropped = True
    return pool.waitForDone(timeout_ms)
