"""The first-start demo ships inside the package, so it loads from any install (a wheel, not only a checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from wfdesk.services import editing

ROOT = Path(__file__).resolve().parent.parent


def test_demo_loads_from_the_package_resources(ws, monkeypatch):
    # Not from the checkout's root: a wheel install has no such directory.
    monkeypatch.chdir(ROOT.parent)
    counts = editing.load_demo(ws)
    assert counts["posts"] == 1 and counts["workflow_steps"] == 3 and counts["sections"] == 3


def test_the_built_wheel_carries_the_demo(tmp_path):
    # Built from a copy: the build writes build/ and egg-info next to the sources.
    src = tmp_path / "src"
    shutil.copytree(ROOT / "wfdesk", src / "wfdesk", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(src)], check=True, timeout=300, capture_output=True)
    wheel = next(tmp_path.glob("wfdesk-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "wfdesk/resources/reference-steps.json" in names
    assert "wfdesk/resources/templates/reference.json" in names
