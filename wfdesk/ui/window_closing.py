"""What closing the main window waits for: the editor's word on runs still going, and the background reads whose
answers must reach their widgets before those go."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QWidget

from wfdesk.ui import worker


def confirm_stop_runs(window: QWidget, count: int, waiting: int = 0) -> bool:
    """The editor's word before quitting cancels `count` runs and drops `waiting` posts of batches (never started)."""
    if not count and not waiting:
        return True
    from PySide6.QtWidgets import QMessageBox

    parts = []
    if count:
        parts.append(f"{count} {'run is' if count == 1 else 'runs are'} in progress")
    if waiting:
        parts.append("1 post of a batch is waiting its turn" if waiting == 1
                     else f"{waiting} posts of batches are waiting their turn")
    if count and waiting:
        question = f"Cancel the {'run' if count == 1 else 'runs'} and quit? The waiting posts will not be run."
    elif waiting:
        question = f"Quit without running {'it' if waiting == 1 else 'them'}?"
    else:
        question = f"Cancel {'it' if count == 1 else 'them'} and quit?"
    answer = QMessageBox.question(window, "Runs in progress", f"{' and '.join(parts)}. {question}",
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
