"""Rows that go away while the engine works with them: what mypy's None checks showed could happen. Each case used to
end in AttributeError ('NoneType' object has no attribute ...); now the editor reads what is missing."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from wfdesk.db.models import LLMAction, Run, RunUnit
from wfdesk.errors import ConfigError, NotFoundError
from wfdesk.runs import ledger
from wfdesk.runs.engine import resume_run
from wfdesk.scripts.llm_actions import LLMActionHandler
from wfdesk.scripts.registry import execute_step_script

SECTIONS = [711, 712, 713]


def test_an_llm_action_deleted_after_the_config_was_checked_is_reported(demo, loopback, monkeypatch):
    checked = LLMActionHandler.check_config

    def check_then_delete(self, ws, config, params):  # another editor deletes the action just after this check
        problems = checked(self, ws, config, params)
        with ws.db.session() as s:
            s.execute(delete(LLMAction).where(LLMAction.id == config.script_config.action_id))
        return problems

    monkeypatch.setattr(LLMActionHandler, "check_config", check_then_delete)
    with pytest.raises(ConfigError, match="LLM action 5 does not exist"):
        execute_step_script(1, 53, {"section_ids": SECTIONS})
    assert loopback.count() == 0


def test_resuming_a_run_whose_post_was_deleted_says_so(demo, loopback):
    loopback.fail = lambda i, req: (400, {}, b'{"error": {"message": "no"}}')
    run_id = execute_step_script(1, 53, {"section_ids": SECTIONS})["run_id"]
    loopback.reset()
    with demo.db.session() as s:  # what deleting the post does to its runs (ON DELETE SET NULL)
        s.execute(update(Run).where(Run.id == run_id).values(post_id=None))
        s.execute(update(RunUnit).where(RunUnit.run_id == run_id).values(status="queued", error=None))
    with pytest.raises(NotFoundError, match="its post was deleted"):
        resume_run(demo, run_id)
    assert loopback.count() == 0
    assert ledger.run_detail(demo, run_id)["status"] != "running"  # nothing claimed it
