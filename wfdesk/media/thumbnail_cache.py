"""Thumbnails decoded scaled and cached on disk, with Pillow only (no Qt): the gallery's workers call these.

A thumbnail is cached as <data_dir>/cache/thumbs/<sha256>_<size>.webp: small (a few KB), fast to decode, and it
keeps an alpha channel. The cache is disposable, so it is written without fsync: a torn or unreadable file is
simply decoded again from the original.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from wfdesk.media.store import resolve_image_path

log = logging.getLogger(__name__)
CACHE_FORMAT = "WEBP"
CACHE_QUALITY = 85

_ORIENTATION = 0x0112
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class Thumbnail:
    mode: str  # "RGB" or "RGBA"
    width: int
    height: int
    pixels: bytes  # tightly packed rows of `mode`
    from_cache: bool


def cache_path(data_dir: Path, sha256: str, size: int) -> Path:
    # The hash comes from a (possibly shared) database: only a real hex digest may become part of a path.
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or "") or not isinstance(size, int):
        raise ValueError(f"not an image hash: {sha256!r}")
    return Path(data_dir) / "cache" / "thumbs" / f"{sha256}_{size}.webp"


def decode_thumbnail(path: Path, size: int) -> Image.Image:
    """The image at most size x size, decoded scaled: JPEG decodes at 1/2, 1/4 or 1/8 scale (draft), then a
    reducing resize; the full-size pixels of a JPEG never exist in memory."""
    im: Image.Image  # an ImageFile when opened, a plain Image once converted
    with Image.open(path) as im:
        im.draft("RGB", (size, size))  # a no-op for formats that cannot decode scaled (PNG, WebP)
        orientation = im.getexif().get(_ORIENTATION)
        mode = _mode_of(im)
        if im.mode != mode:
            im = im.convert(mode)  # palette and grey images: resize them in colour, not nearest-neighbour
        im.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    # Rotated after the reduction, on the small image (what ImageOps.exif_transpose would do on the big one).
    return im.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else im


def read_cached(data_dir: Path, sha256: str, size: int) -> Image.Image | None:
    path = cache_path(data_dir, sha256, size)
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert(_mode_of(im))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, SyntaxError):
        log.info("unreadable thumbnail cache %s, decoding again", path)
        return None


def write_cached(data_dir: Path, sha256: str, size: int, image: Image.Image) -> None:
    path = cache_path(data_dir, sha256, size)
    buf = io.BytesIO()
    image.save(buf, CACHE_FORMAT, quality=CACHE_QUALITY, method=0)  # method 0: the fastest encoder
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getvalue())
            os.replace(tmp, path)  # readers see the old file or the whole new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        log.warning("cannot write the thumbnail cache %s", path, exc_info=True)


def load_thumbnail(data_dir: Path, rel_path: str, sha256: str, size: int, display: int | None = None) -> Thumbnail:
    """The thumbnail from the disk cache, or decoded scaled from the stored image and cached; then scaled to
    `display` pixels (the size it is drawn at), so the GUI never rescales it. Raises OSError or ValueError for
    an unreadable image. Worker threads only."""
    image = read_cached(data_dir, sha256, size)
    from_cache = image is not None
    if image is None:
        image = decode_thumbnail(resolve_image_path(data_dir, rel_path), size)
        write_cached(data_dir, sha256, size, image)
    if display is not None and max(image.size) > display:
        image = image.copy()
        image.thumbnail((display, display), Image.Resampling.BICUBIC)
    return Thumbnail(image.mode, image.width, image.height, image.tobytes(), from_cache)


def _mode_of(im: Image.Image) -> str:
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    return "RGBA" if has_alpha else "RGB"
