"""The status bar's provider check: the Settings dialog's connection test against the loopback provider."""

from __future__ import annotations

import json

from wfdesk.ui.status_bar import AppStatusBar

WAIT = 10_000
REFUSED = json.dumps({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                "code": "invalid_api_key"}}).encode()


def test_a_refused_api_key_is_offline_and_says_why(qtbot, empty_gui_ws, loopback):
    loopback.fail = lambda _i, rec: (401, {}, REFUSED) if rec.path.endswith("/models") else None
    bar = AppStatusBar(empty_gui_ws)
    qtbot.addWidget(bar)
    assert bar.provider_offline_reason() is None  # not checked yet: nothing is known
    bar.start()
    qtbot.waitUntil(lambda: bar.provider_offline_reason() is not None, timeout=WAIT)
    reason = bar.provider_offline_reason()
    assert reason == f"{loopback.base_url} refused the API key (401): Incorrect API key provided; check it in Settings"
    assert bar.provider.label.text().startswith("Provider: offline (")
    assert bar.provider.toolTip() == f"Provider offline: {reason}"

    loopback.fail = None  # the editor fixed the key: the next check finds it online
    bar.check_provider()
    qtbot.waitUntil(lambda: bar.provider.label.text() == "Provider: online", timeout=WAIT)
    assert bar.provider_offline_reason() is None
    assert bar.provider.toolTip().startswith(f"Connected to {loopback.base_url}")
    bar.stop()


def test_a_check_asked_for_during_a_check_runs_after_it(qtbot, empty_gui_ws, loopback):
    """New settings saved while a check is on its way: their check is not dropped."""
    loopback.latency = 0.3
    bar = AppStatusBar(empty_gui_ws)
    qtbot.addWidget(bar)
    bar.check_provider()
    bar.check_provider()
    qtbot.waitUntil(lambda: loopback.count("/v1/models") == 2 and not bar._checking, timeout=WAIT)
    assert bar.provider.label.text() == "Provider: online"
