"""wfdesk as a one-folder bundle (PyInstaller, `make bundle`): one executable for the window, the CLI and the run
process, and a `plugins/` folder beside it. The executable's entry, packaging/wfdesk_main.py, uses what is here;
this module imports nothing of wfdesk, so the run process's client can use it without reaching the window.

In a bundle there is no Python to run `-m wfdesk.runs.child`: the run process is the bundle's own executable
started with RUN_PROCESS_ARG first. Plugins cannot be pip-installed into a bundle either, so the folder `plugins/`
next to the executable is put on sys.path before anything reads entry points; importlib.metadata then finds their
dist-info there like any installed package's.
"""

from __future__ import annotations

import site
import sys
from collections.abc import MutableMapping
from pathlib import Path

# Hidden first argument: "be the app's run process". Not a CLI option (argparse never sees it).
RUN_PROCESS_ARG = "--wfdesk-run-process"
PLUGINS_DIR_NAME = "plugins"


def is_frozen() -> bool:
    """True inside the bundle (PyInstaller sets sys.frozen)."""
    return bool(getattr(sys, "frozen", False))


def run_process_command() -> list[str]:
    """How the app starts its run process: the bundle's executable in run-process mode, else this Python."""
    if is_frozen():
        return [sys.executable, RUN_PROCESS_ARG]
    # -P: never the current folder first on sys.path (a stray sqlalchemy.py where the app was started would run in
    # the process that holds the provider keys).
    return [sys.executable, "-P", "-m", "wfdesk.runs.child"]


def bundle_plugins_dir() -> Path:
    """The `plugins/` folder beside the bundle's executable; for a macOS app (wfdesk.app/Contents/MacOS/wfdesk),
    beside wfdesk.app, since the inside of an app is signed and hidden from its user."""
    exe_dir = Path(sys.executable).resolve().parent
    app = exe_dir.parent.parent
    if exe_dir.name == "MacOS" and exe_dir.parent.name == "Contents" and app.suffix == ".app":
        return app.parent / PLUGINS_DIR_NAME
    return exe_dir / PLUGINS_DIR_NAME


def add_plugins_to_path(folder: Path) -> list[str]:
    """Put `folder` (unpacked packages, e.g. from `pip install --target`; its .pth files are read as in
    site-packages) and each `folder/*.whl` (pure-Python wheels import from the zip as they are) at the end of
    sys.path, so they never shadow wfdesk's own modules. Returns what was added; a missing folder adds nothing."""
    if not folder.is_dir():
        return []
    before = list(sys.path)
    site.addsitedir(str(folder))
    sys.path.extend(str(wheel) for wheel in sorted(folder.glob("*.whl")) if wheel.is_file() and str(wheel) not in
                    sys.path)
    return [entry for entry in sys.path if entry not in before]


def restore_library_path(environ: MutableMapping[str, str]) -> None:
    """PyInstaller's bootloader points LD_LIBRARY_PATH at the bundle's libraries, for the programs the app starts
    (it saves the user's value as LD_LIBRARY_PATH_ORIG). Those are the system's (a browser, xdg-open), which must get
    the system's libraries, or the bundle itself, whose bootloader sets the path again. This process is not affected:
    the loader read the variable before it was set."""
    original = environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is not None:
        environ["LD_LIBRARY_PATH"] = original
    else:
        environ.pop("LD_LIBRARY_PATH", None)

