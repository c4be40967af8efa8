"""The line a run's end notice says, read from the run ledger: the step, how its sections went, the post.
SQLite and PostgreSQL."""

from __future__ import annotations

from wfdesk.scripts.registry import execute_step_script
from wfdesk.services.run_outcome import RunOutcome, not_started, run_outcome

TITLE = "A week in the Scottish Highlands"  # the demo post (53)


def test_a_run_with_a_failed_section_says_how_many_went_which_way(demo, loopback):
    loopback.fail = lambda i, req: (400, {"Content-Type": "application/json"}, b'{"error": {"message": "no"}}') \
        if b"Glen Affric" in req.body else None
    result = execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    outcome = run_outcome(demo, result["run_id"])
    assert (outcome.step_id, outcome.post_id) == (1, 53)
    assert (outcome.done, outcome.failed) == (2, 1)
    assert outcome.summary() == f"polish_sections: 2 sections done, 1 failed — {TITLE}"
    assert outcome.title() == "Run finished with failures"


def test_a_clean_run_and_one_that_never_started(demo, loopback):
    result = execute_step_script(1, 53, {"section_ids": [711]})
    outcome = run_outcome(demo, result["run_id"])
    assert outcome.summary() == f"polish_sections: 1 section done — {TITLE}"
    assert outcome.title() == "Run finished"
    refused = not_started(demo, 1, 53)
    assert refused.summary() == f"polish_sections: failed — {TITLE}"
    assert refused.title() == "Run failed"


def test_a_run_without_sections_says_its_state():
    assert RunOutcome(9, 3, None, "process_data", "", "succeeded").summary() == "process_data: done"
    assert RunOutcome(9, 3, None, "", "", "cancelled").summary() == "A step: cancelled"
