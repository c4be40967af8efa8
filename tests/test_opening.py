"""Opening a workspace for use (the window at start and on a switch, the CLI) makes a dead process's runs resumable."""

from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy import update

from wfdesk.db.models import Run, utcnow
from wfdesk.runs import ledger
from wfdesk.scripts.registry import execute_step_script
from wfdesk.services.opening import open_for_use


def test_a_run_left_running_by_a_dead_process_is_interrupted_on_opening(demo, loopback, tmp_path):
    run_id = execute_step_script(1, 53, {"section_ids": [711]})["run_id"]
    with demo.db.session() as s:  # as a crash leaves it: running, owned by a process that is gone for hours
        s.execute(update(Run).where(Run.id == run_id).values(
            status="running", owner=f"{socket.gethostname()}:999999999", heartbeat_at=utcnow() - timedelta(hours=3),
            finished_at=None))
    reopened = open_for_use(database_url=demo.db.url, data_dir=demo.data_dir, settings=demo.settings)
    try:
        assert ledger.run_detail(reopened, run_id)["status"] == "interrupted"
    finally:
        reopened.close()
