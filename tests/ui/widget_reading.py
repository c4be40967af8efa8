"""Reading what the window shows, as an editor reads it: a list's rows, a cell's text, a tooltip, whether a picture
is drawn. The product classes carry no accessor for tests; these read their widgets."""

from __future__ import annotations

from PySide6.QtCore import Qt


def tree_rows(tree) -> list:
    return [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]


def plugin_types(dialog) -> list[str]:
    """The script types Help → Plugins lists as loaded (a row with a source)."""
    return [item.text(0) for item in tree_rows(dialog.tree) if item.text(3) != "—"]


def plugin_problems(dialog) -> list[tuple[str, str]]:
    """(name, message) of the plugins it shows as skipped (the red rows)."""
    return [(item.text(0), item.text(1)) for item in tree_rows(dialog.tree)
            if item.text(1).startswith("skipped: ") and item.text(3) == "—"]


def step_state(steps, step_id: int) -> str:
    """The State column of a step in the workflow list."""
    from wfdesk.ui.step_list import COL_STATE

    item = steps.item_for(step_id)
    return item.text(COL_STATE) if item is not None else ""


def section_state(picker, section_id: int) -> str:
    """The State column of a section in a step panel's section list."""
    from wfdesk.ui.panels.section_picker import COL_STATE, COL_TITLE, SECTION_ID

    for item in tree_rows(picker.tree):
        if item.data(COL_TITLE, SECTION_ID) == section_id:
            return item.text(COL_STATE)
    return ""


def cell_text(table, row: int, col: int) -> str:
    item = table.item(row, col)
    return item.text() if item is not None else ""


def tooltip(item) -> str:
    return item.data(Qt.ItemDataRole.ToolTipRole) or ""


def has_thumbnail(strip, row: int) -> bool:
    """The gallery cell draws its picture (or, for an unreadable file, its error mark), not the placeholder."""
    sha = strip.model().sha(row)
    return not sha or sha in strip.loader.cache or strip.loader.error(sha) is not None
