"""Importing drafts (Markdown, Word, HTML, pasted text) as posts, and every kind of bad draft refused whole."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import io
import json
import os
import re

import pytest
from sqlalchemy import func, select

from wfdesk.content.draft_read import MAX_DRAFT_BYTES, DraftError
from wfdesk.content.post_fields import FRONT_MATTER, load_front_matter
from wfdesk.content.post_import import ImportOptions, import_file, import_pasted
from wfdesk.db.models import ContentField, ContentVersion, ImageAsset, Post, PostSection
from wfdesk.media.store import resolve_image_path
from wfdesk.services.queries import post_detail

from content_drafts import draft_folder, png, word_draft


def _counts(ws) -> tuple[int, int, int, int]:
    with ws.db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t))
                     for t in (Post, PostSection, ContentField, ContentVersion))


def _accepted_image(ws, section_id: int) -> bytes | None:
    with ws.db.session() as s:
        row = s.execute(select(ImageAsset.path).join(ContentVersion, ContentVersion.asset_id == ImageAsset.id)
                        .join(ContentField, ContentField.accepted_version_id == ContentVersion.id)
                        .where(ContentField.section_id == section_id)).first()
    return resolve_image_path(ws.data_dir, row[0]).read_bytes() if row else None


def test_markdown_with_front_matter_becomes_sections_with_images(ws, tmp_path):
    folder = draft_folder(tmp_path)
    result = import_file(ws, folder / "highlands.md")
    assert result["title"] == "A Week in the Highlands"
    assert [s["title"] for s in result["sections"]] == ["Introduction", "Glen Affric", "The Coast Road", "Home"]
    post = post_detail(ws, result["post_id"])
    assert post["title"] == "A Week in the Highlands"
    assert post["status"] == "draft"
    assert load_front_matter(post["fields"][FRONT_MATTER]) == {"author": "Morag", "tags": ["travel", "scotland"],
                                                               "date": datetime.date(2024, 5, 1)}
    intro, glen, coast, home = (s["fields"]["draft"] for s in post["sections"])
    assert intro == "We set off from Inverness on a wet Monday."
    # Markdown is kept as written: emphasis, lists, links, sub-headings, quotes, tables, code (its "##" too).
    assert glen.startswith("The old **Caledonian pines** stand over the water, and the path is *soft* underfoot.")
    assert "- [the forest guide](https://example.org/affric)" in glen
    assert "### Where we stayed" in glen
    assert "![" not in glen  # the image that opened the section became the section's image
    assert "> The sea was the colour of slate." in coast
    assert "| Tue | 42    |" in coast
    assert '# ## not a heading: it is inside a code block' in coast
    glen_bytes = (folder / "images" / "glen.png").read_bytes()
    harbour = (folder / "images" / "harbour.png").read_bytes()
    assert _accepted_image(ws, post["sections"][1]["id"]) == glen_bytes
    # An image inside the text stays where it is, renamed to the name an export writes it under.
    sha = hashlib.sha256(harbour).hexdigest()
    assert home == f"Back in time for tea, with a photo of the harbour: ![Harbour](images/{sha[:16]}.png)"
    assert _accepted_image(ws, post["sections"][3]["id"]) == harbour
    assert _accepted_image(ws, post["sections"][0]["id"]) is None


def test_split_level_and_target_field_are_choices(ws, tmp_path):
    folder = draft_folder(tmp_path)
    result = import_file(ws, folder / "highlands.md", ImportOptions(split_level=3, field="notes"))
    assert [s["title"] for s in result["sections"]] == ["Introduction", "Glen Affric", "Where we stayed",
                                                        "The Coast Road", "Home"]
    post = post_detail(ws, result["post_id"])
    assert post["sections"][2]["fields"] == {"notes": "A bothy by the river."}
    assert all("draft" not in s["fields"] for s in post["sections"])


def test_title_from_h1_then_file_name(ws, tmp_path):
    (tmp_path / "plain.md").write_text("# The Real Title\n\nHello.\n\n## One\n\nText one.\n")
    result = import_file(ws, tmp_path / "plain.md")
    assert result["title"] == "The Real Title"
    assert [s["title"] for s in result["sections"]] == ["Introduction", "One"]
    assert post_detail(ws, result["post_id"])["sections"][0]["fields"]["draft"] == "Hello."
    (tmp_path / "untitled-notes.md").write_text("## Only\n\nText.\n")
    assert import_file(ws, tmp_path / "untitled-notes.md")["title"] == "untitled-notes"


def test_no_headings_gives_one_section_and_says_so(ws, tmp_path):
    folder = draft_folder(tmp_path)
    result = import_file(ws, folder / "no_headings.md")
    assert [s["title"] for s in result["sections"]] == ["Introduction"]
    assert "no headings" in result["notes"][0]
    text = post_detail(ws, result["post_id"])["sections"][0]["fields"]["draft"]
    assert text == (folder / "no_headings.md").read_text().strip()


def test_word_document_is_converted_to_markdown(ws, tmp_path):
    path = word_draft(tmp_path / "harvest.docx")
    result = import_file(ws, path)
    assert result["title"] == "Harvest Report"
    assert [s["title"] for s in result["sections"]] == ["Introduction", "Apples", "Pears"]
    post = post_detail(ws, result["post_id"])
    intro, apples, pears = (s["fields"]["draft"] for s in post["sections"])
    assert intro == "An opening paragraph before any section."
    assert "The crop was **excellent** and *early*." in apples
    assert "- Bramley" in apples
    assert "- Cox" in apples
    assert "| Variety | Tonnes |" in pears
    assert "| Conference | 12 |" in pears
    # The embedded picture is stored and is the section's image.
    image = _accepted_image(ws, post["sections"][1]["id"])
    assert image is not None
    assert image.startswith(b"\x89PNG")
    assert "images/" in apples  # it stays in the text where the author put it


def test_html_is_converted_and_scripts_dropped(ws, tmp_path):
    folder = draft_folder(tmp_path)
    result = import_file(ws, folder / "fieldnotes.html")
    assert result["title"] == "Notes from the Field"
    assert [s["title"] for s in result["sections"]] == ["Introduction", "Morning", "Evening"]
    post = post_detail(ws, result["post_id"])
    intro, morning, evening = (s["fields"]["draft"] for s in post["sections"])
    assert intro == "Written on the *train* home."
    assert "Fog over the **valley**, then sun." in morning
    assert "- coffee" in morning
    assert "[the book](https://example.org/book)" in evening
    assert "> Quiet at last." in evening
    assert "alert" not in json.dumps(post)
    assert "color: red" not in json.dumps(post)
    assert _accepted_image(ws, post["sections"][1]["id"]) == (folder / "images" / "glen.png").read_bytes()


def test_pasted_markdown_and_html(ws):
    result = import_pasted(ws, "# Pasted Post\n\n## A\n\nAlpha *one*.\n\n## B\n\nBeta.\n", is_html=False)
    assert result["title"] == "Pasted Post"
    assert [s["title"] for s in result["sections"]] == ["A", "B"]
    data_uri = "data:image/png;base64," + base64.b64encode(png("purple")).decode()
    result = import_pasted(ws, f"<h2>Only</h2><p>Some <b>bold</b> text.</p><p><img src='{data_uri}' alt='p'></p>",
                           is_html=True)
    post = post_detail(ws, result["post_id"])
    assert post["title"] == "Pasted text"
    sha = hashlib.sha256(png("purple")).hexdigest()
    assert post["sections"][0]["fields"]["draft"] == f"Some **bold** text.\n\n![p](images/{sha[:16]}.png)"
    assert _accepted_image(ws, post["sections"][0]["id"]) == png("purple")


def test_web_images_stay_links(ws, tmp_path):
    (tmp_path / "web.md").write_text("## One\n\n![far](https://example.org/a.png) away\n")
    result = import_file(ws, tmp_path / "web.md")
    assert "on the web" in result["notes"][0]
    assert post_detail(ws, result["post_id"])["sections"][0]["fields"]["draft"] == \
        "![far](https://example.org/a.png) away"


# --- bad drafts: a clear message, nothing imported ----------------------------------------------------------------

def _binary(tmp_path):
    path = tmp_path / "photo.md"
    path.write_bytes(png("black") + b"\x00\x01\x02" * 100)
    return path


def _empty(tmp_path):
    path = tmp_path / "empty.md"
    path.write_bytes(b"")
    return path


def _blank(tmp_path):
    path = tmp_path / "blank.md"
    path.write_text("\n  \n\n")
    return path


def _huge(tmp_path):
    path = tmp_path / "huge.md"
    with open(path, "wb") as fh:  # 50 MB, sparse: nothing is read before the size is checked
        fh.truncate(50 * 1024 * 1024)
    return path


def _broken_front_matter(tmp_path):
    return draft_folder(tmp_path) / "broken_front_matter.md"


def _list_front_matter(tmp_path):
    path = tmp_path / "list.md"
    path.write_text("---\n- one\n- two\n---\n## S\n\nText.\n")
    return path


def _unclosed_front_matter(tmp_path):
    path = tmp_path / "unclosed.md"
    path.write_text("---\ntitle: Never closed\n\n## S\n\nText.\n")
    return path


def _outside_image(tmp_path):
    return draft_folder(tmp_path) / "outside_image.md"


def _absolute_image(tmp_path):
    folder = draft_folder(tmp_path)
    path = folder / "absolute.md"
    path.write_text(f"## S\n\n![x]({tmp_path / 'outside.png'})\n")
    return path


def _windows_path_image(tmp_path):
    folder = draft_folder(tmp_path)
    path = folder / "windows.md"
    path.write_text("## S\n\n![x](C:\\Users\\morag\\Pictures\\glen.png)\n")
    return path


def _symlinked_image(tmp_path):
    folder = draft_folder(tmp_path)
    os.symlink(tmp_path / "outside.png", folder / "images" / "link.png")
    path = folder / "linked.md"
    path.write_text("## S\n\n![x](images/link.png)\n")
    return path


def _missing_image(tmp_path):
    folder = draft_folder(tmp_path)
    path = folder / "missing.md"
    path.write_text("## One\n\nText.\n\n## Two\n\n![gone](images/nothing-here.png)\n")
    return path


def _not_an_image(tmp_path):
    folder = draft_folder(tmp_path)
    (folder / "images" / "fake.png").write_text("<html>not an image</html>")
    path = folder / "fake.md"
    path.write_text("## One\n\n![fake](images/fake.png)\n")
    return path


def _not_docx(tmp_path):
    path = tmp_path / "letter.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)  # an old binary .doc renamed
    return path


def _wrong_type(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(png("white"))
    return path


def _too_many_sections(tmp_path):
    path = tmp_path / "headings.md"
    path.write_text("".join(f"## Heading {n}\n\nText.\n\n" for n in range(5000)))
    return path


def _deeply_nested_html(tmp_path):
    path = tmp_path / "deep.html"
    path.write_text("<html><body>" + "<div>" * 3000 + "<h2>Deep</h2><p>Text.</p>" + "</div>" * 3000 + "</body></html>")
    return path


def _list_title(tmp_path):
    path = tmp_path / "listtitle.md"
    path.write_text("---\ntitle: [One, Two]\n---\n## S\n\nText.\n")
    return path


def _zip_bomb(tmp_path):
    """A 150 KB .docx whose document unpacks to 150 MB of XML: refused from the zip's own table, never unpacked."""
    import zipfile

    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                          'package/2006/content-types"/>')
        z.writestr("word/document.xml", b"<w:document>" + b" " * (150 * 1024 * 1024))
    return path


def _broken_docx(tmp_path):
    """A .docx whose document.xml is cut short (a download that stopped half-way, then zipped again)."""
    import zipfile

    good = word_draft(tmp_path / "good.docx")
    path = tmp_path / "cut.docx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 2] if item.filename == "word/document.xml" else data)
    return path


BAD = {
    "binary": (_binary, "not a text file"),
    "empty": (_empty, "is empty"),
    "blank": (_blank, "is empty"),
    "50 MB": (_huge, "50 MB; a draft can be at most 20 MB"),
    "broken front matter": (_broken_front_matter, "front matter at the top of “broken_front_matter.md” is not valid"),
    "front matter that is a list": (_list_front_matter, "must be “key: value” lines"),
    "front matter never closed": (_unclosed_front_matter, "is not closed"),
    "image outside the folder": (_outside_image, "outside the draft's folder"),
    "absolute image path": (_absolute_image, "outside the draft's folder"),
    "Windows path to an image": (_windows_path_image, "outside the draft's folder"),
    "image through a symlink": (_symlinked_image, "outside the draft's folder"),
    "missing image": (_missing_image, "images/nothing-here.png, which is not there"),
    "not an image": (_not_an_image, "cannot be used"),
    "old .doc renamed": (_not_docx, "is not a Word document"),
    "Word document that unpacks to 150 MB": (_zip_bomb, "unpacks to more than"),
    "Word document cut short": (_broken_docx, "is not a readable Word document"),
    "5000 sections": (_too_many_sections, "5000 sections; a post can have at most 1000"),
    "HTML nested 3000 levels deep": (_deeply_nested_html, "“deep.html” is nested too deeply"),
    "title that is a list": (_list_title, "title in “listtitle.md” must be a single line of text"),
    "not a draft type": (_wrong_type, "choose a Markdown (.md), Word (.docx) or HTML (.html) file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_draft_is_refused_whole(ws, tmp_path, case):
    make, message = BAD[case]
    path = make(tmp_path)
    before = _counts(ws)
    with pytest.raises(DraftError) as err:
        import_file(ws, path)
    assert message in str(err.value)
    assert "Error" not in str(err.value)
    assert "Traceback" not in str(err.value)
    assert _counts(ws) == before
    assert not (ws.data_dir / "content").exists()  # no image was stored either


def test_limit_is_the_documented_one():
    assert MAX_DRAFT_BYTES == 20 * 1024 * 1024


# --- the CLI contract -----------------------------------------------------------------------------------------------

@pytest.fixture
def run_cli(db_url, tmp_path, monkeypatch):
    from wfdesk.cli import main

    monkeypatch.setenv("WFDESK_DATABASE_URL", db_url)
    monkeypatch.setenv("WFDESK_DATA_DIR", str(tmp_path / "data"))

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()

    return run


def test_cli_import_post_prints_the_post_and_its_sections(run_cli, tmp_path):
    folder = draft_folder(tmp_path)
    code, out, err = run_cli("import-post", str(folder / "highlands.md"), "--split-level", "2", "--field", "draft")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"post_id", "title", "sections"}
    assert data["title"] == "A Week in the Highlands"
    assert [s["title"] for s in data["sections"]] == ["Introduction", "Glen Affric", "The Coast Road", "Home"]
    assert all(isinstance(s["id"], int) for s in data["sections"])


@pytest.mark.parametrize("case", ["binary", "empty", "50 MB", "broken front matter", "image outside the folder"])
def test_cli_import_post_bad_input_exits_2(run_cli, tmp_path, case):
    make, message = BAD[case]
    code, out, err = run_cli("import-post", str(make(tmp_path)))
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_cli_import_post_bad_options_exit_2(run_cli, tmp_path):
    folder = draft_folder(tmp_path)
    code, _, err = run_cli("import-post", str(folder / "highlands.md"), "--split-level", "9")
    assert code == 2
    assert "between 1 and 6" in err
    code, _, err = run_cli("import-post", str(folder / "highlands.md"), "--field", "not a field")
    assert code == 2
    assert "not a valid field name" in err



@pytest.mark.parametrize("odd", ["\u2028", "\x0c", "\x85", "\x1c"])
def test_line_separators_inside_a_line_do_not_shift_the_cuts(odd):
    # Word and web pages leave U+2028, form feeds and NEL inside paragraphs; Markdown does not end a line there.
    from wfdesk.content.splitter import split_markdown

    doc = split_markdown(f"Intro{odd}more\r\n\r\n## First\r\n\r\nOne{odd}two.\r\n\r\n## Second\r\n\r\nThree.\r\n")
    assert [(s.title, s.body) for s in doc.sections] == [
        ("Introduction", f"Intro{odd}more"), ("First", f"One{odd}two."), ("Second", "Three.")]


def test_image_references_are_rewritten_exactly(ws, tmp_path):
    # a.png is a prefix of a.png2; a\_b.png is written with a Markdown escape; the same image is used three times.
    (tmp_path / "a.png").write_bytes(png("red"))
    (tmp_path / "a.png2").write_bytes(png("blue"))
    (tmp_path / "a_b.png").write_bytes(png("yellow"))
    (tmp_path / "refs.md").write_text('## S\n\nStart.\n\n![one](a.png) ![two](a.png2) ![three](a\\_b.png) '
                                      '![again](a.png "A title") ![angle](<a.png>)\n\n![ref][r]\n\n[r]: a.png\n')
    result = import_file(ws, tmp_path / "refs.md")
    body = post_detail(ws, result["post_id"])["sections"][0]["fields"]["draft"]

    def name(color: str) -> str:
        return f"images/{hashlib.sha256(png(color)).hexdigest()[:16]}.png"

    red, blue, yellow = name("red"), name("blue"), name("yellow")
    assert body == (f'Start.\n\n![one]({red}) ![two]({blue}) ![three]({yellow}) ![again]({red} "A title") '
                    f'![angle]({red})\n\n![ref][r]\n\n[r]: {red}')


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_draft_saved_as_unicode_by_notepad_is_read(ws, tmp_path, encoding):
    # Windows Notepad's "Unicode" is UTF-16 with a byte order mark: text, not a binary file.
    bom = {"utf-16": b"", "utf-16-be": "\ufeff".encode("utf-16-be"), "utf-32": b""}[encoding]
    (tmp_path / "notes.md").write_bytes(bom + "## Café\r\n\r\nNaïve résumé.\r\n".encode(encoding))
    result = import_file(ws, tmp_path / "notes.md")
    assert [s["title"] for s in result["sections"]] == ["Café"]
    assert post_detail(ws, result["post_id"])["sections"][0]["fields"]["draft"] == "Naïve résumé."


def test_a_draft_in_an_old_encoding_says_what_to_do(ws, tmp_path):
    (tmp_path / "old.md").write_bytes("## Café\n\nNaïve.\n".encode("cp1252"))
    with pytest.raises(DraftError, match=r"not saved as UTF-8.*save it again with the encoding UTF-8"):
        import_file(ws, tmp_path / "old.md")


def test_hugo_toml_front_matter_is_read_like_yaml(ws, tmp_path):
    (tmp_path / "hugo.md").write_text("+++\ntitle = 'From Hugo'\ntags = ['a', 'b']\ndate = 2024-05-01\n"
                                      "[params]\nmood = 'calm'\n+++\n## S\n\nText.\n")
    result = import_file(ws, tmp_path / "hugo.md")
    post = post_detail(ws, result["post_id"])
    assert post["title"] == "From Hugo"
    assert [s["title"] for s in result["sections"]] == ["S"]
    assert post["sections"][0]["fields"]["draft"] == "Text."
    assert load_front_matter(post["fields"][FRONT_MATTER]) == {"tags": ["a", "b"], "date": datetime.date(2024, 5, 1),
                                                               "params": {"mood": "calm"}}


@pytest.mark.parametrize(("text", "message"), [
    ("+++\ntitle = \n+++\n## S\n\nText.\n", "is not valid TOML (line 2"),
    ("+++\ntitle = 'x'\n\n## S\n\nText.\n", "is not closed: add a line with +++ after it"),
])
def test_broken_toml_front_matter_is_named(ws, tmp_path, text, message):
    (tmp_path / "hugo.md").write_text(text)
    before = _counts(ws)
    with pytest.raises(DraftError, match=re.escape(message)):
        import_file(ws, tmp_path / "hugo.md")
    assert _counts(ws) == before


def test_front_matter_that_expands_a_billion_times_is_refused(ws, tmp_path):
    # "Billion laughs": nine levels of aliases; printing it (the HTML export's meta tags) would never end.
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 10)]
    (tmp_path / "laughs.md").write_text("---\n" + "\n".join(levels) + "\n---\n## S\n\nText.\n")
    before = _counts(ws)
    with pytest.raises(DraftError, match="repeats values with YAML anchors"):
        import_file(ws, tmp_path / "laughs.md")
    assert _counts(ws) == before


def test_html_text_that_shows_a_tag_stays_text(ws, tmp_path):
    # A page about HTML shows "<script>" as words (&lt;script&gt;); in the Markdown it must not become a real tag
    # that a static site generator would pass through to its page.
    (tmp_path / "howto.html").write_text("<h2>Tags</h2><p>Write &lt;script&gt;alert(1)&lt;/script&gt; and "
                                         "&lt;!-- a comment --&gt;; 3 &lt; 4 &amp; <code>&lt;b&gt;</code>.</p>")
    result = import_file(ws, tmp_path / "howto.html")
    body = post_detail(ws, result["post_id"])["sections"][0]["fields"]["draft"]
    assert body == "Write \\<script>alert(1)\\</script> and \\<!-- a comment -->; 3 < 4 & `<b>`."
    from wfdesk.rendering.markdown import render_html

    assert render_html(body) == ("<p>Write &lt;script&gt;alert(1)&lt;/script&gt; and &lt;!-- a comment --&gt;; "
                                 "3 &lt; 4 &amp; <code>&lt;b&gt;</code>.</p>\n")


def test_embedded_images_in_formats_a_post_cannot_hold_are_left_out_with_a_note(ws, tmp_path):
    # Word keeps charts as EMF and icons as SVG; their base64 must not end up in the section's text (and the LLM's).
    blob = base64.b64encode(b"\x01\x00\x00\x00" * 4000).decode()
    (tmp_path / "chart.html").write_text(
        f'<h2>Sales</h2><p>See the chart: <img alt="Q3 chart" src="data:image/x-emf;base64,{blob}"> and the icon '
        f'<img src="data:image/svg+xml;base64,PHN2Zy8+">. Done.</p>')
    result = import_file(ws, tmp_path / "chart.html")
    body = post_detail(ws, result["post_id"])["sections"][0]["fields"]["draft"]
    assert "data:" not in body
    assert blob[:40] not in body
    assert body.startswith("See the chart:")
    assert body.endswith(". Done.")
    assert any("2 embedded images" in note and "left out" in note for note in result["notes"]), result["notes"]
