"""The diagnostics report (Help → About's *Copy diagnostics*, without Qt) and `wfdesk --version`."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from conftest import ROOT

from wfdesk.diagnostics import app_version, database_kind, diagnostics_text
from wfdesk.scripts.plugins import PLUGIN_ERRORS, PluginProblem
from wfdesk.settings import ProviderProfile, Settings


def test_version_is_the_package_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    proc = subprocess.run([sys.executable, "-m", "wfdesk", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout == f"wfdesk {project['version']}\n"
    assert app_version() == project["version"]


def test_report_names_versions_paths_database_kind_and_plugins_never_a_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret-1234")
    settings = Settings(database_url="postgresql+psycopg2://bob:pg-secret-99@db.internal:5432/wfdesk?sslkey=k-77",
                        data_dir=str(tmp_path / "data"),
                        custom_script_base_url="https://hooks.example/x?token=tok-secret-42",
                        providers={"default": ProviderProfile(base_url="https://u:prov-secret-7@llm.example/v1")})
    problem = PluginProblem("video_generation = wfdesk_video_generation:PLUGIN", "wfdesk-video-generation 0.1.0",
                            "it needs the Python module 'imageio', which is not installed")
    monkeypatch.setattr("wfdesk.scripts.plugins.PLUGIN_ERRORS", [*PLUGIN_ERRORS, problem])
    report = diagnostics_text(settings, extra={"Qt": "6.x"})
    lines = report.splitlines()
    assert f"wfdesk: {app_version()}" in lines
    assert "Qt: 6.x" in lines
    assert any(line.startswith("Python: 3.") for line in lines)
    assert any(line.startswith("Database: PostgreSQL (psycopg") for line in lines)
    assert f"Data path: {tmp_path / 'data'}" in lines
    assert f"Settings path: {tmp_path / 'config'}" in lines
    assert "  not loaded: video_generation = wfdesk_video_generation:PLUGIN (wfdesk-video-generation 0.1.0): it " \
           "needs the Python module 'imageio', which is not installed" in lines
    for secret in ("pg-secret-99", "k-77", "sk-env-secret-1234", "tok-secret-42", "prov-secret-7", "bob",
                   "db.internal", "llm.example"):
        assert secret not in report


def test_database_kind_without_a_driver_says_so(monkeypatch):
    monkeypatch.setattr("wfdesk.database_url._installed", lambda module: False)
    assert database_kind("postgresql://u:pw@h/db") == "PostgreSQL (no driver installed)"
    assert database_kind("sqlite:///x.db") == "SQLite"
    assert database_kind(None).startswith("SQLite")
    assert database_kind("not a url") == "unreadable database URL"


def test_the_app_name_is_the_settings_one():
    from wfdesk import diagnostics, settings

    assert diagnostics.APP_NAME == settings.APP_NAME
