"""The first-start demo ships inside the package, so it loads from any install (a wheel, not only a checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from wfdesk.desktop_entry import ICON_SIZES
from wfdesk.services import editing

ROOT = Path(__file__).resolve().parent.parent


def test_demo_loads_from_the_package_resources(ws, monkeypatch):
    # Not from the checkout's root: a wheel install has no such directory.
    monkeypatch.chdir(ROOT.parent)
    counts = editing.load_demo(ws)
    assert counts["posts"] == 1
    assert counts["workflow_steps"] == 3
    assert counts["sections"] == 3


def build_wheel(out_dir: Path) -> Path:
    """The wheel, built from a copy of the sources (the build writes build/ and egg-info next to them) with the
    dev venv's setuptools: no network."""
    src = out_dir / "src"
    shutil.copytree(ROOT / "wfdesk", src / "wfdesk", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(out_dir), str(src)], check=True, timeout=300, capture_output=True)
    return next(out_dir.glob("wfdesk-*.whl"))


def test_the_built_wheel_carries_every_resource_read_at_run_time(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "wfdesk/resources/reference-steps.json" in names
    assert "wfdesk/resources/templates/reference.json" in names
    assert "wfdesk/resources/comfyui/txt2img.json" in names
    assert "wfdesk/resources/icons/wfdesk.svg" in names
    assert {f"wfdesk/resources/icons/png/{size}.png" for size in ICON_SIZES} <= names
    assert {"wfdesk/resources/desktop/org.wfdesk.wfdesk.desktop",
            "wfdesk/resources/desktop/org.wfdesk.wfdesk.metainfo.xml"} <= names
    assert {"wfdesk/db/migrations/env.py", "wfdesk/db/migrations/script.py.mako"} <= names
    migrations = sorted(p.name for p in (ROOT / "wfdesk" / "db" / "migrations" / "versions").glob("*.py"))
    assert {f"wfdesk/db/migrations/versions/{name}" for name in migrations} <= names
    assert "wfdesk/py.typed" in names
    # Every file of the package's source tree is in the wheel (caches and bytecode aside).
    tree = {p.relative_to(ROOT).as_posix() for p in (ROOT / "wfdesk").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}
    assert tree <= names, sorted(tree - names)
    license_file = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    assert "MIT License" in zipfile.ZipFile(wheel).read(license_file).decode()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
    assert "Provides-Extra: postgres" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if "psycopg" in r and "extra ==" not in r]  # the base install stays lean
