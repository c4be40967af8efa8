"""The status bar's provider check: the Settings dialog's connection test against the loopback provider."""

from __future__ import annotations

import json

import pytest

from ui.conftest import close_window
from wfdesk.ui.status_bar import AppStatusBar

WAIT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out
REFUSED = json.dumps({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                "code": "invalid_api_key"}}).encode()


def test_a_refused_api_key_is_offline_and_says_why(qtbot, empty_gui_ws, loopback):
    loopback.fail = lambda _i, rec: (401, {}, REFUSED) if rec.path.endswith("/models") else None
    bar = AppStatusBar(empty_gui_ws)
    qtbot.addWidget(bar)
    assert bar.providers.offline_reason() is None  # not checked yet: nothing is known
    bar.start()
    qtbot.waitUntil(lambda: bar.providers.offline_reason() is not None, timeout=WAIT)
    reason = bar.providers.offline_reason()
    assert reason == f"{loopback.base_url} refused the API key (401): Incorrect API key provided; check it in Settings"
    assert bar.provider.label.text().startswith("Provider: offline (")
    assert bar.provider.toolTip() == f"Provider offline: {reason}"

    loopback.fail = None  # the editor fixed the key: the next check finds it online
    bar.check_provider()
    qtbot.waitUntil(lambda: bar.provider.label.text() == "Provider: online", timeout=WAIT)
    assert bar.providers.offline_reason() is None
    assert bar.provider.toolTip().startswith(f"Connected to {loopback.base_url}")
    bar.stop()


def test_a_check_asked_for_during_a_check_runs_after_it(qtbot, empty_gui_ws, loopback):
    """New settings saved while a check is on its way: their check is not dropped."""
    loopback.latency = 0.3
    bar = AppStatusBar(empty_gui_ws)
    qtbot.addWidget(bar)
    bar.check_provider()
    bar.check_provider()
    qtbot.waitUntil(lambda: loopback.count("/v1/models") == 2 and not bar.providers.checking(), timeout=WAIT)
    assert bar.provider.label.text() == "Provider: online"


@pytest.fixture
def proxied_window(qtbot, tmp_path, loopback):
    """The main window on the demo, its provider reached through a TCP proxy the test can cut (connections
    refused, as when the server is down) and restore."""
    from tcp_proxy import TcpProxy

    from wfdesk.services import editing
    from wfdesk.settings import ProviderProfile, Settings
    from wfdesk.ui.main_window import MainWindow
    from wfdesk.workspace import open_workspace, set_current

    host, port = loopback.base_url.split("//")[1].split("/")[0].split(":")
    proxy = TcpProxy((host, int(port))).start()
    profile = ProviderProfile(name="default", base_url=f"http://127.0.0.1:{proxy.port}/v1", max_retries=0,
                              read_timeout=20)
    ws = open_workspace(database_url=f"sqlite:///{tmp_path / 'proxied.db'}", data_dir=tmp_path / "data",
                        settings=Settings(custom_script_base_url=loopback.root_url, providers={"default": profile}))
    set_current(ws)
    editing.load_demo(ws)
    window = MainWindow(ws)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=WAIT)
    yield window, proxy
    close_window(window)
    proxy.cut()
    set_current(None)
    ws.close()


def test_a_run_tells_the_status_bar_at_once_that_the_provider_is_gone_and_back(qtbot, proxied_window, loopback):
    """One answer for the whole window: the run that could not reach the provider turns the bar to offline, the
    run that got answers turns it back to online; no waiting for the next minute's check."""
    from ui.editor_input import activate, click, click_row, toggle_section

    main_window, proxy = proxied_window
    bar = main_window.status
    activate(qtbot, main_window)
    qtbot.waitUntil(lambda: bar.provider.label.text() == "Provider: online", timeout=WAIT)
    qtbot.waitUntil(lambda: main_window.steps.item_for(1) is not None, timeout=WAIT)
    click_row(qtbot, main_window.steps, "polish_sections")
    panel = main_window.current_panel()
    qtbot.waitUntil(lambda: panel.data is not None and panel.run_button.isEnabled(), timeout=WAIT)
    click(qtbot, panel.picker.none_button)
    toggle_section(qtbot, panel.picker, "Glen Affric")  # one section: one failed call, not the engine's breaker
    checks = loopback.count("/v1/models")

    proxy.cut()  # the server is down: connections are refused (a drop after connecting is not "offline")
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT) as finished:
        click(qtbot, panel.run_button)
    assert finished.args[1]["status"] == "failed"
    qtbot.waitUntil(lambda: panel.notice.isVisible(), timeout=WAIT)
    assert bar.provider.label.text().startswith("Provider: offline (cannot reach ")
    assert panel.notice.kind() == "error"
    assert "is offline" in panel.notice.message_label.text()
    assert "Error" not in panel.notice.message_label.text() + panel.notice.note_label.text()

    proxy.restore()  # the server is back
    click(qtbot, panel.run_button)
    assert panel.notice.action_button.text() == "Run anyway"  # the window still knows it as offline
    with qtbot.waitSignal(main_window.runs.run_finished, timeout=WAIT) as finished:
        click(qtbot, panel.notice.action_button)
    assert finished.args[1]["status"] == "succeeded"
    qtbot.waitUntil(lambda: bar.provider.label.text() == "Provider: online", timeout=WAIT)
    assert loopback.count("/v1/models") == checks  # the run said so, not a check
    qtbot.waitUntil(lambda: not panel.notice.isVisible(), timeout=WAIT)
