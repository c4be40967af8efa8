"""The section commands of the sections view: add, rename, move, delete a section, add a field column.

Each goes through the window's QUndoStack as a command over wfdesk.services.editing (section_commands), so it can
be undone; SectionsView inherits these and the commands call back `after_change` / `report` on it.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QInputDialog, QMessageBox, QTableWidgetItem, QWidget

from wfdesk.errors import WfdeskError
from wfdesk.ui.db_errors import describe_db_error, edit_errors
from wfdesk.ui.sections_table import COL_TITLE, SectionsTable

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


def _commands() -> ModuleType:
    """The undo commands (they import the engine): loaded on the first edit, by when the engine is loaded."""
    from wfdesk.ui import section_commands

    return section_commands


class SectionEditCommands(QWidget):
    """A part of SectionsView (a QWidget: the parent of its dialogs)."""

    # Set by SectionsView.
    ws: Workspace | None
    undo_stack: QUndoStack
    post_id: int
    table: SectionsTable
    detail: dict[str, Any] | None
    target: dict[str, Any] | None
    _filling: bool
    _generation: int
    _extra_fields: list[str]
    _reselect: tuple[int, str | None] | None
    changed: SignalInstance
    post_requested: SignalInstance

    if TYPE_CHECKING:  # SectionsView's, called from here
        def current_section(self) -> dict[str, Any] | None: ...
        def section_at(self, row: int) -> dict[str, Any] | None: ...
        def field_names(self) -> list[str]: ...
        def reload(self) -> None: ...
        def _show_target(self) -> None: ...
        def _loaded(self, generation: int, detail: dict[str, Any] | None) -> None: ...

    def workspace(self) -> Workspace:
        """The open workspace. Sections are edited on a shown post, so only once the database is open."""
        if self.ws is None:
            raise RuntimeError("the sections view has no database open")
        return self.ws

    def add_section(self) -> None:
        if not self.post_id:
            return
        self._run(_commands().AddSectionCommand(self, self.post_id, "New section"))

    def rename_current(self) -> None:
        section = self.current_section()
        if section is not None:
            self.table.edit_title(self.table.currentRow())

    def _item_edited(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != COL_TITLE:
            return
        section = self.section_at(item.row())
        if section is None or item.text().strip() == section["title"]:
            return
        self._run(_commands().RenameSectionCommand(self, section["id"], section["title"], item.text().strip()))

    def move_current(self, delta: int) -> None:
        section = self.current_section()
        if section is None:
            return
        row = self.table.currentRow()
        if not 0 <= row + delta < self.table.rowCount():
            return
        self._run(_commands().MoveSectionCommand(self, section["id"], delta))

    def delete_current(self) -> None:
        section = self.current_section()
        if section is None:
            return
        answer = QMessageBox.question(
            self, "Delete section",
            f"Delete section “{section['title'] or '(untitled)'}” and its field text?\n\n"
            "You can bring it back with Edit → Undo (Ctrl+Z).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            if self.target is not None and self.target["section_id"] == section["id"]:
                self.target = None
                self._show_target()
            self._run(_commands().DeleteSectionCommand(self, section["id"], section["title"]))

    def add_field_column(self) -> None:
        from wfdesk.services import editing, queries

        existing = set(self.field_names())
        try:
            suggestions = [n for n in queries.step_field_names(self.workspace()) if n not in existing]
        except edit_errors():
            suggestions = []
        name, ok = QInputDialog.getItem(self, "Add field", "Field name (letters, digits and _):",
                                        suggestions, 0, True)
        if not ok or not name.strip():
            return
        try:
            name = editing.check_field_name(name)
        except WfdeskError as exc:
            QMessageBox.warning(self, "Add field", str(exc))
            return
        if name not in existing:
            self._extra_fields.append(name)
        section = self.current_section() or self.section_at(0)
        self._reselect = (section["id"], name) if section else None
        self._loaded(self._generation, self.detail)

    def _run(self, command: QUndoCommand) -> None:
        """Push a command. One that failed (the database is gone, the section was deleted elsewhere) has shown
        its message and made itself obsolete, so the stack drops it."""
        self.undo_stack.push(command)

    def after_change(self, select: tuple[int, str | None] | None = None, post_id: int | None = None) -> None:
        """Show the result of an edit; an undo of an edit made on another post brings that post up first."""
        if select is not None:
            self._reselect = select
        if post_id and post_id != self.post_id:
            self.post_requested.emit(post_id)
            return
        self.reload()
        self.changed.emit()

    def report(self, what: str, exc: Exception) -> None:
        from wfdesk.errors import NotFoundError

        log.warning("%s failed: %s", what, exc)
        # "Section 711 does not exist" names an id: say what happened instead.
        why = "it no longer exists (deleted, perhaps by someone else)" if isinstance(exc, NotFoundError) \
            else describe_db_error(exc)
        QMessageBox.warning(self, what, f"{what} failed: {why}")
