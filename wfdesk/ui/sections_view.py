"""The sections of the selected post: a table (position, title, a column per field) and a field text editor.

Every change goes through the window's QUndoStack as a command over wfdesk.services.editing, so add, rename, move,
delete and field edits can be undone; a field edit is undone by re-accepting the previous version (kept forever).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence, QUndoStack
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSplitter, QToolButton, QVBoxLayout, QWidget
from typing_extensions import override

from wfdesk.ui.db_errors import describe_db_error
from wfdesk.ui.field_saving import FieldSaving
from wfdesk.ui.field_text_editor import FieldTextEditor, resolve_conflict
from wfdesk.ui.icons import icon
from wfdesk.ui.section_edit_commands import SectionEditCommands
from wfdesk.ui.sections_rows import FILL_SLICE, fill_row, load_post_detail, preview, size_columns
from wfdesk.ui.sections_table import COL_POS, COL_TITLE, FIRST_FIELD_COL, ID_ROLE, SectionsTable
from wfdesk.ui.worker import BackgroundOp

if TYPE_CHECKING:  # the engine loads with the workspace, after the window's first paint
    from wfdesk.workspace import Workspace

__all__ = ["COL_POS", "COL_TITLE", "FILL_SLICE", "FIRST_FIELD_COL", "ID_ROLE", "SectionsTable", "SectionsView",
           "preview", "resolve_conflict"]
log = logging.getLogger(__name__)


class SectionsView(FieldSaving, SectionEditCommands, QWidget):
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
        self._title_sized = False
        self._filling = False
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

        self.field_editor = FieldTextEditor()
        self.editor, self.editor_label = self.field_editor.editor, self.field_editor.label
        self.save_button, self.discard_button = self.field_editor.save_button, self.field_editor.discard_button
        self.editor_state = self.field_editor.state

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.heading)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.empty_hint)
        top_layout.addWidget(self.table, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("sections_splitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.field_editor)
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
        self.save_button.clicked.connect(self.save_field)
        self.discard_button.clicked.connect(self.discard_changes)
        self.table.setHorizontalHeaderLabels(["#", "Title"])
        self._update_hint()
        self._update_buttons()
        self._show_target()

    # The field open in the editor: section id, field name, lock_version when loaded, text when loaded.
    @property
    def target(self) -> dict[str, Any] | None:
        return self.field_editor.target

    @target.setter
    def target(self, value: dict[str, Any] | None) -> None:
        self.field_editor.target = value

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

        (BackgroundOp(lambda: load_post_detail(ws, post_id))
         .success(lambda detail: self._loaded(generation, detail))
         .failure(self._failed)
         .run_in_background())

    def _failed(self, exc: Exception) -> None:
        if not shiboken6.isValid(self.empty_hint):
            return
        log.warning("loading sections failed: %s", exc)
        self.empty_hint.setText(f"Cannot read this post's sections: {describe_db_error(exc)}")
        self.empty_hint.show()

    def _loaded(self, generation: int, detail: dict[str, Any] | None) -> None:
        if generation != self._generation or not shiboken6.isValid(self.table):  # the window closed meanwhile
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
            fill_row(self.table, row, sections[row], names, empty_font, empty_brush)
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

    def _size_columns(self) -> None:
        self._title_sized = size_columns(self.table, self._title_sized)

    @override
    def eventFilter(self, watched, event) -> bool:
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
            self.field_editor.just_saved = False
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
            self.field_editor.set_text(value)

    def _sync_editor(self) -> None:
        self._load_target_from_detail(overwrite=False)
        self._show_target()

    def _show_target(self) -> None:
        target = self.target
        self.field_editor.show_target(self.label_of(target["field"]) if target else "")

    def is_dirty(self) -> bool:
        return self.field_editor.is_dirty()

    def _update_editor_state(self) -> None:
        self.field_editor.update_state()

    def discard_changes(self) -> None:
        self._load_target_from_detail(overwrite=True)
        self._show_target()
