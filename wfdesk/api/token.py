"""The API's bearer token: WFDESK_API_TOKEN when set, otherwise one kept in the OS keyring (made on first use).

The token is never written to a file or a log; only where to find it is said.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from dataclasses import dataclass

from wfdesk.errors import WfdeskError
from wfdesk.settings import environment, keyring_available

TOKEN_ENV = "WFDESK_API_TOKEN"
# Its own keyring service: provider keys live under "wfdesk" by profile name, and a profile may have any name.
KEYRING_SERVICE = "wfdesk-api"
KEYRING_USER = "token"
log = logging.getLogger(__name__)


class TokenUnavailableError(WfdeskError):
    pass


@dataclass(frozen=True)
class ApiToken:
    value: str
    where: str  # where an editor finds it, in words

    def matches(self, presented: str | None) -> bool:
        """Constant-time comparison: the answer's timing says nothing about how much of a guess was right."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.value.encode("utf-8"))

    def __repr__(self) -> str:  # never the token itself, should one end up in a log or a traceback
        return f"ApiToken(where={self.where!r})"


def env_token() -> ApiToken | None:
    """The variable's token; TokenUnavailableError when it could never match. Refused rather than compared as bytes:
    a header value is ISO-8859-1 on the wire (ASGI decodes it so), browsers' fetch refuses anything beyond that and
    clients encode the rest each their own way, so a non-ASCII token matches for some clients and not others.
    RFC 6750's bearer token is printable ASCII without spaces."""
    value = (environment().api_token or "").strip()
    if value and not (value.isascii() and value.isprintable() and " " not in value):
        raise TokenUnavailableError(f"{TOKEN_ENV} may hold only ASCII letters, digits and punctuation (no spaces or "
                               "accented letters): a client cannot send anything else in the Authorization "
                               "header. Set it to a long random value such as one made by "
                               "python -c \"import secrets; print(secrets.token_urlsafe(32))\".")
    return ApiToken(value, f"the {TOKEN_ENV} environment variable") if value else None


KEYRING_WHERE = (f"the system keyring (service \"{KEYRING_SERVICE}\", user \"{KEYRING_USER}\"); the app shows it "
                 "in Settings → Other apps")


def load_token(create: bool = True) -> ApiToken:
    """The token requests must carry. Raises TokenUnavailableError when there is neither the variable nor a keyring."""
    token = env_token()
    if token is not None:
        return token
    if not keyring_available():
        raise TokenUnavailableError(f"No system keyring is available to keep the API token: set {TOKEN_ENV} to a "
                               "long random value instead.")
    import keyring

    value = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    if not value and create:
        value = new_token_value()
        keyring.set_password(KEYRING_SERVICE, KEYRING_USER, value)
        log.info("made a new API token, kept in %s", KEYRING_WHERE)
    if not value:
        raise TokenUnavailableError("No API token has been made yet")
    return ApiToken(value, KEYRING_WHERE)


_cached: ApiToken | None = None
_cache_lock = threading.Lock()


def current_token() -> ApiToken:
    """The token this process's servers check, read from the keyring once (each request asks; a keyring may be a
    slow D-Bus call). The variable, when set, always wins."""
    global _cached
    token = env_token()
    if token is not None:
        return token
    with _cache_lock:
        if _cached is None:
            _cached = load_token()
        return _cached


def regenerate_token() -> ApiToken:
    """A new keyring token: this process's servers refuse the old one from the next request on."""
    global _cached
    if env_token() is not None:
        raise TokenUnavailableError(f"The token comes from {TOKEN_ENV}: change the variable instead.")
    if not keyring_available():
        raise TokenUnavailableError(f"No system keyring is available to keep the API token: set {TOKEN_ENV} instead.")
    import keyring

    value = new_token_value()
    keyring.set_password(KEYRING_SERVICE, KEYRING_USER, value)
    with _cache_lock:
        _cached = ApiToken(value, KEYRING_WHERE)
        return _cached


def existing_token() -> ApiToken | None:
    """The token if there is one already (nothing is made): for showing it."""
    token = env_token()
    if token is not None:
        return token
    with _cache_lock:
        if _cached is not None:
            return _cached
    if not keyring_available():
        return None
    import keyring

    value = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    return ApiToken(value, KEYRING_WHERE) if value else None


def forget_cached_token() -> None:
    global _cached
    with _cache_lock:
        _cached = None


def new_token_value() -> str:
    return secrets.token_urlsafe(32)
