"""The section picker: a checkbox per section (what the next run covers), the row under the cursor (what the
results area shows), a preview of each section's input and its state in the latest run, and a filter (all,
failed, not run, awaiting review)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wfdesk.states import UnitState

SECTION_ID = Qt.ItemDataRole.UserRole
LIVE_TIP_CHARS = 400  # of a streamed answer, in its row's tooltip (the row shows the last words that fit)
COL_TITLE, COL_STATE, COL_PREVIEW = 0, 1, 2

# status -> (label, dot colour). Engine unit states plus what a panel shows for a section's past.
STATES: dict[str, tuple[str, str]] = {
    UnitState.QUEUED: ("queued", "#9e9e9e"),
    UnitState.RUNNING: ("running…", "#1e88e5"),
    UnitState.SUCCESS: ("done", "#43a047"),
    UnitState.ERROR: ("failed", "#e53935"),
    UnitState.CANCELLED: ("cancelled", "#fb8c00"),
    UnitState.INTERRUPTED: ("interrupted", "#d9a400"),
    UnitState.UNFINISHED: ("unfinished", "#8e24aa"),
}


# filter key -> (entry in the drop-down, what the empty list says)
FILTERS: dict[str, tuple[str, str]] = {
    "all": ("All sections", "This post has no sections yet."),
    "failed": ("Failed", "No section failed in the latest runs."),
    "not_run": ("Not run", "Every section has been run."),
    "review": ("Awaiting review", "No section has results awaiting review."),
}


def _title_tip(row: dict[str, Any]) -> str:
    return f"Section {row['position']}: {row['title']}" if row.get("position") else row["title"]


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
    section_chosen = Signal(int)  # the editor made this section the current one (click, keys)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: dict[int, QTreeWidgetItem] = {}
        self._icons: dict[str, QIcon] = {}
        self._updating = False
        self._programmatic = 0  # >0 while the current row changes by code, not by the editor
        self._wanted: int | None = None  # the section to show as current, kept across reloads
        self._status: dict[int, str | None] = {}  # section id -> its state key (what the filter reads)
        self._review: dict[int | None, int] | None = None  # candidates awaiting review per section, if any
        # A deleted section's tick, so that bringing it back (Ctrl+Z) brings it back as it was.
        self._gone_ticks: dict[int, bool] = {}
        self._filter_timer = QTimer(self, singleShot=True, interval=0)  # coalesces bursts of state changes
        self._filter_timer.timeout.connect(self._apply_filter)

        self.count_label = QLabel()
        self.all_button = QPushButton("All")
        self.none_button = QPushButton("None")
        for b in (self.all_button, self.none_button):
            b.setAutoDefault(False)
        self.all_button.setToolTip("Run on every section shown")
        self.none_button.setToolTip("Clear the selection")
        self.all_button.clicked.connect(self._check_shown)
        self.none_button.clicked.connect(lambda: self.set_all_checked(False))
        self.filter_combo = QComboBox()
        self.filter_combo.setAccessibleName("Show sections")
        self.filter_combo.setToolTip("Show only the sections that failed, have not been run, or have results "
                                     "awaiting review")
        for key, (text, _empty) in FILTERS.items():
            self.filter_combo.addItem(text, key)
        self._set_review_available(False)
        self.filter_combo.currentIndexChanged.connect(lambda _i: self._apply_filter(chosen=True))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Sections</b>")
        top.addWidget(title)
        top.addWidget(self.filter_combo)
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
        """Rows from wfdesk.services.review.panel_data; checked None means all. Keeps nothing of the previous rows."""
        if [r["id"] for r in rows] == list(self._items) and self.tree.headerItem().text(COL_PREVIEW) == input_label:
            self._refresh_in_place(rows, checked)  # the usual reload after a run: same sections, same order
            return
        if not rows:
            self._gone_ticks.clear()  # another step or post: nothing deleted to bring back here
        else:
            kept = {r["id"] for r in rows}
            for sid, item in self._items.items():
                if sid not in kept:
                    self._gone_ticks[sid] = item.checkState(COL_TITLE) == Qt.CheckState.Checked
        self._updating = True
        self.tree.blockSignals(True)
        try:
            self.tree.clear()
            self._items.clear()
            self._status = {sid: st for sid, st in self._status.items() if sid in {r["id"] for r in rows}}
            self.tree.setHeaderLabels(["Section", "State", input_label])
            items = []
            for row in rows:
                item = QTreeWidgetItem()
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setData(COL_TITLE, SECTION_ID, row["id"])
                item.setText(COL_TITLE, row["title"])
                item.setToolTip(COL_TITLE, _title_tip(row))
                item.setText(COL_PREVIEW, row.get("preview") or "— empty —")
                item.setToolTip(COL_PREVIEW, row.get("preview") or "This section's input field is empty")
                on = checked is None or row["id"] in checked
                on = self._gone_ticks.pop(row["id"], on)
                item.setCheckState(COL_TITLE, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                items.append(item)
                self._items[row["id"]] = item
            self.tree.addTopLevelItems(items)
        finally:
            self.tree.blockSignals(False)
            self._updating = False
        self._apply_filter(move_current=False)
        target = None
        for wanted in (self._wanted, current):
            if wanted in self._items and not self._items[wanted].isHidden():
                target = self._items[wanted]
                break
        if target is None:
            target = next((item for item in items if not item.isHidden()), None)
        if target is not None:
            self._set_current_item(target)
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
                    item.setToolTip(COL_TITLE, _title_tip(row))
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
        self._apply_filter()
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
        """Make this section the current one (the sections table chose it); kept for the next reload when the
        section is not listed yet. A filter that hides it is cleared: the editor asked to see it."""
        self._wanted = section_id
        item = self._items.get(section_id)
        if item is None or self.tree.currentItem() is item:
            return
        if item.isHidden():
            self.filter_combo.setCurrentIndex(0)
        self._set_current_item(item)

    def move_current(self, step: int) -> None:
        """The next (step 1) or previous (-1) shown section becomes the current one, as if the editor clicked it."""
        shown = [item for item in self._items.values() if not item.isHidden()]
        if not shown:
            return
        current = self.tree.currentItem()
        row = shown.index(current) + step if current in shown else 0
        if 0 <= row < len(shown):
            self.tree.setCurrentItem(shown[row])
            self.tree.scrollToItem(shown[row])

    def set_review_counts(self, counts: dict[int | None, int] | None) -> None:
        """Candidates awaiting review per section; None: this step's results need no review (option disabled)."""
        self._review = counts
        self._set_review_available(counts is not None)
        self._apply_filter()

    def filter_key(self) -> str:
        return self.filter_combo.currentData() or "all"

    def title_of(self, section_id: int | None) -> str:
        item = self._items.get(section_id) if section_id is not None else None
        return item.text(COL_TITLE) if item is not None else "the post"

    def set_state(self, section_id: int | None, status: str | None, message: str | None = None) -> None:
        """The section's badge: queued, running, done, failed (message shown and as tooltip), cancelled."""
        item = self._items.get(section_id) if section_id is not None else None
        if item is None or section_id is None:
            return
        if self._status.get(section_id) != (status or None):
            self._status[section_id] = status or None
            if self.filter_key() != "all" and not self._filter_timer.isActive():
                self._filter_timer.start()
        if not status:
            item.setText(COL_STATE, "")
            item.setIcon(COL_STATE, QIcon())
            item.setToolTip(COL_STATE, "Not run yet")
            return
        label, color = STATES.get(status, (status, "#9e9e9e"))
        if message and status in (UnitState.ERROR, UnitState.UNFINISHED):
            label = f"{label}: {message}"
        item.setText(COL_STATE, label)
        item.setIcon(COL_STATE, self._icon(color))
        item.setToolTip(COL_STATE, message or label)

    def set_live_text(self, section_id: int | None, text: str) -> None:
        """A running section's answer so far, as a short preview in its state: the last words that fit (where
        the new ones come); the tooltip holds more."""
        item = self._items.get(section_id) if section_id is not None else None
        if item is None:
            return
        flat = " ".join(text.split())[-LIVE_TIP_CHARS:]
        room = self.tree.columnWidth(COL_STATE) - self.tree.iconSize().width() - 16
        tail = self.tree.fontMetrics().elidedText(flat, Qt.TextElideMode.ElideLeft, max(room, 40))
        item.setText(COL_STATE, tail or STATES[UnitState.RUNNING][0])
        item.setToolTip(COL_STATE, f"Being written: {flat}" if flat else "running")

    # --- internals ------------------------------------------------------------------------------------------------
    def _set_current_item(self, item: QTreeWidgetItem) -> None:
        self._programmatic += 1
        try:
            self.tree.setCurrentItem(item)
        finally:
            self._programmatic -= 1

    def _matches(self, section_id: int, key: str) -> bool:
        status = self._status.get(section_id)
        if key == "failed":
            return status == UnitState.ERROR
        if key == "not_run":
            return status is None
        if key == "review":
            return bool((self._review or {}).get(section_id))
        return True

    def _apply_filter(self, move_current: bool = True, chosen: bool = False) -> None:
        """Hide the rows the filter leaves out; a hidden current row passes to the first shown one (which the
        sections table follows only when the editor changed the filter: never in the middle of a run)."""
        key = self.filter_key()
        for sid, item in self._items.items():
            hide = not self._matches(sid, key)
            if item.isHidden() != hide:
                item.setHidden(hide)
        shown = sum(1 for item in self._items.values() if not item.isHidden())
        self.empty_label.setText(FILTERS[key][1] if self._items else FILTERS["all"][1])
        self.empty_label.setVisible(shown == 0)
        self.tree.setVisible(shown > 0)
        self.all_button.setToolTip("Run on every section" if key == "all"
                                   else "Run on the sections shown (and no others)")
        current = self.tree.currentItem()
        if move_current and (current is None or current.isHidden()):
            first = next((item for item in self._items.values() if not item.isHidden()), None)
            if first is not None:
                if chosen:
                    self.tree.setCurrentItem(first)
                else:
                    self._set_current_item(first)
        self._update_count()

    def _set_review_available(self, on: bool) -> None:
        model = self.filter_combo.model()
        if isinstance(model, QStandardItemModel):
            entry = model.item(list(FILTERS).index("review"))
            entry.setEnabled(on)
            entry.setToolTip("" if on else "This step's results need no review")
        if not on and self.filter_key() == "review":
            self.filter_combo.setCurrentIndex(0)

    def _check_shown(self) -> None:
        self._bulk(lambda sid: not self._items[sid].isHidden())

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
        section_id = current.data(COL_TITLE, SECTION_ID) if current is not None else None
        if section_id is not None:
            self._wanted = section_id
        self.current_changed.emit(section_id)
        if section_id is not None and not self._programmatic and not self._updating:
            self.section_chosen.emit(section_id)

    def _update_count(self) -> None:
        checked = self.checked_ids()
        total = len(self._items)
        shown = sum(1 for item in self._items.values() if not item.isHidden())
        text = f"{len(checked)} of {total} selected" if total else ""
        if total and shown != total:
            text += f" · {shown} shown"
        self.count_label.setText(text)
        self.checked_changed.emit(checked)
