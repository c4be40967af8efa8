"""Scaled image decoding with a disk cache, for thumbnail strips and the inline preview.

The decode functions run on BackgroundOp workers and return QImage (QImage is safe off the GUI thread);
QPixmaps are made from them on the GUI thread only. Thumbnails are cached as
<data_dir>/cache/thumbs/<sha256>_<size>.png, so a strip reopens without decoding a full-size file again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt
from PySide6.QtGui import QImage, QImageReader, QPixmap

from wfdesk.fileio import atomic_write_bytes
from wfdesk.media.store import resolve_image_path

log = logging.getLogger(__name__)
THUMB_SIZE = 160
PREVIEW_MAX_SIDE = 4096  # the preview never decodes more than this per side


def cache_path(data_dir: Path, sha256: str, size: int) -> Path:
    return Path(data_dir) / "cache" / "thumbs" / f"{sha256}_{size}.png"


def decode_scaled(path: Path, max_side: int) -> QImage:
    """Decode at most max_side per side (the reader scales while decoding where the format allows it)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and (size.width() > max_side or size.height() > max_side):
        reader.setScaledSize(size.scaled(QSize(max_side, max_side), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        raise OSError(f"cannot read the image {path.name}: {reader.errorString()}")
    return image


def load_thumbnail(data_dir: Path, rel_path: str, sha256: str, size: int = THUMB_SIZE) -> QImage:
    """A thumbnail from the disk cache, or decoded scaled from the stored image and cached. Worker thread only."""
    cached = cache_path(data_dir, sha256, size)
    if cached.is_file():
        image = QImage(str(cached))
        if not image.isNull():
            return image
    image = decode_scaled(resolve_image_path(data_dir, rel_path), size)
    try:
        atomic_write_bytes(cached, _png_bytes(image))
    except OSError:
        log.warning("cannot write the thumbnail cache %s", cached, exc_info=True)
    return image


def load_thumbnails(data_dir: Path, items: list[tuple[str, str]], size: int = THUMB_SIZE
                    ) -> dict[str, QImage | str]:
    """Many thumbnails in one worker: sha256 -> QImage, or the error message for an unreadable file."""
    out: dict[str, QImage | str] = {}
    for rel_path, sha256 in items:
        try:
            out[sha256] = load_thumbnail(data_dir, rel_path, sha256, size)
        except (OSError, ValueError) as exc:
            out[sha256] = str(exc)
    return out


def load_preview(data_dir: Path, rel_path: str) -> QImage:
    return decode_scaled(resolve_image_path(data_dir, rel_path), PREVIEW_MAX_SIDE)


def _png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


class PixmapCache:
    """GUI-thread LRU of pixmaps by key, so switching sections does not go back to the disk."""

    def __init__(self, capacity: int = 400) -> None:
        self._items: OrderedDict[str, QPixmap] = OrderedDict()
        self.capacity = capacity

    def get(self, key: str) -> QPixmap | None:
        pix = self._items.get(key)
        if pix is not None:
            self._items.move_to_end(key)
        return pix

    def put(self, key: str, image: QImage) -> QPixmap:
        pix = QPixmap.fromImage(image)
        self._items[key] = pix
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return pix
