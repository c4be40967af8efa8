"""Opening a workspace for use: the one place where the runs an earlier process left running become resumable."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from wfdesk.runs.ledger import mark_interrupted
from wfdesk.settings import Settings
from wfdesk.workspace import Workspace, open_workspace

log = logging.getLogger(__name__)


def open_for_use(*, database_url: str | None = None, data_dir: str | Path | None = None,
                 settings: Settings | None = None) -> Workspace:
    """The workspace, with every run whose process is gone marked interrupted, so Resume is offered instead of a run
    shown as in progress forever. A database error closes it and is raised (the caller words it); any other error of
    the recovery is logged and the workspace is used as it is: a stale ledger must not stop the app from starting."""
    ws = open_workspace(database_url=database_url, data_dir=data_dir, settings=settings)
    try:
        interrupted = mark_interrupted(ws)
    except SQLAlchemyError:
        ws.close()
        raise
    except Exception:  # noqa: BLE001 - see above
        log.exception("marking interrupted runs failed")
        return ws
    if interrupted:
        log.info("runs interrupted by an earlier exit: %s", interrupted)
    return ws
