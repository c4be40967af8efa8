"""Saving the sections view's field editor: a new version of the field, undoable, and what to do when someone
else (or a run) saved the field first. SectionsView inherits these.

With the window's ChangeHub (`watch`), the view refreshes when anyone's change touches its post (a colleague's
save shows in the editor unless it holds unsaved text), says which field its editor is in, and names the
colleagues editing the field open in it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QAbstractItemView, QMessageBox, QWidget

from wfdesk.ui.db_errors import describe_db_error, edit_errors
from wfdesk.ui.field_text_editor import FieldTextEditor, resolve_conflict
from wfdesk.ui.section_edit_commands import _commands

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QPlainTextEdit

    from wfdesk.errors import ConflictError
    from wfdesk.services.changes import Changes, FieldRef
    from wfdesk.ui.change_hub import ChangeHub
    from wfdesk.ui.sections_table import SectionsTable
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)
RELOAD_RETRY_MS = 300  # a colleague's change heard while a title is typed here: shown once the typing is done


class FieldSaving(QWidget):
    """A part of SectionsView (a QWidget: the parent of its dialogs and timers)."""

    # Set by SectionsView.
    ws: Workspace | None
    undo_stack: QUndoStack
    post_id: int
    field_editor: FieldTextEditor
    editor: QPlainTextEdit
    target: dict[str, Any] | None
    message: SignalInstance
    table: SectionsTable

    if TYPE_CHECKING:  # SectionsView's, called from here
        def workspace(self) -> Workspace: ...
        def is_dirty(self) -> bool: ...
        def label_of(self, field: str) -> str: ...
        def reload(self) -> None: ...
        def after_change(self, select: tuple[int, str | None] | None = None, post_id: int | None = None) -> None: ...
        def _update_editor_state(self) -> None: ...

    def watch(self, hub: ChangeHub) -> None:
        """Hear the window's changes and presence from now on."""
        hub.changed.connect(self._changes_heard)
        hub.presence_changed.connect(self.field_editor.show_editors)
        self.field_editor.focus_changed.connect(lambda focused: self._focus_changed(hub, focused))
        self.field_editor.editors_of = lambda target: hub.editors_of(self._field_ref(target))

    def _changes_heard(self, changes: Changes) -> None:
        if self.post_id and changes.touches_content_of(self.post_id):
            self._reload_when_idle()

    def _reload_when_idle(self) -> None:
        """Reload, but never under a section title being typed in the table (refilling it would drop the typing):
        then once the editor has finished with it."""
        editing = QAbstractItemView.State.EditingState
        if editing not in (self.table.state(), self.table.frozen.state()):  # titles are typed in the frozen view
            self._reload_due = False
            self.reload()
        elif not getattr(self, "_reload_due", False):
            self._reload_due = True
            QTimer.singleShot(RELOAD_RETRY_MS, self, self._retry_reload)

    def _retry_reload(self) -> None:
        self._reload_due = False
        self._reload_when_idle()

    def _field_ref(self, target: dict[str, Any]) -> FieldRef:
        from wfdesk.services.changes import FieldRef

        return FieldRef(self.post_id, target["section_id"], target["field"])

    def _focus_changed(self, hub: ChangeHub, focused: bool) -> None:
        if self.target is not None and self.post_id:
            hub.editing(self._field_ref(self.target), focused)

    def maybe_save(self, allow_cancel: bool = True) -> bool:
        """Ask what to do with unsaved field text. False when the editor chose Cancel."""
        target = self.target
        if target is None or not self.is_dirty():  # without a target, nothing is dirty
            return True
        buttons = QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
        if allow_cancel:
            buttons |= QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(self, "Unsaved text",
                                      f"The text of “{self.label_of(target['field'])}” is not saved. "
                                      "Save it now?",
                                      buttons, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_field()
        if answer == QMessageBox.StandardButton.Discard:
            target["original"] = self.editor.toPlainText()  # forget the edit without another prompt
            return True
        return False

    def save_field(self) -> bool:
        """Save the editor's text as a new version. True when saved (or nothing to save)."""
        target = self.target
        if target is None or not self.is_dirty():
            return True
        from wfdesk.errors import ConflictError
        from wfdesk.services import editing

        text = self.editor.toPlainText()
        try:
            saved = editing.save_field(self.workspace(), self.post_id, target["section_id"], target["field"], text,
                                       target.get("lock_version"))
        except ConflictError as exc:
            return self._conflict(target, text, exc)
        except edit_errors() as exc:  # e.g. "database is locked" while a run writes: the text stays in the editor
            log.warning("saving %s failed: %s", target["field"], exc)
            QMessageBox.warning(self, "Not saved", f"Could not save: {describe_db_error(exc)}")
            return False
        target.update(lock_version=saved["lock_version"], original=text)
        self.field_editor.just_saved = True
        self.undo_stack.push(_commands().EditFieldCommand(self, self.post_id, target["section_id"], target["field"],
                                                          saved["version_id"], saved["previous_version_id"],
                                                          label=self.label_of(target["field"])))
        self._update_editor_state()
        self.message.emit(f"Saved “{self.label_of(target['field'])}” of “{target.get('section_title', '')}”.")
        self.after_change()
        return True

    def _conflict(self, target: dict[str, Any], mine: str, exc: ConflictError) -> bool:
        from wfdesk.services import queries

        try:
            current = queries.field_value(self.workspace(), self.post_id, target["section_id"], target["field"])
        except edit_errors() as read_exc:  # the text stays in the editor, unsaved: the editor can save again
            log.warning("reading the saved version of %s failed: %s", target["field"], read_exc)
            QMessageBox.warning(self, "Not saved", "The text changed elsewhere since you opened it, and the other "
                                f"version could not be read: {describe_db_error(read_exc)}")
            return False
        what = f"“{self.label_of(target['field'])}” of section “{target.get('section_title', '')}”"
        theirs: str | None = current["value"]
        if theirs is None and isinstance(exc.theirs, str):  # a field's conflict carries the field's text
            theirs = exc.theirs
        overwrite = resolve_conflict(self, what, mine, theirs)
        target.update(lock_version=current["lock_version"], original=current["value"] or "")
        if overwrite:
            return self.save_field()  # the editor still holds mine; their version stays in the history
        self.field_editor.set_text(current["value"] or "")
        self._update_editor_state()
        self.reload()
        return False
