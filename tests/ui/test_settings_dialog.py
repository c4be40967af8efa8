"""The settings dialog: saved to the (isolated) settings file without any key, keyring absence explained,
connection tests against the loopback server and a closed port."""

from __future__ import annotations

import json
import socket

import pytest

from wfdesk.settings import load_settings, settings_path
from wfdesk.ui.settings_dialog import NO_KEYRING, SettingsDialog

WAIT = 10_000


@pytest.fixture
def dialog(qtbot, gui_ws):
    dlg = SettingsDialog(gui_ws)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_saves_settings_without_any_key(qtbot, dialog, gui_ws, tmp_path):
    settings_object = gui_ws.settings
    assert not settings_path().exists()
    dialog.custom_url.setText("http://127.0.0.1:9/")
    dialog.p_read.setValue(33)
    name = dialog.add_profile("ollama")
    assert name == "ollama" and dialog.p_base_url.text() == "http://localhost:11434/v1"
    dialog.default_combo.setCurrentText("ollama")
    dialog.save()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert not dialog.database_changed
    text = settings_path().read_text()
    data = json.loads(text)
    assert data["custom_script_base_url"] == "http://127.0.0.1:9"
    assert data["default_provider"] == "ollama"
    assert data["providers"]["default"]["read_timeout"] == 33
    assert data["providers"]["ollama"]["read_timeout"] == 600
    assert "api_key\"" not in text and "sk-" not in text
    assert all(set(p) <= set(type(settings_object.providers["default"]).model_fields) for p in
               data["providers"].values())
    # ws.settings is the same object, updated in place.
    assert gui_ws.settings is settings_object
    assert gui_ws.settings.default_provider == "ollama"
    assert load_settings().providers["ollama"].concurrency == 2


def test_no_keyring_is_explained_and_the_key_field_disabled(dialog):
    assert not dialog.keyring  # conftest selects keyring's fail backend
    assert not dialog.p_key.isEnabled()
    assert NO_KEYRING in dialog.key_message.text() and not dialog.key_message.isHidden()


def test_database_change_is_reported(qtbot, dialog, tmp_path):
    other = tmp_path / "other.db"
    dialog.sqlite_path.setText(str(other))
    with qtbot.waitSignal(dialog.database_checked, timeout=WAIT) as blocker:
        dialog.test_database_connection()
    assert blocker.args[0] is True and "will be created" in blocker.args[1]
    dialog.save()
    assert dialog.database_changed
    assert json.loads(settings_path().read_text())["database_url"] == f"sqlite:///{other}"


def test_invalid_values_are_refused_in_place(dialog):
    dialog.pg_radio.setChecked(True)
    dialog.pg_url.setText("mysql://nope")
    dialog.custom_url.setText("ftp://x")
    dialog.save()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert "PostgreSQL URL" in dialog.db_problem.text() and "http" in dialog.custom_problem.text()
    assert not settings_path().exists()


def test_database_connection_test(qtbot, dialog, gui_ws):
    dialog.sqlite_path.setText(gui_ws.db.engine.url.database)
    with qtbot.waitSignal(dialog.database_checked, timeout=WAIT) as blocker:
        dialog.test_database_connection()
    assert blocker.args[0] is True
    assert "Connected to SQLite" in dialog.db_result.text()


def test_provider_connection_online_and_offline(qtbot, dialog, loopback):
    dialog.profile_list.setCurrentRow(0)  # "default": the loopback server
    with qtbot.waitSignal(dialog.provider_checked, timeout=WAIT) as blocker:
        dialog.test_provider_connection()
    assert blocker.args[0] is True, blocker.args[1]
    assert "Connected" in dialog.provider_result.text() and loopback.count("/v1/models") == 1

    dialog.add_profile("compatible")
    dialog.p_base_url.setText(f"http://127.0.0.1:{_closed_port()}/v1")
    dialog.p_base_url.textEdited.emit(dialog.p_base_url.text())
    with qtbot.waitSignal(dialog.provider_checked, timeout=WAIT) as blocker:
        dialog.test_provider_connection()
    ok, message = blocker.args
    assert ok is False and "cannot reach http://127.0.0.1:" in message
    assert "✘" in dialog.provider_result.text()
