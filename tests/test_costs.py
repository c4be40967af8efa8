"""Cost and token ledger, totals, and budgets that stop a run before any request."""

from __future__ import annotations

import pytest

from wfdesk.runs import costs, ledger
from wfdesk.runs.costs import BudgetError, Usage
from wfdesk.scripts.registry import execute_step_script
from wfdesk.settings import ModelPrice


def test_every_unit_records_tokens_model_and_cost(demo, loopback):
    demo.settings.prices["gpt-4o-mini"] = ModelPrice(prompt_per_1k=1.0, completion_per_1k=2.0)
    result = execute_step_script(1, 53, {"section_ids": [711, 712]})
    units = ledger.run_detail(demo, result["run_id"])["units"]
    for u in units:
        assert u["model"] == "gpt-4o-mini"
        assert u["prompt_tokens"] > 0
        assert u["completion_tokens"] > 0
        assert u["cost"] == pytest.approx(u["prompt_tokens"] / 1000 * 1.0 + u["completion_tokens"] / 1000 * 2.0)
    # dall-e-3 (still served by LocalAI and others) is priced per image.
    images = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"n": 2, "model": "dall-e-3"}})
    unit = ledger.run_detail(demo, images["run_id"])["units"][0]
    assert (unit["model"], unit["images"], unit["cost"]) == ("dall-e-3", 2, pytest.approx(0.08))


def test_totals_per_step_post_month_and_model(demo, loopback):
    execute_step_script(1, 53, {"section_ids": [711, 712, 713]})
    execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "dall-e-3"}})
    by_step = {r["step"]: r for r in costs.totals(demo, "step")}
    assert by_step["section_illustrations"]["cost"] == pytest.approx(0.04)
    assert by_step["polish_sections"]["units"] == 3
    assert by_step["polish_sections"]["prompt_tokens"] > 0
    (post,) = costs.totals(demo, "post")
    assert post["post_id"] == 53
    assert post["units"] == 4
    (month,) = costs.totals(demo, "month")
    assert month["month"] == costs.month_start().strftime("%Y-%m")
    assert month["cost"] == pytest.approx(sum(r["cost"] for r in by_step.values()))
    assert {r["model"] for r in costs.totals(demo, "model")} == {"gpt-4o-mini", "dall-e-3"}


def test_post_budget_refuses_a_run_before_any_request(demo, loopback):
    demo.settings.budget_per_post = 0.10
    dall_e = {"parameters": {"model": "dall-e-3"}}  # $0.04 an image
    execute_step_script(2, 53, {"section_ids": [711, 712], **dall_e})  # $0.08 spent
    loopback.reset()
    with pytest.raises(BudgetError) as refused:
        execute_step_script(2, 53, {"section_ids": [713], **dall_e})  # another $0.04 would exceed it
    # In the editor's words: the post's title, money in cents (not "post 53 has used $0.0800").
    assert str(refused.value) == ("This run would cost about $0.04; “A week in the Scottish Highlands” has used $0.08 "
                                  "of its $0.10 budget. Nothing was sent.")
    assert loopback.count() == 0
    assert len(ledger.list_runs(demo)) == 1  # nothing recorded either


def test_current_image_models_count_against_the_budget(demo, loopback):
    """The demo's image model (gpt-image-1-mini) has a price: a budget refuses what would exceed it."""
    demo.settings.budget_per_post = 0.001
    with pytest.raises(BudgetError, match=r"less than \$0\.01"):
        execute_step_script(2, 53, {"section_ids": [711]})
    assert loopback.count() == 0


def test_monthly_budget(demo, loopback):
    demo.settings.budget_per_month = 0.01  # gpt-image-1-mini: about $0.008 an image
    with pytest.raises(BudgetError, match="monthly budget"):
        execute_step_script(2, 53, {"section_ids": [711, 712]})
    assert loopback.count() == 0
    assert execute_step_script(2, 53, {"section_ids": [711]})["success"]


def test_local_models_are_free_and_never_blocked(demo, loopback):
    demo.settings.budget_per_post = 0.0
    result = execute_step_script(1, 53, {"section_ids": [711], "llm_settings": {"model": "llama3.2"}})
    assert result["success"]
    assert ledger.run_detail(demo, result["run_id"])["units"][0]["cost"] == 0


def test_cost_of_uses_user_prices_over_defaults(demo):
    assert costs.cost_of(demo.settings, Usage("dall-e-3", images=3)) == pytest.approx(0.12)
    demo.settings.prices["dall-e-3"] = ModelPrice(per_image=1)
    assert costs.cost_of(demo.settings, Usage("dall-e-3", images=3)) == 3
    assert costs.cost_of(demo.settings, Usage("unknown-model", 1000, 1000, 1)) == 0
