"""The File menu's imports and exports as whole documents, each in one transaction of its own: the window passes a
workspace and a parsed document (or gets one back) and never holds a database session.

wfdesk.services.transfer (everything: posts, sections, steps, LLM actions) and wfdesk.services.workflows (steps and
LLM actions only) check and write; these functions add the transaction and the change announcement.
"""

from __future__ import annotations

from typing import Any

from wfdesk.services.changes import IMPORTED, WORKFLOW_IMPORTED, announce
from wfdesk.services.shapes import WorkflowImported
from wfdesk.services.transfer import export_bundle, import_bundle
from wfdesk.services.workflows import export_workflow, import_workflow
from wfdesk.workspace import Workspace


def import_everything(ws: Workspace, data: Any) -> dict[str, int]:
    """File → Import everything: all or nothing; every view (and every colleague's window) refreshes after."""
    with ws.db.session() as s:
        counts = import_bundle(s, data)
    announce(ws, IMPORTED)
    return counts


def export_everything(ws: Workspace) -> dict[str, Any]:
    """File → Export everything: the document to write."""
    with ws.db.session() as s:
        return export_bundle(s)


def import_workflow_document(ws: Workspace, data: Any) -> WorkflowImported:
    """File → Import workflow: the steps and LLM actions added after the existing ones, in one transaction (a
    refused document leaves nothing behind); the step lists of every window show them."""
    with ws.db.session() as s:
        counts = import_workflow(s, data, ws)
    announce(ws, WORKFLOW_IMPORTED)
    return counts


def export_workflow_document(ws: Workspace, name: str) -> dict[str, Any]:
    """File → Export workflow: the steps and LLM actions as one document named `name`."""
    with ws.db.session() as s:
        return export_workflow(s, name=name)


__all__ = ["export_everything", "export_workflow_document", "import_everything", "import_workflow_document"]
