"""Writing a post to a folder as Markdown, HTML or a page bundle. Every file is written atomically."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wfdesk.content.draft_read import DraftError
from wfdesk.fileio import atomic_write_bytes
from wfdesk.rendering.post_read import ExportPost, read_post
from wfdesk.workspace import Workspace

Format = Literal["markdown", "html", "html-folder", "bundle"]
FORMATS: dict[str, str] = {
    "markdown": "Markdown file (.md) with an images folder",
    "html": "HTML page, one file with its images inside",
    "html-folder": "HTML page with an images folder",
    "bundle": "Hugo / Jekyll page bundle (index.md and images)",
}


@dataclass
class ExportResult:
    files: list[Path]  # the document first, then the images
    fell_back: list[tuple[str, str | None]] = field(default_factory=list)  # (section title, field used)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """Plain lines for the editor: which sections did not have the preferred text, and anything left out."""
        lines = []
        for title, used in self.fell_back:
            lines.append(f"“{title}” has no text in the preferred field; used {used}." if used
                         else f"“{title}” has no text in any field; exported with its title only.")
        return lines + self.notes


# Names Windows keeps for devices, whatever the extension: con.md cannot be opened there.
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
MAX_TRIES = 1000


def slugify(title: str) -> str:
    """A file name from a title: ASCII letters and digits joined by hyphens (accents dropped)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    slug = slug[:80].strip("-") or "post"
    return f"{slug}-post" if slug in WINDOWS_RESERVED else slug


def export_post(ws: Workspace, post_id: int, fmt: str, out_dir: Path, body_field: str | None = None
                ) -> ExportResult:
    if fmt not in FORMATS:
        raise DraftError(f"Unknown export format {fmt!r}: choose markdown, html or bundle.")
    post = read_post(ws, post_id, body_field)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DraftError(f"{out_dir} is a file, not a folder.")
    try:
        return _export(post, fmt, out_dir)
    except OSError as exc:  # a folder that is a file, no permission, a full disk: said in words, not errno
        reason = (exc.strerror or "the system refused").lower()
        raise DraftError(f"Cannot write the export into {out_dir}: {reason}. Choose another folder.") from None


def _export(post: ExportPost, fmt: str, out_dir: Path) -> ExportResult:
    slug = slugify(post.title)
    notes: list[str] = []
    if fmt == "markdown":
        text = _markdown(post)
        document = _free_name(lambda n: out_dir / f"{_numbered(slug, n)}.md", text, notes)
        files = _write(document, text, post, out_dir)
    elif fmt == "bundle":
        from wfdesk.content.bundle import render_index

        text = render_index(post)
        document = _free_name(lambda n: out_dir / _numbered(slug, n) / "index.md", text, notes)
        files = _write(document, text, post, document.parent)
    else:
        from wfdesk.content.export_html import render_page

        inline = fmt == "html"
        text = render_page(post, self_contained=inline)
        document = _free_name(lambda n: out_dir / f"{_numbered(slug, n)}.html", text, notes)
        files = _write(document, text, post, None if inline else out_dir)
    return ExportResult(files=files, fell_back=[(s.title, s.field) for s in post.fell_back],
                        notes=post.notes + notes)


def _numbered(slug: str, n: int) -> str:
    return slug if n == 1 else f"{slug}-{n}"


def _free_name(path_for: Callable[[int], Path], text: str, notes: list[str]) -> Path:
    """The first of name, name-2, name-3… that holds nothing yet (or exactly this export already): an export never
    replaces a file it did not write, such as the draft the post came from."""
    data = text.encode("utf-8")
    first = path_for(1)
    for n in range(1, MAX_TRIES + 1):
        path = path_for(n)
        folder_is_new = path.name != "index.md" or not path.parent.exists() or not any(path.parent.iterdir())
        same = path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
        if (not path.exists() and folder_is_new) or same:
            if n > 1:
                shown = first.parent if first.name == "index.md" else first
                notes.append(f"“{shown.name}” was already in {shown.parent} with other contents and was left as it "
                             f"is; wrote “{(path.parent if first.name == 'index.md' else path).name}” instead.")
            return path
    raise DraftError(f"{first.parent} already holds {MAX_TRIES} files named like “{first.name}”; choose another "
                     f"folder.")


def _markdown(post: ExportPost) -> str:
    from wfdesk.content.export_markdown import render_markdown

    return render_markdown(post)


def _write(document: Path, text: str, post: ExportPost, images_root: Path | None) -> list[Path]:
    images = [(images_root / image.name, image) for image in post.images()] if images_root is not None else []
    for target, image in images:  # checked before anything is written: nothing is replaced, nothing half-written
        if target.exists() and (not target.is_file() or target.stat().st_size != image.path.stat().st_size
                                or target.read_bytes() != image.path.read_bytes()):
            raise DraftError(f"{target} is already there with another picture in it; export into another folder "
                             f"(nothing was written).")
    written = []
    for target, image in images:
        if not target.exists():
            atomic_write_bytes(target, image.path.read_bytes())
        written.append(target)
    # The document last, so it never points at an image that is not there yet; listed first.
    atomic_write_bytes(document, text.encode("utf-8"))
    return [document, *written]
