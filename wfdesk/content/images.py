"""The images a draft refers to: found with the Markdown parser, read (only from inside the draft's folder, or from
data: URIs as Word and HTML embed them), verified, and renamed to portable content-addressed names.

A section's text refers to its images as `images/<first 16 hex of sha256>.<ext>` -- the same name an export writes
the file under -- so exporting and importing again gives the same text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from markdown_it.token import Token

from wfdesk.content.draft_read import DraftError
from wfdesk.media.verify import ImageError, ImageInfo, verify_image
from wfdesk.rendering.markdown import image_tokens, parser
from wfdesk.rendering.post_read import portable_name

MAX_IMAGE_BYTES = 20 * 1024 * 1024


@dataclass
class DraftImage:
    data: bytes
    info: ImageInfo
    sha256: str
    alt: str
    source: str  # where it came from, for messages ("photo.png", "an embedded image")

    @property
    def portable(self) -> str:
        return portable_name(self.sha256, self.info.ext)


@dataclass
class SectionImages:
    body: str
    images: list[DraftImage] = field(default_factory=list)  # reading order; the first is the section's image
    lifted: bool = False  # the first image stood alone at the top of the section and was taken out of the text
    notes: list[str] = field(default_factory=list)


def collect_images(body: str, base_dir: Path | None, draft_name: str) -> SectionImages:
    """Read every image of a section's Markdown; raises DraftError (naming the image) for one that cannot be used."""
    tokens = parser().parse(body)
    out = SectionImages(body=body)
    lead_lines = _leading_image_lines(tokens)
    replacements: dict[str, str] = {}
    for token in image_tokens(tokens):
        src = str(token.attrGet("src") or "")
        if src in replacements:
            continue
        image = _load(src, token.content, base_dir, draft_name, out.notes)
        if image is None:
            continue
        replacements[src] = image.portable
        if all(i.sha256 != image.sha256 for i in out.images):
            out.images.append(image)
    text = body
    if lead_lines is not None and out.images and replacements:
        lines = text.splitlines(keepends=True)
        del lines[lead_lines[0]:lead_lines[1]]
        text = "".join(lines).strip("\n").rstrip()
        out.lifted = True
    for src, name in replacements.items():
        text = _rewrite_destination(text, src, name)
    out.body = text
    return out


def _rewrite_destination(text: str, src: str, name: str) -> str:
    """Every link destination that is `src` -- as written, so with its Markdown escapes (a\\_b.png) or in <angle
    brackets> -- becomes `name`; a longer destination that merely starts with it (a.png2) is left alone."""
    raw = "".join(rf"\\?{re.escape(c)}" if c in string.punctuation else re.escape(c) for c in src)
    dest = rf"(?:<{raw}>|{raw})"
    text = re.sub(rf"(\]\(\s*){dest}(?=[\s)])", lambda m: m.group(1) + name, text)
    return re.sub(rf"(^[ \t]{{0,3}}\[[^\]\n]+\]:[ \t]*\n?[ \t]*){dest}(?=\s|$)", lambda m: m.group(1) + name, text,
                  flags=re.MULTILINE)


def _leading_image_lines(tokens: list[Token]) -> tuple[int, int] | None:
    """The line range of a paragraph that is nothing but one image, when it is the section's first block."""
    if len(tokens) < 3 or tokens[0].type != "paragraph_open" or tokens[0].map is None:
        return None
    children = [c for c in tokens[1].children or [] if not (c.type == "text" and not c.content.strip())
                and c.type not in ("softbreak", "hardbreak")]
    if len(children) == 1 and children[0].type == "image":
        return tokens[0].map[0], tokens[0].map[1]
    return None


def _load(src: str, alt: str, base_dir: Path | None, draft_name: str, notes: list[str]) -> DraftImage | None:
    if src.startswith("data:"):
        data, source = _data_uri(src, draft_name), "an image embedded in the draft"
    elif re.match(r"^[a-z]:[\\/]", src, re.IGNORECASE) or src.startswith("\\\\"):
        raise DraftError(f"“{draft_name}” refers to the image {src}, which is outside the draft's folder (a path "
                         f"on this computer). Put the image in the draft's folder (or a folder inside it) and refer "
                         f"to it from there.")
    elif re.match(r"^([a-z][a-z0-9+.-]*:|//)", src, re.IGNORECASE):
        notes.append(f"The image {src} is on the web; it is left as a link, not copied.")
        return None
    elif base_dir is None:
        notes.append(f"The image {src} has no folder to be found in; it is left as a link.")
        return None
    else:
        data, source = _local_file(src, base_dir, draft_name), src
    try:
        info = verify_image(data)
    except ImageError as exc:
        raise DraftError(f"The image {source} in “{draft_name}” cannot be used: {exc}.") from None
    return DraftImage(data=data, info=info, sha256=hashlib.sha256(data).hexdigest(), alt=alt, source=source)


def _local_file(src: str, base_dir: Path, draft_name: str) -> bytes:
    raw = unquote(src.split("#", 1)[0].split("?", 1)[0])
    base = base_dir.resolve()
    candidate = Path(raw)
    path = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if candidate.is_absolute() or not path.is_relative_to(base):
        raise DraftError(f"“{draft_name}” refers to the image {src}, which is outside the draft's folder. "
                         f"Put the image in the draft's folder (or a folder inside it) and refer to it from there.")
    if not path.is_file():
        raise DraftError(f"“{draft_name}” refers to the image {src}, which is not there.")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise DraftError(f"The image {src} in “{draft_name}” is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB.")
    return path.read_bytes()


def _data_uri(src: str, draft_name: str) -> bytes:
    header, _, payload = src.partition(",")
    if ";base64" not in header:
        raise DraftError(f"An image embedded in “{draft_name}” is not base64-encoded and cannot be read.")
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raise DraftError(f"An image embedded in “{draft_name}” is damaged.") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise DraftError(f"An image embedded in “{draft_name}” is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB.")
    return data
