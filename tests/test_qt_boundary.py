"""Only wfdesk.ui may import Qt: every other module imports with PySide6 made unimportable."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from conftest import ROOT

import wfdesk

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'PyQt5', 'PyQt6', 'superqt', 'qtpy'):
            raise ImportError('Qt is not allowed here: ' + name)
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print('ok', len(sys.argv) - 1)
"""


def _engine_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(wfdesk.__path__, "wfdesk."):
        if info.name.startswith(("wfdesk.ui", "wfdesk.db.migrations")) or info.name == "wfdesk.__main__":
            continue
        names.append(info.name)
    return names


def test_no_module_outside_ui_imports_qt():
    modules = _engine_modules()
    assert "wfdesk.cli" in modules
    assert "wfdesk.scripts.registry" in modules
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *modules], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ok {len(modules)}"


def test_the_blocker_really_blocks():
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "wfdesk.ui.worker"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode != 0
    assert "Qt is not allowed here" in proc.stderr
