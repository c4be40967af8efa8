"""Deleting an LLM action (the LLM actions manager's Delete) on SQLite and PostgreSQL: refused while a step or a
post's override uses it, naming them by title; an unused one goes."""

from __future__ import annotations

import pytest

from wfdesk.db.models import PostWorkflowStepAction
from wfdesk.services import config_store as cs


def test_an_action_in_use_is_not_deleted(demo):
    with pytest.raises(cs.ActionInUseError) as refused:
        cs.delete_action(demo, 5)
    assert "step “polish_sections”" in str(refused.value)
    assert "nothing was deleted" in str(refused.value)
    assert cs.load_action(demo, 5).id == 5


def test_an_override_using_the_action_is_named(demo):
    copy = cs.save_action(demo, cs.ActionRecord(None, "Shorten", "{{ input1 }}", "llama3"))
    with demo.db.session() as s:
        s.add(PostWorkflowStepAction(post_id=53, step_id=1,
                                     config={"script_config": {"action_id": copy.id}}))
    with pytest.raises(cs.ActionInUseError) as refused:
        cs.delete_action(demo, copy.id)
    assert "override of step “polish_sections” for post “A week in the Scottish Highlands”" in str(refused.value)


def test_an_unused_action_is_deleted(demo):
    copy = cs.save_action(demo, cs.ActionRecord(None, "Shorten", "{{ input1 }}", "llama3"))
    cs.delete_action(demo, copy.id)
    assert [a for a, _ in cs.list_actions(demo)] == [5]
