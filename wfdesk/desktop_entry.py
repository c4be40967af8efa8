"""`wfdesk --install-desktop-entry`: the app in the desktop's menu, with its icon, for the current user (freedesktop).

Copies the package's .desktop file, AppStream metainfo and icon sizes into $XDG_DATA_HOME (~/.local/share):
applications/, metainfo/ and icons/hicolor/<size>/apps/. The .desktop file's Exec names the launcher of *this*
installation by its full path (a pipx venv's bin is often not on the desktop session's PATH; a bundle is started as
itself). No Qt here: the command line runs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from wfdesk.errors import WfdeskError
from wfdesk.fileio import atomic_write_bytes

APP_ID = "org.wfdesk.wfdesk"  # the .desktop file's name, the icon's name and QGuiApplication.desktopFileName()
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # the PNGs in wfdesk/resources/icons/png
GUI_SCRIPT = "wfdesk-gui"  # pyproject.toml [project.gui-scripts]
# Characters that make a desktop Exec argument need quoting, and those escaped with a backslash inside the quotes
# (Desktop Entry Specification, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES = '"`$\\'


def resource(*parts: str) -> Traversable:
    return resources.files("wfdesk").joinpath("resources", *parts)


def icon_png(size: int) -> Traversable:
    return resource("icons", "png", f"{size}.png")


def data_home() -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (as the specification says)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """How the desktop starts this installation's window: the bundle's own executable, else the gui script installed
    beside this Python (a venv's or pipx's bin), else the one on PATH."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    bin_dir = Path(sys.executable).parent
    for name in (GUI_SCRIPT, f"{GUI_SCRIPT}.exe"):
        if (bin_dir / name).is_file():
            return [str(bin_dir / name)]
    found = shutil.which(GUI_SCRIPT)
    return [found] if found else [GUI_SCRIPT]


def exec_quote(arg: str) -> str:
    """One argument of a desktop Exec key: quoted and escaped where the specification asks, then escaped again as a
    desktop-file string (a backslash doubles); a literal % is %%."""
    arg = arg.replace("%", "%%")
    if any(ch in _RESERVED for ch in arg):
        arg = '"' + "".join("\\" + ch if ch in _ESCAPED_IN_QUOTES else ch for ch in arg) + '"'
    return arg.replace("\\", "\\\\")


def desktop_file_text(command: list[str] | None = None) -> str:
    """The packaged .desktop file with Exec (and TryExec) naming `command` (default: launcher_command())."""
    command = command or launcher_command()
    lines = []
    for line in resource("desktop", f"{APP_ID}.desktop").read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            lines.append("Exec=" + " ".join(exec_quote(a) for a in command))
            if os.path.isabs(command[0]):
                lines.append("TryExec=" + command[0].replace("\\", "\\\\"))  # hidden once the install is removed
        elif not line.startswith("TryExec="):
            lines.append(line)
    return "\n".join(lines) + "\n"


def install_desktop_entry(target: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Install the menu entry, metainfo and icons under `target` (default: data_home()); returns the files written.
    Installing again replaces them (a moved installation gets its new path)."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        raise WfdeskError("A desktop menu entry is installed on Linux desktops only; on macOS and Windows the "
                          "app bundle carries its icon.")
    target = target or data_home()
    written: list[tuple[Path, bytes]] = [
        (target / "applications" / f"{APP_ID}.desktop", desktop_file_text(command).encode("utf-8")),
        (target / "metainfo" / f"{APP_ID}.metainfo.xml",
         resource("desktop", f"{APP_ID}.metainfo.xml").read_bytes()),
        (target / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
         resource("icons", "wfdesk.svg").read_bytes()),
    ]
    written += [(target / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png",
                 icon_png(size).read_bytes()) for size in ICON_SIZES]
    try:
        for path, data in written:
            atomic_write_bytes(path, data)
    except OSError as exc:
        raise WfdeskError(f"Cannot install the desktop entry into {target}: {exc.strerror or exc}") from None
    _refresh_caches(target)
    return [path for path, _ in written]


def _refresh_caches(target: Path) -> None:
    """Tell the desktop about the new entry and icons where the usual tools exist (menus pick them up anyway)."""
    for tool, args in (("update-desktop-database", ["-q", str(target / "applications")]),
                       ("gtk-update-icon-cache", ["-q", "-t", "-f", str(target / "icons" / "hicolor")])):
        found = shutil.which(tool)
        if found:
            with contextlib.suppress(OSError, subprocess.SubprocessError):  # only a cache: the entry works without it
                subprocess.run([found, *args], capture_output=True, timeout=30, check=False)
