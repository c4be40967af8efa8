"""The states of a run and of its units (one unit per section), in one place for every layer.

The database stores these values, the engine and the run process send them, the CLI prints them and the window
shows them: a new state is added here. They are `StrEnum`s, so a value read from the database or from a JSON
message compares equal to its member. The finished unit states are the reference's result statuses
(`success` / `error` / `cancelled`); a run's own end is one word for the whole run (`succeeded`, `partial`...).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # some sections succeeded, others failed
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process ended before the run did (crash, kill, closed app): resumable


class UnitState(StrEnum):
    QUEUED = "queued"  # planned; the row's state until its end is written
    RUNNING = "running"  # announced while it runs; never written (a unit's row is written once, when it ends)
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its end could not be written (the app closed, the database went away)
    UNFINISHED = "unfinished"  # shown, never stored: the section's latest run ended without finishing it


class StepState(StrEnum):
    """Where a step stands for one post, as the step list shows it (from its latest run and images to review)."""
    NEVER = "never"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    PARTIAL = "partial"
    CANCELLED = "cancelled"
    REVIEW = "review"  # candidates wait for the editor's accept or reject
    INTERRUPTED = "interrupted"


STEP_STATE_OF_RUN = {RunState.QUEUED: StepState.RUNNING, RunState.RUNNING: StepState.RUNNING,
                     RunState.SUCCEEDED: StepState.DONE, RunState.PARTIAL: StepState.PARTIAL,
                     RunState.FAILED: StepState.FAILED, RunState.CANCELLED: StepState.CANCELLED,
                     RunState.INTERRUPTED: StepState.INTERRUPTED}

ACTIVE_RUN_STATES = frozenset({RunState.QUEUED, RunState.RUNNING})
FINAL_RUN_STATES = frozenset(RunState) - ACTIVE_RUN_STATES
# Run states that may leave sections to run again (Resume).
RESUMABLE_RUN_STATES = frozenset({RunState.INTERRUPTED, RunState.CANCELLED, RunState.FAILED, RunState.PARTIAL})

FINAL_UNIT_STATES = frozenset({UnitState.SUCCESS, UnitState.ERROR, UnitState.CANCELLED})
# Units that count as progress: a cancelled one was skipped, not worked on.
WORKED_ON_UNIT_STATES = frozenset({UnitState.SUCCESS, UnitState.ERROR})


def overall_run_state(unit_states: Iterable[str], error: str | None = None) -> RunState:
    """A run's end from its units' ends (an error of the run itself fails it)."""
    states = list(unit_states)
    if error or not states:
        return RunState.FAILED
    if all(st == UnitState.SUCCESS for st in states):
        return RunState.SUCCEEDED
    if UnitState.CANCELLED in states and UnitState.ERROR not in states:
        return RunState.CANCELLED
    if UnitState.SUCCESS in states:
        return RunState.PARTIAL
    return RunState.FAILED
