"""Metadata a hostile or broken server pads an image with (a 30 MB text chunk on an 8x8 PNG) is not stored.

An image file is never much bigger than its pixels uncompressed; one that is carries that much in metadata
chunks. Such a file is re-encoded from its decoded pixels by Pillow (lossless: PNG, or GIF/WEBP for animations)
keeping only short text entries; every other file is stored byte for byte.
"""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

from wfdesk.media.verify import ImageInfo, verify_image

METADATA_ALLOWANCE = 256 * 1024  # bytes beyond the raw pixels that a normal file may carry (ICC, EXIF, text)
PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")
KEEP_TEXT_BYTES = 4096  # text entries up to this size survive a re-encode (e.g. a renderer's parameters)


def strip_oversized_metadata(data: bytes, info: ImageInfo) -> tuple[bytes, ImageInfo]:
    """(data, info) unchanged, or re-encoded without the metadata that made it oversized."""
    img: Image.Image  # an ImageFile when opened, a plain Image once converted
    with Image.open(io.BytesIO(data)) as img:
        frames = getattr(img, "n_frames", 1)
        raw = info.width * info.height * 4 * frames
        if len(data) <= raw + METADATA_ALLOWANCE:
            return data, info
        out = io.BytesIO()
        if frames > 1:
            fmt = "GIF" if info.format == "GIF" else "WEBP"
            img.save(out, format=fmt, save_all=True, **({"lossless": True} if fmt == "WEBP" else {}))
        else:
            text = PngImagePlugin.PngInfo()
            for key, value in (getattr(img, "text", None) or {}).items():
                if isinstance(value, str) and len(key) + len(value) <= KEEP_TEXT_BYTES:
                    text.add_text(key, value)
            if img.mode not in PNG_MODES:  # CMYK (print photos), YCbCr, LAB...: PNG holds RGB(A) instead
                img = img.convert("RGBA" if "A" in img.mode else "RGB")
            img.save(out, format="PNG", pnginfo=text)
    cleaned = out.getvalue()
    return cleaned, verify_image(cleaned)
