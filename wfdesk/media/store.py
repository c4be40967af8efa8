"""Content-addressed storage of verified images under the app's data directory.

Paths are built only from integer ids and the SHA-256 of the bytes -- never from names, prompts or
provider output -- so nothing user-controlled can steer where a file lands. This module must never import Qt.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from wfdesk.fileio import atomic_write_bytes
from wfdesk.media.metadata import strip_oversized_metadata
from wfdesk.media.verify import ImageInfo, verify_image

_SHA256_RE = re.compile(r"[0-9a-f]{64}")  # used with fullmatch: "$" would accept a trailing "\n"
_ALLOWED_EXTS = frozenset({"png", "jpg", "webp", "gif"})


@dataclass(frozen=True)
class StoredImage:
    rel_path: str  # POSIX, relative to the data dir
    sha256: str
    info: ImageInfo
    size_bytes: int
    created: bool = False  # this call wrote the file (it was not there before): discard() may remove it

    @property
    def image_url(self) -> str:
        # What the DB stores; resolve it with resolve_image_path() before opening.
        return self.rel_path


def image_rel_path(post_id: int, section_id: int | None, sha256: str, ext: str) -> str:
    """content/posts/<post_id>[/sections/<section_id>]/raw/<sha256>.<ext>, after validating every part."""
    _check_id("post_id", post_id)
    if section_id is not None:
        _check_id("section_id", section_id)
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex characters, got {sha256!r}")
    if ext not in _ALLOWED_EXTS:
        raise ValueError(f"unsupported image extension: {ext!r}")
    parts = ["content", "posts", str(post_id)]
    if section_id is not None:
        parts += ["sections", str(section_id)]
    parts += ["raw", f"{sha256}.{ext}"]
    return "/".join(parts)


def store_image(data_dir: Path, post_id: int, section_id: int | None, data: bytes, *,
                verified: ImageInfo | None = None) -> StoredImage:
    """Verify and store image bytes; identical bytes for the same post/section are stored once.
    verified: what verify_image(data) already returned for these bytes (it is not decoded twice)."""
    info = verified or verify_image(data)  # raises ImageError before anything touches the disk
    data, info = strip_oversized_metadata(data, info)
    sha256 = hashlib.sha256(data).hexdigest()
    rel_path = image_rel_path(post_id, section_id, sha256, info.ext)
    path = resolve_image_path(data_dir, rel_path)
    # Content-addressed: same name => same bytes. The size check guards against a torn file left by
    # an older, non-atomic writer; a matching size with a matching hash name is trusted.
    try:
        existing = path.stat().st_size if path.is_file() else None
    except OSError:
        existing = None
    created = existing != len(data)
    if created:
        atomic_write_bytes(path, data)
    return StoredImage(rel_path=rel_path, sha256=sha256, info=info, size_bytes=len(data), created=created)


def discard(data_dir: Path, images: list[StoredImage]) -> None:
    """Remove the files these calls created, when the result they belong to is not kept. A file that was already
    there (the same bytes as an earlier version) is left alone."""
    for image in images:
        if image.created:
            # At worst an unreferenced file stays; never fail a run over it.
            with contextlib.suppress(OSError, ValueError):
                resolve_image_path(data_dir, image.rel_path).unlink(missing_ok=True)


def resolve_image_path(data_dir: Path, rel_path: str) -> Path:
    """Join a stored relative path onto data_dir, refusing anything that could point outside it."""
    if not isinstance(rel_path, str) or not rel_path or "\x00" in rel_path:
        raise ValueError(f"invalid image path: {rel_path!r}")
    # Stored paths are POSIX; backslashes or drive letters can only come from tampering.
    if "\\" in rel_path or PureWindowsPath(rel_path).drive:
        raise ValueError(f"image path must be a relative POSIX path: {rel_path!r}")
    pure = PurePosixPath(rel_path)
    if pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"image path escapes the data directory: {rel_path!r}")
    base = Path(data_dir).resolve()
    candidate = (base / pure).resolve()
    # Also catches escapes through symlinks inside the data dir.
    if candidate == base or not candidate.is_relative_to(base):
        raise ValueError(f"image path escapes the data directory: {rel_path!r}")
    return candidate


def _check_id(name: str, value: object) -> None:
    # bool is an int subclass; True/False as an id is always a bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
