"""Config problems in an editor's words: the field's label and plain words, never a regex or a pydantic phrase."""

from __future__ import annotations

import pytest

from wfdesk.errors import Problem
from wfdesk.services.validation import describe, describe_problems, plain_message, validate_step


@pytest.mark.parametrize(("field", "message", "expected"), [
    ("script_config.parameters.size", r"String should match pattern '^(auto|\d{2,5}x\d{2,5})$'",
     "Size must be like 1024x1024 or auto"),
    ("script_config.parameters.temperature", "Input should be less than or equal to 2",
     "Temperature must be at most 2"),
    ("script_config.parameters.n", "Input should be greater than or equal to 1",
     "Images per section must be at least 1"),
    ("script_config.parameters.timeout", "Input should be greater than 0", "Timeout (seconds) must be more than 0"),
    ("script_config.parameters.concurrency", "Input should be a valid integer, unable to parse string as an integer",
     "Sections at once must be a whole number"),
    ("script_config.parameters.backend", "Input should be 'openai' or 'a1111'", "Backend must be openai or a1111"),
    ("outputs.output1.db_field", r"String should match pattern '^[A-Za-z_][A-Za-z0-9_]{0,99}$'",
     "Output output1 → database field must be a name of letters, digits and underscores (not starting with a "
     "digit)"),
    ("script_config.action_id", "is required", "LLM action is required"),
    ("custom_script base URL", "is not configured: set it in Settings or WFDESK_CUSTOM_SCRIPT_BASE_URL",
     "The custom-script base URL is not set: enter it in Settings → Custom scripts"),
])
def test_problems_read_as_plain_words(field, message, expected):
    assert describe(Problem(field, message)) == expected


def test_no_internal_words_survive():
    text = plain_message("String should match pattern '^[a-z]{1,20}$'")
    assert "pattern" not in text
    assert "^" not in text
    assert "should" not in text


def test_a_real_invalid_config_is_described_plainly(ws):
    config = {"inputs": {"input1": {"label": "Prompt", "db_field": "image_prompts"}},
              "outputs": {"output1": {"label": "Image", "db_field": "image_url"}},
              "script_config": {"type": "image_generation", "parameters": {"size": "big", "n": 0}}}
    text = describe_problems("section_illustrations", validate_step(ws, "section_illustrations", config))
    assert "Size must be like 1024x1024 or auto" in text
    assert "Images per section must be at least 1" in text
    assert "pattern" not in text
    assert "script_config" not in text
    assert "Input should" not in text


def test_a_saved_action_with_an_unknown_variable_is_refused_in_words(demo):
    """An action saved before unknown variables were refused on save: its run is refused naming the action, the
    variable as the editor wrote it, and where to fix it — not a field path or Jinja's own words."""
    from wfdesk.db.models import LLMAction
    from wfdesk.errors import ConfigError
    from wfdesk.scripts.registry import execute_step_script
    from wfdesk.services.validation import describe_problems

    with demo.db.session() as s:
        s.get(LLMAction, 5).prompt_template = "Polish this: {{ draftt }}"
    with pytest.raises(ConfigError) as refused:
        execute_step_script(1, 53, {"section_ids": [711]})
    shown = describe_problems("polish_sections", refused.value.problems)
    assert "{{ draftt }}" in shown
    assert "“Polish section”" in shown
    assert "Step → LLM actions" in shown
    for internal in ("llm_action[", "is undefined", "prompt_template", "Edit step config"):
        assert internal not in shown, shown
