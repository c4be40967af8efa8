"""wfdesk.services.connections: what the window asks about providers, databases and image servers instead of
importing wfdesk.providers (the settings pages' connection tests, the status bar's check, the step banner)."""

from __future__ import annotations

import socket

from wfdesk.services import connections
from wfdesk.settings import ProviderProfile


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_profile_is_named_by_its_address(ws, loopback):
    assert connections.profile_address(ws, None) == loopback.base_url  # the default profile
    assert connections.profile_address(ws, "default") == loopback.base_url
    assert connections.profile_address(ws, "no-such-profile") is None
    ws.settings.providers["cloud"] = ProviderProfile(name="cloud")  # no base URL: the OpenAI API
    assert connections.profile_address(ws, "cloud") == connections.OPENAI_API


def test_the_default_provider_is_checked_within_the_timeout(ws, loopback):
    ok, message = connections.check_default_provider(ws, 3.0)
    assert ok, message
    ws.settings.providers["default"] = ProviderProfile(name="default",
                                                      base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    ok, message = connections.check_default_provider(ws, 3.0)
    assert not ok
    assert message


def test_a_provider_nobody_has_failed_on_is_not_offline(ws):
    assert connections.offline_reason(ws, None) is None
    assert connections.offline_reason(ws, "no-such-profile") is None  # nothing known, nothing to say
