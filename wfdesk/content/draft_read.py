"""Reading a draft file (or pasted text) into Markdown plus its front matter, refusing what cannot be a draft.

Libraries do the parsing: python-frontmatter (YAML front matter), mammoth (Word → semantic HTML, its images as data
URIs) and markdownify (HTML → Markdown). Nothing here touches the database.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from wfdesk.errors import WfdeskError

MAX_DRAFT_BYTES = 20 * 1024 * 1024  # a long article with its images is a few MB; more is not a draft
# What a .docx may unpack to: its images are stored about as large as they are packed, its XML is compressed ~10x.
# Checked from the zip's own table before anything is unpacked (a zip bomb is refused, not inflated).
MAX_WORD_UNPACKED_BYTES = 100 * 1024 * 1024
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".txt")
HTML_SUFFIXES = (".html", ".htm")
WORD_SUFFIXES = (".docx",)
SUPPORTED = "Markdown (.md), Word (.docx) or HTML (.html)"
EMBEDDABLE = ("image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp")  # what a post's images can be


class DraftError(WfdeskError, ValueError):
    """A draft that cannot be imported; the message says what is wrong in plain words."""


@dataclass
class DraftText:
    markdown: str
    name: str  # the file name (or "Pasted text"), for messages and as the title of last resort
    front_matter: dict[str, Any] = field(default_factory=dict)
    title_hint: str | None = None  # an HTML page's <title>
    base_dir: Path | None = None  # where relative image paths are looked up (None for pasted text)
    notes: list[str] = field(default_factory=list)  # what the conversion left out, for the editor


def read_draft_file(path: Path) -> DraftText:
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DraftError(f"“{name}” does not exist or is not a file.")
    suffix = path.suffix.lower()
    if suffix not in MARKDOWN_SUFFIXES + HTML_SUFFIXES + WORD_SUFFIXES:
        raise DraftError(f"“{name}” is not a draft wfdesk can read: choose a {SUPPORTED} file.")
    size = path.stat().st_size
    if size > MAX_DRAFT_BYTES:
        raise DraftError(f"“{name}” is {size / 1024 / 1024:.0f} MB; a draft can be at most "
                         f"{MAX_DRAFT_BYTES // 1024 // 1024} MB.")
    if size == 0:
        raise DraftError(f"“{name}” is empty.")
    data = path.read_bytes()
    if suffix in WORD_SUFFIXES:
        markdown, notes = word_to_markdown(data, name)
        draft = DraftText(markdown=markdown, name=name, notes=notes)
    else:
        text = _decode_text(data, name)
        draft = from_html(text, name) if suffix in HTML_SUFFIXES else from_markdown(text, name)
    draft.base_dir = path.resolve().parent
    return draft


def read_pasted(text: str, is_html: bool = False) -> DraftText:
    """Markdown or HTML from the clipboard, as if it came from a file without a folder."""
    name = "Pasted text"
    if len(text.encode("utf-8", "ignore")) > MAX_DRAFT_BYTES:
        raise DraftError(f"The pasted text is larger than {MAX_DRAFT_BYTES // 1024 // 1024} MB.")
    return from_html(text, name) if is_html else from_markdown(text, name)


def from_markdown(text: str, name: str) -> DraftText:
    import frontmatter
    import yaml

    text = text.lstrip("\ufeff")
    broken = f"The front matter at the top of “{name}”"
    meta: Any = {}
    body = text
    handler = frontmatter.detect_format(text, frontmatter.handlers)
    if re.match(r"\+\+\+[ \t]*\r?\n", text):  # Hugo's TOML front matter (python-frontmatter's needs `toml`)
        meta, body = _toml_front_matter(text, broken)
    elif handler is not None:
        try:
            raw, body = handler.split(text)
            if isinstance(handler, frontmatter.YAMLHandler) and any(
                    isinstance(event, yaml.AliasEvent) for event in yaml.parse(raw)):
                # An alias repeats a value by reference; nested ones grow exponentially when printed (a page's
                # meta tags, the export dialog). Front matter has no need of them.
                raise DraftError(f"{broken} repeats values with YAML anchors and aliases (&name, *name); write "
                                 f"each value out instead.")
            meta = handler.load(raw) if raw.strip() else {}
        except DraftError:
            raise
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            problem = getattr(exc, "problem", None) or "it cannot be read"
            raise DraftError(f"{broken} is not valid YAML{line}: {problem}. Fix it or remove it.") from None
        except ValueError:
            raise DraftError(f"{broken} is not closed: add a line with --- after it.") from None
    elif text.startswith("---\n") and "\n---" not in text[3:]:
        raise DraftError(f"{broken} is not closed: add a line with --- after it.")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise DraftError(f"{broken} must be “key: value” lines, not a list or a single value.")
    if not body.strip():
        raise DraftError(f"“{name}” has front matter but no text." if meta else f"“{name}” is empty.")
    return DraftText(markdown=body, name=name, front_matter=dict(meta))


def _toml_front_matter(text: str, broken: str) -> tuple[dict[str, Any], str]:
    import tomllib

    closing = re.search(r"^\+\+\+[ \t]*$", text[3:], re.MULTILINE)
    if closing is None:
        raise DraftError(f"{broken} is not closed: add a line with +++ after it.")
    raw, body = text[3:3 + closing.start()], text[3 + closing.end():]
    try:
        return tomllib.loads(raw.replace("\r\n", "\n")), body
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f" (line {line.group(1)})" if line else ""
        raise DraftError(f"{broken} is not valid TOML{where}. Fix it or remove it.") from None


def from_html(text: str, name: str) -> DraftText:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(["script", "style", "head", "noscript", "template"]):
        tag.decompose()
    markdown, notes = html_to_markdown(str(soup.body or soup), name)
    if not markdown.strip():
        raise DraftError(f"“{name}” has no text.")
    return DraftText(markdown=markdown, name=name, title_hint=title or None, notes=notes)


def html_to_markdown(html: str, name: str = "The page") -> tuple[str, list[str]]:
    """(Markdown, notes on what was left out)."""
    # ATX headings (## Title) so the splitter and a person read the same thing; "-" bullets as most editors write.
    converter = _converter()(heading_style="ATX", bullets="-", escape_underscores=False, escape_asterisks=False,
                             keep_inline_images_in=["td", "th", "li", "a"])
    converter.left_out = []
    try:
        markdown = converter.convert(html).strip() + "\n"
    except RecursionError:  # markdownify walks the tree recursively: a few hundred nested tags are too many
        raise DraftError(f"“{name}” is nested too deeply to read (hundreds of elements inside one another). Copy "
                         f"its text into a new document and try again.") from None
    notes = []
    if converter.left_out:
        kinds = ", ".join(sorted(set(converter.left_out)))
        n = len(converter.left_out)
        notes.append(f"{n} embedded image{'s' if n > 1 else ''} in “{name}” {'are' if n > 1 else 'is'} in a format a "
                     f"post cannot hold ({kinds}) and {'were' if n > 1 else 'was'} left out; save "
                     f"{'them' if n > 1 else 'it'} as PNG or JPEG and add {'them' if n > 1 else 'it'} to the post.")
    return markdown, notes


@functools.cache
def _converter() -> type:
    from markdownify import MarkdownConverter

    class TextStaysText(MarkdownConverter):
        """What a page showed as text stays text: "&lt;script&gt;" on the page is words, and must not become a tag
        (or an entity) that a static site generator passes through. markdownify's escape_misc would also escape
        every -, + and . of ordinary prose."""

        left_out: list[str]  # kinds of embedded image left out; html_to_markdown sets it before converting

        def convert_img(self, el: Any, text: str, parent_tags: Any) -> str:
            # An embedded EMF chart or SVG icon would stay in the text as a long base64 line: left out, and said.
            src = str(el.attrs.get("src") or "")
            match = re.match(r"data:([^;,]*)", src)
            if match and match.group(1).lower() not in EMBEDDABLE:
                kind = match.group(1).split("/")[-1].split("+")[0].upper().removeprefix("X-")
                self.left_out.append(kind or "unknown")
                return ""
            # markdownify's stub (__init__.pyi) lists only convert/convert_soup; the class has convert_img and escape.
            converted: str = super().convert_img(el, text, parent_tags)  # type: ignore[misc]
            return converted

        def escape(self, text: str, parent_tags: Any) -> str:
            text = super().escape(text, parent_tags)  # type: ignore[misc]  # (not in the stub, as convert_img)
            return re.sub(r"&(?=#?\w+;)", r"\\&", re.sub(r"<(?=[A-Za-z/!?])", r"\\<", text))

    return TextStaysText


def word_to_markdown(data: bytes, name: str) -> tuple[str, list[str]]:
    import mammoth

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DraftError(f"“{name}” is not a Word document (.docx); it may be an older .doc or another file "
                         f"renamed. Save it as .docx and try again.")
    _check_unpacked_size(data, name)
    try:
        result = mammoth.convert_to_html(io.BytesIO(data))  # images become data: URIs, stored like any other image
    except (KeyError, zipfile.BadZipFile, ValueError, ExpatError, EOFError, OSError):
        raise DraftError(f"“{name}” is not a readable Word document: it is damaged or was not saved by a word "
                         f"processor. Open it in Word or LibreOffice, save it again as .docx and try again.") from None
    markdown, notes = html_to_markdown(result.value, name)
    if not markdown.strip():
        raise DraftError(f"“{name}” has no text.")
    return markdown, notes


def _check_unpacked_size(data: bytes, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise DraftError(f"“{name}” is not a readable Word document: it is damaged.") from None
    if unpacked > MAX_WORD_UNPACKED_BYTES:
        raise DraftError(f"“{name}” unpacks to more than {MAX_WORD_UNPACKED_BYTES // 1024 // 1024} MB, far more "
                         f"than a draft holds; it is not a Word document wfdesk will open.")


def _decode_text(data: bytes, name: str) -> str:
    # A byte order mark says the encoding: Notepad's "Unicode" (UTF-16) is text, though full of zero bytes.
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise DraftError(f"“{name}” says it is {encoding.upper()} text but is damaged.") from None
            break
    else:
        if b"\x00" in data[:8192]:
            raise DraftError(f"“{name}” is not a text file (it looks like a binary file).")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DraftError(f"“{name}” is not saved as UTF-8 (it may be in an older encoding such as Windows-1252, "
                             f"or not text at all). Open it in your editor, save it again with the encoding UTF-8 "
                             f"and try again.") from None
    if not text.strip("\ufeff \t\r\n"):
        raise DraftError(f"“{name}” is empty.")
    return text
