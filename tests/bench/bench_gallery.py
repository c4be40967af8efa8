"""Image browsing: a section with 500 candidate images of 1024x1024 in the image_generation panel.

Side by side in the same run:
  (a) a full decode of the 500 files (Pillow open + load of each), the baseline;
  (b) showing the panel for that section until the gallery's first screen of thumbnails is painted, with a cold
      thumbnail cache: target <= 1/10 of (a);
  (c) thumbnails are decoded scaled and cached on disk: every cache file exists after the first pass, and a second
      open of the gallery decodes no original (decodes counted) and shows its first screen in <= 1/10 of (a);
  (d) memory while scrolling the gallery through all 500, in a fresh process: peak RSS (VmRSS sampled by a timer)
      minus the RSS before the panel opened: target <= 150 MB.

    .venv/bin/python tests/bench/bench_gallery.py [--images 500] [--format mixed|png|jpeg] [--rounds 3]

The images are smooth colour fields with grain, PNG (what image APIs return) and JPEG alternately by default.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from typing_extensions import override

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

POST, SECTION, STEP, FIELD = 53, 711, 2, "generated_image_url"
SIZE = 1024
WAIT_S = 30.0  # per wait: the first screen, or one page of the scroll


# --- the fixture -----------------------------------------------------------------------------------------------
def make_image(job: tuple[int, str, str]) -> tuple[str, str, str, int, int, int]:
    """A distinct 1024x1024 picture (a smooth colour field with grain), stored as the engine stores images."""
    from PIL import Image, ImageChops

    from wfdesk.media.store import store_image

    i, fmt, data_dir = job
    rnd = random.Random(i)
    img = Image.frombytes("RGB", (8, 8), rnd.randbytes(8 * 8 * 3)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    grain = ImageChops.offset(_grain(), rnd.randrange(SIZE), rnd.randrange(SIZE))
    img = Image.blend(img, grain, 0.12)
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    else:
        img.save(buf, "JPEG", quality=88)
    stored = store_image(Path(data_dir), POST, SECTION, buf.getvalue())
    return stored.rel_path, stored.sha256, stored.info.mime, SIZE, SIZE, stored.size_bytes


_GRAIN = []


def _grain():
    if not _GRAIN:
        from PIL import Image

        _GRAIN.append(Image.effect_noise((SIZE, SIZE), 40).convert("RGB"))
    return _GRAIN[0]


def build_workspace(tmp: Path, n: int, fmt: str) -> list[Path]:
    """The demo post, and n candidates on its first section (every 25th rejected). Returns the image files."""
    from wfdesk.db import content
    from wfdesk.media.store import resolve_image_path
    from wfdesk.services import editing

    ws = open_ws(tmp)
    editing.load_demo(ws)
    formats = ["png" if (fmt == "png" or (fmt == "mixed" and i % 2 == 0)) else "jpeg" for i in range(n)]
    with ProcessPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
        stored = list(pool.map(make_image, [(i, formats[i], str(ws.data_dir)) for i in range(n)], chunksize=8))
    with ws.db.session() as s:
        for i, (rel, sha, mime, w, h, size) in enumerate(stored):
            asset = content.get_or_create_asset(s, sha256=sha, path=rel, mime=mime, width=w, height=h,
                                                size_bytes=size)
            v = content.add_image(s, POST, SECTION, FIELD, asset, accept=False, meta={"prompt": f"picture {i}"})
            if i % 25 == 7:
                v.status = "rejected"
    paths = [resolve_image_path(ws.data_dir, rel) for rel, *_ in stored]
    ws.close()
    return paths


def open_ws(tmp: Path):
    from wfdesk.settings import Settings
    from wfdesk.workspace import open_workspace, set_current

    data = tmp / "data"
    ws = open_workspace(database_url=f"sqlite:///{tmp / 'gallery.db'}", data_dir=data,
                        settings=Settings(data_dir=str(data)))
    set_current(ws)
    return ws


# --- measuring ---------------------------------------------------------------------------------------------------
def full_decode(paths: list[Path]) -> float:
    from PIL import Image

    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.load()
    return time.perf_counter() - t0


class DecodeCounter:
    """Counts, on any thread, the thumbnails decoded from an original and those read from the disk cache."""

    def __init__(self) -> None:
        from wfdesk.media import thumbnail_cache as tc

        self.lock = threading.Lock()
        self.originals = 0
        self.cached = 0
        self._tc = tc
        self._decode, self._read = tc.decode_thumbnail, tc.read_cached

        def decode(*a, **k):
            with self.lock:
                self.originals += 1
            return self._decode(*a, **k)

        def read(*a, **k):
            out = self._read(*a, **k)
            if out is not None:
                with self.lock:
                    self.cached += 1
            return out

        tc.decode_thumbnail, tc.read_cached = decode, read

    def reset(self) -> None:
        with self.lock:
            self.originals = self.cached = 0


def visible_rows(view) -> list[int]:
    """Rows whose cell intersects the viewport, found from the view's geometry (not from the widget's own claim)."""
    model, area = view.model(), view.viewport().rect()
    return [r for r in range(model.rowCount()) if view.visualRect(model.index(r, 0)).intersects(area)]


def has_thumbnail(strip, row: int) -> bool:
    """The cell draws its picture (or an unreadable file's error mark), not the placeholder."""
    sha = strip.model().sha(row)
    return not sha or sha in strip.loader.cache or strip.loader.error(sha) is not None


def screen_ready(strip) -> bool:
    rows = visible_rows(strip)
    return bool(rows) and all(has_thumbnail(strip, r) for r in rows)


def wait(app, predicate, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the gallery did not get there in time")
        app.processEvents()
        time.sleep(0.0005)


class FirstScreen:
    """The moment the strip's viewport paints with every visible cell showing its thumbnail."""

    def __init__(self, app) -> None:
        from PySide6.QtCore import QEvent, QObject

        outer = self
        self.at: float | None = None
        self.strip = None

        class Filter(QObject):
            @override
            def eventFilter(self, obj, ev):
                if (outer.at is None and outer.strip is not None and ev.type() == QEvent.Type.Paint
                        and obj is outer.strip.viewport() and outer.strip.model().rowCount()
                        and screen_ready(outer.strip)):
                    outer.at = time.perf_counter()
                return False

        self.filter = Filter()
        app.installEventFilter(self.filter)


def open_gallery(app, ws, runs, probe: FirstScreen):
    """Create the panel, show it for the section and wait for its first full screen. Returns (panel, seconds)."""
    from wfdesk.ui.panels import create_panel

    probe.at = None
    t0 = time.perf_counter()
    panel = create_panel("image_generation", ws, runs)
    probe.strip = panel.strip
    panel.resize(1280, 800)
    panel.show()
    panel.show_step(STEP, POST)
    wait(app, lambda: probe.at is not None)
    return panel, probe.at - t0


def close_panel(app, panel) -> None:
    panel.close()
    panel.deleteLater()
    wait(app, lambda: True)
    from wfdesk.ui.worker import running_ops

    wait(app, lambda: running_ops() == 0)
    app.processEvents()


def scroll_through(app, strip, each_step=None) -> int:
    """Scroll the gallery to the end a page at a time, waiting at each stop for the visible thumbnails."""
    bar = strip.verticalScrollBar()
    steps = 0
    bar.setValue(0)
    while True:
        wait(app, lambda: screen_ready(strip))
        if each_step is not None:
            each_step()
        if bar.value() >= bar.maximum():
            return steps
        bar.setValue(min(bar.maximum(), bar.value() + bar.pageStep()))
        steps += 1


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory_child(tmp: Path) -> int:
    """(d) in a fresh process: RSS before the panel opens, then the peak while scrolling through every image."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from wfdesk.ui.run_controller import RunController

    app = QApplication([])
    counter = DecodeCounter()
    ws = open_ws(tmp)
    runs = RunController(ws)
    probe = FirstScreen(app)
    for _ in range(20):
        app.processEvents()
    before = rss_mb()
    samples = [before]
    sampler = QTimer()
    sampler.setInterval(5)
    sampler.timeout.connect(lambda: samples.append(rss_mb()))
    sampler.start()
    panel, first = open_gallery(app, ws, runs, probe)
    after_first = rss_mb()
    t0 = time.perf_counter()
    steps = scroll_through(app, panel.strip, lambda: samples.append(rss_mb()))
    scroll_s = time.perf_counter() - t0
    sampler.stop()
    out = {"before": before, "after_first": after_first, "peak": max(samples), "samples": len(samples),
           "steps": steps, "originals": counter.originals, "cached": counter.cached, "first": first,
           "scroll_s": scroll_s, "pixmaps": len(panel.strip.loader.cache)}
    close_panel(app, panel)
    runs.shutdown(5000)
    ws.close()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--format", choices=("png", "jpeg", "mixed"), default="mixed")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["WFDESK_CONFIG_DIR"] = str(tmp / "config")
        t0 = time.perf_counter()
        paths = build_workspace(tmp, args.images, args.format)
        print(f"built {len(paths)} candidates of {SIZE}x{SIZE} ({args.format}) in {time.perf_counter() - t0:.1f} s")
        thumbs_dir = tmp / "data" / "cache"

        from PySide6.QtWidgets import QApplication

        from wfdesk.ui.run_controller import RunController

        app = QApplication([])
        counter = DecodeCounter()
        ws = open_ws(tmp)
        runs = RunController(ws)
        probe = FirstScreen(app)
        decode_s, cold_s, cold_originals = [], [], []
        for _ in range(args.rounds):  # interleaved, so both see the same machine load
            decode_s.append(full_decode(paths))
            shutil.rmtree(thumbs_dir, ignore_errors=True)
            counter.reset()
            panel, seconds = open_gallery(app, ws, runs, probe)
            cold_s.append(seconds)
            cold_originals.append(counter.originals)
            visible = len(visible_rows(panel.strip))
            close_panel(app, panel)

        # (d) and the first full pass, in a fresh process on a cold cache.
        shutil.rmtree(thumbs_dir, ignore_errors=True)
        child = subprocess.run([sys.executable, __file__, "--memory-child", str(tmp)], capture_output=True,
                               text=True, timeout=600, env={**os.environ})
        line = next((x for x in child.stdout.splitlines() if x.startswith("RESULT ")), None)
        if child.returncode != 0 or line is None:
            print(child.stdout[-3000:], child.stderr[-3000:])
            raise RuntimeError("the memory run failed")
        mem = json.loads(line[len("RESULT "):])

        # (c) the cache after that first pass, and a second open of the gallery.
        from wfdesk.media.thumbnail_cache import cache_path

        with ws.db.session() as s:
            from sqlalchemy import select

            from wfdesk.db.models import ContentVersion, ImageAsset

            shas = list(s.scalars(select(ImageAsset.sha256)
                                  .join(ContentVersion, ContentVersion.asset_id == ImageAsset.id)
                                  .where(ContentVersion.section_id == SECTION)))
        from wfdesk.ui.thumbnails import THUMB_SIZE

        cached_files = sum(1 for sha in shas if cache_path(ws.data_dir, sha, THUMB_SIZE).is_file())
        counter.reset()
        warm_decode = full_decode(paths)
        panel, warm_s = open_gallery(app, ws, runs, probe)
        warm_first = (counter.originals, counter.cached)
        scroll_through(app, panel.strip)
        warm_all = (counter.originals, counter.cached)
        close_panel(app, panel)
        runs.shutdown(5000)
        ws.close()

    a, b = statistics.median(decode_s), statistics.median(cold_s)
    growth = mem["peak"] - mem["before"]
    n = len(paths)
    rows = [
        ("(b) first screen / full decode (cold)", b / a, "<= 0.10", b / a <= 0.10),
        ("(c) cache files after the first pass", cached_files / n, "== 1", cached_files == n),
        ("(c) originals decoded on 2nd open", warm_all[0], "== 0", warm_all[0] == 0),
        ("(c) 2nd-open first screen / full decode", warm_s / warm_decode, "<= 0.10", warm_s / warm_decode <= 0.10),
        ("(d) RSS growth while scrolling (MB)", growth, "<= 150", growth <= 150),
    ]
    print(f"(a) full decode of {n} images (median of {args.rounds}): {a * 1000:.0f} ms "
          f"({a / n * 1000:.1f} ms per image)")
    print(f"(b) first screen, cold cache (median of {args.rounds}): {b * 1000:.0f} ms; {visible} cells visible, "
          f"{statistics.median(cold_originals):.0f} originals decoded by then (rounds: "
          f"{', '.join(f'{x * 1000:.0f}' for x in cold_s)} ms)")
    print(f"(c) {cached_files} of {n} thumbnails cached on disk after one pass; 2nd open: first screen "
          f"{warm_s * 1000:.0f} ms with {warm_first[0]} originals decoded and {warm_first[1]} cache reads, whole "
          f"scroll {warm_all[0]} originals decoded and {warm_all[1]} cache reads")
    print(f"(d) fresh process: RSS {mem['before']:.0f} MB before the panel, {mem['after_first']:.0f} MB at the first "
          f"screen ({mem['first'] * 1000:.0f} ms), peak {mem['peak']:.0f} MB over {mem['samples']} samples while "
          f"scrolling {mem['steps']} pages in {mem['scroll_s']:.1f} s (cold cache: {mem['originals']} originals "
          f"decoded, {mem['cached']} cache reads; {mem['pixmaps']} thumbnails held in memory at the end)")
    for name, value, target, ok in rows:
        print(f"  {name:<42} {value:8.3f}   target {target:<8} {'ok' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
