"""The WFDESK_* environment variables, declared once (wfdesk.settings.Environment): each one's effect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wfdesk.settings import Environment, Settings, environment, load_settings, save_settings, settings_path

WFDESK = Path(__file__).resolve().parent.parent / "wfdesk"


@pytest.mark.parametrize(("variable", "field", "value"), [
    ("WFDESK_DATABASE_URL", "database_url", "sqlite:////tmp/from-env.db"),
    ("WFDESK_DATA_DIR", "data_dir", "/tmp/from-env-data"),
    ("WFDESK_CUSTOM_SCRIPT_BASE_URL", "custom_script_base_url", "http://127.0.0.1:9001"),
    ("WFDESK_A1111_BASE_URL", "a1111_base_url", "http://127.0.0.1:7861"),
    ("WFDESK_COMFYUI_BASE_URL", "comfyui_base_url", "http://127.0.0.1:8189"),
])
def test_a_variable_overrides_the_saved_setting(monkeypatch, variable, field, value):
    saved = Settings(**{field: "saved value"})
    save_settings(saved)
    assert getattr(load_settings(), field) == "saved value"
    monkeypatch.setenv(variable, value)
    assert getattr(load_settings(), field) == value
    assert environment().overrides() == {field: value}
    monkeypatch.setenv(variable, "")  # empty counts as not set
    assert getattr(load_settings(), field) == "saved value"


def test_the_config_dir_variable_moves_the_settings_file(monkeypatch, tmp_path):
    monkeypatch.setenv("WFDESK_CONFIG_DIR", str(tmp_path / "elsewhere"))
    assert settings_path() == tmp_path / "elsewhere" / "settings.json"


def test_the_api_token_variable_is_the_token(monkeypatch):
    from wfdesk.api.token import load_token

    monkeypatch.setenv("WFDESK_API_TOKEN", "  from-the-environment-" + "t" * 20 + " ")
    token = load_token(create=False)
    assert token.value == "from-the-environment-" + "t" * 20
    assert "WFDESK_API_TOKEN" in token.where


def test_the_wordpress_password_variable_when_there_is_no_keyring(monkeypatch):
    from wfdesk.content.wordpress_auth import get_app_password

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    assert get_app_password("https://blog.example", "editor") is None
    monkeypatch.setenv("WFDESK_WORDPRESS_APP_PASSWORD", "abcd efgh ijkl")
    assert get_app_password("https://blog.example", "editor") == "abcd efgh ijkl"


@pytest.mark.parametrize(("value", "on"), [("1", True), (" 1 ", True), ("0", False), ("true", False),
                                           ("", False), (None, False)])
def test_runs_in_process_is_on_only_for_1(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("WFDESK_RUNS_IN_PROCESS", raising=False)
    else:
        monkeypatch.setenv("WFDESK_RUNS_IN_PROCESS", value)
    assert environment().runs_in_process is on


@pytest.mark.parametrize(("value", "seconds"), [("2.5", 2.5), ("0", 0.1), ("soon", 5.0), ("", 5.0)])
def test_plugin_load_seconds(monkeypatch, value, seconds):
    from wfdesk.scripts.plugins import load_seconds

    monkeypatch.setenv("WFDESK_PLUGIN_LOAD_SECONDS", value)
    assert load_seconds() == seconds


def test_every_wfdesk_variable_the_app_reads_is_declared_once():
    """A new WFDESK_* name in the code is a field of Environment (and so has a test above)."""
    declared = {f"WFDESK_{name.upper()}" for name in Environment.model_fields}
    used = set()
    for path in WFDESK.rglob("*.py"):
        used |= set(re.findall(r"WFDESK_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8")))
    assert used - declared == set()
