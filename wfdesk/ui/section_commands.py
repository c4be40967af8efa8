"""The undoable section edits of SectionsView: each runs a wfdesk.services.editing function and reloads the view.

Imported on the first edit (the engine is loaded by then), never before the window's first paint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtGui import QUndoCommand
from sqlalchemy.exc import SQLAlchemyError

from wfdesk.errors import WfdeskError
from wfdesk.services import editing

if TYPE_CHECKING:
    from wfdesk.services.shapes import SectionSnapshot
    from wfdesk.ui.sections_view import SectionsView
    from wfdesk.workspace import Workspace

T = TypeVar("T")


class _Command(QUndoCommand):
    """Runs a database edit; an error is shown and the command marks itself failed (it did nothing)."""

    def __init__(self, view: SectionsView, text: str) -> None:
        super().__init__(text)
        self.view = view
        self.post_id = view.post_id  # the post it edits, which may no longer be the one shown
        self.failed = False

    def _changed(self, select: tuple[int, str | None] | None = None) -> None:
        self.view.after_change(select, post_id=self.post_id)

    @property
    def ws(self) -> Workspace:
        """The view's workspace as the command runs (the view may have switched databases since)."""
        return self.view.workspace()

    def _do(self, what: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except (WfdeskError, SQLAlchemyError) as exc:
            self.failed = True
            self.setObsolete(True)
            self.view.report(what, exc)
            return None


class AddSectionCommand(_Command):
    def __init__(self, view: SectionsView, post_id: int, title: str) -> None:
        super().__init__(view, "Add section")
        self.post_id, self.title = post_id, title
        self.section_id: int | None = None
        self.snapshot: SectionSnapshot | None = None

    def redo(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            self.section_id = self._do("Adding a section",
                                       lambda: editing.add_section(self.ws, self.post_id, self.title))
            if self.section_id is not None:
                self._changed((self.section_id, None))
                self.view.rename_after_load(self.section_id)
            return
        self.section_id = self._do("Adding the section again", lambda: editing.restore_section(self.ws, snapshot))
        self._changed((self.section_id, None) if self.section_id else None)

    def undo(self) -> None:
        section_id = self.section_id
        if section_id is None or self.failed:
            return
        self.snapshot = self._do("Removing the added section", lambda: editing.delete_section(self.ws, section_id))
        self._changed()


class RenameSectionCommand(_Command):
    def __init__(self, view: SectionsView, section_id: int, old: str, new: str) -> None:
        super().__init__(view, f"Rename section to “{new}”")
        self.section_id, self.old, self.new = section_id, old, new

    def redo(self) -> None:
        self._do("Renaming the section", lambda: editing.rename_section(self.ws, self.section_id, self.new))
        self._changed()

    def undo(self) -> None:
        if not self.failed:
            self._do("Renaming the section back",
                     lambda: editing.rename_section(self.ws, self.section_id, self.old))
        self._changed()


class MoveSectionCommand(_Command):
    def __init__(self, view: SectionsView, section_id: int, delta: int) -> None:
        super().__init__(view, "Move section " + ("up" if delta < 0 else "down"))
        self.section_id, self.delta, self.moved = section_id, delta, 0

    def redo(self) -> None:
        self.moved = self._do("Moving the section",
                              lambda: editing.move_section(self.ws, self.section_id, self.delta)) or 0
        self._changed((self.section_id, self.view._current_key_field()))

    def undo(self) -> None:
        if self.moved:
            self._do("Moving the section back",
                     lambda: editing.move_section(self.ws, self.section_id, -self.moved))
        self._changed((self.section_id, self.view._current_key_field()))


class DeleteSectionCommand(_Command):
    def __init__(self, view: SectionsView, section_id: int, title: str) -> None:
        super().__init__(view, f"Delete section “{title}”")
        self.section_id = section_id
        self.snapshot: SectionSnapshot | None = None

    def redo(self) -> None:
        self.snapshot = self._do("Deleting the section",
                                 lambda: editing.delete_section(self.ws, self.section_id))
        self._changed()

    def undo(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            return
        restored = self._do("Restoring the section", lambda: editing.restore_section(self.ws, snapshot))
        if restored is not None:
            self.section_id = restored
        self._changed((self.section_id, None))


class EditFieldCommand(_Command):
    """The save already happened when this is pushed; undo re-accepts the previous version, redo this one."""

    def __init__(self, view: SectionsView, post_id: int, section_id: int, field: str, version_id: int,
                 previous_version_id: int | None, label: str | None = None) -> None:
        super().__init__(view, f"Edit “{label or field}”")
        self.post_id, self.section_id, self.field = post_id, section_id, field
        self.version_id, self.previous = version_id, previous_version_id
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self._do("Redoing the edit", lambda: editing.accept_field_version(self.ws, self.version_id))
        self._changed()

    def undo(self) -> None:
        previous = self.previous
        if previous is not None:
            self._do("Undoing the edit", lambda: editing.accept_field_version(self.ws, previous))
        else:
            self._do("Undoing the edit", lambda: editing.withdraw_field_version(self.ws, self.version_id))
        self._changed()
