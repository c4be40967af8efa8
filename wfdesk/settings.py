"""Application settings: platformdirs paths, a JSON settings file without secrets, WFDESK_* environment overrides
(declared once: Environment), keyring secrets."""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wfdesk.fileio import atomic_write_bytes

APP_NAME = "wfdesk"
KEYRING_SERVICE = "wfdesk"
log = logging.getLogger(__name__)


class ProviderProfile(BaseModel):
    """An OpenAI-compatible server. The API key is never stored here: keyring or the environment."""

    name: str = "default"
    kind: Literal["openai", "ollama", "lmstudio", "compatible"] = "compatible"
    base_url: str | None = None  # None: the SDK default or OPENAI_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"
    connect_timeout: float = Field(5.0, gt=0, le=120)
    read_timeout: float = Field(120.0, gt=0, le=3600)  # local models are slow; cloud profiles set less
    concurrency: int = Field(8, ge=1, le=64)
    max_retries: int = Field(7, ge=0, le=20)  # retries after the first failed attempt (429s are not counted)
    # The longest Retry-After honoured: a provider asking for more fails the section instead of being retried early.
    max_wait: float = Field(120.0, ge=1, le=3600)
    # One request, answer included, never takes longer than this (a server dripping bytes cannot hold a section).
    request_deadline: float = Field(900.0, ge=1, le=7200)


PRESET_PROFILES: dict[str, ProviderProfile] = {
    "openai": ProviderProfile(name="openai", kind="openai", base_url="https://api.openai.com/v1", read_timeout=60),
    # Local servers need no key: they never get the OpenAI key from the environment.
    "ollama": ProviderProfile(name="ollama", kind="ollama", base_url="http://localhost:11434/v1", read_timeout=600,
                              concurrency=2, api_key_env=""),
    "lmstudio": ProviderProfile(name="lmstudio", kind="lmstudio", base_url="http://localhost:1234/v1",
                                read_timeout=600, concurrency=2, api_key_env=""),
}


class ModelPrice(BaseModel):
    """US dollars: the editor's own price for a model, over the price library's (wfdesk.runs.prices)."""

    prompt_per_1k: float = Field(0.0, ge=0)
    completion_per_1k: float = Field(0.0, ge=0)
    per_image: float = Field(0.0, ge=0)


class Settings(BaseModel):
    database_url: str | None = None  # None: the SQLite file in the data dir
    data_dir: str | None = None
    custom_script_base_url: str | None = None
    image_backend: Literal["openai", "a1111", "comfyui"] = "openai"  # a step's `backend` parameter overrides it
    a1111_base_url: str = "http://127.0.0.1:7860"
    comfyui_base_url: str = "http://127.0.0.1:8188"
    default_provider: str = "default"
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    budget_per_post: float | None = Field(None, ge=0)  # estimated dollars, all runs on one post
    budget_per_month: float | None = Field(None, ge=0)  # estimated dollars, all runs in a calendar month (UTC)
    # What a budget does with a run on a model whose price nobody knows (a local model, say).
    unpriced_models: Literal["warn", "refuse"] = "warn"
    providers: dict[str, ProviderProfile] = Field(default_factory=lambda: {"default": ProviderProfile()})
    # The HTTP API (wfdesk/api): the app serves it while open when api_enabled; `wfdesk serve` any time. The token
    # is in the keyring, never here.
    api_enabled: bool = False
    api_port: int = Field(8765, ge=1, le=65535)
    api_cors_origins: list[str] = Field(default_factory=list)  # web pages (e.g. a CMS) allowed to call it
    # A run that ends while the window is in the background after at least this long gets a system notification.
    run_end_notice_after_s: float = Field(10.0, ge=0)

    def price(self, model: str | None) -> ModelPrice | None:
        """The editor's own price; wfdesk.runs.prices adds the price library's."""
        if not model:
            return None
        return self.prices.get(model)

    def provider(self, name: str | None) -> ProviderProfile:
        key = name or self.default_provider
        if key in self.providers:
            return self.providers[key]
        if key in PRESET_PROFILES:
            return PRESET_PROFILES[key]
        raise KeyError(key)


def cors_origin_problem(origins: list[str]) -> str | None:
    """Why these web page origins may not call the API from a browser, in words; None when they may. The same rule
    for Settings → Other apps and `wfdesk serve --cors-origin`."""
    if any(o.strip() == "*" for o in origins):
        return ("* (any web page) cannot be allowed: a page on any site could then run steps with the token a "
                "browser is given; name each web page's origin, such as https://cms.example.com")
    bad = [o for o in origins if not o.startswith(("http://", "https://")) or "/" in o[8:]]
    if bad:
        return (f"{', '.join(bad)}: a web page's origin is its scheme and host, such as "
                "https://cms.example.com (no path)")
    return None


PLUGIN_LOAD_SECONDS = 5.0


class Environment(BaseSettings):
    """Every WFDESK_* variable the app reads, declared once: its name is WFDESK_ + the field's name in capitals.

    Read afresh at each `environment()` call (a test or a launcher may change the environment). An empty variable
    counts as not set."""

    model_config = SettingsConfigDict(env_prefix="WFDESK_", env_ignore_empty=True, extra="ignore", frozen=True,
                                      case_sensitive=False)

    # Over the saved settings (load_settings); the Settings dialog shows such a field as set by the environment.
    database_url: str | None = None
    data_dir: str | None = None
    custom_script_base_url: str | None = None
    a1111_base_url: str | None = None
    comfyui_base_url: str | None = None
    config_dir: str | None = None  # the settings folder (default: the platform's config folder)
    api_token: str | None = None  # the HTTP API's bearer token (default: one kept in the keyring)
    wordpress_app_password: str | None = None  # for the WordPress step, when no keyring keeps it
    runs_in_process: bool = False  # 1: the window runs steps in its own process (debugging)
    plugin_load_seconds: float = PLUGIN_LOAD_SECONDS  # how long one plugin may take to load (at least 0.1 s)

    @field_validator("runs_in_process", mode="before")
    @classmethod
    def _exactly_one(cls, value: object) -> bool:
        return value is True or str(value).strip() == "1"  # "1" switches it on, as always; anything else is off

    @field_validator("plugin_load_seconds", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> float:
        try:
            return max(0.1, float(str(value)))
        except ValueError:
            return PLUGIN_LOAD_SECONDS  # not a number: the default, as always

    def overrides(self) -> dict[str, str]:
        """The saved settings' fields the environment sets, with their values."""
        return {name: value for name in OVERRIDABLE if (value := getattr(self, name))}


# The Settings fields a WFDESK_* variable overrides (same name).
OVERRIDABLE = ("database_url", "data_dir", "custom_script_base_url", "a1111_base_url", "comfyui_base_url")


def env_name(field: str) -> str:
    """The variable that sets `field`: WFDESK_DATABASE_URL for database_url."""
    return f"WFDESK_{field.upper()}"


def environment() -> Environment:
    """The WFDESK_* variables as they are now (every field has a lenient reading: this never raises). Read again
    only when one of them changed: the API asks for its token on every request."""
    return _environment(tuple(sorted((k, v) for k, v in os.environ.items() if k[:7].upper() == "WFDESK_")))


@functools.lru_cache(maxsize=8)
def _environment(_variables: tuple[tuple[str, str], ...]) -> Environment:
    return Environment()


def config_dir() -> Path:
    return Path(environment().config_dir or platformdirs.user_config_dir(APP_NAME))


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME))


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> Settings:
    """The saved settings, with WFDESK_* environment variables on top. A damaged file is reported, not fatal."""
    settings = Settings()
    path = settings_path()
    if path.exists():
        try:
            settings = Settings.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError) as exc:
            log.warning("Ignoring unreadable settings file %s: %s", path, exc)
    for field, value in environment().overrides().items():
        setattr(settings, field, value)
    return settings


def file_settings() -> Settings:
    """The settings file as saved, without the WFDESK_* environment overrides (which must not be persisted)."""
    path = settings_path()
    try:
        return Settings.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else Settings()
    except (OSError, ValueError):
        return Settings()


def without_env_overrides(new: Settings) -> Settings:
    """`new` as it may be saved: a value that came from a WFDESK_* variable is replaced by the file's own."""
    saved = new.model_copy(deep=True)
    file = file_settings()
    env = environment()
    for field, value in env.overrides().items():
        # A database URL typed in the dialog (not the variable's) is the editor's choice: it is saved.
        if field != "database_url" or saved.database_url == value:
            setattr(saved, field, getattr(file, field))
    return saved


def save_settings(settings: Settings) -> None:
    data = settings.model_dump(mode="json")
    atomic_write_bytes(settings_path(), json.dumps(data, indent=2).encode("utf-8"))


# --- secrets -------------------------------------------------------------------------------------------------

def keyring_available() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        return not isinstance(keyring.get_keyring(), fail.Keyring)
    except Exception:  # noqa: BLE001 - any keyring failure means "not available"
        return False


def get_api_key(profile: ProviderProfile) -> str | None:
    """Keyring first, then the profile's environment variable."""
    if keyring_available():
        try:
            import keyring

            secret = keyring.get_password(KEYRING_SERVICE, profile.name)
            if secret:
                return secret
        except Exception as exc:  # noqa: BLE001
            log.warning("Keyring lookup failed for provider %s: %s", profile.name, exc)
    return (os.environ.get(profile.api_key_env) if profile.api_key_env else None) or None


def set_api_key(profile_name: str, secret: str) -> None:
    """Store a key in the OS keyring. Raises RuntimeError when no keyring backend exists."""
    if not keyring_available():
        raise RuntimeError("No system keyring is available; set the API key in the environment instead.")
    import keyring

    keyring.set_password(KEYRING_SERVICE, profile_name, secret)
