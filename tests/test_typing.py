"""mypy finds no error in all of wfdesk, the window included, with the configuration in pyproject.toml ([tool.mypy]:
the pydantic plugin, the engine packages and everything below the window strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def _cache_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """pytest's own cache (.pytest_cache, ignored by git) keeps mypy's between runs: a rerun takes seconds."""
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("mypy") if cache is not None else tmp_path / "mypy"


def test_mypy_finds_no_error(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cache = _cache_dir(request, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "mypy", "wfdesk", "--cache-dir", str(cache),
                           "--no-pretty", "--no-color-output"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert proc.returncode == 0, f"mypy found {len(errors)} error(s):\n" + proc.stdout[-6000:] + proc.stderr[-2000:]
    assert not errors, f"mypy found {len(errors)} error(s):\n" + proc.stdout[-6000:] + proc.stderr[-2000:]
