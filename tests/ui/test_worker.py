"""BackgroundOp: work off the GUI thread, callbacks on it, every callback delivered."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThreadPool

from wfdesk.ui import worker
from wfdesk.ui.worker import BackgroundOp


def test_every_callback_runs_on_the_gui_thread(qtbot):
    gui = threading.get_ident()
    seen = {"ok": [], "failed": [], "finished": 0, "threads": set()}

    def done(value):
        seen["threads"].add(threading.get_ident())
        seen["ok"].append(value)

    def finished():
        seen["finished"] += 1

    for i in range(50):
        (BackgroundOp(lambda i=i: i * 2).success(done).failure(seen["failed"].append).finished(finished)
         .run_in_background())
    BackgroundOp(lambda: 1 / 0).failure(seen["failed"].append).finished(finished).run_in_background()
    qtbot.waitUntil(lambda: seen["finished"] == 51, timeout=10_000)
    assert sorted(seen["ok"]) == [i * 2 for i in range(50)]
    assert len(seen["failed"]) == 1
    assert isinstance(seen["failed"][0], ZeroDivisionError)
    assert seen["threads"] == {gui}
    qtbot.waitUntil(lambda: worker.running_ops() == 0, timeout=10_000)


def test_shutdown_skips_queued_ops_and_lets_go_of_them(qtbot):
    """At exit, work still queued is not started, and no op stays counted as running."""
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    started, release, ran, results = threading.Event(), threading.Event(), [], []

    def first() -> str:
        started.set()
        release.wait(10)
        ran.append("first")
        return "first done"

    BackgroundOp(first, pool).success(results.append).run_in_background()
    for name in ("second", "third"):
        BackgroundOp(lambda name=name: ran.append(name), pool).run_in_background()
    assert started.wait(10)
    threading.Timer(0.2, release.set).start()  # the running op ends while shutdown waits for it
    assert worker.shutdown(pool, 10_000)
    qtbot.waitUntil(lambda: worker.running_ops() == 0, timeout=10_000)
    assert ran == ["first"]
    assert results == ["first done"]


def test_what_the_callbacks_hold_is_let_go_of_on_the_gui_thread(qtbot):
    """A dialog opened without a parent and held only by its BackgroundOp's callbacks (CostsDialog in the tests) is
    deleted when the op lets go of it: that must happen on the GUI thread. Before, about 1 op in 12 was let go of by
    the pool thread (it still held the op after `finished` had been delivered), which deleted the dialog there and
    crashed the app (a segfault in CI while the event loop ran)."""
    gui = threading.get_ident()
    freed_on: list[int] = []

    class Held:
        def __del__(self) -> None:
            freed_on.append(threading.get_ident())

    rounds = 400
    for _ in range(rounds):
        held = Held()
        BackgroundOp(lambda: 1).success(lambda _result, held=held: None).run_in_background()
        del held
        qtbot.waitUntil(lambda: worker.running_ops() == 0, timeout=10_000)
    assert freed_on == [gui] * rounds


def test_slow_work_does_not_hold_up_a_quick_read(qtbot):
    """The window's reads share one pool with slow work (a connection check waiting on a provider, a read waiting on
    a busy database). Qt sizes its pool by cores, two on an editor's small laptop: two slow jobs held up every list
    and panel until they ended. Four slow jobs under way, a quick read still gets its answer."""
    release = threading.Event()
    slow_started: list[int] = []
    answers: list[str] = []
    for i in range(4):
        BackgroundOp(lambda i=i: (slow_started.append(i), release.wait(60))).run_in_background()
    try:
        qtbot.waitUntil(lambda: len(slow_started) == 4, timeout=10_000)
        BackgroundOp(lambda: "the posts").success(answers.append).run_in_background()
        qtbot.waitUntil(lambda: answers == ["the posts"], timeout=10_000)
    finally:
        release.set()
    qtbot.waitUntil(lambda: worker.running_ops() == 0, timeout=10_000)
