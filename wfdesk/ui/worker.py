"""Running work off the GUI thread, in the shape of Anki's CollectionOp and superqt's WorkerBase.

    op = BackgroundOp(lambda: slow(ids)).success(on_done).failure(on_error)
    op.run_in_background()

`fn` runs on a QThreadPool worker and must never touch widgets; the callbacks run on the GUI thread.
Every running op is referenced until it finishes (a dropped QRunnable's signals object crashes at exit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)
_running: set[BackgroundOp] = set()
_running_lock = threading.Lock()


class _Signals(QObject):
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()


class _Runnable(QRunnable):
    def __init__(self, op: BackgroundOp) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._op = op

    def run(self) -> None:
        op = self._op
        with _running_lock:
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
        self.pool = pool or QThreadPool.globalInstance()
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
        # Connected last, so the caller's own `finished` callbacks run before the op lets go of itself.
        self.signals.finished.connect(self._release)
        with _running_lock:
            _running.add(self)
        self.pool.start(_Runnable(self))
        return self

    def _release(self) -> None:
        with _running_lock:
            _running.discard(self)


def running_ops() -> int:
    with _running_lock:
        return len(_running)


def shutdown(pool: QThreadPool | None = None, timeout_ms: int = 5000) -> bool:
    """At exit: drop queued work and wait for running work. True when everything stopped in time.

    Queued ops are not removed from the pool (QThreadPool.clear would lose them, and running_ops() would count
    them forever): each is marked, and skips its work when its turn comes."""
    pool = pool or QThreadPool.globalInstance()
    with _running_lock:
        for op in _running:
            if op.pool is pool and not op.started:
                op.dropped = True
    return pool.waitForDone(timeout_ms)
