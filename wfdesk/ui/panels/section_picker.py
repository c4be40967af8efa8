"""The section picker: a checkbox per section (what the next run covers), the row under the cursor (what the
results area shows), a preview of each section's input and its state in the latest run."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

SECTION_ID = Qt.ItemDataRole.UserRole
COL_TITLE, COL_STATE, COL_PREVIEW = 0, 1, 2

# status -> (label, dot colour). Engine unit states plus what a panel shows for a section's past.
STATES: dict[str, tuple[str, str]] = {
    "queued": ("queued", "#9e9e9e"),
    "running": ("running…", "#1e88e5"),
    "success": ("done", "#43a047"),
    "error": ("failed", "#e53935"),
    "cancelled": ("cancelled", "#fb8c00"),
    "unfinished": ("unfinished", "#8e24aa"),
}


def _dot(color: str) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(1, 1, 10, 10)
    p.end()
    return QIcon(pix)


class SectionPicker(QWidget):
    checked_changed = Signal(list)  # section ids to run
    current_changed = Signal(object)  # section id shown in the results area (or None)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: dict[int, QTreeWidgetItem] = {}
        self._icons: dict[str, QIcon] = {}
        self._updating = False

        self.count_label = QLabel()
        self.all_button = QPushButton("All")
        self.none_button = QPushButton("None")
        for b in (self.all_button, self.none_button):
            b.setAutoDefault(False)
        self.all_button.setToolTip("Run on every section")
        self.none_button.setToolTip("Clear the selection")
        self.all_button.clicked.connect(lambda: self.set_all_checked(True))
        self.none_button.clicked.connect(lambda: self.set_all_checked(False))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Sections</b>")
        top.addWidget(title)
        top.addWidget(self.count_label, 1)
        top.addWidget(self.all_button)
        top.addWidget(self.none_button)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Section", "State", "Input"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setIconSize(QSize(12, 12))
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_STATE, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COL_TITLE, 190)
        header.resizeSection(COL_STATE, 110)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(self._on_current_changed)

        self.empty_label = QLabel("This post has no sections yet.")
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty_label)

    # --- content --------------------------------------------------------------------------------------------------
    def set_sections(self, rows: list[dict[str, Any]], checked: set[int] | None = None,
                     input_label: str = "Input", current: int | None = None) -> None:
        """Rows from wfdesk.db.review.panel_data; checked None means all. Keeps nothing of the previous rows."""
        if [r["id"] for r in rows] == list(self._items) and self.tree.headerItem().text(COL_PREVIEW) == input_label:
            self._refresh_in_place(rows, checked)  # the usual reload after a run: same sections, same order
            return
        self._updating = True
        self.tree.blockSignals(True)
        try:
            self.tree.clear()
            self._items.clear()
            self.tree.setHeaderLabels(["Section", "State", input_label])
            items = []
            for row in rows:
                item = QTreeWidgetItem()
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setData(COL_TITLE, SECTION_ID, row["id"])
                item.setText(COL_TITLE, row["title"])
                item.setToolTip(COL_TITLE, f"{row['title']} (section {row['id']})")
                item.setText(COL_PREVIEW, row.get("preview") or "— empty —")
                item.setToolTip(COL_PREVIEW, row.get("preview") or "This section's input field is empty")
                on = checked is None or row["id"] in checked
                item.setCheckState(COL_TITLE, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                items.append(item)
                self._items[row["id"]] = item
            self.tree.addTopLevelItems(items)
        finally:
            self.tree.blockSignals(False)
            self._updating = False
        self.empty_label.setVisible(not rows)
        self.tree.setVisible(bool(rows))
        target = self._items.get(current) if current is not None else None
        if target is None and items:
            target = items[0]
        if target is not None:
            self.tree.setCurrentItem(target)
        else:
            self.current_changed.emit(None)
        self._update_count()

    def _refresh_in_place(self, rows: list[dict[str, Any]], checked: set[int] | None) -> None:
        """Only what changed is touched: rebuilding 200 rows would hold the window for tens of milliseconds."""
        self._updating = True
        self.tree.blockSignals(True)
        try:
            for row in rows:
                item = self._items[row["id"]]
                if item.text(COL_TITLE) != row["title"]:
                    item.setText(COL_TITLE, row["title"])
                    item.setToolTip(COL_TITLE, f"{row['title']} (section {row['id']})")
                text = row.get("preview") or "— empty —"
                if item.text(COL_PREVIEW) != text:
                    item.setText(COL_PREVIEW, text)
                    item.setToolTip(COL_PREVIEW, row.get("preview") or "This section's input field is empty")
                if checked is not None:
                    state = Qt.CheckState.Checked if row["id"] in checked else Qt.CheckState.Unchecked
                    if item.checkState(COL_TITLE) != state:
                        item.setCheckState(COL_TITLE, state)
        finally:
            self.tree.blockSignals(False)
            self._updating = False
        self._update_count()
        self.current_changed.emit(self.current_id())  # as a rebuild would: the panel refreshes its result view

    def section_ids(self) -> list[int]:
        return list(self._items)

    def checked_ids(self) -> list[int]:
        return [sid for sid, item in self._items.items() if item.checkState(COL_TITLE) == Qt.CheckState.Checked]

    def set_checked(self, ids: set[int] | list[int]) -> None:
        wanted = set(ids)
        self._bulk(lambda sid: sid in wanted)

    def set_all_checked(self, on: bool) -> None:
        self._bulk(lambda _sid: on)

    def current_id(self) -> int | None:
        item = self.tree.currentItem()
        return item.data(COL_TITLE, SECTION_ID) if item is not None else None

    def set_current(self, section_id: int) -> None:
        item = self._items.get(section_id)
        if item is not None:
            self.tree.setCurrentItem(item)

    def title_of(self, section_id: int | None) -> str:
        item = self._items.get(section_id) if section_id is not None else None
        return item.text(COL_TITLE) if item is not None else "the post"

    def set_state(self, section_id: int | None, status: str | None, message: str | None = None) -> None:
        """The section's badge: queued, running, done, failed (message shown and as tooltip), cancelled."""
        item = self._items.get(section_id) if section_id is not None else None
        if item is None:
            return
        if not status:
            item.setText(COL_STATE, "")
            item.setIcon(COL_STATE, QIcon())
            item.setToolTip(COL_STATE, "Not run yet")
            return
        label, color = STATES.get(status, (status, "#9e9e9e"))
        if message and status in ("error", "unfinished"):
            label = f"{label}: {message}"
        item.setText(COL_STATE, label)
        item.setIcon(COL_STATE, self._icon(color))
        item.setToolTip(COL_STATE, message or label)

    def state_text(self, section_id: int) -> str:
        item = self._items.get(section_id)
        return item.text(COL_STATE) if item is not None else ""

    # --- internals ------------------------------------------------------------------------------------------------
    def _bulk(self, rule) -> None:
        self._updating = True
        try:
            for sid, item in self._items.items():
                item.setCheckState(COL_TITLE, Qt.CheckState.Checked if rule(sid) else Qt.CheckState.Unchecked)
        finally:
            self._updating = False
        self._update_count()

    def _icon(self, color: str) -> QIcon:
        if color not in self._icons:
            self._icons[color] = _dot(color)
        return self._icons[color]

    def _on_item_changed(self, _item: QTreeWidgetItem, column: int) -> None:
        if column == COL_TITLE and not self._updating:
            self._update_count()

    def _on_current_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        self.current_changed.emit(current.data(COL_TITLE, SECTION_ID) if current is not None else None)

    def _update_count(self) -> None:
        checked = self.checked_ids()
        total = len(self._items)
        self.count_label.setText(f"{len(checked)} of {total} selected" if total else "")
        self.checked_changed.emit(checked)
