"""The icon the Windows and macOS bundles carry (packaging/wfdesk.spec): the largest PNG of the app's icons.
PyInstaller turns it into .ico / .icns with Pillow; Linux desktops take the icon from the .desktop entry instead."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def largest_png(folder: Path) -> Path | None:
    """The PNG with the most pixels under `folder`; None if there is none (or no folder): the bundle then has
    PyInstaller's default icon, and the build goes on."""

    def pixels(png: Path) -> int:
        with Image.open(png) as image:
            return image.width * image.height

    pngs = sorted(folder.rglob("*.png"), key=pixels) if folder.is_dir() else []
    return pngs[-1] if pngs else None
