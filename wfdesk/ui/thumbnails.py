"""Thumbnails and previews for the image gallery, decoded off the GUI thread.

Thumbnails come from wfdesk.media.thumbnail_cache (Pillow, decoded scaled and cached on disk); a
ThumbnailLoader decodes only what the gallery asks for -- the cells on screen first, then a screenful ahead --
a few at a time, keeps a bounded LRU of small pixmaps and drops requests the editor has scrolled past.
Workers return QImage (safe off the GUI thread); QPixmaps are made on the GUI thread only.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, QSize, Qt, QThread, Signal
from PySide6.QtGui import QImage, QImageIOHandler, QImageReader, QPixmap

from wfdesk.media import thumbnail_cache
from wfdesk.media.store import resolve_image_path
from wfdesk.ui.worker import BackgroundOp

log = logging.getLogger(__name__)
THUMB_SIZE = 160  # the size cached on disk; cells draw it smaller
PREVIEW_MAX_SIDE = 4096  # the preview never decodes more than this per side
cache_path = thumbnail_cache.cache_path


def load_thumbnail_image(data_dir: Path, rel_path: str, sha256: str, size: int = THUMB_SIZE,
                         display: int | None = None) -> QImage:
    """A thumbnail as a QImage of at most `display` pixels per side. Worker thread only."""
    thumb = thumbnail_cache.load_thumbnail(data_dir, rel_path, sha256, size, display)
    fmt = QImage.Format.Format_RGBA8888 if thumb.mode == "RGBA" else QImage.Format.Format_RGB888
    channels = 4 if thumb.mode == "RGBA" else 3
    # copy(): the QImage must own its pixels, the bytes object dies with this frame.
    return QImage(thumb.pixels, thumb.width, thumb.height, thumb.width * channels, fmt).copy()


def describe_image_error(exc: BaseException) -> str:
    """What an editor reads when an image cannot be shown: no file paths, hashes or exception names."""
    if isinstance(exc, FileNotFoundError):
        return "The image file is missing: it was moved or deleted from the data folder."
    return "The image file cannot be read: it is damaged or not an image."


def decode_scaled(path: Path, max_side: int) -> tuple[QImage, QSize]:
    """Decode at most max_side per side (JPEG decodes scaled; other formats are scaled right after decoding).
    Returns the image and the source's size (after EXIF rotation)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and (size.width() > max_side or size.height() > max_side):
        reader.setScaledSize(size.scaled(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        if not path.is_file():
            raise FileNotFoundError(f"no image file {path}")
        raise OSError(f"cannot read the image {path.name}: {reader.errorString()}")
    if reader.transformation() & QImageIOHandler.Transformation.TransformationRotate90:
        size = size.transposed()  # the EXIF orientation turns it a quarter
    return image, size if size.isValid() else image.size()


def load_preview(data_dir: Path, rel_path: str, max_side: int = PREVIEW_MAX_SIDE) -> tuple[QImage, QSize]:
    """The selected image for the preview, decoded at the size it is shown at. Worker thread only."""
    return decode_scaled(resolve_image_path(data_dir, rel_path), min(max_side, PREVIEW_MAX_SIDE))


class PixmapCache:
    """GUI-thread LRU of pixmaps by key: bounded in count and, optionally, in pixels (the newest always stays), so
    browsing any number of images holds a fixed amount of memory."""

    def __init__(self, capacity: int = 400, max_pixels: int | None = None) -> None:
        self._items: OrderedDict[str, QPixmap] = OrderedDict()
        self.capacity = capacity
        self.max_pixels = max_pixels
        self._pixels = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> QPixmap | None:
        pix = self._items.get(key)
        if pix is not None:
            self._items.move_to_end(key)
        return pix

    def put(self, key: str, image: QImage | QPixmap) -> QPixmap:
        pix = image if isinstance(image, QPixmap) else QPixmap.fromImage(image)
        old = self._items.pop(key, None)
        if old is not None:
            self._pixels -= old.width() * old.height()
        self._items[key] = pix
        self._pixels += pix.width() * pix.height()
        while len(self._items) > 1 and (len(self._items) > self.capacity or (
                self.max_pixels is not None and self._pixels > self.max_pixels)):
            _, dropped = self._items.popitem(last=False)
            self._pixels -= dropped.width() * dropped.height()
        return pix


def default_parallelism() -> int:
    """Decoders at once (CPU work, so by cores, not by the pool's size): one core left to the window, at most four."""
    return max(1, min(4, QThread.idealThreadCount() - 1))


class _Wishes:
    """What the decoders share with the GUI thread: the wish list and what is being decoded (under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[tuple[str, str]] = []  # (sha256, stored path), most wanted first
        self.in_flight: set[str] = set()
        self.started = 0
        self.open = True  # False once the loader (and the delivery object, its child) is being deleted

    def take(self) -> tuple[str, str] | None:
        with self.lock:
            if not self.queue:
                return None
            sha, path = self.queue.pop(0)
            self.in_flight.add(sha)
            self.started += 1
            return sha, path

    def close(self, *_args) -> None:
        """The loader is being deleted: no more wishes, and no more deliveries (a worker's emit on the deleted
        delivery object would crash). Qt deletes the loader's children after this returns."""
        with self.lock:
            self.queue = []
            self.open = False

    def deliver(self, delivery: _Delivery, name: str, *args: object) -> None:
        """Emit a delivery signal from a worker, unless the loader is gone; under the lock, so it cannot go
        between the check and the emit."""
        with self.lock:
            if self.open:
                getattr(delivery, name).emit(*args)


class _Delivery(QObject):
    """Lives on the GUI thread: a decoder's signals reach the loader queued, in order."""

    decoded = Signal(str, int, object)  # sha256, display size, QImage
    failed = Signal(str, str)  # sha256, message


class ThumbnailLoader(QObject):
    """Decodes the thumbnails a view wants, most wanted first, on `parallelism` workers of the global pool.

    `want()` replaces the whole wish list, so thumbnails scrolled past before their turn are never decoded. Each
    worker takes the next wish itself as soon as it is done with one (no round trip through the event loop), and
    returns its pool thread after BATCH of them, so the panel's other background work is never starved.
    """

    BATCH = 4
    ready = Signal(str)  # sha256: its pixmap (or its error) is now available

    def __init__(self, data_dir: Path, parent: QObject | None = None, *, display: int = 96,
                 capacity: int = 300, parallelism: int | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.display = display
        self.parallelism = parallelism or default_parallelism()
        self.cache = PixmapCache(capacity)
        self.errors: dict[str, str] = {}
        self._wishes = _Wishes()
        self._workers = 0
        self._delivery = _Delivery(self)
        self._delivery.decoded.connect(self._done)
        self._delivery.failed.connect(self._failed)
        self.destroyed.connect(self._wishes.close)  # a worker still running stops after its current image

    @property
    def started(self) -> int:
        """Thumbnail decodes started so far (from the disk cache or from the original): tests count them."""
        return self._wishes.started

    def pixmap(self, sha256: str) -> QPixmap | None:
        return self.cache.get(sha256)

    def error(self, sha256: str) -> str | None:
        return self.errors.get(sha256)

    def set_display(self, pixels: int) -> None:
        """A new drawing size (another screen's pixel ratio): the small pixmaps are made again on demand."""
        if pixels != self.display:
            self.display = pixels
            self.cache = PixmapCache(self.cache.capacity)

    def want(self, items: Iterable[tuple[str, str]]) -> None:
        """These (sha256, path), most wanted first; whatever was asked before and not started is forgotten."""
        with self._wishes.lock:
            busy = set(self._wishes.in_flight)
        queue, seen = [], set()
        for sha, path in items:
            if sha in seen or sha in busy or sha in self.errors or sha in self.cache:
                continue
            seen.add(sha)
            queue.append((sha, path))
        with self._wishes.lock:
            self._wishes.queue = queue
        self._start_workers()

    def pending(self) -> int:
        with self._wishes.lock:
            return len(self._wishes.queue) + len(self._wishes.in_flight)

    def _start_workers(self) -> None:
        while self._workers < self.parallelism and self._wishes.queue:
            self._workers += 1
            op = BackgroundOp(partial(_decode_wishes, self._wishes, self._delivery, self.data_dir, self.display,
                                      self.BATCH))
            op.success(self._alive(self._worker_done)).failure(self._alive(self._worker_done))
            op.run_in_background()

    def _alive(self, fn):
        return lambda *args: fn(*args) if shiboken6.isValid(self) else None

    def _worker_done(self, _result: object = None) -> None:
        self._workers -= 1
        self._start_workers()

    def _done(self, sha: str, display: int, image: QImage) -> None:
        with self._wishes.lock:
            self._wishes.in_flight.discard(sha)
        if display == self.display:
            self.cache.put(sha, image)
            self.ready.emit(sha)

    def _failed(self, sha: str, message: str) -> None:
        with self._wishes.lock:
            self._wishes.in_flight.discard(sha)
        self.errors[sha] = message
        self.ready.emit(sha)


def _decode_wishes(wishes: _Wishes, delivery: _Delivery, data_dir: Path, display: int, batch: int) -> None:
    """A worker: decode up to `batch` wishes, taking each from the shared list when the previous one is done."""
    for _ in range(batch):
        wish = wishes.take()
        if wish is None:
            return
        sha, path = wish
        try:
            image = load_thumbnail_image(data_dir, path, sha, THUMB_SIZE, display)
        except Exception as exc:  # noqa: BLE001 - any unreadable file becomes the cell's error mark
            log.info("cannot make a thumbnail of %s: %s", path, exc)  # the details, for whoever reads the log
            message = describe_image_error(exc)
            wishes.deliver(delivery, "failed", sha, message)
        else:
            wishes.deliver(delivery, "decoded", sha, display, image)
