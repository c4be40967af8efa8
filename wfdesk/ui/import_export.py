"""The File menu's imports and exports: everything (posts, sections, steps, LLM actions) as one JSON file, here;
drafts in and posts out (wfdesk.ui.content_io); the workflow alone (wfdesk.ui.workflow_transfer).

Made with the window's shell, so the engine is imported only when one of them runs; the work runs in BackgroundOps
and wfdesk.services.exchange holds the database transaction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:
    from wfdesk.ui.main_menus import MenuActions
    from wfdesk.ui.main_window import MainWindow


class ImportExport(QObject):
    """File → Import everything… and Export everything…, with the outcome in the status bar or a message."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def add_actions(self, actions: MenuActions, file: QMenu) -> None:
        """The File menu's import and export items, in their groups."""
        window = self.window
        actions.add(file, "&Import everything…", self.import_json, None, "import").setStatusTip(
            "Adds posts with their sections, steps and LLM actions from a file made by Export everything")
        actions.add(file, "&Export everything…", self.export_json, None, "export").setStatusTip(
            "Saves posts, sections, steps and LLM actions to one file (a backup, or a move to another database)")
        file.addSeparator()
        # Drafts in, posts out (wfdesk.ui.content_io also takes files dropped on the window and pasted drafts).
        actions.add(file, "New post from &file…", window.content_io.new_post_from_file, None, "import").setStatusTip(
            "Makes a post from a Markdown, Word or HTML draft: a section per heading")
        actions.add(file, "Export p&ost…", window.content_io.export_current_post, None, "export").setStatusTip(
            "Writes the current post as Markdown, an HTML page or a page bundle, with its accepted images")
        file.addSeparator()
        transfer = window.transfer
        actions.add(file, "Export &workflow…", transfer.export_all, None, "export").setStatusTip(
            "Saves only the steps and LLM actions, no posts, to reuse the workflow elsewhere")
        actions.add(file, "Import wor&kflow…", transfer.import_file, None, "import").setStatusTip(
            "Adds the steps and LLM actions of a workflow file after yours; no posts are imported or changed")
        actions.add(file, "Add the &reference workflow", lambda: transfer.add_template("reference"), None, "add")

    def import_json(self) -> None:
        ws = self.window.ws
        if ws is None:
            return
        path, _ = QFileDialog.getOpenFileName(self.window, "Import steps, actions and posts", "", "JSON (*.json)")
        if not path:
            return

        def run() -> dict[str, int]:
            from wfdesk.services.exchange import import_everything
            from wfdesk.services.transfer import read_json

            data = read_json(Path(path).read_bytes())  # refuses what is not JSON or nested too deeply, in words
            return import_everything(ws, data)

        self.window.statusBar().showMessage(f"Importing {path}…")
        (BackgroundOp(run).success(self._imported).failure(lambda exc: self._failed("Import", exc))
         .run_in_background())

    def _imported(self, counts: dict[str, int]) -> None:
        from wfdesk.ui.workflow_transfer import import_summary

        self.window.statusBar().showMessage(f"Imported {import_summary(counts)}.", 8000)

    def export_json(self) -> None:
        ws = self.window.ws
        if ws is None:
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Export everything as JSON", "wfdesk-export.json",
                                              "JSON (*.json)")
        if not path:
            return

        def run() -> str:
            from wfdesk.fileio import atomic_write_bytes
            from wfdesk.services.exchange import export_everything

            data = export_everything(ws)
            atomic_write_bytes(Path(path), json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))
            return path

        (BackgroundOp(run).success(lambda p: self.window.statusBar().showMessage(f"Exported to {p}.", 8000))
         .failure(lambda exc: self._failed("Export", exc)).run_in_background())

    def _failed(self, what: str, exc: Exception) -> None:
        self.window.statusBar().clearMessage()
        QMessageBox.warning(self.window, what, f"{what} failed: {exc}")
