"""What the runs view's buttons do, and when each can be used (with the reason in its tooltip when not)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wfdesk.ui.runs_view.window import RunsWindow

# Context keys a new run must not inherit from the one it repeats.
NOT_REPEATED = ("section_ids", "resume_run")


def button_states(window: RunsWindow) -> dict[str, tuple[bool, str]]:
    off = "Choose a run first."
    states = {name: (False, off) for name in ("cancel", "cancel_batch", "resume", "again", "open")}
    target = window._target
    if target is None:
        return states
    in_batch = _batch_of(window)
    if in_batch is not None and not in_batch.finished:
        states["cancel_batch"] = (True, f"Stop every post of batch {in_batch.id} that has not finished")
    item = window._batch_item()
    if item is not None and item.waiting:
        states["cancel"] = (True, "Take this post out of the batch")
    detail = window.detail.detail
    if detail is None or detail.run.id != window._run_id_of_target():
        return states
    run = detail.run
    active = window.is_active(detail)
    if window.is_active_here(run.id):
        states["cancel"] = (True, "Stop the sections still waiting; answers that arrive later are thrown away")
    elif active:  # cancel anywhere: the process that executes it stops it within seconds
        states["cancel"] = (True, "Ask the computer running it to stop; sections already finished are kept")
    else:
        states["cancel"] = (False, "This run has ended")
    if active:
        why = "Wait until the run has ended"
        states["resume"] = states["again"] = (False, why)
    else:
        if detail.resumable and run.post_id is not None:
            states["resume"] = (True, "Run again, in this run, the sections that did not finish")
        else:
            states["resume"] = (False, "Every section of this run finished" if run.post_id is not None
                                else "Its post was deleted")
        if detail.failed_section_ids and run.step_id is not None and run.post_id is not None:
            n = len(detail.failed_section_ids)
            states["again"] = (True, f"A new run of the step on the {n} failed section{'s' if n != 1 else ''}")
        else:
            states["again"] = (False, "No section of this run failed" if run.step_id and run.post_id
                               else "Its step or its post was deleted")
    states["open"] = ((True, "Show the post and the step in the main window") if run.post_id is not None
                      else (False, "Its post was deleted"))
    return states


def _batch_of(window: RunsWindow) -> Any:
    target = window._target
    if target is None:
        return None
    if target[0] in ("batch", "item"):
        return window.batches.batch(target[1])
    found = window.batches.item_of_run(target[1])
    return found[0] if found else None


def cancel(window: RunsWindow) -> None:
    item = window._batch_item()
    run_id = window._run_id_of_target()
    found = window.batches.item_of_run(run_id) if run_id is not None else None
    if item is not None and window._target is not None:
        window.batches.cancel_item(window._target[1], item.post_id)
    elif found is not None:
        window.batches.cancel_item(found[0].id, found[1].post_id)
    elif run_id is not None and not window.is_active_here(run_id):
        cancel_elsewhere(window)
        return
    elif run_id is not None:
        window.runs.cancel(run_id)
    window.message.setText("Cancelling…" if run_id is not None else "Taken out of the batch.")
    window._update_buttons()


def whose(started_by: str, mine: bool) -> str:
    """ "your" or "Ana's", from "ana@her-laptop"."""
    if mine:
        return "your"
    name = started_by.split("@", 1)[0] or started_by
    return f"{name[:1].upper()}{name[1:]}'s"


def cancel_elsewhere(window: RunsWindow) -> None:
    """A run another process executes (a colleague's window, a terminal, a team worker): after the editor confirms,
    the cancel is recorded in the ledger and that process stops the run (wfdesk.runs.run_cancel)."""
    import shiboken6
    from PySide6.QtWidgets import QMessageBox

    from wfdesk.runs import run_cancel
    from wfdesk.ui.worker import BackgroundOp

    detail = window.detail.detail
    if detail is None:
        return
    run = detail.run
    on = f" on “{run.post_title}”" if run.post_title else ""
    question = f"Stop {whose(run.started_by, run.mine)} run of {run.step_name}{on}?"
    answer = QMessageBox.question(window, "Stop run", f"{question}\n\nSections already finished are kept.",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    if answer != QMessageBox.StandardButton.Yes:
        return
    ws, run_id = window.ws, run.id
    window.buttons["cancel"].setEnabled(False)
    window.message.setText(f"Asking run #{run_id} to stop…")

    def done(outcome: run_cancel.CancelOutcome) -> None:
        if not shiboken6.isValid(window):
            return
        window.message.setText(f"Run #{run_id} is stopping; finished sections are kept." if outcome.requested
                               else f"Run #{run_id} cancelled.")
        window._refresh_all()

    def failed(exc: Exception) -> None:
        if not shiboken6.isValid(window):
            return
        window.message.setText(f"Run #{run_id} could not be stopped: {exc}")
        window._update_buttons()

    BackgroundOp(lambda: run_cancel.request_cancel(ws, run_id)).success(done).failure(failed).run_in_background()


def cancel_batch(window: RunsWindow) -> None:
    batch = _batch_of(window)
    if batch is not None:
        window.batches.cancel_batch(batch.id)
        window.message.setText(f"Cancelling batch {batch.id}…")


def resume(window: RunsWindow) -> None:
    detail = window.detail.detail
    if detail is None:
        return
    run = detail.run
    window.runs.resume(run.id, step_id=run.step_id, post_id=run.post_id)
    window.message.setText(f"Resuming run #{run.id}…")
    window.buttons["resume"].setEnabled(False)


def run_failed_again(window: RunsWindow) -> None:
    detail = window.detail.detail
    if detail is None or detail.run.step_id is None or detail.run.post_id is None:
        return
    context = {k: v for k, v in detail.context.items() if k not in NOT_REPEATED}
    context["section_ids"] = detail.failed_section_ids
    window.runs.start(detail.run.step_id, detail.run.post_id, context)
    n = len(detail.failed_section_ids)
    window.message.setText(f"Running “{detail.run.step_name}” again on {n} failed section{'s' if n != 1 else ''}…")
    window.buttons["again"].setEnabled(False)
