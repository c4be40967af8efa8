"""The rows of the sections table: what a post's sections load as, one row's cells, and how the columns share width."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem

from wfdesk.ui.sections_table import COL_POS, COL_TITLE, FIRST_FIELD_COL, ID_ROLE, SectionsTable

if TYPE_CHECKING:  # the engine loads with the workspace, after the window's first paint
    from wfdesk.services.shapes import ShownPost
    from wfdesk.workspace import Workspace

FILL_SLICE = 10  # rows filled per turn of the event loop
PREVIEW_CHARS = 90
MIN_FIELD_WIDTH = 120


def preview(text: str | None) -> str:
    """One line of a field's text for a table cell."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    return flat if len(flat) <= PREVIEW_CHARS else flat[:PREVIEW_CHARS - 1] + "…"


def load_post_detail(ws: Workspace, post_id: int) -> ShownPost:
    """A post's sections with their fields (runs on a worker thread)."""
    from wfdesk.db.field_labels import labels_by_field
    from wfdesk.services import queries

    post = queries.post_detail(ws, post_id)
    names = post["field_names"]
    # Columns in workflow order (each step's input, then its output), other fields after them; each
    # headed by the label the steps give the field.
    labels = labels_by_field(queries.list_steps(ws))
    order = list(labels)
    detail: ShownPost = {**post, "labels": labels,
                         "field_names": [n for n in order if n in names] + [n for n in names if n not in order]}
    if not names:
        # A new post: offer the fields the workflow reads, so drafts can be typed at once.
        detail["suggested_fields"] = queries.step_field_names(ws, ("inputs",))
    return detail


def fill_row(table: SectionsTable, row: int, section: dict[str, Any], names: list[str], empty_font: QFont,
             empty_brush: Any) -> None:
    pos = QTableWidgetItem(str(row + 1))
    pos.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    pos.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    pos.setData(ID_ROLE, section["id"])
    table.setItem(row, COL_POS, pos)
    title = QTableWidgetItem(section["title"])
    title.setToolTip("Double-click (or F2) to rename")
    table.setItem(row, COL_TITLE, title)
    for col, name in enumerate(names, start=FIRST_FIELD_COL):
        value = section["fields"].get(name)
        cell = QTableWidgetItem(preview(value))
        cell.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        cell.setToolTip((value or "(empty)")[:600])
        if not value:
            cell.setFont(empty_font)
            cell.setText("empty")
            cell.setForeground(empty_brush)
        table.setItem(row, col, cell)


def size_columns(table: SectionsTable, title_sized: bool) -> bool:
    """Fields share the width left after # and Title, down to a readable minimum; then the table scrolls.
    Returns whether the title column has its width now (it is sized once, from the first rows)."""
    names = table.columnCount() - FIRST_FIELD_COL
    header = table.horizontalHeader()
    header.setSectionResizeMode(COL_POS, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Interactive)
    if not title_sized:
        table.setColumnWidth(COL_TITLE, max(140, min(220, table.sizeHintForColumn(COL_TITLE) + 16)))
        title_sized = table.rowCount() > 0
    available = table.viewport().width() - table.columnWidth(COL_POS) - table.columnWidth(COL_TITLE)
    fits = names > 0 and available / names >= MIN_FIELD_WIDTH
    mode = QHeaderView.ResizeMode.Stretch if fits else QHeaderView.ResizeMode.Interactive
    for col in range(FIRST_FIELD_COL, FIRST_FIELD_COL + names):
        if header.sectionResizeMode(col) != mode:
            header.setSectionResizeMode(col, mode)
        if not fits and table.columnWidth(col) < MIN_FIELD_WIDTH:
            table.setColumnWidth(col, MIN_FIELD_WIDTH + 40)
    header.setStretchLastSection(names == 0)
    table.frozen.sync()
    return title_sized
