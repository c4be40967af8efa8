"""The step panel's "Run on the team's workers": on PostgreSQL a click queues the run (nothing is sent from this
computer) and a `wfdesk worker` process finishes it, the step list saying where it is; on SQLite the option is
greyed with the reason in its tooltip."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT
from PySide6.QtWidgets import QCheckBox
from test_team_workers import TAKEOVER_S, _env, _wait

from ui.editor_input import click, click_button, click_check_box
from ui.test_resume import close_started, open_panel, start_window
from ui.widget_reading import step_state
from wfdesk.runs import ledger

TIMEOUT = 60_000
LABEL = "Run on the team's workers"


def _workers_box(qtbot, panel) -> QCheckBox:
    if not panel.options_box.isVisible():
        click(qtbot, panel.options_toggle)  # "Run options" unfolds
    found = [b for b in panel.findChildren(QCheckBox) if b.isVisible() and b.text() == LABEL]
    assert found, "no visible “Run on the team's workers”"
    return found[0]


def test_run_on_the_teams_workers_is_queued_and_a_worker_finishes_it(qtbot, demo, loopback, tmp_path):
    window = start_window(qtbot, demo)
    worker = None
    try:
        panel = open_panel(qtbot, window)
        box = _workers_box(qtbot, panel)
        if demo.db.dialect != "postgresql":
            assert not box.isEnabled()
            assert "PostgreSQL" in box.toolTip()
            return
        click_check_box(qtbot, box)
        assert box.isChecked()
        click_button(qtbot, panel, "Run")
        qtbot.waitUntil(lambda: "is queued for the team" in panel.status_label.text(), timeout=TIMEOUT)
        run_id = ledger.list_runs(demo)[0]["id"]
        assert ledger.run_detail(demo, run_id)["status"] == "queued"
        qtbot.waitUntil(lambda: step_state(window.steps, 1) == "queued for the team's workers", timeout=TIMEOUT)
        assert loopback.count("/v1/chat/completions") == 0  # this computer sent nothing

        log = tmp_path / "worker.log"
        with log.open("w") as out:
            worker = subprocess.Popen([sys.executable, "-m", "wfdesk", "-v", "worker", "--takeover-after", TAKEOVER_S],
                                      env=_env(demo, loopback), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out)
        worker.log = log
        _wait("the worker finished the run", lambda: ledger.run_detail(demo, run_id)["status"] == "succeeded",
              [worker])
        detail = ledger.run_detail(demo, run_id)
        assert detail["where"] == f"on worker {ledger.HOST}"
        assert [u["status"] for u in detail["units"]] == ["success"] * 3
        assert loopback.count("/v1/chat/completions") == 3
        qtbot.waitUntil(lambda: step_state(window.steps, 1) == "done", timeout=TIMEOUT)  # the list rereads it
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(10)
        close_started(window)
