"""The image gallery scales with the number of candidates: thumbnails are decoded lazily (what is on screen and a
screenful ahead, never all of them), served from the disk cache on a second open, and the preview is decoded at
the size it is shown. Counts, not times."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from PySide6.QtCore import QPoint

from tests.ui.editor_input import activate, choose_menu, click, focused, open_step, press
from tests.ui.input_helpers import wheel
from ui.widget_reading import has_thumbnail, tooltip
from wfdesk.db import content
from wfdesk.media import thumbnail_cache
from wfdesk.media.store import store_image
from wfdesk.ui.thumbnails import THUMB_SIZE, cache_path

TIMEOUT = 30_000  # an upper bound only: a busy 2-core machine is slow, a passing test never waits it out
CANDIDATES = 60
FIELD = "generated_image_url"
IMAGE_STEP = "section_illustrations"  # the demo's step 2 (image_generation)


def _png(i: int, size: tuple[int, int] = (200, 200), fmt: str = "PNG") -> bytes:
    img = Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    img.paste((255 - (i * 37) % 256, 90, i % 256), (i % 150, 10, i % 150 + 40, 60))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def add_candidates(ws, images: list[bytes], section_id: int = 711) -> list[str]:
    shas = []
    with ws.db.session() as s:
        for i, data in enumerate(images):
            stored = store_image(ws.data_dir, 53, section_id, data)
            asset = content.get_or_create_asset(s, sha256=stored.sha256, path=stored.rel_path,
                                                mime=stored.info.mime, width=stored.info.width,
                                                height=stored.info.height, size_bytes=stored.size_bytes)
            content.add_image(s, 53, section_id, FIELD, asset, accept=False, meta={"prompt": f"picture {i}"})
            shas.append(stored.sha256)
    return shas


class Decodes:
    """Counts thumbnails decoded from an original and read from the disk cache (on worker threads)."""

    def __init__(self, monkeypatch) -> None:
        self.lock = threading.Lock()
        self.originals = 0
        self.cached = 0
        decode, read = thumbnail_cache.decode_thumbnail, thumbnail_cache.read_cached

        def counted_decode(*args, **kwargs):
            with self.lock:
                self.originals += 1
            return decode(*args, **kwargs)

        def counted_read(*args, **kwargs):
            image = read(*args, **kwargs)
            if image is not None:
                with self.lock:
                    self.cached += 1
            return image

        monkeypatch.setattr(thumbnail_cache, "decode_thumbnail", counted_decode)
        monkeypatch.setattr(thumbnail_cache, "read_cached", counted_read)


def on_screen(strip) -> list[int]:
    """Rows whose cells intersect the viewport, from the view's geometry."""
    model, area = strip.model(), strip.viewport().rect()
    return [r for r in range(model.rowCount()) if strip.visualRect(model.index(r, 0)).intersects(area)]


@pytest.fixture
def start_app(qtbot, gui_ws):
    """Start the main window again on the same database, as the main_window fixture starts it (new panels, empty
    memory caches, the demo post chosen); closed before the workspace is."""
    from wfdesk.ui.main_window import MainWindow

    windows = []

    def start():
        window = MainWindow(gui_ws)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        qtbot.waitUntil(lambda: window.post_id == 53 and window.sections.table.rowCount() == 3, timeout=TIMEOUT)
        return window

    yield start
    for window in windows:
        if not window._closing_done:  # not quit already: closed as the main_window fixture closes it
            window.close()


def open_gallery(qtbot, window):
    """Click the image step in the main window; wait until the candidates on screen have their thumbnails."""
    panel = open_step(qtbot, window, IMAGE_STEP, ready=False)
    qtbot.waitUntil(lambda: panel.strip.count() == CANDIDATES, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: all(has_thumbnail(panel.strip, r) for r in on_screen(panel.strip)), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panel.strip.loader.pending() == 0, timeout=TIMEOUT)
    return panel


def scroll_to_the_end(strip) -> int:
    """Spin the mouse wheel over the gallery until its last row is reached: one quick burst of notches, the
    events arriving before the gallery gets to look at what is on screen (as a fast flick of the wheel does).
    Returns how many notches it took."""
    bar = strip.verticalScrollBar()
    viewport = strip.viewport()
    for notches in range(1, 500):
        wheel(viewport, -120, QPoint(viewport.width() // 2, viewport.height() // 2))
        if bar.value() == bar.maximum():
            return notches
    raise AssertionError(f"the wheel did not reach the end: {bar.value()} of {bar.maximum()}")


def test_thumbnails_load_lazily_and_come_from_the_disk_cache(qtbot, gui_ws, main_window, start_app, monkeypatch):
    shas = add_candidates(gui_ws, [_png(i) for i in range(CANDIDATES)])
    decodes = Decodes(monkeypatch)
    panel = open_gallery(qtbot, main_window)
    strip = panel.strip
    visible = on_screen(strip)
    assert visible
    assert list(strip.visible_rows()) == visible
    assert 0 < len(visible) < CANDIDATES // 4
    # What is on screen, then one screenful ahead: never the whole section.
    budget = 2 * len(visible) + 2
    assert len(visible) <= strip.loader.started <= budget
    assert decodes.originals == strip.loader.started
    assert decodes.cached == 0
    newest_first = list(reversed(shas))
    assert all(cache_path(gui_ws.data_dir, newest_first[r], THUMB_SIZE).is_file() for r in visible)
    assert not cache_path(gui_ws.data_dir, newest_first[-1], THUMB_SIZE).exists()  # the last one: not yet

    # Scrolling to the end loads the last screen; what was skipped over in between is never decoded.
    assert scroll_to_the_end(strip) > 1  # the end is more than one notch away: rows were skipped over
    qtbot.waitUntil(lambda: all(has_thumbnail(strip, r) for r in on_screen(strip)), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: strip.loader.pending() == 0, timeout=TIMEOUT)
    assert CANDIDATES - 1 in on_screen(strip)
    assert decodes.originals <= budget + len(on_screen(strip)) + 2 < CANDIDATES
    first_pass = decodes.originals
    activate(qtbot, main_window)
    choose_menu(qtbot, main_window, "File", "Quit")
    qtbot.waitUntil(lambda: not main_window.isVisible(), timeout=TIMEOUT)

    # A second open (the app started again: a new panel, an empty memory cache) reads the thumbnails from disk:
    # no original decoded.
    window = start_app()
    again = open_gallery(qtbot, window)
    assert decodes.originals == first_pass
    assert decodes.cached == again.strip.loader.started >= len(on_screen(again.strip))


def test_thumbnails_of_an_unreadable_file_show_an_error_mark(qtbot, gui_ws, main_window):
    shas = add_candidates(gui_ws, [_png(i) for i in range(CANDIDATES)])
    with gui_ws.db.session() as s:
        from sqlalchemy import select

        from wfdesk.db.models import ImageAsset
        path = s.scalars(select(ImageAsset.path).where(ImageAsset.sha256 == shas[-1])).one()
    (gui_ws.data_dir / path).write_bytes(b"not an image any more")
    panel = open_gallery(qtbot, main_window)
    newest = panel.strip.item(0)
    assert panel.strip.loader.error(shas[-1])
    assert "cannot" in tooltip(newest).lower() or "identify" in tooltip(newest).lower()
    assert has_thumbnail(panel.strip, 1)
    assert panel.strip.loader.pixmap(shas[-2]) is not None


def test_preview_decodes_at_the_view_size_and_sharpens_on_zoom(qtbot, gui_ws, main_window):
    add_candidates(gui_ws, [_png(i) for i in range(CANDIDATES - 1)] + [_png(7, (2400, 1800), "JPEG")])
    panel = open_gallery(qtbot, main_window)
    preview = panel.preview
    qtbot.waitUntil(preview.has_image, timeout=TIMEOUT)
    fitted_side = preview.decoded_side()
    # Decoded for the view (its size when the decode was asked; the layout may have moved a little since).
    view_side = max(preview.viewport().width(), preview.viewport().height()) * preview.devicePixelRatioF()
    assert fitted_side <= 1.25 * view_side < 2400
    activate(qtbot, main_window)
    click(qtbot, preview.viewport())  # the keyboard now goes to the preview
    assert focused() is preview
    press(qtbot, "1")  # actual pixels: a sharper decode replaces the scaled one in place
    assert preview.zoom_factor() == pytest.approx(1.0)
    qtbot.waitUntil(lambda: preview.decoded_side() == 2400, timeout=TIMEOUT)
    assert preview.zoom_factor() == pytest.approx(1.0)
    assert not preview.fitted


def test_candidates_query_matches_the_review_read_model(gui_ws):
    """The gallery's one-SELECT query returns what wfdesk.services.review.field_versions does, `current` included."""
    from wfdesk.services import gallery_queries, review

    add_candidates(gui_ws, [_png(i) for i in range(5)])
    versions = review.field_versions(gui_ws, 53, FIELD, [711])[711]
    with gui_ws.db.session() as s:
        content.accept_version(s, versions[2]["id"])
        content.reject_version(s, versions[0]["id"])
    expected = review.field_versions(gui_ws, 53, FIELD, [711])[711]
    got = gallery_queries.image_candidates(gui_ws, 53, 711, FIELD)
    assert got == expected
    assert [v["current"] for v in got] == [False, False, True, False, False]
    assert gallery_queries.image_candidates(gui_ws, 53, 712, FIELD) == []
