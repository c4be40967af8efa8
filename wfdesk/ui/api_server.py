"""The HTTP API served while the app is open (Settings → Other apps → "Allow other apps to run steps").

Runs requested over HTTP go to the same run process as the window's own (wfdesk.runs.child_client), so the
provider gates there (concurrency cap, 429 pause, offline breaker) hold across both. The server listens on this
computer's loopback address only; `wfdesk serve --allow-remote` is the way to serve other machines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Signal

from wfdesk.api.runner import RunProcessRunner
from wfdesk.settings import Settings
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    from wfdesk.api.runner import StepRunner
    from wfdesk.api.server import ApiServer
    from wfdesk.ui.run_controller import RunController

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


class ServedWindow(Protocol):
    """The window whose workspace the API serves (the main window)."""

    @property
    def ws(self) -> Workspace | None: ...

    @property
    def runs(self) -> RunController | None: ...


class _WindowRuns(QObject):
    """Carries a cancel from the server's threads to the window's RunController, on the GUI thread (queued)."""

    cancel = Signal(int)


class WindowRunner(RunProcessRunner):
    """The API's runs in the window's run process; a cancel for one of the window's own runs reaches it too."""

    def __init__(self, workspace: Callable[[], Workspace], cancel_in_window: Callable[[int], None]) -> None:
        super().__init__(workspace)
        self._cancel_in_window = cancel_in_window

    def cancel(self, run_id: int) -> bool:
        if super().cancel(run_id):
            return True
        from wfdesk.errors import NotFoundError
        from wfdesk.runs import ledger
        from wfdesk.states import ACTIVE_RUN_STATES

        try:
            status, owner = ledger.run_state(self.ws, run_id)
        except NotFoundError:
            return False
        pid = _run_process_pid()
        if status in ACTIVE_RUN_STATES and pid is not None and ledger.parse_owner(owner)[1] == pid:
            self._cancel_in_window(run_id)  # the app's run process has it: a run the editor started
            return True
        return False


def _run_process_pid() -> int | None:
    from wfdesk.runs import child_client

    process = child_client._process  # the app's one run process (child_client has no public accessor for it)
    return process.proc.pid if process is not None and process.alive() else None


class AppApiServer:
    def __init__(self, workspace: Callable[[], Workspace], *, in_process: bool = False,
                 window_runs: _WindowRuns | None = None) -> None:
        self._workspace = workspace
        self._window_runs = window_runs
        self._in_process = in_process  # the window runs steps in its own process (WFDESK_RUNS_IN_PROCESS=1)
        self._server: ApiServer | None = None
        self._runner: StepRunner | None = None
        self._serving: tuple[int, tuple[str, ...]] | None = None  # (port, origins) it serves with
        self.url: str | None = None

    def apply(self, settings: Settings) -> str | None:
        """Start, stop or restart to match the settings. Returns a message for the status bar, or None."""
        wanted = (settings.api_port, tuple(settings.api_cors_origins)) if settings.api_enabled else None
        if wanted == self._serving:
            return None
        self.stop()
        if wanted is None:
            return None
        from wfdesk.api.app import create_app
        from wfdesk.api.runner import InProcessRunner
        from wfdesk.api.serve import cors_origins
        from wfdesk.api.server import ApiServer
        from wfdesk.api.token import TokenUnavailableError, current_token

        try:
            current_token()  # made now (and kept in the keyring) if there is none yet
        except TokenUnavailableError as exc:
            return f"Other apps cannot run steps: {exc}"
        runner: StepRunner
        if self._in_process:
            runner = InProcessRunner(self._workspace)
        else:
            window_runs = self._window_runs
            runner = WindowRunner(self._workspace, window_runs.cancel.emit if window_runs else lambda _rid: None)
        app = create_app(runner, current_token, cors_origins=cors_origins(settings.api_cors_origins, []))
        try:
            server = ApiServer(app, HOST, settings.api_port).start_in_thread()
        except (OSError, RuntimeError) as exc:
            log.warning("the API cannot listen on port %s: %s", settings.api_port, exc)
            return (f"Other apps cannot run steps: port {settings.api_port} is in use or not allowed "
                    "(choose another in Settings → Other apps)")
        self._server, self._runner, self._serving, self.url = server, runner, wanted, server.url
        log.info("serving the API on %s", server.url)
        return f"Other apps can run steps at {server.url}"

    def stop(self) -> None:
        """Requests still waiting get cut after 2 s; runs the API started are cancelled (resumable)."""
        server, runner = self._server, self._runner
        self._server, self._runner, self._serving, self.url = None, None, None, None
        if runner is not None:
            runner.cancel_all()
        if server is not None:
            server.stop()
        if runner is not None:
            runner.shutdown(timeout_s=1.0)

    @property
    def running(self) -> bool:
        return self._server is not None


_shared: AppApiServer | None = None
_owner: ServedWindow | None = None
_window_runs: _WindowRuns | None = None  # made on the GUI thread, so its queued signal reaches the window there


def _served_workspace() -> Workspace:
    """The newest window's workspace: a window serves the API once its database is open."""
    ws = _owner.ws if _owner is not None else None
    if ws is None:
        raise RuntimeError("no window has a database open")
    return ws


def serve_for(window: ServedWindow, settings: Settings, *, in_process: bool = False) -> str | None:
    """One server per app, serving the newest window's workspace (a window opened on another database takes it
    over before the old one closes, on the same port). Returns a message for the status bar, or None."""
    global _shared, _owner, _window_runs
    if _window_runs is None:
        _window_runs = _WindowRuns()
    if _owner is not window:
        if _owner is not None and (old_runs := _owner.runs) is not None:
            _window_runs.cancel.disconnect(old_runs.cancel)
        if (runs := window.runs) is not None:
            _window_runs.cancel.connect(runs.cancel)
    if _shared is None or _shared._in_process != in_process:
        if _shared is not None:
            _shared.stop()
        _shared = AppApiServer(_served_workspace, in_process=in_process, window_runs=_window_runs)
    _owner = window
    return _shared.apply(settings)


def release(window: ServedWindow) -> None:
    """The window closes: the server stops unless another window took it over."""
    global _shared, _owner
    if _shared is not None and _owner is window:
        _shared.stop()
        if (runs := window.runs) is not None and _window_runs is not None:
            _window_runs.cancel.disconnect(runs.cancel)
        _shared, _owner = None, None
