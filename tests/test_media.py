from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from wfdesk.media.store import StoredImage, image_rel_path, resolve_image_path, store_image
from wfdesk.media.verify import MAX_PIXELS, ImageError, ImageInfo, verify_image


def make_image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    # Noise-free gradient: compresses, but still has enough data to be truncated meaningfully.
    img = Image.new("RGB", size)
    w, h = size
    img.putdata([((x * 4) % 256, (y * 4) % 256, (x * y) % 256) for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_with_header_size(width: int, height: int) -> bytes:
    # Rewrite IHDR of a tiny real PNG: cheap way to get a "huge" image without allocating one.
    data = bytearray(make_image("PNG", (2, 2)))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize(
    ("fmt", "ext", "mime"),
    [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp"),
     ("GIF", "gif", "image/gif")],
)
def test_valid_images_verify(fmt: str, ext: str, mime: str) -> None:
    info = verify_image(make_image(fmt, (64, 48)))
    assert info == ImageInfo(format=fmt, ext=ext, mime=mime, width=64, height=48)


def test_truncated_png_is_refused() -> None:
    data = make_image("PNG", (128, 128))
    with pytest.raises(ImageError, match=r"truncated|corrupt"):
        verify_image(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_jpeg_is_refused() -> None:
    data = make_image("JPEG", (128, 128))
    with pytest.raises(ImageError, match=r"truncated|corrupt"):
        verify_image(data[: len(data) // 2])


def test_html_error_page_is_refused() -> None:
    page = b"\n  <!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>oops</body></html>"
    with pytest.raises(ImageError, match="HTML"):
        verify_image(page)


def test_svg_is_refused() -> None:
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    with pytest.raises(ImageError, match="SVG"):
        verify_image(svg)


def test_json_is_refused() -> None:
    with pytest.raises(ImageError, match="JSON"):
        verify_image(b'  {"error": {"message": "rate limited"}}')


def test_unknown_bytes_are_refused() -> None:
    with pytest.raises(ImageError, match="not a recognised image"):
        verify_image(b"\x00\x01\x02 definitely not an image" * 10)


def test_empty_bytes_are_refused() -> None:
    with pytest.raises(ImageError, match="empty"):
        verify_image(b"")


def test_huge_png_header_is_refused_fast() -> None:
    data = png_with_header_size(40000, 40000)
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large") as excinfo:
        verify_image(data)
    assert time.perf_counter() - start < 1.0
    assert str(MAX_PIXELS) in str(excinfo.value)


def test_over_our_limit_but_under_pillows_is_refused() -> None:
    # 8000x8000 = 64M: above our 50M limit, below Pillow's own bomb threshold -> our explicit check.
    with pytest.raises(ImageError, match=r"image too large: 8000x8000 pixels exceeds the limit of 50000000"):
        verify_image(png_with_header_size(8000, 8000))


def test_custom_pixel_limit() -> None:
    with pytest.raises(ImageError, match="limit of 100"):
        verify_image(make_image("PNG", (20, 20)), max_pixels=100)


def test_store_image_writes_content_addressed_file(tmp_path: Path) -> None:
    data = make_image("PNG")
    stored = store_image(tmp_path, 7, 3, data)
    sha = hashlib.sha256(data).hexdigest()
    assert isinstance(stored, StoredImage)
    assert stored.sha256 == sha
    assert stored.rel_path == f"content/posts/7/sections/3/raw/{sha}.png"
    assert stored.image_url == stored.rel_path
    assert stored.size_bytes == len(data)
    assert stored.info.width == 64
    assert stored.info.height == 48
    assert (tmp_path / stored.rel_path).read_bytes() == data

    again = store_image(tmp_path, 7, 3, data)
    assert again.rel_path == stored.rel_path
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [tmp_path / stored.rel_path]
    assert not list(tmp_path.rglob("*.tmp"))


def test_store_image_without_section(tmp_path: Path) -> None:
    data = make_image("JPEG")
    stored = store_image(tmp_path, 9, None, data)
    assert stored.rel_path == f"content/posts/9/raw/{stored.sha256}.jpg"
    assert (tmp_path / stored.rel_path).is_file()


def test_store_image_with_bad_bytes_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        store_image(tmp_path, 1, 2, b"<html><body>Internal Server Error</body></html>")
    with pytest.raises(ImageError):
        store_image(tmp_path, 1, 2, make_image("PNG", (128, 128))[:300])
    assert list(tmp_path.iterdir()) == []


def test_image_rel_path_validation() -> None:
    sha = "a" * 64
    assert image_rel_path(1, 2, sha, "webp") == f"content/posts/1/sections/2/raw/{sha}.webp"
    assert image_rel_path(1, None, sha, "gif") == f"content/posts/1/raw/{sha}.gif"
    for bad_id in ("1", 1.0, None, True, "../x"):
        with pytest.raises((TypeError, ValueError)):
            image_rel_path(bad_id, 2, sha, "png")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        image_rel_path(1, "2", sha, "png")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        image_rel_path(-1, 2, sha, "png")
    for bad_sha in ("A" * 64, "a" * 63, "../" + "a" * 61, "g" * 64, "a" * 64 + "\n"):
        with pytest.raises(ValueError, match="sha256 must be 64 lowercase hex characters"):
            image_rel_path(1, 2, bad_sha, "png")
    for bad_ext in ("svg", "PNG", "png/../x", ""):
        with pytest.raises(ValueError, match="unsupported image extension"):
            image_rel_path(1, 2, sha, bad_ext)


def test_resolve_image_path(tmp_path: Path) -> None:
    rel = f"content/posts/1/raw/{'b' * 64}.png"
    assert resolve_image_path(tmp_path, rel) == (tmp_path / rel).resolve()
    for bad in ("../x", "/etc/passwd", "content/../../x", "", "C:/x", "content\\..\\x"):
        with pytest.raises(ValueError, match="image path"):
            resolve_image_path(tmp_path, bad)


def png_with_chunk(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """The PNG with one more chunk just before IEND (how a hostile server pads an image)."""
    chunk = struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return data[:-12] + chunk + data[-12:]


@pytest.mark.parametrize("kind", [b"tEXt", b"zzZz"])  # a text chunk, and a private chunk Pillow skips
def test_a_huge_metadata_chunk_is_dropped_not_stored(tmp_path: Path, kind: bytes) -> None:
    small = make_image("PNG", (8, 8))
    padded = png_with_chunk(small, kind, b"Comment\x00" + b"x" * (30 * 1024 * 1024))
    assert verify_image(padded).width == 8
    stored = store_image(tmp_path, 1, 2, padded)
    path = resolve_image_path(tmp_path, stored.rel_path)
    assert path.stat().st_size < 64 * 1024
    assert stored.size_bytes == path.stat().st_size
    assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with Image.open(path) as img, Image.open(io.BytesIO(small)) as original:
        assert img.size == (8, 8)
        assert img.convert("RGB").tobytes() == original.convert("RGB").tobytes()


def test_small_metadata_is_kept_byte_for_byte(tmp_path: Path) -> None:
    data = png_with_chunk(make_image("PNG", (8, 8)), b"tEXt", b"parameters\x00steps: 20, seed: 1234")
    stored = store_image(tmp_path, 1, 2, data)
    assert resolve_image_path(tmp_path, stored.rel_path).read_bytes() == data


def test_a_new_file_is_marked_created_and_can_be_discarded(tmp_path: Path) -> None:
    from wfdesk.media.store import discard

    data = make_image("PNG", (8, 8))
    first = store_image(tmp_path, 1, 2, data)
    again = store_image(tmp_path, 1, 2, data)
    assert first.created
    assert not again.created  # the same bytes were already there
    discard(tmp_path, [again])
    assert resolve_image_path(tmp_path, first.rel_path).is_file()  # not ours to remove
    discard(tmp_path, [first])
    assert not resolve_image_path(tmp_path, first.rel_path).exists()


@pytest.mark.parametrize("mode", ["CMYK", "RGB", "L"])
def test_a_jpeg_padded_with_comments_is_stored_small(tmp_path: Path, mode: str) -> None:
    # Print photos are often CMYK JPEGs; PNG cannot hold CMYK, so the re-encode must convert, not fail.
    buf = io.BytesIO()
    Image.new(mode, (8, 8), "white" if mode != "CMYK" else (0, 0, 0, 0)).save(buf, "JPEG")
    small = buf.getvalue()
    comment = b"\xff\xfe" + struct.pack(">H", 65535) + b"x" * 65533  # a COM segment, the largest one allowed
    padded = small[:2] + comment * 16 + small[2:]  # 1 MB of comments on an 8x8 picture
    assert verify_image(padded).width == 8
    stored = store_image(tmp_path, 1, 2, padded)
    path = resolve_image_path(tmp_path, stored.rel_path)
    assert path.stat().st_size < 64 * 1024
    with Image.open(path) as img:
        assert img.size == (8, 8)
        assert img.convert("RGB").getpixel((4, 4)) == (255, 255, 255)
