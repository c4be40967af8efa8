"""Local model servers as editors set them up: `OPENAI_BASE_URL` pointing at Ollama or
LM Studio. The server is recognised from its own API (Ollama: `GET /api/version`; LM Studio: `GET /api/v0/models`,
whose model list carries `state` and `compatibility_type`), and gets a preset that fits one slow local model:
one request at a time and a long read timeout, so a run queues here instead of timing out at the server.

Only a generic ("compatible") profile without an address of its own is adapted, and only the values the editor left
at their defaults.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import requests

from wfdesk.settings import ProviderProfile

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace  # only a type: providers sit below the workspace

log = logging.getLogger(__name__)
DETECT_TIMEOUT = (1.0, 2.0)  # connect, read: a question asked once per workspace, it must not hold up a run
# One model answers one request at a time: one in flight keeps each request's timeout its own answer's.
PRESET = {"concurrency": 1, "read_timeout": 600.0}
KINDS = ("ollama", "lmstudio")


def server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def detect(base_url: str) -> str | None:
    """"ollama", "lmstudio", or None (another server, or none there)."""
    root = server_root(base_url)
    ollama = _get(f"{root}/api/version", lambda d: isinstance(d.get("version"), str))
    if ollama:
        return "ollama"
    if ollama is None:
        return None  # no answer in time: the run is not held up a second time by the same server
    if _get(f"{root}/api/v0/models", _lmstudio_models):
        return "lmstudio"
    return None


def adapt(ws: Workspace, profile: ProviderProfile, base_url: str | None) -> ProviderProfile:
    """The profile with the detected server's preset for the values the editor did not change. Only for an address
    that came from OPENAI_BASE_URL: a profile with an address of its own was set up in Settings, where Ollama and
    LM Studio have presets of their own to choose."""
    if profile.kind != "compatible" or profile.base_url or not base_url or "api.openai.com" in base_url:
        return profile
    kind = ws.cached(("local-server", server_root(base_url)), lambda: detect(base_url))
    if kind is None:
        return profile
    defaults = ProviderProfile.model_fields
    changes = {k: v for k, v in PRESET.items() if getattr(profile, k) == defaults[k].default}
    if changes:
        log.info("%s is %s: using its preset %s", base_url, kind, changes)
    return profile.model_copy(update=changes)


def _get(url: str, looks_right) -> bool | None:
    """True / False, or None when the server did not answer in time (or is not there)."""
    try:
        resp = requests.get(url, timeout=DETECT_TIMEOUT, allow_redirects=False)
        data = resp.json() if resp.status_code == 200 else None
    except (requests.Timeout, requests.ConnectionError):
        return None
    except (requests.RequestException, ValueError):
        return False
    return isinstance(data, dict) and bool(looks_right(data))


def _lmstudio_models(data: dict) -> bool:
    models = data.get("data")
    if data.get("object") != "list" or not isinstance(models, list):
        return False
    return all(isinstance(m, dict) and ("state" in m or "compatibility_type" in m) for m in models)

