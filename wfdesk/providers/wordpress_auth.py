"""The WordPress application password: in the OS keyring (as the provider API keys are), or the environment."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from wfdesk.settings import KEYRING_SERVICE, environment, keyring_available

PASSWORD_ENV = "WFDESK_WORDPRESS_APP_PASSWORD"
log = logging.getLogger(__name__)


def credential_name(site_url: str, username: str) -> str:
    """One keyring entry per user and site: `wordpress:user@host/path`."""
    parts = urlsplit(site_url)
    return f"wordpress:{username}@{parts.netloc}{parts.path.rstrip('/')}"


def get_app_password(site_url: str, username: str) -> str | None:
    if keyring_available():
        try:
            import keyring

            secret = keyring.get_password(KEYRING_SERVICE, credential_name(site_url, username))
            if secret:
                return secret
        except Exception as exc:  # noqa: BLE001 - a broken keyring falls back to the environment
            log.warning("Keyring lookup failed for %s: %s", credential_name(site_url, username), exc)
    return environment().wordpress_app_password


def set_app_password(site_url: str, username: str, secret: str) -> None:
    """Raises RuntimeError when the system has no keyring (the environment variable is the way then)."""
    if not keyring_available():
        raise RuntimeError(f"No system keyring is available; set {PASSWORD_ENV} in the environment instead.")
    import keyring

    # WordPress shows application passwords in groups of four with spaces; it accepts them with or without.
    keyring.set_password(KEYRING_SERVICE, credential_name(site_url, username), secret.strip())
