"""Check that untrusted bytes (e.g. an image provider's answer) really are a safe, complete raster image.

Full decoding happens here on purpose: callers run this on a worker thread, so a corrupt or hostile
file is rejected before anything is written to disk or shown in the UI. This module must never import Qt.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile

MAX_PIXELS = 50_000_000

# Pillow format name -> (file extension, MIME type). Only these formats are accepted.
_ALLOWED: dict[str, tuple[str, str]] = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("gif", "image/gif"),
}

# Magic numbers of formats we refuse, only so the error can name what was received.
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "GZIP"),
)

# Pillow and its plugins signal malformed input with a variety of exception types.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)


class ImageError(ValueError):
    """The bytes are not an acceptable image; the message is meant to be shown to a human."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "PNG" | "JPEG" | "WEBP" | "GIF"
    ext: str  # "png" | "jpg" | "webp" | "gif"
    mime: str
    width: int
    height: int


def verify_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Return the image's format and size, or raise ImageError. Fully decodes: call it on a worker thread."""
    if not data:
        raise ImageError("the answer is empty, not an image")
    _reject_obvious_non_images(data)

    # Pillow's own bomb check uses the global Image.MAX_IMAGE_PIXELS; we don't touch that global (other
    # threads share it) and instead check our own limit explicitly, while turning Pillow's warning into an
    # error so nothing above its threshold is ever decoded. Note: catch_warnings() itself swaps the
    # process-wide filter list, which is benign here (we only add an "error" filter for one category).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # formats= restricts which parsers ever see the untrusted bytes.
            with Image.open(io.BytesIO(data), formats=list(_ALLOWED)) as img:
                fmt = img.format or ""
                width, height = img.size
                if fmt not in _ALLOWED:
                    raise ImageError(f"unsupported image format: {fmt or 'unknown'}")
                # Checked before load(): the header alone tells us the size, so nothing huge is allocated.
                if width * height > max_pixels:
                    raise ImageError(
                        f"image too large: {width}x{height} pixels exceeds the limit of {max_pixels}"
                    )
                if width <= 0 or height <= 0:
                    raise ImageError(f"the image has an invalid size: {width}x{height}")
                if ImageFile.LOAD_TRUNCATED_IMAGES:
                    # Someone enabled this process-wide; it would make truncated files pass silently.
                    raise ImageError("cannot verify images: Pillow is set to accept truncated images")
                img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_bomb_message(str(exc), max_pixels)) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError(_unidentified_message(data)) from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(_decode_message(exc)) from exc

    ext, mime = _ALLOWED[fmt]
    return ImageInfo(format=fmt, ext=ext, mime=mime, width=width, height=height)


def _reject_obvious_non_images(data: bytes) -> None:
    # Providers and proxies often answer with an error page or JSON instead of an image; say so plainly.
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith(b"<"):
        if head.startswith((b"<!doctype html", b"<html")):
            raise ImageError("the answer is an HTML page, not an image")
        if b"<svg" in head:
            raise ImageError("unsupported image format: SVG (vector images are not accepted)")
        if b"<html" in head or b"<body" in head:
            raise ImageError("the answer is an HTML page, not an image")
        raise ImageError("the answer is an XML/HTML document, not an image")
    if head.startswith(b"{"):
        raise ImageError("the answer is JSON data, not an image")


# Signatures of the formats we accept: bytes that start like one but do not open were cut short or damaged.
_OWN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
)


def _unidentified_message(data: bytes) -> str:
    for magic, name in _OWN_MAGIC:
        if data.startswith(magic):
            return f"the {name} data is truncated or corrupt"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "the WEBP data is truncated or corrupt"
    for magic, name in _OTHER_MAGIC:
        if data.startswith(magic):
            return f"unsupported image format: {name}"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12].decode("ascii", "replace").strip().upper()
        return f"unsupported image format: {brand or 'ISO media'} (e.g. AVIF/HEIC)"
    return "the data is not a recognised image (expected PNG, JPEG, WEBP or GIF)"


def _decode_message(exc: BaseException) -> str:
    text = str(exc)
    if "truncat" in text.lower() or isinstance(exc, EOFError):
        return "the image data is truncated (incomplete download?)"
    return f"the image data is corrupt: {text or type(exc).__name__}"


def _bomb_message(pillow_text: str, max_pixels: int) -> str:
    # Pillow refuses before reporting width/height, so only the pixel count is available here.
    match = re.search(r"\((\d+) pixels\)", pillow_text)
    if match is None:
        return f"image too large: exceeds the limit of {max_pixels} pixels"
    pixels = int(match.group(1))
    limit: int | str = max_pixels
    if pixels <= max_pixels:  # Pillow's global limit is the stricter one here; report that one
        pillow_limit = re.search(r"limit of (\d+)", pillow_text)
        limit = pillow_limit.group(1) if pillow_limit else "the image decoder"
    return f"image too large: {pixels} pixels exceeds the limit of {limit}"
