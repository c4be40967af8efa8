"""First start: an empty database offers the demo post and the reference document's three steps."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox, QWidget

from wfdesk.errors import WfdeskError

if TYPE_CHECKING:  # the engine loads with the workspace, after the window's first paint
    from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)

OFFER = ("This database is empty.\n\n"
         "Load the demo? It adds a blog post with three sections and three workflow steps — polishing the text "
         "with an LLM, illustrating each section with an image and a custom processing script — so you can try "
         "a whole workflow at once.")


def offer_demo(parent: QWidget | None, ws: Workspace) -> bool:
    """Ask, and load the demo when the editor says yes. True when it was loaded."""
    from sqlalchemy.exc import SQLAlchemyError

    from wfdesk.services import editing, queries

    try:
        if not queries.is_empty(ws):
            return False
    except SQLAlchemyError as exc:
        log.warning("cannot tell whether the database is empty: %s", exc)
        return False
    answer = QMessageBox.question(parent, "Load the demo?", OFFER,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.Yes)
    if answer != QMessageBox.StandardButton.Yes:
        return False
    try:
        counts = editing.load_demo(ws)
    except (WfdeskError, SQLAlchemyError, OSError, ValueError) as exc:
        log.warning("loading the demo failed: %s", exc)
        QMessageBox.warning(parent, "Demo not loaded", f"The demo could not be loaded: {exc}")
        return False
    log.info("demo loaded: %s", counts)
    return True
