"""The engine as the scripts layer sees it: a binding, not an import.

The reference's `execute_step_script(step_id, post_id, context)` and a SectionHandler called as a plain
`handler(step_config, post_id, context)` both run the engine, which sits a layer above the registry (wfdesk.runs).
The engine binds itself here when it is imported (wfdesk.runs.engine, which every process that runs steps loads:
the window's run process, the CLI, the HTTP API, the team's workers); the scripts layer only calls what was bound.
A script that imported only the registry (the reference's way) gets the engine the package ships, loaded by name on
first use: the scripts layer never imports it at import time, so the layers hold and the window's start stays light.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace


class StepRunner(Protocol):
    """What the scripts layer asks of the engine."""

    def execute_step(self, ws: Workspace, step_id: int, post_id: int, context: dict[str, Any],
                     **options: Any) -> dict[str, Any]:
        """A saved step on a post (effective config = step, then the post's override, then the context)."""
        ...

    def run_config(self, ws: Workspace, step_config: dict[str, Any], post_id: int, context: dict[str, Any],
                   step_name: str) -> dict[str, Any]:
        """A step config given as is (not a saved step) on a post."""
        ...


class NoStepRunnerError(RuntimeError):
    """No engine is bound and the one the package ships did not bind itself when loaded."""


DEFAULT_ENGINE = "wfdesk.runs.engine"


_runner: StepRunner | None = None
_lock = threading.Lock()


def set_step_runner(runner: StepRunner | None) -> StepRunner | None:
    """Bind the engine (None unbinds); returns the one bound before, so a test can put it back."""
    global _runner
    with _lock:
        before, _runner = _runner, runner
    return before


def step_runner() -> StepRunner:
    runner = _runner
    if runner is None:
        importlib.import_module(DEFAULT_ENGINE)  # binds itself on import
        runner = _runner
    if runner is None:
        raise NoStepRunnerError(f"No engine is bound to run steps in this process ({DEFAULT_ENGINE} did not bind "
                                "itself when loaded)")
    return runner
