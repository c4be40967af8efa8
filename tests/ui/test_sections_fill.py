"""The sections table fills a long post in slices, one per turn of the event loop; a table deleted between two
slices (the window closed while a post of many sections was still being drawn) must simply stop filling."""

from __future__ import annotations

from PySide6.QtGui import QUndoStack

from wfdesk.services import editing
from wfdesk.ui.sections_view import FILL_SLICE, SectionsView


def test_a_table_deleted_while_it_fills_stops_filling(qtbot, gui_ws):
    for i in range(FILL_SLICE * 3):
        editing.add_section(gui_ws, 53, f"Part {i}")
    stack = QUndoStack()
    view = SectionsView(gui_ws, stack)  # not handed to qtbot: the test deletes it itself
    view.show()
    deleted = []

    def delete_after_the_first_slice(*_args) -> None:
        if not deleted:
            deleted.append(True)
            view.deleteLater()  # goes before the next slice, as closing the window would

    view.table.model().dataChanged.connect(delete_after_the_first_slice)
    view.set_post(53)  # the window does this when the editor chooses a post
    qtbot.waitUntil(lambda: bool(deleted), timeout=30_000)
    qtbot.wait(200)  # the next slice's turn: with the table gone, nothing may run (pytest-qt fails on an error)
    assert deleted == [True]
