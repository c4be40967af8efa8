"""Sample drafts for the content import/export tests: the text files under data/drafts, copied next to real images
(made here with Pillow) and a Word document made with python-docx."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from PIL import Image

DRAFTS = Path(__file__).parent / "data" / "drafts"


def png(color: str, size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def draft_folder(tmp_path: Path) -> Path:
    """A copy of the sample drafts with images/glen.png and images/harbour.png, and an image outside it."""
    folder = tmp_path / "drafts"
    shutil.copytree(DRAFTS, folder)
    (folder / "images").mkdir()
    (folder / "images" / "glen.png").write_bytes(png("darkgreen"))
    (folder / "images" / "harbour.png").write_bytes(png("steelblue"))
    (tmp_path / "outside.png").write_bytes(png("red"))
    return folder


def word_draft(path: Path) -> Path:
    """A .docx with a title, two level-2 sections, bold and italic words, a list, a table and a picture."""
    from docx import Document
    from docx.shared import Inches

    doc = Document()
    doc.add_heading("Harvest Report", level=1)
    doc.add_paragraph("An opening paragraph before any section.")
    doc.add_heading("Apples", level=2)
    para = doc.add_paragraph("The crop was ")
    para.add_run("excellent").bold = True
    para.add_run(" and ")
    para.add_run("early").italic = True
    para.add_run(".")
    doc.add_paragraph("Bramley", style="List Bullet")
    doc.add_paragraph("Cox", style="List Bullet")
    doc.add_picture(io.BytesIO(png("orange", (40, 30))), width=Inches(1))
    doc.add_heading("Pears", level=2)
    doc.add_paragraph("Fewer than last year.")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Variety", "Tonnes"
    table.cell(1, 0).text, table.cell(1, 1).text = "Conference", "12"
    doc.save(path)
    return path
