"""OpenAI-compatible clients (OpenAI, Ollama, LM Studio, LocalAI, vLLM) through the openai SDK."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from wfdesk.errors import UnitError
from wfdesk.providers.local_servers import adapt
from wfdesk.providers.resilience import ProviderGate, RetryPolicy, call_with_retries
from wfdesk.scripts.base import CancelToken
from wfdesk.settings import ProviderProfile, get_api_key
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    import openai  # imported on first use: it costs half a second at start-up

# Local servers ignore the key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"
T = TypeVar("T")


def resolve_base_url(profile: ProviderProfile) -> str | None:
    return profile.base_url or os.environ.get("OPENAI_BASE_URL") or None


def profile_for(ws: Workspace, name: str | None) -> ProviderProfile:
    try:
        profile = ws.settings.provider(name)
    except KeyError:
        raise UnitError(f"Unknown provider profile {name!r}; add it in Settings → Providers") from None
    return adapt(ws, profile, resolve_base_url(profile))  # Ollama / LM Studio behind a generic profile: their preset


def client_for(ws: Workspace, profile: ProviderProfile) -> openai.OpenAI:
    import openai

    base_url = resolve_base_url(profile)
    key = get_api_key(profile)
    if not key:
        if base_url is None or "api.openai.com" in base_url:
            raise UnitError(f"No API key for provider {profile.name!r}: store one in Settings (keyring) or set "
                            f"{profile.api_key_env}")
        key = PLACEHOLDER_KEY
    timeout = openai.Timeout(profile.read_timeout, connect=profile.connect_timeout)

    def build() -> openai.OpenAI:
        # Retries are ours (resilience.py): one policy and one shared gate per provider.
        return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

    # The key is part of the cache key so a changed key takes effect; it never leaves this process.
    return ws.cached(("openai", profile.model_dump_json(), base_url, key), build)


def gate_for(ws: Workspace, profile: ProviderProfile) -> ProviderGate:
    return ws.cached(("gate", profile.name, resolve_base_url(profile)),
                     lambda: ProviderGate(profile.name, profile.concurrency))


def call(ws: Workspace, profile: ProviderProfile, fn: Callable[[openai.OpenAI], T], cancel: CancelToken) -> T:
    """fn(client) with the provider's retry policy and shared gate; failures become one clear UnitError."""
    client = client_for(ws, profile)
    base_url = resolve_base_url(profile)
    policy = RetryPolicy(attempts=profile.max_retries + 1)
    return call_with_retries(gate_for(ws, profile), policy, lambda: fn(client), cancel,
                             lambda exc: describe_error(exc, base_url))


def describe_error(exc: Exception, base_url: str | None) -> str:
    """One clear line per failure: which address, what happened."""
    import openai

    where = base_url or "the OpenAI API"
    if isinstance(exc, UnitError):
        return f"{where}: {exc}"
    if isinstance(exc, json.JSONDecodeError):
        return f"{where} sent malformed JSON ({exc.msg})"
    if isinstance(exc, openai.APITimeoutError):
        return f"{where} did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach {where} ({exc.__cause__ or exc})"
    if isinstance(exc, openai.RateLimitError):
        return f"{where} is rate limiting requests (429); try again later"
    if isinstance(exc, openai.AuthenticationError):
        return f"{where} refused the API key (401); check it in Settings"
    if isinstance(exc, openai.APIStatusError):
        return f"{where} answered {exc.status_code}: {_api_message(exc)}"
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return f"{where} sent an answer that is not valid: {exc}"
    return f"{where}: {type(exc).__name__}: {exc}"


def _api_message(exc: openai.APIStatusError) -> str:
    body: Any = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(exc.message)[:300]
