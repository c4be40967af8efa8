"""The sections table: # and Title stay in place while the field columns scroll sideways."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QFrame, QHeaderView, QTableView, QTableWidget, QWidget
from typing_extensions import override

ID_ROLE = Qt.ItemDataRole.UserRole
COL_POS, COL_TITLE = 0, 1
FIRST_FIELD_COL = 2


class SectionsTable(QTableWidget):
    """The sections table; # and Title stay in place while the field columns scroll sideways.

    Qt's frozen-column recipe: a second view over the same model and selection, laid over the first columns.
    Titles are edited in that front view (double-click or F2), never in the covered cells behind it.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, FIRST_FIELD_COL, parent)
        self.setAccessibleName("Sections")
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.frozen = _FrozenColumns(self, FIRST_FIELD_COL)

    def edit_title(self, row: int) -> None:
        index = self.model().index(row, COL_TITLE)
        self.setCurrentCell(row, COL_TITLE)
        self.frozen.setFocus()
        self.frozen.edit(index)

    @override
    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_F2 and self.currentRow() >= 0:  # from any cell: F2 renames the section
            self.edit_title(self.currentRow())
            return
        super().keyPressEvent(event)

    @override
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.frozen.place()

    @override
    def currentChanged(self, current, previous) -> None:
        super().currentChanged(current, previous)
        if self.hasFocus() and current.isValid() and current.column() < FIRST_FIELD_COL:
            self.frozen.setFocus()  # the title is shown (and edited) in the view in front: the keys go on there

    @override
    def scrollTo(self, index, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        """Never scroll a field cell under the frozen columns."""
        if index.column() < FIRST_FIELD_COL:
            return
        super().scrollTo(index, hint)
        rect = self.visualRect(index)
        hidden = self.frozen.width() - rect.left()
        if hidden > 0:
            bar = self.horizontalScrollBar()
            bar.setValue(bar.value() - hidden)


class _FrozenColumns(QTableView):
    def __init__(self, table: QTableWidget, count: int) -> None:
        super().__init__(table)
        self.table, self.count = table, count
        self.setModel(table.model())
        self.setSelectionModel(table.selectionModel())
        self.setSelectionBehavior(table.selectionBehavior())
        self.setSelectionMode(table.selectionMode())
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(table.verticalScrollMode())
        table.viewport().stackUnder(self)
        table.horizontalHeader().sectionResized.connect(self._section_resized)
        table.verticalHeader().sectionResized.connect(lambda row, _old, new: self.setRowHeight(row, new))
        self.verticalScrollBar().valueChanged.connect(table.verticalScrollBar().setValue)
        table.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)
        self.sync()

    @override
    def currentChanged(self, current, previous) -> None:
        super().currentChanged(current, previous)
        if self.hasFocus() and current.isValid() and current.column() >= self.count:
            self.table.setFocus()  # a field cell: the keys go on in the table that shows (and scrolls) it

    def sync(self) -> None:
        """Show only the frozen columns, as wide as the table's own."""
        for col in range(self.model().columnCount()):
            self.setColumnHidden(col, col >= self.count)
        for col in range(min(self.count, self.model().columnCount())):
            self.setColumnWidth(col, self.table.columnWidth(col))
        self.place()

    def _section_resized(self, col: int, _old: int, new: int) -> None:
        if col < self.count:
            self.setColumnWidth(col, new)
            self.place()

    def place(self) -> None:
        table = self.table
        width = sum(table.columnWidth(c) for c in range(min(self.count, table.columnCount())))
        self.setGeometry(table.frameWidth(), table.frameWidth(), width,
                         table.viewport().height() + table.horizontalHeader().height())
