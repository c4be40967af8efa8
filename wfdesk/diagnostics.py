"""What a bug report needs to know about this installation, as plain text — and never a secret.

Used by Help → About (*Copy diagnostics*) and usable from the command line: no Qt here (the window passes its Qt
version in `extra`). Secrets stay out by construction, not by scrubbing: no URL is ever written (the database is
named by its kind and driver only), no setting value other than paths, nothing from the keyring or the environment.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wfdesk.settings import Settings

APP_NAME = "wfdesk"  # wfdesk.settings.APP_NAME: the settings (pydantic) load only when a report is made, so
# `wfdesk --version` and the argument parser stay quick
LOG_FILE = "wfdesk.log"  # the file wfdesk.ui.app.setup_logging writes
UNKNOWN_VERSION = "unknown (not installed)"
DATABASE_KINDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def app_version() -> str:
    """The installed wfdesk's version (a source checkout run without `pip install -e` has none)."""
    return package_version(APP_NAME) or UNKNOWN_VERSION


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def app_paths(settings: Settings | None = None, data_dir: Path | None = None) -> dict[str, Path]:
    """Where this installation keeps its data (database file, images; `data_dir`: the open workspace's), its log
    file and its settings."""
    from wfdesk.settings import config_dir, default_data_dir, load_settings, log_dir

    settings = settings if settings is not None else load_settings()
    return {
        "Data": data_dir or (Path(settings.data_dir) if settings.data_dir else default_data_dir()),
        "Log": log_dir() / LOG_FILE,
        "Settings": config_dir(),
    }


def database_kind(url: str | None) -> str:
    """"SQLite", "PostgreSQL (psycopg 3.2.3)"...: the kind and driver of a database URL, never the URL itself."""
    if not url:
        return "SQLite (the default file in the data folder)"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "unreadable database URL"
    backend = parsed.get_backend_name()
    kind = DATABASE_KINDS.get(backend, backend)
    if backend != "postgresql":
        return kind
    from wfdesk.database_url import postgres_driver

    driver = postgres_driver(url)
    if driver is None:
        return f"{kind} (no driver installed)"
    # psycopg2 is usually installed as psycopg2-binary
    driver_version = package_version(driver) or package_version(f"{driver}-binary")
    return f"{kind} ({driver}{' ' + driver_version if driver_version else ''})"


def plugin_lines() -> list[str]:
    """Script-type plugins from other packages (name, package and version; none is imported here), then any that
    failed to load in this process, with the reason."""
    from wfdesk.scripts.plugins import ENTRY_POINT_GROUP, PLUGIN_ERRORS

    lines = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        if dist is not None and dist.name == APP_NAME:
            continue  # wfdesk's own types
        lines.append(f"{ep.name}: {dist.name + ' ' + dist.version if dist is not None else ep.value}")
    lines += [f"not loaded: {p.entry_point} ({p.source}): {p.error}" for p in list(PLUGIN_ERRORS)]
    return lines


def diagnostics_text(settings: Settings | None = None, database_url: str | None = None,
                     data_dir: Path | None = None, extra: Mapping[str, str] | None = None) -> str:
    """The report: versions, platform, paths, database kind, plugins. `database_url` and `data_dir` are the open
    workspace's (default: the settings'); `extra` adds lines such as the Qt version the window runs on."""
    from wfdesk.settings import load_settings

    settings = settings if settings is not None else load_settings()
    url = database_url if database_url is not None else settings.database_url
    versions = {
        "wfdesk": app_version(),
        "Python": f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        "PySide6": package_version("PySide6-Essentials") or package_version("PySide6") or "not installed",
        **(extra or {}),
        "Platform": platform.platform(),
        "Frozen bundle": "yes" if getattr(sys, "frozen", False) else "no",
        "Database": database_kind(url),
    }
    lines = [f"{name}: {value}" for name, value in versions.items()]
    lines += [f"{name} path: {path}" for name, path in app_paths(settings, data_dir).items()]
    plugins = plugin_lines()
    lines.append("Plugins:" + ("" if plugins else " none"))
    lines += [f"  {line}" for line in plugins]
    return "\n".join(lines) + "\n"
