"""The import contracts in .importlinter hold (import-linter reads the source: imports inside functions count)."""

from __future__ import annotations

import configparser
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

import wfdesk

LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"


def _contracts() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return config


def _listed(value: str) -> set[str]:
    return {name.strip() for line in value.splitlines() for name in line.replace(":", "|").split("|")
            if name.strip()}


def _top_level() -> set[str]:
    return {f"wfdesk.{m.name}" for m in pkgutil.iter_modules(wfdesk.__path__) if m.name != "__main__"}


def test_the_contracts_are_kept():
    proc = subprocess.run([LINT_IMPORTS, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_every_package_is_under_the_contracts():
    # A new top-level module or package must be placed in a layer and kept away from Qt, not left out of both.
    config = _contracts()
    assert _listed(config["importlinter:contract:qt-only-in-ui"]["source_modules"]) == _top_level() - {"wfdesk.ui"}
    assert _listed(config["importlinter:contract:layers"]["layers"]) == _top_level()


def test_an_import_inside_a_function_breaks_the_contracts(tmp_path):
    # What the older import-time check missed: a function-level Qt import outside wfdesk.ui; and a lower layer
    # reaching up (the database layer into the engine) is caught the same way.
    pkg = tmp_path / "wfdesk"
    shutil.copytree(ROOT / "wfdesk", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    sneaky = "def later():\n    from PySide6.QtCore import QObject\n    return QObject\n"
    (pkg / "runs" / "sneaky.py").write_text(sneaky)
    (pkg / "db" / "upward.py").write_text("def later():\n    from wfdesk.runs import engine\n    return engine\n")
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    proc = subprocess.run([LINT_IMPORTS, "--no-cache"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)})
    assert proc.returncode != 0
    assert "wfdesk.runs.sneaky -> PySide6" in proc.stdout
    assert "wfdesk.db.upward -> wfdesk.runs.engine" in proc.stdout
    assert "2 broken" in proc.stdout
