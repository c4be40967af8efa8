"""OpenAI-compatible clients (OpenAI, Ollama, LM Studio, LocalAI, vLLM) through the openai SDK."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wfdesk.cancel import CancelToken
from wfdesk.errors import UnitError
from wfdesk.providers.adaptation import FILE_NAME as ADAPTATIONS_FILE
from wfdesk.providers.adaptation import Adaptations, refused_parameter
from wfdesk.providers.local_servers import adapt
from wfdesk.providers.resilience import (
    ProviderGate,
    RetryPolicy,
    call_with_retries,
    error_code,
    is_connect_failure,
    is_out_of_credit,
)
from wfdesk.providers.shared_gate import gate_for_provider
from wfdesk.redact import redact_text, redact_url
from wfdesk.settings import ProviderProfile, get_api_key

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace  # only a type: providers sit below the workspace

if TYPE_CHECKING:
    import openai  # imported on first use: it costs half a second at start-up

    from wfdesk.providers.limits import CappedTransport  # imported on first use, with httpx2

# Local servers ignore the key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"
T = TypeVar("T")
log = logging.getLogger(__name__)


def resolve_base_url(profile: ProviderProfile) -> str | None:
    return profile.base_url or os.environ.get("OPENAI_BASE_URL") or None


def profile_for(ws: Workspace, name: str | None) -> ProviderProfile:
    try:
        profile = ws.settings.provider(name)
    except KeyError:
        raise UnitError(f"Unknown provider profile {name!r}; add it in Settings → Providers") from None
    return adapt(ws, profile, resolve_base_url(profile))  # Ollama / LM Studio behind a generic profile: their preset


def client_for(ws: Workspace, profile: ProviderProfile) -> openai.OpenAI:
    import httpx2
    import openai

    from wfdesk.providers.limits import CappedTransport

    base_url = resolve_base_url(profile)
    key = api_key_for(profile)
    timeout = openai.Timeout(profile.read_timeout, connect=profile.connect_timeout)

    def build() -> openai.OpenAI:
        # Retries are ours (resilience.py): one policy and one shared gate per provider. The transport enforces
        # each answer's size and time caps while it arrives (limits.py).
        pool = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        transport = CappedTransport(limits=pool)
        # Given a transport, the client no longer reads HTTP(S)_PROXY / ALL_PROXY / NO_PROXY itself: the proxies the
        # environment names get capped transports of their own (a NO_PROXY host: None, the transport above).
        mounts = {pattern: proxy_transport(proxy, pool) if proxy else None
                  for pattern, proxy in environment_proxies().items()}
        http_client = openai.DefaultHttpxClient(transport=transport, mounts=mounts, timeout=timeout)
        return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0, http_client=http_client)

    # The key is part of the cache key so a changed key takes effect; it never leaves this process.
    return ws.cached(("openai", profile.model_dump_json(), base_url, key), build)


def environment_proxies() -> dict[str, str | None]:
    """URL pattern -> proxy URL (None: go direct), from the environment, as httpx2 reads it for a client of its own."""
    from httpx2._utils import get_environment_proxies

    return get_environment_proxies()


def proxy_transport(proxy: str, pool: Any) -> CappedTransport:
    from wfdesk.providers.limits import CappedTransport

    try:
        return CappedTransport(limits=pool, proxy=proxy)
    except (ImportError, ValueError) as exc:  # socks5:// without socksio, a scheme no proxy speaks
        where = re.sub(r"//[^/@]*@", "//", proxy)  # never its user and password
        raise UnitError(f"the proxy {where} named in the environment (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY) cannot "
                        f"be used: {str(exc).splitlines()[0]}") from None


def api_key_for(profile: ProviderProfile) -> str:
    key = get_api_key(profile)
    if not key:
        if is_openai_api(profile):
            raise UnitError(f"No API key for provider {profile.name!r}: store one in Settings (keyring) or set "
                            f"{profile.api_key_env}")
        key = PLACEHOLDER_KEY
    return key


def is_openai_api(profile: ProviderProfile) -> bool:
    """OpenAI's own API (whose documented model limits apply), not some other OpenAI-compatible server."""
    base_url = resolve_base_url(profile)
    return base_url is None or "api.openai.com" in base_url


def gate_for(ws: Workspace, profile: ProviderProfile) -> ProviderGate:
    """The provider's gate, shared by every run of this process (and, on PostgreSQL, by the whole team)."""
    base_url = resolve_base_url(profile)
    return ws.cached(("gate", profile.name, base_url),
                     lambda: gate_for_provider(ws.db, profile.name, base_url, profile.concurrency))


def adaptations_for(ws: Workspace) -> Adaptations:
    return ws.cached(("adaptations",), lambda: Adaptations(Path(ws.data_dir) / ADAPTATIONS_FILE))


def call(ws: Workspace, profile: ProviderProfile, fn: Callable[[openai.OpenAI], T], cancel: CancelToken, *,
         max_bytes: int | None = None, what: str = "answer", path: str = "") -> T:
    """fn(client) with the provider's retry policy and shared gate; failures become one clear UnitError.

    Each answer is capped at max_bytes (of HTTP body) and at the profile's request deadline, while it arrives.
    path ("chat completions", "images") words the hint of a 404."""
    from wfdesk.providers.limits import MB, AnswerLimits, answer_limits

    client = client_for(ws, profile)
    base_url = resolve_base_url(profile)
    secrets = [client.api_key] if client.api_key != PLACEHOLDER_KEY else []
    policy = RetryPolicy(attempts=profile.max_retries + 1, max_wait=profile.max_wait)
    limits = AnswerLimits(max_bytes or 64 * MB, profile.request_deadline, what)

    def attempt() -> T:
        with answer_limits(limits):
            return fn(client)

    return call_with_retries(gate_for(ws, profile), policy, attempt, cancel,
                             lambda exc: describe_error(exc, base_url, path, secrets))


def call_adapting(ws: Workspace, profile: ProviderProfile, request: dict[str, Any],
                  send: Callable[[openai.OpenAI, dict[str, Any]], T], cancel: CancelToken, *,
                  max_bytes: int | None = None, what: str = "answer", path: str = "") -> T:
    """send(client, request) where a parameter the server refuses as unknown/unsupported is left out (or renamed
    as the server suggests) and tried once more; what was learned is kept per provider + model."""
    import openai

    memory = adaptations_for(ws)
    model = str(request.get("model") or "")

    def fn(client: openai.OpenAI) -> T:
        tried: set[str] = set()
        while True:
            shaped = memory.shape(profile.name, model, request)
            try:
                return send(client, shaped)
            except openai.APIStatusError as exc:
                refusal = refused_parameter(exc.status_code, exc.body, shaped)
                if refusal is None or refusal.param in tried:
                    raise
                tried.add(refusal.param)
                memory.learn(profile.name, model, refusal)
                log.info("provider %s, model %s refused %r: %s", profile.name, model, refusal.param,
                         "using " + refusal.replacement if refusal.replacement else "leaving it out")

    return call(ws, profile, fn, cancel, max_bytes=max_bytes, what=what, path=path)


# sk-…, sk-proj-…, sess-…: a prefix, then 12+ key characters with at least one digit (plain words stay).
_KEYLIKE = re.compile(r"\b((?:sk|pk|rk|key|org|sess)-[A-Za-z0-9]{0,4})(?=[A-Za-z_\-*.]*\d)[A-Za-z0-9_\-*.]{12,}")
# The token after "Bearer", up to a closing punctuation mark; a key already blanked out is left as it is.
_BEARER = re.compile(r"(Bearer\s+)(?!\[API key\])[^\s,;'\"]+?(?=[.,;'\"]?(?:\s|$))", re.IGNORECASE)


def redact(message: str, secrets: list[str]) -> str:
    """An API key a provider echoes in its error never reaches the screen, the log or the database."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            message = message.replace(secret, "[API key]")
    message = _BEARER.sub(r"\1[API key]", redact_text(message))
    return _KEYLIKE.sub(r"\1…[redacted]", message)


def describe_error(exc: Exception, base_url: str | None, path: str = "", secrets: Sequence[str] = ()) -> str:
    """One clear line per failure: which address, what happened, in the provider's own words when it gave any.
    The key is blanked out wherever the provider echoed it: the caller's `secrets`, and the key the request
    carried where the exception still has it (openai 3.60 strips it from an error's request)."""
    return redact(_describe(exc, base_url, path), [*secrets, _sent_key(exc)])


def _sent_key(exc: Exception) -> str:
    request = getattr(exc, "request", None)
    try:
        header = request.headers.get("authorization", "") if request is not None else ""
    except Exception:  # noqa: BLE001 - an exception without a usable request carries no key
        return ""
    key = header.partition(" ")[2].strip()
    return "" if key == PLACEHOLDER_KEY else key


def _describe(exc: Exception, base_url: str | None, path: str) -> str:
    import openai

    from wfdesk.providers.limits import AnswerTooLarge, AnswerTooSlow

    where = redact_url(base_url) or "the OpenAI API"
    cause = exc.__cause__
    if isinstance(exc, UnitError):
        return f"{where}: {exc}"
    if isinstance(exc, AnswerTooLarge | AnswerTooSlow) or isinstance(cause, AnswerTooLarge | AnswerTooSlow):
        capped = exc if isinstance(exc, AnswerTooLarge | AnswerTooSlow) else cause
        return f"{where}: {capped}; refused"
    if isinstance(exc, json.JSONDecodeError):
        return f"{where} sent malformed JSON ({exc.msg})"
    if isinstance(exc, openai.APITimeoutError):
        return f"{where} did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        if is_connect_failure(exc):
            return f"cannot reach {where} ({cause or exc})"
        return f"the connection to {where} dropped before the answer was complete ({cause or exc})"
    if isinstance(exc, openai.APIStatusError):
        return describe_status(exc, where, base_url, path)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return f"{where} sent an answer that is not valid: {exc}"
    text = str(exc).strip()
    return f"{where}: {text.splitlines()[0] if text else 'the request failed without saying why'}"


def describe_status(exc: openai.APIStatusError, where: str, base_url: str | None, path: str) -> str:
    import openai

    said = api_message(exc)
    if is_out_of_credit(exc):
        return f"{where} says the account is out of credit (429): {said}"
    if isinstance(exc, openai.RateLimitError):
        return f"{where} is rate limiting requests (429): {said}"
    if isinstance(exc, openai.AuthenticationError):
        return f"{where} refused the API key (401): {said}; check it in Settings"
    text = f"{where} answered {exc.status_code}: {said}"
    if exc.status_code == 404 and (error_code(exc) == "model_not_found" or _MODEL_MISSING.search(said)):
        text += "; check the model name (Test connection in Settings lists the models this server has)"
    elif exc.status_code == 404:
        text += "; " + not_found_hint(base_url, path)
    return text


# Ollama: 'model "x" not found, try pulling it first'; vLLM: "The model `x` does not exist."
_MODEL_MISSING = re.compile(r"\bmodel\b.{0,120}\b(not found|does not exist|not available)", re.IGNORECASE)


def not_found_hint(base_url: str | None, path: str) -> str:
    if base_url and not base_url.rstrip("/").endswith("/v1"):
        return f"the base URL usually ends in /v1 (it is {redact_url(base_url)})"
    if path == "images":
        return "this server may not offer image generation (/images/generations)"
    return f"this server may not offer {path or 'this endpoint'} at this address"


def api_message(exc: openai.APIStatusError) -> str:
    """The provider's own words: error.message, FastAPI's detail, or the body as text (HTML tags dropped)."""
    body: Any = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if err.get(key):
                    return _short(str(err[key]))
        if isinstance(err, str) and err:
            return _short(err)
        if body.get("detail"):
            return _short(str(body["detail"]))
    if isinstance(body, str) and body.strip():
        return _short(body)
    try:
        text = exc.response.text
    except Exception:  # noqa: BLE001 - a body that cannot be read is simply not shown
        text = ""
    return _short(text) if text.strip() else "no details given"


def _short(text: str) -> str:
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:300]
