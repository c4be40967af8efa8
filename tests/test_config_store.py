"""Loading and saving steps, overrides and LLM actions: validation first, optimistic locking, diffs, previews."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from wfdesk.db.models import PostWorkflowStepAction, WorkflowStepEntity
from wfdesk.errors import ConfigError, ConflictError
from wfdesk.providers.connection_test import check_database, check_provider
from wfdesk.runs.planning import step_effective_config
from wfdesk.scripts.config import deep_merge
from wfdesk.scripts.templates import PromptTemplateError
from wfdesk.services import config_store as cs
from wfdesk.settings import ProviderProfile


def _config(ws, step_id: int) -> dict:
    with ws.db.session() as s:
        return dict(s.get(WorkflowStepEntity, step_id).config)


def _with(config: dict, **script_config) -> dict:
    return {**config, "script_config": {**config["script_config"], **script_config}}


def test_invalid_step_is_not_saved(demo):
    before = cs.load_step(demo, 1)
    bad = dict(before.config)
    bad["script_config"] = {"type": "llm_action", "parameters": {"temperature": 5}}
    with pytest.raises(ConfigError) as info:
        cs.save_step(demo, 1, name="polish_sections", stage="Writing", config=bad, lock_version=before.lock_version)
    # Every field at fault at once, though validate_step stops after the parameters.
    assert [p.field for p in info.value.problems] == ["script_config.parameters.temperature",
                                                      "script_config.action_id"]
    with pytest.raises(ConfigError) as info:
        cs.save_step(demo, 3, name="", stage="", lock_version=None,
                     config=_with(cs.load_step(demo, 3).config, custom_endpoint="http://evil.example/x"))
    assert {p.field for p in info.value.problems} == {"name", "script_config.custom_endpoint"}
    assert cs.load_step(demo, 1) == before
    assert _config(demo, 3)["script_config"]["custom_endpoint"] == "/api/custom/process-data"


def test_valid_step_saves_and_bumps_the_lock_version(demo):
    before = cs.load_step(demo, 1)
    config = _with(before.config, parameters={"temperature": 0.2})
    saved = cs.save_step(demo, 1, name="polish", stage="Editing", config=config, lock_version=before.lock_version)
    assert saved.lock_version == before.lock_version + 1
    assert cs.load_step(demo, 1) == saved
    assert _config(demo, 1)["script_config"]["parameters"] == {"temperature": 0.2}


def test_new_step_goes_last(demo):
    config = {"inputs": {}, "outputs": {"output1": {"label": "Out", "db_field": "out", "type": "text"}},
              "script_config": {"type": "llm_action", "action_id": 5}}
    saved = cs.save_step(demo, None, name="summary", stage="Writing", config=config, lock_version=None)
    assert saved.id is not None
    assert saved.position == 4
    assert saved.config == config


def test_conflict_keeps_the_other_save(demo):
    mine = cs.load_step(demo, 1)
    theirs = cs.save_step(demo, 1, name=mine.name, stage="Theirs", config=mine.config,
                          lock_version=mine.lock_version)
    with pytest.raises(ConflictError) as info:
        cs.save_step(demo, 1, name=mine.name, stage="Mine", config=mine.config, lock_version=mine.lock_version)
    assert info.value.mine["stage"] == "Mine"
    assert info.value.theirs["stage"] == "Theirs"
    assert cs.load_step(demo, 1) == theirs


def test_config_diff_is_the_overlay():
    base = {"a": 1, "s": {"type": "x", "parameters": {"t": 0.7, "keep": True}}, "gone": 3}
    full = {"a": 1, "s": {"type": "x", "parameters": {"t": 0.2, "keep": True, "new": "n"}}}
    diff = cs.config_diff(base, full)
    assert diff == {"s": {"parameters": {"t": 0.2, "new": "n"}}, "gone": None}
    assert cs.config_diff(base, base) == {}
    assert deep_merge(base, diff) == {**full, "gone": None}


def test_override_saves_only_the_difference(demo):
    record = cs.load_override(demo, 1, 53)
    assert record.override == {}
    assert record.lock_version is None
    assert record.post_title
    effective = _with(record.effective, parameters={"temperature": 0.2})
    saved = cs.save_override(demo, 1, 53, effective, record.lock_version)
    assert saved.override == {"script_config": {"parameters": {"temperature": 0.2}}}
    with demo.db.session() as s:
        _, merged = step_effective_config(s, 1, 53, {})
        assert merged["script_config"]["parameters"] == {"temperature": 0.2}
        assert merged["script_config"]["action_id"] == 5
    assert "parameters" not in _config(demo, 1)["script_config"]  # the step itself is untouched
    # Back to the step's values: the override row goes away.
    cleared = cs.save_override(demo, 1, 53, saved.step.config, saved.lock_version)
    assert cleared.override == {}
    assert cleared.lock_version is None
    with demo.db.session() as s:
        assert s.scalars(select(PostWorkflowStepAction)).first() is None


def test_invalid_or_conflicting_override_is_not_saved(demo):
    record = cs.load_override(demo, 3, 53)
    with pytest.raises(ConfigError) as info:
        cs.save_override(demo, 3, 53, _with(record.effective, custom_endpoint="http://evil.example/x"), None)
    assert info.value.problems[0].field == "script_config.custom_endpoint"
    removed = {**record.effective, "inputs": {}}
    with pytest.raises(ConfigError) as info:
        cs.save_override(demo, 3, 53, removed, None)
    assert info.value.problems[0].field == "inputs"
    params = record.effective["script_config"]["parameters"]
    cs.save_override(demo, 3, 53, _with(record.effective, parameters={**params, "timeout": 5}), None)
    with pytest.raises(ConflictError):  # loaded with "no override", but one exists now
        cs.save_override(demo, 3, 53, _with(record.effective, parameters={**params, "timeout": 9}), None)
    assert cs.load_override(demo, 3, 53).override == {"script_config": {"parameters": {"timeout": 5}}}


def test_actions_validate_and_lock(demo):
    action = cs.load_action(demo, 5)
    broken = cs.ActionRecord(5, action.name, "{% if %}", action.model, 0.5, None, action.lock_version)
    with pytest.raises(ConfigError) as info:
        cs.save_action(demo, broken)
    assert info.value.problems[0].field == "prompt_template"
    with pytest.raises(ConfigError) as info:
        cs.save_action(demo, cs.ActionRecord(None, " ", "x", "", 3, 0))
    assert {p.field for p in info.value.problems} == {"name", "model", "temperature", "max_tokens"}
    saved = cs.save_action(demo, cs.ActionRecord(5, "Polish", "{{ input1 }}!", "m", 0.1, 50, action.lock_version))
    assert cs.load_action(demo, 5) == saved
    assert saved.lock_version == action.lock_version + 1
    with pytest.raises(ConflictError):
        cs.save_action(demo, cs.ActionRecord(5, "Stale", "x", "m", 0.1, None, action.lock_version))
    assert cs.load_action(demo, 5).name == "Polish"
    assert [s.id for s in cs.steps_using_action(demo, 5)] == [1]


def test_suggestions_and_variables(demo):
    names = cs.field_suggestions(demo)
    assert {"draft", "image_prompts", "raw_data", "polished"} <= set(names)
    variables = [v.name for v in cs.template_variable_list(demo, 5, 53)]
    assert variables[:2] == ["input1", "draft"]
    assert {"section.title", "section.id", "post.title", "image_prompts"} <= set(variables)
    sections = cs.section_choices(demo, 53)
    assert [s.id for s in sections] == [711, 712, 713]


def test_preview_renders_like_a_run_and_sends_nothing(demo, loopback):
    text = cs.preview_prompt(demo, "{{ post.title }} / {{ section.title }}: {{ input1 }}", 712, 1)
    assert text == "A week in the Scottish Highlands / Glen Affric: glen affric is maybe the most beautifull glen, " \
                   "pine forest and lochs everywhere."
    assert cs.preview_prompt(demo, "{{ draft }}", 711).startswith("we arrived late")
    # No step: the inputs show where they will go; a name nothing provides is still refused.
    assert cs.preview_prompt(demo, "{{ input1 }}", 711) == "[input1: filled in by the step that uses this action]"
    with pytest.raises(PromptTemplateError, match="unknown variable"):
        cs.preview_prompt(demo, "{{ draftt }}", 711)
    assert loopback.count() == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_checks(ws, loopback):
    ok, message = check_database(ws.db.url)
    assert ok, message
    ok, message = check_provider(ProviderProfile(name="t", base_url=loopback.base_url))
    assert ok
    assert "Connected" in message
    assert loopback.count("/v1/models") == 1
    ok, message = check_provider(ProviderProfile(name="t", base_url=f"http://127.0.0.1:{_closed_port()}/v1"))
    assert not ok
    assert "cannot reach" in message


def test_the_provider_check_never_shows_a_key_the_server_echoes(loopback):
    """The check of Settings and the status bar, against a gateway that echoes the key it was sent in its 401. A
    key without a recognisable prefix is only caught by knowing it: openai 3.60 strips it from an error's request."""
    from loopback import key_echo

    key = "plainkeywithoutprefix123456"
    loopback.fail = lambda i, rec: key_echo(rec)
    ok, message = check_provider(ProviderProfile(name="t", base_url=loopback.base_url), api_key=key)
    assert not ok
    assert loopback.requests[0].headers["authorization"] == f"Bearer {key}"  # the key was sent, and echoed
    assert key not in message
    assert "Incorrect API key provided: [API key]" in message


def test_two_editors_creating_the_same_override_at_once_get_the_conflict_message(demo, monkeypatch):
    """Both read "no override yet" (held at a barrier so the race happens every time), both insert: one wins, the
    other gets the conflict with the winner's override, never a database error with SQL in it."""
    import threading

    record = cs.load_override(demo, 3, 53)
    params = record.effective["script_config"]["parameters"]
    barrier = threading.Barrier(2, timeout=30)
    real_row = cs._override_row

    waited = threading.local()

    def row_after_both_looked(session, step_id, post_id):
        row = real_row(session, step_id, post_id)
        if not getattr(waited, "done", False):  # only the save's own look, not the reload after it
            waited.done = True
            barrier.wait()
        return row

    monkeypatch.setattr(cs, "_override_row", row_after_both_looked)
    outcomes: dict[int, object] = {}

    def save(timeout: int) -> None:
        try:
            outcomes[timeout] = cs.save_override(demo, 3, 53, _with(record.effective,
                                                                    parameters={**params, "timeout": timeout}), None)
        except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
            outcomes[timeout] = exc

    threads = [threading.Thread(target=save, args=(t,)) for t in (5, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.setattr(cs, "_override_row", real_row)
    saved = [o for o in outcomes.values() if isinstance(o, cs.OverrideRecord)]
    refused = [o for o in outcomes.values() if not isinstance(o, cs.OverrideRecord)]
    assert len(saved) == 1, outcomes
    assert len(refused) == 1, outcomes
    (conflict,) = refused
    assert isinstance(conflict, ConflictError), repr(conflict)
    assert "changed by someone else" in str(conflict)
    assert "INSERT" not in str(conflict)
    assert conflict.theirs == saved[0].override
    assert cs.load_override(demo, 3, 53).override == saved[0].override


@pytest.mark.parametrize(("parameters", "field"), [
    ({"headers": {"x-api-key": "abc123"}}, "script_config.parameters.headers.x-api-key"),
    ({"auth": [{"access_token": "abc123"}]}, "script_config.parameters.auth.0.access_token"),
    ({"note": "sk-proj-Abc123Def456Ghi789Jkl012Mno345"}, "script_config.parameters.note"),
])
def test_a_step_or_override_holding_a_secret_anywhere_is_not_saved(demo, parameters, field):
    before = cs.load_step(demo, 3)
    params = before.config["script_config"]["parameters"]
    leaky = _with(before.config, parameters={**params, **parameters})
    with pytest.raises(ConfigError) as info:
        cs.save_step(demo, 3, name=before.name, stage=before.stage, config=leaky, lock_version=before.lock_version)
    assert field in [p.field for p in info.value.problems]
    assert cs.load_step(demo, 3) == before
    with pytest.raises(ConfigError) as info:
        cs.save_override(demo, 3, 53, leaky, None)
    assert field in [p.field for p in info.value.problems]
    assert cs.load_override(demo, 3, 53).override == {}


@pytest.mark.parametrize(("field", "record"), [
    ("model", cs.ActionRecord(None, "Long model", "Polish {{ draft }}", model="m" * 300)),
])
def test_an_llm_action_field_too_long_for_its_column_is_refused_in_words(demo, field, record):
    """PostgreSQL refuses a value longer than the column (a raw "value too long" error); SQLite stored it."""
    with pytest.raises(cs.InvalidActionError) as info:
        cs.save_action(demo, record)
    assert [p.field for p in info.value.problems] == [field]
    assert "characters" in info.value.problems[0].message


@pytest.mark.parametrize("text", ["a\x00b", "half \ud83d an emoji"])
def test_text_no_database_can_store_is_refused_in_words_wherever_it_is(demo, text):
    """A NUL (JSON "\\u0000") or half a character: PostgreSQL refused the save with its own error and the SQL."""
    before = cs.load_step(demo, 3)
    config = _with(before.config, parameters={"format": "json", "note": text})
    with pytest.raises(ConfigError) as info:
        cs.save_step(demo, 3, name=before.name, stage=before.stage, config=config, lock_version=before.lock_version)
    assert [p.field for p in info.value.problems] == ["script_config.parameters.note"]
    assert "cannot be stored" in info.value.problems[0].message
    assert cs.load_step(demo, 3).config == before.config
    with pytest.raises(ConfigError) as info:
        cs.save_override(demo, 3, 53, config, lock_version=None)
    assert [p.field for p in info.value.problems] == ["script_config.parameters.note"]
    with pytest.raises(cs.InvalidActionError) as info:
        cs.save_action(demo, cs.ActionRecord(None, "Odd", f"Polish {text} {{{{ draft }}}}"))
    assert [p.field for p in info.value.problems] == ["prompt_template"]
