"""Start-up: process start to the first painted main window, on a database of 1,000 posts x 20 sections and
2,000 images, side by side with a bare PySide6 window. Also the queries needed to open a post of 200 sections.

    .venv/bin/python tests/bench/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PAINT_PROBE = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv)
class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
            print(time.time(), flush=True)
            app.removeEventFilter(self)
            QTimer.singleShot(0, app.quit)
        return False
probe = FirstPaint()
app.installEventFilter(probe)
"""

BARE = PAINT_PROBE + """
from PySide6.QtWidgets import QLabel
window = QMainWindow()
window.setCentralWidget(QLabel("hello"))
window.resize(1280, 800)
window.show()
app.exec()
"""

WFDESK = PAINT_PROBE + """
from wfdesk.ui.app import main
main([])
"""


def build_database(data_dir: Path, posts: int = 1000, sections: int = 20, images: int = 2000) -> None:
    """Bulk inserts (Core) so building the fixture takes seconds, not minutes."""
    import io

    from PIL import Image
    from sqlalchemy import insert

    from wfdesk.db.models import ContentField, ContentVersion, ImageAsset, Post, PostSection
    from wfdesk.media.store import store_image
    from wfdesk.settings import Settings
    from wfdesk.workspace import open_workspace

    ws = open_workspace(data_dir=data_dir, settings=Settings(data_dir=str(data_dir)))
    with ws.db.engine.begin() as conn:
        conn.execute(insert(Post), [{"id": p, "title": f"Post {p}: a trip", "status": "draft"}
                                    for p in range(1, posts + 1)])
        rows, fields = [], []
        for p in range(1, posts + 1):
            for s in range(sections):
                sid = (p - 1) * sections + s + 1
                rows.append({"id": sid, "post_id": p, "position": s, "title": f"Section {s}"})
                fields.append({"post_id": p, "section_id": sid, "name": "draft", "value": "words " * 60})
                fields.append({"post_id": p, "section_id": sid, "name": "image_prompts", "value": "a picture"})
        conn.execute(insert(PostSection), rows)
        conn.execute(insert(ContentField), fields)
    versions = []
    with ws.db.engine.begin() as conn:
        for i in range(images):
            buf = io.BytesIO()
            Image.new("RGB", (64, 64), (i % 256, (i // 256) % 256, 90)).save(buf, "PNG")
            sid = (i % (posts * sections)) + 1
            post_id = (sid - 1) // sections + 1
            stored = store_image(ws.data_dir, post_id, sid, buf.getvalue())
            asset_id = conn.execute(insert(ImageAsset).values(
                sha256=stored.sha256, path=stored.rel_path, mime=stored.info.mime, width=64, height=64,
                size_bytes=stored.size_bytes)).inserted_primary_key[0]
            versions.append({"post_id": post_id, "section_id": sid, "field": "generated_image_url", "kind": "image",
                             "value": stored.rel_path, "asset_id": asset_id, "status": "candidate", "meta": {}})
        conn.execute(insert(ContentVersion), versions)
    ws.close()


def time_to_first_paint(code: str, env: dict) -> float:
    started = time.time()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=ROOT)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"no paint: {proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1]) - started


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        build_database(data)
        print(f"built 1,000 posts x 20 sections, 2,000 images in {time.perf_counter() - t0:.1f} s")
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WFDESK_DATA_DIR": str(data),
               "WFDESK_CONFIG_DIR": str(Path(tmp) / "config"), "XDG_CONFIG_HOME": str(Path(tmp) / "xdg")}
        env.pop("WFDESK_DATABASE_URL", None)
        bare, app = [], []
        for _ in range(args.runs):  # interleaved, so both see the same machine load
            bare.append(time_to_first_paint(BARE, env))
            app.append(time_to_first_paint(WFDESK, env))
    b, a = statistics.median(bare), statistics.median(app)
    ok = a / b <= 1.5
    print(f"start-up to first paint (median of {args.runs}): bare PySide6 {b * 1000:.0f} ms, "
          f"wfdesk {a * 1000:.0f} ms")
    print(f"  wfdesk / bare                        {a / b:8.2f}   target <= 1.5    {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
