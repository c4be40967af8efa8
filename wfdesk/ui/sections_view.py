"""The sections of the selected post: a table (position, title, a column per field) and a field text editor.

Every change goes through the window's QUndoStack as a command over wfdesk.services.editing, so add, rename, move,
delete and field edits can be undone; a field edit is undone by re-accepting the previous version (kept forever).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QFontDatabase, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from wfdesk.errors import WfdeskError
from wfdesk.ui.db_errors import describe_db_error, edit_errors
from wfdesk.ui.icons import icon
from wfdesk.ui.sections_table import COL_POS, COL_TITLE, FIRST_FIELD_COL, ID_ROLE, SectionsTable
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:  # the engine loads with the workspace, after the window's first paint
    from wfdesk.errors import ConflictError
    from wfdesk.workspace import Workspace

__all__ = ["COL_POS", "COL_TITLE", "FIRST_FIELD_COL", "ID_ROLE", "SectionsTable", "SectionsView", "preview"]
log = logging.getLogger(__name__)
FILL_SLICE = 10
PREVIEW_CHARS = 90
MIN_FIELD_WIDTH = 120


def _commands() -> ModuleType:
    """The undo commands (they import the engine): loaded on the first edit, by when the engine is loaded."""
    from wfdesk.ui import section_commands

    return section_commands


def preview(text: str | None) -> str:
    """One line of a field's text for a table cell."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    return flat if len(flat) <= PREVIEW_CHARS else flat[:PREVIEW_CHARS - 1] + "…"


def resolve_conflict(parent: QWidget, what: str, mine: str, theirs: str | None) -> bool:
    """Tell the editor someone else saved first; True when they choose to save their text over it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Changed by someone else")
    box.setText(f"{what} was changed by someone else (or by a run) while you were editing it.")
    box.setInformativeText("Both versions are kept in the field's history. Which one should the field show?")
    box.setDetailedText(f"Your version:\n{mine}\n\n――――――――\n\nTheir version:\n{theirs or '(empty)'}")
    theirs_button = box.addButton("Use their version", QMessageBox.ButtonRole.RejectRole)
    mine_button = box.addButton("Save mine over it", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(theirs_button)
    box.exec()
    return box.clickedButton() is mine_button


class SectionsView(QWidget):
    changed = Signal()  # sections or field text changed here (the step panel may want to refresh)
    loaded = Signal()
    message = Signal(str)
    post_requested = Signal(int)  # an undo/redo touched this post: the window should show it
    section_chosen = Signal(int)  # the editor moved to another section of the table (click, keys)

    def __init__(self, ws: Workspace | None, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ws = ws  # None while the window opens the database
        self.undo_stack = undo_stack
        self.post_id = 0
        self.detail: dict[str, Any] | None = None
        self._extra_fields: list[str] = []
        self._generation = 0
        self._reselect: tuple[int, str | None] | None = None
        self._rename_after_load: int | None = None
        self._just_saved = False
        self._title_sized = False
        self._filling = False
        # The field open in the editor: section id, field name, lock_version when loaded, text when loaded.
        self.target: dict[str, Any] | None = None

        self.heading = QLabel("Sections")
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.add_button = self._tool("add", "Add", "Add a section at the end", self.add_section)
        self.rename_button = self._tool("rename", "Rename", "Rename the selected section (F2)", self.rename_current)
        self.up_button = self._tool("up", "Move up", "Move the selected section up (Alt+Up)",
                                    lambda: self.move_current(-1))
        self.down_button = self._tool("down", "Move down", "Move the selected section down (Alt+Down)",
                                      lambda: self.move_current(1))
        self.delete_button = self._tool("delete", "Delete", "Delete the selected section (Del)",
                                        self.delete_current)
        self.field_button = self._tool("edit", "Add field…", "Add a field column (e.g. a step's input)",
                                       self.add_field_column)
        # A long post title must not widen the window: the heading gives way (elided by the layout).
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for button in (self.up_button, self.down_button):  # arrows say it; the tooltip names it
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            button.setAccessibleName(button.text())
        bar = QHBoxLayout()
        bar.setSpacing(4)
        for button in (self.add_button, self.rename_button, self.up_button, self.down_button, self.delete_button,
                       self.field_button):
            bar.addWidget(button)
        bar.addStretch(1)

        self.table = SectionsTable()
        self.empty_hint = QLabel()
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setEnabled(False)

        self.editor_label = QLabel()
        self.editor_label.setWordWrap(True)
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Field text")
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.GeneralFont))
        self.save_button = QPushButton(icon("save"), "Save")
        self.save_button.setToolTip("Save this field (Ctrl+S); the previous text stays in its history")
        self.discard_button = QPushButton("Discard changes")
        self.editor_state = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.editor_state, 1)
        buttons.addWidget(self.discard_button)
        buttons.addWidget(self.save_button)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.heading)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.empty_hint)
        top_layout.addWidget(self.table, 1)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.editor_label)
        bottom_layout.addWidget(self.editor, 1)
        bottom_layout.addLayout(buttons)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("sections_splitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([300, 200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self._shortcut("Move section up", "Alt+Up", lambda: self.move_current(-1))
        self._shortcut("Move section down", "Alt+Down", lambda: self.move_current(1))
        self._shortcut("Delete section", QKeySequence.StandardKey.Delete, self.delete_current, on=self.table)

        self.table.viewport().installEventFilter(self)
        self.table.currentCellChanged.connect(self._cell_changed)
        self.table.itemChanged.connect(self._item_edited)
        self.editor.textChanged.connect(self._update_editor_state)
        self.save_button.clicked.connect(self.save_field)
        self.discard_button.clicked.connect(self.discard_changes)
        self.table.setHorizontalHeaderLabels(["#", "Title"])
        self._update_hint()
        self._update_buttons()
        self._show_target()

    def _tool(self, icon_name: str, text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
        button = QToolButton()
        button.setIcon(icon(icon_name))
        button.setText(text)
        button.setToolTip(tip)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.clicked.connect(slot)
        return button

    def _shortcut(self, text: str, keys, slot: Callable[[], None], on: QWidget | None = None) -> QAction:
        action = QAction(text, on or self)
        action.setShortcut(QKeySequence(keys))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        (on or self).addAction(action)
        return action

    # --- loading ------------------------------------------------------------------------------------------

    def set_post(self, post_id: int, title: str = "") -> None:
        if post_id != self.post_id:
            self.maybe_save(allow_cancel=False)
            self.target = None
            self._extra_fields = []
            self._title_sized = False
            self.detail = None
            self.table.setRowCount(0)
            self._show_target()
        self.post_id = post_id
        self.heading.setText(f"Sections of “{title}”" if title else "Sections")
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        generation, ws, post_id = self._generation, self.ws, self.post_id
        if not post_id or ws is None:
            self._loaded(generation, None)
            return

        def load() -> dict[str, Any]:
            from wfdesk.db.field_labels import labels_by_field
            from wfdesk.services import queries

            detail = queries.post_detail(ws, post_id)
            names = detail["field_names"]
            # Columns in workflow order (each step's input, then its output), other fields after them; each
            # headed by the label the steps give the field.
            detail["labels"] = labels_by_field(queries.list_steps(ws))
            order = list(detail["labels"])
            detail["field_names"] = [n for n in order if n in names] + [n for n in names if n not in order]
            if not names:
                # A new post: offer the fields the workflow reads, so drafts can be typed at once.
                detail["suggested_fields"] = queries.step_field_names(ws, ("inputs",))
            return detail

        (BackgroundOp(load)
         .success(lambda detail: self._loaded(generation, detail))
         .failure(self._failed)
         .run_in_background())

    def _failed(self, exc: Exception) -> None:
        log.warning("loading sections failed: %s", exc)
        self.empty_hint.setText(f"Cannot read this post's sections: {describe_db_error(exc)}")
        self.empty_hint.show()

    def _loaded(self, generation: int, detail: dict[str, Any] | None) -> None:
        if generation != self._generation:
            return
        if detail is not None and detail["id"] != self.post_id:
            return
        self.detail = detail
        keep = self._reselect or self._current_key()
        self._reselect = None
        names = self.field_names()
        self._filling = True
        self.table.blockSignals(True)
        self.table.clearContents()
        self.table.setColumnCount(FIRST_FIELD_COL + len(names))
        self.table.setHorizontalHeaderLabels(["#", "Title", *map(self.label_of, names)])
        sections = detail["sections"] if detail else []
        self.table.setRowCount(len(sections))
        self.table.blockSignals(False)
        self._fill_rows(generation, sections, names, keep, 0)

    def _fill_rows(self, generation: int, sections: list[dict[str, Any]], names: list[str], keep: Any,
                   start: int) -> None:
        """Rows in slices of FILL_SLICE, each in its own turn of the event loop: a post of 200 sections never
        holds the window for the whole table (one item per cell costs about 30 µs)."""
        if generation != self._generation:
            return
        end = min(len(sections), start + FILL_SLICE)
        empty_font = QFont(self.table.font())
        empty_font.setItalic(True)
        empty_brush = self.palette().placeholderText()
        self.table.blockSignals(True)
        for row in range(start, end):
            self._fill_row(row, sections[row], names, empty_font, empty_brush)
        self.table.blockSignals(False)
        if end < len(sections):
            # Tied to this view: a table deleted meanwhile (the window closed) is not filled any further.
            QTimer.singleShot(0, self, lambda: self._fill_rows(generation, sections, names, keep, end))
            return
        self.table.blockSignals(True)
        self._size_columns()
        self._restore_current(keep if keep is not None or not sections else (sections[0]["id"], None))
        self.table.blockSignals(False)
        self._filling = False
        self._update_hint()
        self._sync_editor()
        self._update_buttons()
        if self._rename_after_load is not None:
            row, self._rename_after_load = self.row_of(self._rename_after_load), None
            if row >= 0:
                self.table.edit_title(row)
        self.loaded.emit()

    def _fill_row(self, row: int, section: dict[str, Any], names: list[str], empty_font: QFont,
                  empty_brush: Any) -> None:
        pos = QTableWidgetItem(str(row + 1))
        pos.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        pos.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        pos.setData(ID_ROLE, section["id"])
        self.table.setItem(row, COL_POS, pos)
        title = QTableWidgetItem(section["title"])
        title.setToolTip("Double-click (or F2) to rename")
        self.table.setItem(row, COL_TITLE, title)
        for col, name in enumerate(names, start=FIRST_FIELD_COL):
            value = section["fields"].get(name)
            cell = QTableWidgetItem(preview(value))
            cell.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            cell.setToolTip((value or "(empty)")[:600])
            if not value:
                cell.setFont(empty_font)
                cell.setText("empty")
                cell.setForeground(empty_brush)
            self.table.setItem(row, col, cell)

    def _size_columns(self) -> None:
        """Fields share the width left after # and Title, down to a readable minimum; then the table scrolls."""
        names = self.table.columnCount() - FIRST_FIELD_COL
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_POS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Interactive)
        if not self._title_sized:
            self.table.setColumnWidth(COL_TITLE, max(140, min(220, self.table.sizeHintForColumn(COL_TITLE) + 16)))
            self._title_sized = self.table.rowCount() > 0
        available = self.table.viewport().width() - self.table.columnWidth(COL_POS) \
            - self.table.columnWidth(COL_TITLE)
        fits = names > 0 and available / names >= MIN_FIELD_WIDTH
        mode = QHeaderView.ResizeMode.Stretch if fits else QHeaderView.ResizeMode.Interactive
        for col in range(FIRST_FIELD_COL, FIRST_FIELD_COL + names):
            if header.sectionResizeMode(col) != mode:
                header.setSectionResizeMode(col, mode)
            if not fits and self.table.columnWidth(col) < MIN_FIELD_WIDTH:
                self.table.setColumnWidth(col, MIN_FIELD_WIDTH + 40)
        header.setStretchLastSection(names == 0)
        self.table.frozen.sync()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt name
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._size_columns()
        return super().eventFilter(watched, event)

    def label_of(self, field: str) -> str:
        """The field's label from the step configs (what editors call it), else its name."""
        return ((self.detail or {}).get("labels") or {}).get(field) or field

    def field_names(self) -> list[str]:
        names = list(self.detail["field_names"] or self.detail.get("suggested_fields") or []) if self.detail else []
        return names + [n for n in self._extra_fields if n not in names]

    def _update_hint(self) -> None:
        if self.ws is None:
            self.empty_hint.setText("")  # the window says it is opening the database
        elif not self.post_id:
            self.empty_hint.setText("Choose a post on the left to see its sections.")
        elif self.detail is not None and not self.detail["sections"]:
            self.empty_hint.setText("This post has no sections yet. Add one with “Add”.")
        else:
            self.empty_hint.setText("")
        self.empty_hint.setVisible(bool(self.empty_hint.text()))

    # --- selection ----------------------------------------------------------------------------------------

    def section_at(self, row: int) -> dict[str, Any] | None:
        if not self.detail or not 0 <= row < len(self.detail["sections"]):
            return None
        return self.detail["sections"][row]

    def current_section(self) -> dict[str, Any] | None:
        return self.section_at(self.table.currentRow())

    def row_of(self, section_id: int) -> int:
        for row, section in enumerate(self.detail["sections"] if self.detail else []):
            if section["id"] == section_id:
                return row
        return -1

    def _current_key(self) -> tuple[int, str | None] | None:
        section = self.current_section()
        if section is None:
            return None
        col = self.table.currentColumn()
        names = self.field_names()
        if FIRST_FIELD_COL <= col < FIRST_FIELD_COL + len(names):
            return section["id"], names[col - FIRST_FIELD_COL]
        return section["id"], "#" if col == COL_POS else None

    def _current_key_field(self) -> str | None:
        key = self._current_key()
        return key[1] if key else None

    def rename_after_load(self, section_id: int) -> None:
        """Open the title of a new section for typing once it shows in the table."""
        self._rename_after_load = section_id

    def _restore_current(self, key: tuple[int, str | None] | None) -> None:
        if key is None:
            return
        row = self.row_of(key[0])
        if row < 0:
            return
        col = COL_TITLE
        if key[1] == "#":
            col = COL_POS
        elif key[1] is not None and key[1] in self.field_names():
            col = FIRST_FIELD_COL + self.field_names().index(key[1])
        self.table.setCurrentCell(row, col)

    def select_cell(self, section_id: int, field: str | None = None) -> None:
        """Select a section's title (field None) or one of its fields, as a click would."""
        row = self.row_of(section_id)
        if row < 0:
            return
        col = COL_TITLE if field is None else FIRST_FIELD_COL + self.field_names().index(field)
        self.table.setCurrentCell(row, col)

    def select_section(self, section_id: int) -> None:
        """Make this section the current row (another view chose it), keeping the column the editor is in."""
        row = self.row_of(section_id)
        if row < 0 or row == self.table.currentRow():
            return
        col = self.table.currentColumn()
        self.table.setCurrentCell(row, col if col >= 0 else COL_TITLE)
        self.table.scrollTo(self.table.model().index(row, max(col, FIRST_FIELD_COL)))

    def current_section_id(self) -> int | None:
        section = self.current_section()
        return section["id"] if section else None

    def _cell_changed(self, row: int, col: int, prev_row: int, _prev_col: int) -> None:
        section = self.section_at(row)
        if section is not None and row != prev_row:
            self.section_chosen.emit(section["id"])
        new_target = None
        if section is not None and col >= FIRST_FIELD_COL:
            name = self.field_names()[col - FIRST_FIELD_COL]
            new_target = {"section_id": section["id"], "field": name}
        same = (self.target and new_target and self.target["section_id"] == new_target["section_id"]
                and self.target["field"] == new_target["field"])
        if not same:
            self.maybe_save(allow_cancel=False)
            self.target = new_target
            self._just_saved = False
            if new_target is not None:
                self._load_target_from_detail(overwrite=True)
            self._show_target()
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_post = bool(self.post_id)
        row = self.table.currentRow()
        has_section = self.current_section() is not None
        count = self.table.rowCount()
        self.add_button.setEnabled(has_post)
        self.field_button.setEnabled(has_post)
        self.rename_button.setEnabled(has_section)
        self.delete_button.setEnabled(has_section)
        self.up_button.setEnabled(has_section and row > 0)
        self.down_button.setEnabled(has_section and row < count - 1)

    # --- the field editor ---------------------------------------------------------------------------------

    def _load_target_from_detail(self, overwrite: bool) -> None:
        """Put the target field's current text in the editor (unless the editor holds unsaved text)."""
        target = self.target
        if target is None:
            return
        row = self.row_of(target["section_id"])
        section = self.section_at(row)
        if section is None:
            self.target = None
            return
        value = section["fields"].get(target["field"]) or ""
        lock = section["locks"].get(target["field"])
        target.update(section_title=section["title"], position=row + 1)
        if overwrite or not self.is_dirty():
            target.update(lock_version=lock, original=value)
            self.editor.blockSignals(True)
            self.editor.setPlainText(value)
            self.editor.blockSignals(False)

    def _sync_editor(self) -> None:
        self._load_target_from_detail(overwrite=False)
        self._show_target()

    def _show_target(self) -> None:
        target = self.target
        enabled = target is not None
        self.editor.setEnabled(enabled)
        if not enabled:
            self.editor.blockSignals(True)
            self.editor.setPlainText("")
            self.editor.blockSignals(False)
            self.editor.setPlaceholderText("Select a field cell in the table above to edit its full text here.")
            self.editor_label.setText("Field text")
        else:
            self.editor.setPlaceholderText("This field is empty. Type its text and save.")
            self.editor_label.setText(f"<b>{_html(self.label_of(target['field']))}</b> of section "
                                      f"{target.get('position', '')} "
                                      f"“{_html(target.get('section_title', ''))}”")
        self._update_editor_state()

    def is_dirty(self) -> bool:
        return self.target is not None and self.editor.toPlainText() != self.target.get("original", "")

    def _update_editor_state(self) -> None:
        dirty = self.is_dirty()
        self.save_button.setEnabled(dirty)
        self.discard_button.setEnabled(dirty)
        if self.target is None or not (dirty or self._just_saved):
            self.editor_state.setText("")
        else:
            self.editor_state.setText("Unsaved changes" if dirty else "Saved")
        if dirty:
            self._just_saved = False

    def discard_changes(self) -> None:
        self._load_target_from_detail(overwrite=True)
        self._show_target()

    def maybe_save(self, allow_cancel: bool = True) -> bool:
        """Ask what to do with unsaved field text. False when the editor chose Cancel."""
        if not self.is_dirty():
            return True
        buttons = QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
        if allow_cancel:
            buttons |= QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(self, "Unsaved text",
                                      f"The text of “{self.label_of(self.target['field'])}” is not saved. "
                                      "Save it now?",
                                      buttons, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_field()
        if answer == QMessageBox.StandardButton.Discard:
            self.target["original"] = self.editor.toPlainText()  # forget the edit without another prompt
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
            saved = editing.save_field(self.ws, self.post_id, target["section_id"], target["field"], text,
                                       target.get("lock_version"))
        except ConflictError as exc:
            return self._conflict(target, text, exc)
        except edit_errors() as exc:  # e.g. "database is locked" while a run writes: the text stays in the editor
            log.warning("saving %s failed: %s", target["field"], exc)
            QMessageBox.warning(self, "Not saved", f"Could not save: {describe_db_error(exc)}")
            return False
        target.update(lock_version=saved["lock_version"], original=text)
        self._just_saved = True
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
            current = queries.field_value(self.ws, self.post_id, target["section_id"], target["field"])
        except edit_errors() as exc:  # the text stays in the editor, unsaved: the editor can save again
            log.warning("reading the saved version of %s failed: %s", target["field"], exc)
            QMessageBox.warning(self, "Not saved", "The text changed elsewhere since you opened it, and the other "
                                f"version could not be read: {describe_db_error(exc)}")
            return False
        what = f"“{self.label_of(target['field'])}” of section “{target.get('section_title', '')}”"
        overwrite = resolve_conflict(self, what, mine, current["value"] if current["value"] is not None
                                     else exc.theirs)
        target.update(lock_version=current["lock_version"], original=current["value"] or "")
        if overwrite:
            return self.save_field()  # the editor still holds mine; their version stays in the history
        self.editor.blockSignals(True)
        self.editor.setPlainText(current["value"] or "")
        self.editor.blockSignals(False)
        self._update_editor_state()
        self.reload()
        return False

    # --- section commands ---------------------------------------------------------------------------------

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
            suggestions = [n for n in queries.step_field_names(self.ws) if n not in existing]
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


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
