"""What closing the main window waits for: the editor's word on runs still going, and the background reads whose
answers must reach their widgets before those go."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget

from wfdesk.ui import worker


def confirm_stop_runs(window: QWidget, count: int) -> bool:
    if not count:
        return True
    from PySide6.QtWidgets import QMessageBox

    noun = "run is" if count == 1 else "runs are"
    answer = QMessageBox.question(window, "Runs in progress",
                                  f"{count} {noun} in progress. Cancel {'it' if count == 1 else 'them'} and quit?",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def drain_background_ops(rounds: int = 5, drop_queued: bool = True) -> None:
    """Wait for background reads and deliver their answers while their widgets still exist; an answer may
    start a follow-up read (a list, then the selected item's detail), hence a few rounds."""
    from PySide6.QtCore import QThreadPool

    for _ in range(rounds):
        if drop_queued:
            worker.shutdown()
        else:
            QThreadPool.globalInstance().waitForDone(5000)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.MetaCall)
        if not worker.running_ops():
            return
