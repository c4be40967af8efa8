"""Prices from the genai-prices library (offline), the editor's own prices on top, tokens estimated when a server
sends no `usage`, and models with no known price shown as such and handled by the budget's policy."""

from __future__ import annotations

import json
import logging
import socket

import genai_prices
import pytest

from wfdesk.runs import costs, ledger, prices
from wfdesk.runs.costs import BudgetError, Usage
from wfdesk.scripts.registry import execute_step_script
from wfdesk.settings import ModelPrice, Settings


def library_cost(model: str, prompt: int, completion: int) -> float:
    usage = genai_prices.Usage(input_tokens=prompt, output_tokens=completion)
    return float(genai_prices.calc_price(usage, model).total_price)


def test_token_prices_come_from_the_library_and_need_no_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    settings = Settings()
    usage = Usage("gpt-4o-mini", prompt_tokens=12_000, completion_tokens=3_000)
    assert costs.cost_of(settings, usage) == pytest.approx(library_cost("gpt-4o-mini", 12_000, 3_000))
    assert costs.cost_of(settings, usage) > 0
    assert prices.quote(settings, "gpt-4o-mini").source == "genai-prices"


def test_the_editors_price_overrides_the_library():
    settings = Settings(prices={"gpt-4o-mini": ModelPrice(prompt_per_1k=1.0, completion_per_1k=2.0)})
    assert costs.cost_of(settings, Usage("gpt-4o-mini", 1000, 500)) == pytest.approx(2.0)
    assert prices.quote(settings, "gpt-4o-mini").source == "yours"


def test_a_model_without_a_known_price_is_unknown_not_free():
    settings = Settings()
    assert costs.price_of(settings, Usage("llama3.2:3b", 1000, 1000)) is None
    assert prices.quote(settings, "llama3.2:3b") is None
    assert costs.price_of(settings, Usage(None, 10, 10)) is None


def test_image_models_priced_per_picture_and_per_token():
    settings = Settings()
    assert costs.cost_of(settings, Usage("dall-e-3", images=3)) == pytest.approx(0.12)
    # gpt-image-1 is priced per token; an answer without usage is estimated from a typical image's tokens.
    estimated = costs.complete_usage(Usage("gpt-image-1", images=2))
    assert estimated.estimated
    assert estimated.completion_tokens == 2 * prices.IMAGE_OUTPUT_TOKENS
    assert costs.cost_of(settings, Usage("gpt-image-1", images=2)) == pytest.approx(
        library_cost("gpt-image-1", 0, 2 * prices.IMAGE_OUTPUT_TOKENS))


def no_usage(index, request):
    """A local server's answer: a chat completion without the `usage` object."""
    if request.path != "/v1/chat/completions":
        return None
    text = "POLISHED: " + request.json["messages"][-1]["content"]
    body = {"id": f"chatcmpl-{index}", "object": "chat.completion", "created": 0, "model": request.json["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    return 200, {}, json.dumps(body).encode()


def test_tokens_missing_from_the_answer_are_estimated_and_marked(demo, loopback):
    loopback.fail = no_usage
    result = execute_step_script(1, 53, {"section_ids": [711, 712]})
    assert result["success"], result
    for unit in ledger.run_detail(demo, result["run_id"])["units"]:
        assert unit["prompt_tokens"] > 0
        assert unit["completion_tokens"] > 0
        assert unit["result"]["metadata"]["tokens_estimated"] is True
        assert unit["cost"] == pytest.approx(library_cost("gpt-4o-mini", unit["prompt_tokens"],
                                                          unit["completion_tokens"]))
    (row,) = costs.totals(demo, "step")
    assert row["estimated_units"] == 2
    assert row["unpriced_units"] == 0


def test_reported_usage_is_not_marked_estimated(demo, loopback):
    result = execute_step_script(1, 53, {"section_ids": [711]})
    unit = ledger.run_detail(demo, result["run_id"])["units"][0]
    assert "tokens_estimated" not in unit["result"]["metadata"]
    assert costs.totals(demo, "step")[0]["estimated_units"] == 0


def test_a_run_on_a_model_without_a_price_is_marked_in_the_ledger(demo, loopback):
    result = execute_step_script(1, 53, {"section_ids": [711], "llm_settings": {"model": "llama3.2:3b"}})
    unit = ledger.run_detail(demo, result["run_id"])["units"][0]
    assert unit["cost"] == 0
    assert unit["result"]["metadata"]["price_known"] is False
    (row,) = costs.totals(demo, "model")
    assert row["model"] == "llama3.2:3b"
    assert row["unpriced_units"] == 1


def test_budget_warns_about_a_model_without_a_price_by_default(demo, loopback, caplog):
    demo.settings.budget_per_post = 1.0
    assert demo.settings.unpriced_models == "warn"
    with caplog.at_level(logging.WARNING, logger="wfdesk.runs.costs"):
        result = execute_step_script(1, 53, {"section_ids": [711], "llm_settings": {"model": "llama3.2:3b"}})
    assert result["success"]
    assert "no price is known for llama3.2:3b" in caplog.text


def test_budget_set_to_refuse_refuses_a_model_without_a_price(demo, loopback):
    demo.settings.budget_per_month = 1.0
    demo.settings.unpriced_models = "refuse"
    with pytest.raises(BudgetError, match=r"no price is known for llama3.2:3b.*Nothing was sent"):
        execute_step_script(1, 53, {"section_ids": [711], "llm_settings": {"model": "llama3.2:3b"}})
    assert loopback.count() == 0
    # Without any budget there is nothing to protect: the run goes ahead.
    demo.settings.budget_per_month = None
    assert execute_step_script(1, 53, {"section_ids": [711], "llm_settings": {"model": "llama3.2:3b"}})["success"]


def test_a_custom_script_has_no_tokens_to_estimate(demo, loopback):
    result = execute_step_script(3, 53, {"section_ids": [711]})
    unit = ledger.run_detail(demo, result["run_id"])["units"][0]
    assert result["success"]
    assert unit["prompt_tokens"] == unit["completion_tokens"] == 0
    assert "tokens_estimated" not in unit["result"]["metadata"]
    assert "price_known" not in unit["result"]["metadata"]


@pytest.mark.parametrize("answered", ["gpt-4o-2024-08-06", "gpt-4o-20240806"])
def test_the_editors_price_covers_the_dated_model_the_answer_names(answered):
    # Asked for "gpt-4o", OpenAI answers with the snapshot it used: the ledger must use the editor's price for it,
    # as the budget's estimate (made with "gpt-4o") did.
    settings = Settings(prices={"gpt-4o": ModelPrice(prompt_per_1k=1.0, completion_per_1k=2.0)})
    assert costs.cost_of(settings, Usage(answered, 1000, 500)) == pytest.approx(2.0)
    assert prices.quote(settings, answered).source == "yours"
    values, flags = costs.ledger_values(settings, Usage(answered, 1000, 500), "p", "o")
    assert values["cost"] == pytest.approx(2.0)
    assert "price_known" not in flags
    # A snapshot of its own in the editor's table wins over the undated one.
    settings.prices[answered] = ModelPrice(prompt_per_1k=0.0, completion_per_1k=0.0)
    assert costs.cost_of(settings, Usage(answered, 1000, 500)) == 0
    # Without a price of the editor's, the library knows the snapshot.
    assert costs.cost_of(Settings(), Usage("gpt-4o-2024-08-06", 1000, 500)) == \
        pytest.approx(library_cost("gpt-4o-2024-08-06", 1000, 500))
