"""Renders the application icon's PNG sizes from wfdesk.svg with QtSvg (run once after changing the SVG, then commit
the PNGs: `python packaging/render_icons.py`). Not imported by wfdesk; the sizes are the freedesktop
hicolor theme's, which `wfdesk --install-desktop-entry` installs one by one."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # wfdesk.desktop_entry.ICON_SIZES
HERE = Path(__file__).resolve().parent.parent / "wfdesk" / "resources" / "icons"  # where the icons live


def render(svg: Path, out_dir: Path) -> list[Path]:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG")
    out_dir.mkdir(exist_ok=True)
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        path = out_dir / f"{size}.png"
        if not image.save(str(path), b"PNG"):
            raise SystemExit(f"cannot write {path}")
        written.append(path)
    return written


if __name__ == "__main__":
    app = QGuiApplication(sys.argv[:1])
    for p in render(HERE / "wfdesk.svg", HERE / "png"):
        print(p)
