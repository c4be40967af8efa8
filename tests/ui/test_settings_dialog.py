"""The settings dialog: saved to the (isolated) settings file without any key, keyring absence explained,
connection tests against the loopback server and a closed port."""

from __future__ import annotations

import json
import socket

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

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


def test_prices_budgets_and_image_backend_are_saved_and_applied(qtbot, dialog, gui_ws):
    from wfdesk.runs import prices
    from wfdesk.settings import ModelPrice

    table = dialog.price_table
    listed = [m for m in prices.STARTER_MODELS if prices.known_price(m) is not None]
    assert [table.item(r, 0).text() for r in range(len(listed))] == listed
    assert table.item(table.row_of("gpt-4o-mini"), 4).text() == "price list (genai-prices)"
    assert table.item(table.row_of("dall-e-3"), 4).text() == "price list (per image)"
    table.set_price("gpt-4o-mini", prompt_per_1k=1.5)  # overrides the price list
    assert table.item(table.row_of("gpt-4o-mini"), 4).text() == "yours (over the price list)"
    table.set_price("my-sdxl", per_image=0.002)  # a model of your own
    table.set_price("dall-e-2", per_image=0.5)
    table.setCurrentCell(table.row_of("dall-e-2"), 1)
    dialog.findChild(QPushButton, "remove_price").click()  # a price-list row goes back to its price
    assert table.item(table.row_of("dall-e-2"), 3).text() == "0.02"
    dialog.post_budget_check.setChecked(True)
    dialog.post_budget.setValue(2.5)
    assert not dialog.month_budget.isEnabled()
    dialog.a1111_radio.setChecked(True)
    dialog.a1111_url.setText("http://gpu-box:7860/")
    dialog.tabs.setCurrentIndex(4)
    combo = dialog.unpriced_combo
    assert combo.isVisible() and combo.currentData() == "warn"
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == "Refuse the run"
    dialog.save()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted

    data = json.loads(settings_path().read_text())
    assert data["prices"] == {"gpt-4o-mini": {"prompt_per_1k": 1.5, "completion_per_1k": pytest.approx(0.0006),
                                              "per_image": 0.0},
                              "my-sdxl": {"prompt_per_1k": 0.0, "completion_per_1k": 0.0, "per_image": 0.002}}
    assert (data["budget_per_post"], data["budget_per_month"]) == (2.5, None)
    assert data["unpriced_models"] == "refuse" and gui_ws.settings.unpriced_models == "refuse"
    assert (data["image_backend"], data["a1111_base_url"]) == ("a1111", "http://gpu-box:7860")
    settings = gui_ws.settings
    assert settings.price("gpt-4o-mini").prompt_per_1k == 1.5
    assert settings.price("dall-e-2") is None  # the price list's, not saved as the editor's
    assert settings.price("my-sdxl") == ModelPrice(per_image=0.002)
    assert settings.budget_per_post == 2.5 and settings.budget_per_month is None
    assert settings.image_backend == "a1111" and settings.a1111_base_url == "http://gpu-box:7860"

    again = SettingsDialog(gui_ws)  # reopened: what was saved is what is shown
    qtbot.addWidget(again)
    assert again.price_table.item(again.price_table.row_of("my-sdxl"), 4).text() == "yours"
    assert again.post_budget_check.isChecked() and again.post_budget.value() == 2.5
    assert again.a1111_radio.isChecked() and not again.month_budget_check.isChecked()


def test_a_price_without_a_model_name_is_refused(dialog):
    row = dialog.price_table.add_row()
    dialog.price_table.item(row, 3).setText("0.1")
    dialog.a1111_url.setText("gpu-box:7860")
    dialog.save()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert "give the model's name" in dialog.price_problem.text() and "http" in dialog.a1111_problem.text()
    assert not settings_path().exists()


def test_a1111_connection_test(qtbot, dialog, loopback):
    models = [{"title": "sd_xl_base_1.0.safetensors [31e35c80fc]", "model_name": "sd_xl_base_1.0"}]
    # The loopback stand-in has no model list: answer GET /sdapi/v1/sd-models the way AUTOMATIC1111 does.
    loopback.fail = lambda i, req: ((200, {}, json.dumps(models).encode()) if req.path == "/sdapi/v1/sd-models"
                                    else None)
    dialog.a1111_url.setText(loopback.root_url)
    with qtbot.waitSignal(dialog.a1111_checked, timeout=WAIT) as blocker:
        dialog.findChild(QPushButton, "test_a1111").click()
    assert blocker.args == [True, f"Connected to AUTOMATIC1111 at {loopback.root_url}: 1 model (sd_xl_base_1.0)"]
    assert "✔" in dialog.a1111_result.text()

    loopback.fail = None  # the web UI without --api: 404 for the whole /sdapi tree
    with qtbot.waitSignal(dialog.a1111_checked, timeout=WAIT) as blocker:
        dialog.test_a1111_connection()
    assert blocker.args[0] is False and "--api" in blocker.args[1]

    dialog.a1111_url.setText(f"http://127.0.0.1:{_closed_port()}")
    with qtbot.waitSignal(dialog.a1111_checked, timeout=WAIT) as blocker:
        dialog.test_a1111_connection()
    assert blocker.args[0] is False and "Cannot reach http://127.0.0.1:" in blocker.args[1]
    assert "✘" in dialog.a1111_result.text()
