"""The runs view (View → Runs, or a click on the status bar's run count) and batches of runs over many posts.

`RunsHub` is the main window's one entry point: it owns the batch queue and the runs window, made on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from wfdesk.ui.runs_view.batch import BatchQueue
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.ui.main_window import MainWindow


class RunsHub(QObject):
    def __init__(self, main: MainWindow) -> None:
        super().__init__(main)
        self.main = main
        self.queue: BatchQueue | None = None
        self.window: Any = None

    def _ensure(self) -> Any:
        from wfdesk.ui.runs_view.window import RunsWindow

        if self.queue is None or self.queue.runs is not self.main.runs:
            self.queue = BatchQueue(self.main.runs, self)
        if self.window is None or self.window.ws is not self.main.ws or self.window.batches is not self.queue:
            if self.window is not None:
                self.window.close()
                self.window.deleteLater()
            self.window = RunsWindow(self.main.ws, self.main.runs, self.queue, self.main)
            self.window.open_requested.connect(self._open_in_main)
        return self.window

    def show(self) -> Any:
        window = self._ensure()
        window.show()
        window.raise_()
        window.activateWindow()
        return window

    def run_on_posts(self, posts: list[tuple[int, str]]) -> None:
        """Ask which step, then queue it on every post as one batch and show it in the runs view."""
        from wfdesk.services import queries, run_history

        ws, ids = self.main.ws, [pid for pid, _ in posts]
        if ws is None:
            return
        (BackgroundOp(lambda: (queries.list_steps(ws), run_history.section_ids_of(ws, ids)))
         .success(lambda found: self._ask(posts, *found))
         .failure(self._steps_unread)
         .run_in_background())

    def _steps_unread(self, exc: Exception) -> None:
        QMessageBox.warning(self.main, "Batch not started", f"Could not read the steps: {exc}")

    def _ask(self, posts: list[tuple[int, str]], steps: list[dict[str, Any]], sections: dict[int, list[int]]) -> None:
        from wfdesk.ui.runs_view.batch_dialog import BatchDialog

        dialog = BatchDialog(posts, steps, self.main)
        if dialog.exec() != BatchDialog.DialogCode.Accepted:
            return
        step_id, step_name = dialog.chosen_step()
        self._ensure()
        assert self.queue is not None
        batch = self.queue.submit(step_id, step_name, posts, sections)
        self.main.statusBar().showMessage(f"Batch {batch.id}: “{step_name}” queued on {len(posts)} posts", 8000)
        self.show()

    def _open_in_main(self, post_id: int, step_id: int) -> None:
        main = self.main
        main.show_post(post_id)
        if step_id:
            main.steps.select_step(step_id)
        main.raise_()
        main.activateWindow()
