"""Whether the services the settings name answer, for the window: the Settings dialog's connection tests, the
status bar's check of the default provider, and what is already known of a provider without asking it.

The window asks here instead of importing wfdesk.providers: how a provider is reached stays below the services.
Every check returns (reachable, what was seen, passwords left out) and may block: call it on a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfdesk.providers import connection_test, openai_compat

if TYPE_CHECKING:
    from wfdesk.settings import ProviderProfile
    from wfdesk.workspace import Workspace

# How the engine's errors name a provider without a base URL of its own.
OPENAI_API = "the OpenAI API"


def check_provider(profile: ProviderProfile, api_key: str | None = None) -> tuple[bool, str]:
    """A provider profile answers, and accepts the API key (api_key: one typed but not stored yet)."""
    return connection_test.check_provider(profile, api_key)


def check_default_provider(ws: Workspace, timeout_s: float) -> tuple[bool, str]:
    """The workspace's default provider, as check_provider, waiting at most timeout_s to connect and to read."""
    try:
        profile = ws.settings.provider(None)
    except KeyError:
        return False, "no provider configured"
    quick = profile.model_copy(update={"connect_timeout": min(profile.connect_timeout, timeout_s),
                                       "read_timeout": min(profile.read_timeout, timeout_s)})
    return connection_test.check_provider(quick)


def check_database(url: str) -> tuple[bool, str]:
    return connection_test.check_database(url)


def check_a1111(base_url: str) -> tuple[bool, str]:
    return connection_test.check_a1111(base_url)


def check_comfyui(base_url: str) -> tuple[bool, str]:
    return connection_test.check_comfyui(base_url)


def profile_address(ws: Workspace, name: str | None) -> str | None:
    """The address of a provider profile (None: no such profile), as engine errors name it."""
    try:
        profile = ws.settings.provider(name)
    except KeyError:
        return None
    return openai_compat.resolve_base_url(profile) or OPENAI_API


def offline_reason(ws: Workspace, profile_name: str | None) -> str | None:
    """Why this process's runs hold back from a provider profile (its circuit breaker is open), or None; None too
    for a profile that does not exist. Never touches the network."""
    try:
        profile = ws.settings.provider(profile_name)
    except KeyError:
        return None
    return openai_compat.gate_for(ws, profile).offline_reason()
