"""The Settings dialog's "Test connection" buttons: one short request, one line of verdict. Qt-free."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec

import openai

from wfdesk.providers.openai_compat import PLACEHOLDER_KEY, describe_error, resolve_base_url
from wfdesk.redact import redact_text
from wfdesk.settings import ProviderProfile, get_api_key

P = ParamSpec("P")


def _without_passwords(check: Callable[P, tuple[bool, str]]) -> Callable[P, tuple[bool, str]]:
    """The verdict names the address as typed, but never the password written into it."""
    @functools.wraps(check)
    def checked(*args: P.args, **kwargs: P.kwargs) -> tuple[bool, str]:
        ok, message = check(*args, **kwargs)
        return ok, redact_text(message)

    return checked


# A test must answer quickly even for a profile whose read timeout suits a slow local model.
TEST_CONNECT_TIMEOUT = 5.0
TEST_READ_TIMEOUT = 10.0


@_without_passwords
def check_provider(profile: ProviderProfile, api_key: str | None = None) -> tuple[bool, str]:
    """GET {base_url}/models. api_key: a key typed but not saved yet; otherwise keyring, then the environment."""
    base_url = resolve_base_url(profile)
    where = base_url or "the OpenAI API"
    key = api_key or get_api_key(profile)
    if not key:
        if base_url is None or "api.openai.com" in base_url:
            return False, f"No API key for {where}: store one in the keyring (Settings) or set {profile.api_key_env}"
        key = PLACEHOLDER_KEY  # local servers ignore the key, the SDK wants one
    timeout = openai.Timeout(min(profile.read_timeout, TEST_READ_TIMEOUT),
                             connect=min(profile.connect_timeout, TEST_CONNECT_TIMEOUT))
    try:
        with openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0) as client:
            models = [m.id for m in client.models.list()]
    except openai.OpenAIError as exc:
        return False, describe_error(exc, base_url, secrets=[key] if key != PLACEHOLDER_KEY else [])
    except Exception as exc:  # noqa: BLE001 - anything else (a bad URL, say) is a verdict too
        return False, f"{where} could not be asked: {_first_line(exc)}"
    if not models:
        return True, f"Connected to {where}; it lists no models"
    shown = ", ".join(models[:5]) + (", …" if len(models) > 5 else "")
    return True, f"Connected to {where}: {len(models)} model{'s' if len(models) != 1 else ''} ({shown})"


@_without_passwords
def check_database(url: str) -> tuple[bool, str]:
    """Connect and SELECT 1. A SQLite file that does not exist yet is not created here."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        parsed = make_url(url)
    except ArgumentError:
        return False, f"Not a database URL: {url!r} (expected sqlite:///path or postgresql://user@host/db)"
    backend = parsed.get_backend_name()
    connect_args: dict[str, object] = {}
    if backend == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                return False, f"The folder {parent} does not exist"
            return True, f"{path} does not exist yet; it will be created when wfdesk opens it"
        connect_args["timeout"] = 5
    elif backend == "postgresql":
        connect_args["connect_timeout"] = 5
    shown = parsed.render_as_string(hide_password=True)
    from wfdesk.database_url import MissingDriverError, engine_url

    try:
        engine = create_engine(engine_url(parsed), connect_args=connect_args, poolclass=NullPool)
    except MissingDriverError as exc:
        return False, str(exc)
    except NoSuchModuleError:
        return False, f"No driver for {parsed.drivername!r} is installed"
    except (ArgumentError, ImportError) as exc:
        return False, f"Cannot use {shown}: {exc}"
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            version = ".".join(str(v) for v in (engine.dialect.server_version_info or ()))
    except DBAPIError as exc:
        return False, f"Cannot connect to {shown}: {_first_line(exc.orig)}"
    except SQLAlchemyError as exc:
        return False, f"Cannot connect to {shown}: {_first_line(exc)}"
    finally:
        engine.dispose()
    name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(backend, backend)
    return True, f"Connected to {name}{' ' + version if version else ''} at {shown}"


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "it failed without saying why"


A1111_TEST_TIMEOUT = 3.0


@_without_passwords
def check_a1111(base_url: str) -> tuple[bool, str]:
    """GET {base_url}/sdapi/v1/sd-models: is AUTOMATIC1111's web UI there, with its API switched on?"""
    import requests

    url = (base_url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        return False, f"Not an address: {base_url!r} (expected http://host:7860)"
    try:
        response = requests.get(f"{url}/sdapi/v1/sd-models", timeout=A1111_TEST_TIMEOUT)
    except requests.Timeout:
        return False, f"No answer from {url} within {A1111_TEST_TIMEOUT:g} s"
    except requests.ConnectionError:
        return False, f"Cannot reach {url}: is the AUTOMATIC1111 web UI running (with --api)?"
    except requests.exceptions.InvalidURL:
        return False, f"Not a usable address: {url} (expected http://host:7860)"
    except requests.RequestException as exc:
        return False, f"{url} could not be asked: {_first_line(exc)}"
    if response.status_code == 404:
        # The web UI answers 404 for the whole /sdapi tree when it was started without --api.
        return False, f"{url} answers, but not its API: start the web UI with --api"
    if response.status_code >= 400:
        return False, f"{url} answered HTTP {response.status_code}"
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, list):
        return False, f"{url} answered, but not with AUTOMATIC1111's model list: is it the web UI's address?"
    models = [str(m.get("model_name") or m.get("title")) for m in data if isinstance(m, dict)
              and (m.get("model_name") or m.get("title"))]
    if not models:
        return True, f"Connected to AUTOMATIC1111 at {url}; it lists no models"
    shown = ", ".join(models[:3]) + (", …" if len(models) > 3 else "")
    return True, f"Connected to AUTOMATIC1111 at {url}: {len(models)} model{'s' if len(models) != 1 else ''} ({shown})"


COMFYUI_TEST_TIMEOUT = 3.0


@_without_passwords
def check_comfyui(base_url: str) -> tuple[bool, str]:
    """GET {base_url}/object_info/CheckpointLoaderSimple: is ComfyUI there, and which checkpoints can it load?"""
    from wfdesk.errors import UnitError
    from wfdesk.providers import comfyui

    url = (base_url or "").strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        return False, f"Not an address: {base_url!r} (expected http://host:8188)"
    try:
        names = comfyui.checkpoints(url, timeout=COMFYUI_TEST_TIMEOUT)
    except UnitError as exc:
        text = str(exc)
        return False, text[0].upper() + text[1:]
    if not names:
        return True, f"Connected to ComfyUI at {url}; it has no checkpoints (put one in models/checkpoints)"
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    plural = "s" if len(names) != 1 else ""
    return True, f"Connected to ComfyUI at {url}: {len(names)} checkpoint{plural} ({shown})"
