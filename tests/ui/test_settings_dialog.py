"""The settings dialog: saved to the (isolated) settings file without any key, keyring absence explained,
connection tests against the loopback server and a closed port. Every change is made the way an editor makes it:
tabs, fields, buttons, menus and table cells are clicked, text is typed."""

from __future__ import annotations

import json
import socket

import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QApplication, QListWidget, QMenu, QPushButton, QTableWidget, QWidget

from tests.ui.editor_input import activate, click, click_button, click_check_box, focused, press, type_text
from tests.ui.input_helpers import field, pick, wheel
from wfdesk.settings import load_settings, settings_path
from wfdesk.ui.settings_dialog import NO_KEYRING, SettingsDialog

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out


@pytest.fixture
def dialog(qtbot, gui_ws):
    dlg = SettingsDialog(gui_ws)
    qtbot.addWidget(dlg)
    dlg.show()
    activate(qtbot, dlg)  # the keyboard only reaches the active window
    return dlg


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def open_tab(qtbot, dialog: SettingsDialog, title: str) -> QWidget:
    """Click a tab by the title the tab bar shows; returns its page."""
    bar = dialog.tabs.tabBar()
    titles = [bar.tabText(i).replace("&&", "&") for i in range(bar.count())]  # "&&" shows as "&"
    assert title in titles, f"no tab “{title}”: {titles}"
    click(qtbot, bar, bar.tabRect(titles.index(title)).center())
    qtbot.waitUntil(lambda: dialog.tabs.currentIndex() == titles.index(title), timeout=WAIT)
    return dialog.tabs.currentWidget()


def retype(qtbot, widget: QWidget, text: str) -> None:
    """Click into a field, select what it holds (Ctrl+A) and type the new text over it."""
    click(qtbot, widget)
    assert focused() is widget, f"the click left the focus on {focused()!r}"
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)


def wheel_to(view: QAbstractItemView, rect_of) -> QRect:
    """Turn the mouse wheel over a list or table until the row rect_of() gives is wholly on screen; returns it."""
    viewport = view.viewport()
    for _ in range(200):
        rect = rect_of()
        if rect.isValid() and rect.top() >= 0 and rect.bottom() < viewport.height():
            assert rect.left() >= 0, "the cell is off to the side"
            assert rect.right() < viewport.width(), "the cell is off to the side"
            return rect
        wheel(viewport, -120 if rect.top() >= 0 else 120)
    raise AssertionError("the wheel did not bring the row on screen")


def edit_cell(qtbot, table: QTableWidget, row: int, column: int, text: str) -> None:
    """Double-click a table cell, type over its figure, press Return."""
    index = table.model().index(row, column)
    center = wheel_to(table, lambda: table.visualRect(index)).center()
    # A real double-click starts with a plain click; QTest's mouseDClick alone does not open the cell editor.
    click(qtbot, table.viewport(), center)
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=center)
    qtbot.waitUntil(lambda: table.state() == QAbstractItemView.State.EditingState, timeout=WAIT)
    type_over_cell_editor(qtbot, table, text)


def type_over_cell_editor(qtbot, table: QTableWidget, text: str) -> None:
    assert table.isAncestorOf(focused()), "the cell editor does not have the focus"
    press(qtbot, "Ctrl+A")
    type_text(qtbot, text)
    press(qtbot, "Return")
    qtbot.waitUntil(lambda: table.state() != QAbstractItemView.State.EditingState, timeout=WAIT)


def click_cell(qtbot, table: QTableWidget, row: int, column: int) -> None:
    index = table.model().index(row, column)
    click(qtbot, table.viewport(), wheel_to(table, lambda: table.visualRect(index)).center())


def click_list_row(qtbot, widget: QListWidget, text: str) -> None:
    (item,) = widget.findItems(text, Qt.MatchFlag.MatchExactly)
    click(qtbot, widget.viewport(), wheel_to(widget, lambda: widget.visualItemRect(item)).center())
    assert widget.currentItem() is item


def add_profile(qtbot, dialog: SettingsDialog, title: str) -> str:
    """Providers → Add ▾ → a preset, chosen in the drop-down menu with the mouse; returns the new profile's name.
    The menu runs its own event loop, so the item is clicked from a timer started before the click that opens it."""
    failures: list[BaseException] = []
    tries = [0]

    def choose() -> None:
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            tries[0] += 1
            if tries[0] < 300:
                QTimer.singleShot(30, choose)
            return
        try:
            action = next((a for a in menu.actions() if a.text() == title), None)
            assert action is not None, f"no “{title}” in {[a.text() for a in menu.actions()]}"
            qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
        except BaseException as exc:  # noqa: BLE001 - re-raised below, outside the menu's event loop
            failures.append(exc)
            qtbot.keyClick(menu, Qt.Key.Key_Escape)  # the menu closes, nothing chosen

    before = dialog.providers_page.profile_list.count()
    QTimer.singleShot(0, choose)
    click(qtbot, dialog.providers_page.add_button)
    if failures:
        raise failures[0]
    activate(qtbot, dialog)  # the offscreen platform does not give the dialog back the keyboard when a menu closes
    qtbot.waitUntil(lambda: dialog.providers_page.profile_list.count() == before + 1, timeout=WAIT)
    return dialog.providers_page.profile_list.currentItem().text()


def save(qtbot, dialog: SettingsDialog) -> None:
    click_button(qtbot, dialog, "Save")


def test_saves_settings_without_any_key(qtbot, dialog, gui_ws, tmp_path):
    settings_object = gui_ws.settings
    assert not settings_path().exists()
    retype(qtbot, field(open_tab(qtbot, dialog, "Custom scripts"), "Base URL"), "http://127.0.0.1:9/")
    open_tab(qtbot, dialog, "Providers")
    click_list_row(qtbot, dialog.providers_page.profile_list, "default")
    retype(qtbot, dialog.providers_page.form.p_read, "33")  # the read timeout of the "default" profile
    name = add_profile(qtbot, dialog, "Ollama (local)")
    assert name == "ollama"
    assert dialog.providers_page.form.p_base_url.text() == "http://localhost:11434/v1"
    pick(qtbot, dialog.providers_page.default_combo, "ollama")
    save(qtbot, dialog)
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert not dialog.database_changed
    text = settings_path().read_text()
    data = json.loads(text)
    assert data["custom_script_base_url"] == "http://127.0.0.1:9"
    assert data["default_provider"] == "ollama"
    assert data["providers"]["default"]["read_timeout"] == 33
    assert data["providers"]["ollama"]["read_timeout"] == 600
    assert "api_key\"" not in text
    assert "sk-" not in text
    assert all(set(p) <= set(type(settings_object.providers["default"]).model_fields) for p in
               data["providers"].values())
    # ws.settings is the same object, updated in place.
    assert gui_ws.settings is settings_object
    assert gui_ws.settings.default_provider == "ollama"
    assert load_settings().providers["ollama"].concurrency == 2


def test_save_shortcut_saves(qtbot, dialog):
    retype(qtbot, field(open_tab(qtbot, dialog, "Custom scripts"), "Base URL"), "http://127.0.0.1:9/")
    press(qtbot, "Ctrl+S")
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert json.loads(settings_path().read_text())["custom_script_base_url"] == "http://127.0.0.1:9"


def test_no_keyring_is_explained_and_the_key_field_disabled(dialog):
    assert not dialog.providers_page.keyring  # conftest selects keyring's fail backend
    assert not dialog.providers_page.form.p_key.isEnabled()
    assert NO_KEYRING in dialog.providers_page.form.key_message.text()
    assert not dialog.providers_page.form.key_message.isHidden()


def test_database_change_is_reported(qtbot, dialog, tmp_path):
    other = tmp_path / "other.db"
    retype(qtbot, dialog.database_page.sqlite_path, str(other))
    with qtbot.waitSignal(dialog.database_checked, timeout=WAIT) as blocker:
        click_button(qtbot, dialog, "Test connection")
    assert blocker.args[0] is True
    assert "will be created" in blocker.args[1]
    save(qtbot, dialog)
    assert dialog.database_changed
    assert json.loads(settings_path().read_text())["database_url"] == f"sqlite:///{other}"


def test_invalid_values_are_refused_in_place(qtbot, dialog):
    click_check_box(qtbot, dialog.database_page.pg_radio)
    assert dialog.database_page.pg_radio.isChecked()
    retype(qtbot, dialog.database_page.pg_url, "mysql://nope")
    retype(qtbot, field(open_tab(qtbot, dialog, "Custom scripts"), "Base URL"), "ftp://x")
    save(qtbot, dialog)
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert dialog.isVisible()
    assert "Not saved" in dialog.message.text()
    assert dialog.message.isVisible()
    assert "PostgreSQL URL" in dialog.database_page.db_problem.text()
    assert "http" in dialog.custom_page.custom_problem.text()
    assert not settings_path().exists()


def test_database_connection_test(qtbot, dialog, gui_ws):
    retype(qtbot, dialog.database_page.sqlite_path, gui_ws.db.engine.url.database)
    with qtbot.waitSignal(dialog.database_checked, timeout=WAIT) as blocker:
        click_button(qtbot, dialog, "Test connection")
    assert blocker.args[0] is True
    assert "Connected to SQLite" in dialog.database_page.db_result.text()


def test_provider_connection_online_and_offline(qtbot, dialog, loopback):
    page = open_tab(qtbot, dialog, "Providers")
    click_list_row(qtbot, dialog.providers_page.profile_list, "default")  # the loopback server
    with qtbot.waitSignal(dialog.provider_checked, timeout=WAIT) as blocker:
        click_button(qtbot, page, "Test connection")
    assert blocker.args[0] is True, blocker.args[1]
    assert "Connected" in dialog.providers_page.provider_result.text()
    assert loopback.count("/v1/models") == 1

    add_profile(qtbot, dialog, "Other OpenAI-compatible server (vLLM, LocalAI, …)")
    retype(qtbot, field(page, "Base URL"), f"http://127.0.0.1:{_closed_port()}/v1")
    with qtbot.waitSignal(dialog.provider_checked, timeout=WAIT) as blocker:
        click_button(qtbot, page, "Test connection")
    ok, message = blocker.args
    assert ok is False
    assert "cannot reach http://127.0.0.1:" in message
    assert "✘" in dialog.providers_page.provider_result.text()


def test_prices_budgets_and_image_backend_are_saved_and_applied(qtbot, dialog, gui_ws):
    from wfdesk.runs import prices
    from wfdesk.settings import ModelPrice

    page = open_tab(qtbot, dialog, "Costs & budgets")
    table = dialog.costs_page.price_table
    listed = [m for m in prices.STARTER_MODELS if prices.known_price(m) is not None]
    assert [table.item(r, 0).text() for r in range(len(listed))] == listed
    assert table.item(table.row_of("gpt-4o-mini"), 4).text() == "price list (genai-prices)"
    assert table.item(table.row_of("dall-e-3"), 4).text() == "price list (per image)"
    edit_cell(qtbot, table, table.row_of("gpt-4o-mini"), 1, "1.5")  # overrides the price list
    assert table.item(table.row_of("gpt-4o-mini"), 4).text() == "yours (over the price list)"
    click_button(qtbot, page, "Add model")  # a model of your own: its name cell opens for typing
    type_over_cell_editor(qtbot, table, "my-sdxl")
    edit_cell(qtbot, table, table.row_of("my-sdxl"), 3, "0.002")
    edit_cell(qtbot, table, table.row_of("dall-e-2"), 3, "0.5")
    assert table.item(table.row_of("dall-e-2"), 3).text() == "0.5"
    click_cell(qtbot, table, table.row_of("dall-e-2"), 1)
    click_button(qtbot, page, "Remove / reset")  # a price-list row goes back to its price
    assert table.item(table.row_of("dall-e-2"), 3).text() == "0.02"
    click_check_box(qtbot, dialog.costs_page.post_budget_check)
    retype(qtbot, dialog.costs_page.post_budget, "2.5")
    assert not dialog.costs_page.month_budget.isEnabled()
    combo = field(page, "A model with no known price")
    assert combo.currentData() == "warn"
    pick(qtbot, combo, "Refuse the run")
    images = open_tab(qtbot, dialog, "Images")
    click_check_box(qtbot, dialog.images_page.a1111_radio)
    retype(qtbot, field(images, "AUTOMATIC1111 address"), "http://gpu-box:7860/")
    save(qtbot, dialog)
    assert dialog.result() == SettingsDialog.DialogCode.Accepted

    data = json.loads(settings_path().read_text())
    assert data["prices"] == {"gpt-4o-mini": {"prompt_per_1k": 1.5, "completion_per_1k": pytest.approx(0.0006),
                                              "per_image": 0.0},
                              "my-sdxl": {"prompt_per_1k": 0.0, "completion_per_1k": 0.0, "per_image": 0.002}}
    assert (data["budget_per_post"], data["budget_per_month"]) == (2.5, None)
    assert data["unpriced_models"] == "refuse"
    assert gui_ws.settings.unpriced_models == "refuse"
    assert (data["image_backend"], data["a1111_base_url"]) == ("a1111", "http://gpu-box:7860")
    settings = gui_ws.settings
    assert settings.price("gpt-4o-mini").prompt_per_1k == 1.5
    assert settings.price("dall-e-2") is None  # the price list's, not saved as the editor's
    assert settings.price("my-sdxl") == ModelPrice(per_image=0.002)
    assert settings.budget_per_post == 2.5
    assert settings.budget_per_month is None
    assert settings.image_backend == "a1111"
    assert settings.a1111_base_url == "http://gpu-box:7860"

    again = SettingsDialog(gui_ws)  # reopened: what was saved is what is shown
    qtbot.addWidget(again)
    costs = again.costs_page
    assert costs.price_table.item(costs.price_table.row_of("my-sdxl"), 4).text() == "yours"
    assert costs.post_budget_check.isChecked()
    assert costs.post_budget.value() == 2.5
    assert again.images_page.a1111_radio.isChecked()
    assert not costs.month_budget_check.isChecked()


def test_a_price_without_a_model_name_is_refused(qtbot, dialog):
    page = open_tab(qtbot, dialog, "Costs & budgets")
    table = dialog.costs_page.price_table
    rows = table.rowCount()
    click_button(qtbot, page, "Add model")  # the name is left empty: the price cell is edited instead
    edit_cell(qtbot, table, rows, 3, "0.1")
    assert table.item(rows, 0).text() == ""
    assert table.item(rows, 3).text() == "0.1"
    retype(qtbot, field(open_tab(qtbot, dialog, "Images"), "AUTOMATIC1111 address"), "gpu-box:7860")
    save(qtbot, dialog)
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert dialog.isVisible()
    assert "give the model's name" in dialog.costs_page.price_problem.text()
    assert "http" in dialog.images_page.a1111_problem.text()
    assert not settings_path().exists()


def test_a1111_connection_test(qtbot, dialog, loopback):
    models = [{"title": "sd_xl_base_1.0.safetensors [31e35c80fc]", "model_name": "sd_xl_base_1.0"}]
    # The loopback stand-in has no model list: answer GET /sdapi/v1/sd-models the way AUTOMATIC1111 does.
    loopback.fail = lambda i, req: ((200, {}, json.dumps(models).encode()) if req.path == "/sdapi/v1/sd-models"
                                    else None)
    page = open_tab(qtbot, dialog, "Images")
    address = field(page, "AUTOMATIC1111 address")
    test_button = a1111_test_button(page)
    retype(qtbot, address, loopback.root_url)
    with qtbot.waitSignal(dialog.a1111_checked, timeout=WAIT) as blocker:
        click(qtbot, test_button)
    assert blocker.args == [True, f"Connected to AUTOMATIC1111 at {loopback.root_url}: 1 model (sd_xl_base_1.0)"]
    assert "✔" in dialog.images_page.a1111_result.text()

    loopback.fail = None  # the web UI without --api: 404 for the whole /sdapi tree
    with qtbot.waitSignal(dialog.a1111_checked, timeout=WAIT) as blocker:
        click(qtbot, test_button)
    assert blocker.args[0] is False
    assert "--api" in blocker.args[1]

    retype(qtbot, address, f"http://127.0.0.1:{_closed_port()}")
    with qtbot.waitSignal(dialog.a1111_checked, timeout=WAIT) as blocker:
        click(qtbot, test_button)
    assert blocker.args[0] is False
    assert "Cannot reach http://127.0.0.1:" in blocker.args[1]
    assert "✘" in dialog.images_page.a1111_result.text()


def a1111_test_button(page: QWidget) -> QPushButton:
    """The Images tab has a Test connection button per server: the AUTOMATIC1111 one is the first, just below its
    address (the ComfyUI one follows the ComfyUI address)."""
    address = field(page, "AUTOMATIC1111 address")
    buttons = [b for b in page.findChildren(QPushButton) if b.isVisible() and b.text() == "Test connection"]
    below = [b for b in buttons if b.mapTo(page, QPoint()).y() > address.mapTo(page, QPoint()).y()]
    return min(below, key=lambda b: b.mapTo(page, QPoint()).y())
