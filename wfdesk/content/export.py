"""Writing a post to a folder as Markdown, HTML or a page bundle. Every file is written atomically."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wfdesk.content.draft_read import DraftError
from wfdesk.content.post_read import ExportPost, read_post
from wfdesk.fileio import atomic_write_bytes
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


def slugify(title: str) -> str:
    """A file name from a title: ASCII letters and digits joined by hyphens (accents dropped)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:80].strip("-") or "post"


def export_post(ws: Workspace, post_id: int, fmt: str, out_dir: Path, body_field: str | None = None
                ) -> ExportResult:
    if fmt not in FORMATS:
        raise DraftError(f"Unknown export format {fmt!r}: choose markdown, html or bundle.")
    post = read_post(ws, post_id, body_field)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DraftError(f"{out_dir} is a file, not a folder.")
    slug = slugify(post.title)
    if fmt == "markdown":
        files = _write(out_dir / f"{slug}.md", _markdown(post), post, out_dir)
    elif fmt == "bundle":
        from wfdesk.content.bundle import render_index

        folder = out_dir / slug
        files = _write(folder / "index.md", render_index(post), post, folder)
    else:
        from wfdesk.content.export_html import render_page

        inline = fmt == "html"
        files = _write(out_dir / f"{slug}.html", render_page(post, self_contained=inline), post,
                       None if inline else out_dir)
    return ExportResult(files=files, fell_back=[(s.title, s.field) for s in post.fell_back], notes=post.notes)


def _markdown(post: ExportPost) -> str:
    from wfdesk.content.export_markdown import render_markdown

    return render_markdown(post)


def _write(document: Path, text: str, post: ExportPost, images_root: Path | None) -> list[Path]:
    written = []
    if images_root is not None:
        for image in post.images():
            target = images_root / image.name
            atomic_write_bytes(target, image.path.read_bytes())
            written.append(target)
    # The document last, so it never points at an image that is not there yet; listed first.
    atomic_write_bytes(document, text.encode("utf-8"))
    return [document, *written]
