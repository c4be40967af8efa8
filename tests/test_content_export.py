"""Exporting a post as Markdown, HTML and a page bundle; the body field choice; the Markdown round trip; the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import frontmatter
import pytest

from wfdesk.content.export import export_post
from wfdesk.content.post_import import import_file
from wfdesk.services import editing
from wfdesk.services.queries import post_detail

from content_drafts import draft_folder


def _links(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


@pytest.fixture
def imported(ws, tmp_path):
    folder = draft_folder(tmp_path)
    return import_file(ws, folder / "highlands.md"), folder


def test_markdown_export_has_front_matter_sections_and_working_image_links(ws, tmp_path, imported):
    result, folder = imported
    out = tmp_path / "out"
    exported = export_post(ws, result["post_id"], "markdown", out)
    document = exported.files[0]
    assert document == out / "a-week-in-the-highlands.md"
    doc = frontmatter.loads(document.read_text())
    assert list(doc.metadata)[:2] == ["title", "status"]
    assert doc.metadata["title"] == "A Week in the Highlands"
    assert doc.metadata["status"] == "draft"
    assert doc.metadata["author"] == "Morag"
    assert doc.metadata["tags"] == ["travel", "scotland"]
    headings = re.findall(r"^## (.+)$", doc.content, re.MULTILINE)
    assert headings == ["Introduction", "Glen Affric", "The Coast Road", "Home"]
    links = _links(doc.content)
    assert len(links) == 2
    for link in links:
        assert not Path(link).is_absolute()
        assert link.startswith("images/")
        assert (document.parent / link).is_file()  # a working relative link
    glen = (folder / "images" / "glen.png").read_bytes()
    assert (document.parent / links[0]).read_bytes() == glen
    # The section's accepted image comes right under its heading, with its alt text.
    assert re.search(r"## Glen Affric\n\n!\[Pines above the loch\]\(images/[0-9a-f]{16}\.png\)\n\nThe old",
                     doc.content)
    assert sorted(map(str, exported.files[1:])) == sorted(str(document.parent / link) for link in links)
    assert exported.fell_back == []


def test_body_field_is_the_first_filled_step_output_then_draft(demo, tmp_path):
    ws = demo
    post = post_detail(ws, 53)
    first, second, _third = (s["id"] for s in post["sections"])
    editing.save_field(ws, 53, first, "polished", "Polished text.", None)
    editing.save_field(ws, 53, second, "draft", "Only a draft.", post["sections"][1]["locks"].get("draft"))
    exported = export_post(ws, 53, "markdown", tmp_path / "out")
    text = exported.files[0].read_text()
    assert "Polished text." in text
    assert "Only a draft." in text
    titles = [s["title"] for s in post["sections"]]
    fell = dict(exported.fell_back)
    assert titles[0] not in fell
    assert fell[titles[1]] == "draft"
    assert any("used draft" in line for line in exported.summary())
    # An explicit choice: draft everywhere (the polished one falls back to nothing and says so).
    chosen = export_post(ws, 53, "markdown", tmp_path / "out2", body_field="draft")
    assert "Polished text." not in chosen.files[0].read_text()
    assert titles[1] not in dict(chosen.fell_back)


def test_html_export_is_one_self_contained_page(ws, tmp_path, imported):
    result, _ = imported
    exported = export_post(ws, result["post_id"], "html", tmp_path / "out")
    assert len(exported.files) == 1
    page = exported.files[0].read_text()
    assert page.startswith("<!doctype html>")
    assert "<title>A Week in the Highlands</title>" in page
    assert "<h2>Glen Affric</h2>" in page
    assert "<strong>Caledonian pines</strong>" in page
    assert "<table>" in page
    assert "<blockquote>" in page
    assert '<meta name="author" content="Morag">' in page
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == 2
    assert all(src.startswith("data:image/png;base64,") for src in srcs)
    assert "max-width" in page  # typography


def test_html_export_with_an_images_folder(ws, tmp_path, imported):
    result, _ = imported
    exported = export_post(ws, result["post_id"], "html-folder", tmp_path / "out")
    page = exported.files[0]
    srcs = re.findall(r'<img src="([^"]+)"', page.read_text())
    assert len(srcs) == 2
    assert all((page.parent / src).is_file() for src in srcs)


def test_bundle_is_index_md_with_images_beside_it(ws, tmp_path, imported):
    result, _ = imported
    exported = export_post(ws, result["post_id"], "bundle", tmp_path / "out")
    index = exported.files[0]
    assert index == tmp_path / "out" / "a-week-in-the-highlands" / "index.md"
    doc = frontmatter.loads(index.read_text())
    assert doc.metadata["draft"] is True
    assert doc.metadata["title"] == "A Week in the Highlands"
    assert all((index.parent / link).is_file() for link in _links(doc.content))
    assert all(f.parent.parent == index.parent for f in exported.files[1:])


def test_markdown_round_trip_gives_the_same_sections_text_and_images(ws, tmp_path, imported):
    result, _ = imported
    first = export_post(ws, result["post_id"], "markdown", tmp_path / "one")
    again = import_file(ws, first.files[0])
    before, after = post_detail(ws, result["post_id"]), post_detail(ws, again["post_id"])
    assert after["title"] == before["title"]
    assert [(s["title"], s["fields"].get("draft")) for s in after["sections"]] == \
        [(s["title"], s["fields"].get("draft")) for s in before["sections"]]
    assert after["fields"]["front_matter"] == before["fields"]["front_matter"]
    second = export_post(ws, again["post_id"], "markdown", tmp_path / "two")
    assert second.files[0].read_text() == first.files[0].read_text()
    assert [f.read_bytes() for f in second.files[1:]] == [f.read_bytes() for f in first.files[1:]]


def test_round_trip_of_a_post_written_in_the_app(demo, tmp_path):
    ws = demo
    post = post_detail(ws, 53)
    texts = ["First *para*.\n\n- one\n- two", "Code:\n\n```\nx = 1\n```", "> quoted\n\n[link](https://e.org)"]
    for section, text in zip(post["sections"], texts, strict=True):
        editing.save_field(ws, 53, section["id"], "draft", text, section["locks"].get("draft"))
    exported = export_post(ws, 53, "markdown", tmp_path / "out")
    again = post_detail(ws, import_file(ws, exported.files[0])["post_id"])
    assert [s["title"] for s in again["sections"]] == [s["title"] for s in post["sections"]]
    assert [s["fields"]["draft"] for s in again["sections"]] == texts


def test_cli_export_post_writes_and_lists_files(ws, db_url, tmp_path, monkeypatch, imported):
    from wfdesk.cli import main

    result, _ = imported
    monkeypatch.setenv("WFDESK_DATABASE_URL", db_url)
    monkeypatch.setenv("WFDESK_DATA_DIR", str(ws.data_dir))
    for fmt, suffix, count in (("markdown", ".md", 3), ("html", ".html", 1), ("bundle", "index.md", 3)):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["export-post", "--post", str(result["post_id"]), "--format", fmt,
                         "--out", str(tmp_path / fmt)])
        assert code == 0, err.getvalue()
        files = json.loads(out.getvalue())["files"]
        assert len(files) == count
        assert files[0].endswith(suffix)
        assert all(Path(f).is_file() for f in files)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["export-post", "--post", "999", "--format", "markdown", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "Post 999 does not exist" in err.getvalue()


def test_draft_in_workflow_run_markdown_out(demo, loopback, tmp_path):
    """The whole path: a Markdown draft becomes a post, the reference workflow polishes it and illustrates a section,
    and the Markdown export uses the polished text and links the accepted generated image."""
    from wfdesk.db import content
    from wfdesk.scripts.registry import execute_step_script

    ws = demo
    result = import_file(ws, draft_folder(tmp_path) / "highlands.md")
    post_id, ids = result["post_id"], [s["id"] for s in result["sections"]]
    loopback.chat_reply = lambda req: "Polished: " + req["messages"][-1]["content"][-20:]
    polished = execute_step_script(1, post_id, {"section_ids": ids})
    assert polished["success"], polished
    image_run = execute_step_script(2, post_id, {"section_ids": [ids[2]],
                                                 "inputs": {"image_prompts": "Slate-grey sea at Cullen"},
                                                 "parameters": {"auto_accept": True}})
    assert image_run["success"], image_run
    exported = export_post(ws, post_id, "markdown", tmp_path / "out")
    doc = frontmatter.loads(exported.files[0].read_text())
    assert exported.fell_back == []
    assert doc.content.count("Polished: ") == 4
    coast = doc.content.split("## The Coast Road", 1)[1].split("## Home", 1)[0]
    link = _links(coast)[0]
    assert (exported.files[0].parent / link).is_file()
    with ws.db.session() as s:
        versions = content.versions_of(s, post_id, ids[2], "generated_image_url")
        stored = ws.data_dir / versions[-1].value
    assert (exported.files[0].parent / link).read_bytes() == stored.read_bytes()
    assert re.search(r"!\[[^\]]*Cullen[^\]]*\]", coast)  # alt text from the image's prompt


def test_cli_import_then_export_as_a_user_runs_them(db_url, tmp_path):
    """`python -m wfdesk import-post` and `export-post` in a subprocess, as scripts and checks call them."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "WFDESK_DATABASE_URL": db_url, "WFDESK_DATA_DIR": str(tmp_path / "data"),
           "WFDESK_CONFIG_DIR": str(tmp_path / "config")}

    def wfdesk(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "wfdesk", *args], capture_output=True, text=True, env=env,
                              timeout=120)

    imported = wfdesk("import-post", str(draft_folder(tmp_path) / "highlands.md"))
    assert imported.returncode == 0, imported.stderr
    post = json.loads(imported.stdout)
    exported = wfdesk("export-post", "--post", str(post["post_id"]), "--format", "bundle", "--out",
                      str(tmp_path / "site"))
    assert exported.returncode == 0, exported.stderr
    files = json.loads(exported.stdout)["files"]
    assert files[0].endswith("index.md")
    assert len(files) == 3
    bad = wfdesk("import-post", str(tmp_path / "nothing.md"))
    assert bad.returncode == 2
    assert "does not exist" in bad.stderr
    assert bad.stdout == ""


# --- second pass: exports that must not destroy what is already in the folder ---------------------------------------

def test_export_never_overwrites_a_different_file(ws, tmp_path):
    # The editor exports next to the draft the post came from: the draft has the export's name but other text.
    folder = tmp_path / "drafts"
    folder.mkdir()
    draft = folder / "my-trip.md"
    draft.write_text("---\ntitle: My trip\n---\n## Day one\n\nWritten by hand.\n")
    post = import_file(ws, draft)
    section = post_detail(ws, post["post_id"])["sections"][0]
    editing.save_field(ws, post["post_id"], section["id"], "draft", "Edited in the app.", section["locks"]["draft"])
    exported = export_post(ws, post["post_id"], "markdown", folder)
    assert draft.read_text() == "---\ntitle: My trip\n---\n## Day one\n\nWritten by hand.\n"
    assert exported.files[0] == folder / "my-trip-2.md"
    assert "Edited in the app." in exported.files[0].read_text()
    assert any("my-trip.md" in line and "my-trip-2.md" in line for line in exported.summary())
    # Exporting the same post again writes the same file: an identical file is not a reason for a new name.
    assert export_post(ws, post["post_id"], "markdown", folder).files[0] == folder / "my-trip-2.md"
    bundle_dir = tmp_path / "site"
    (bundle_dir / "my-trip").mkdir(parents=True)
    (bundle_dir / "my-trip" / "index.md").write_text("someone else's page")
    bundle = export_post(ws, post["post_id"], "bundle", bundle_dir)
    assert bundle.files[0] == bundle_dir / "my-trip-2" / "index.md"
    assert (bundle_dir / "my-trip" / "index.md").read_text() == "someone else's page"


@pytest.mark.parametrize(("title", "name"), [("CON", "con-post.md"), ("nul", "nul-post.md"), ("Com1", "com1-post.md"),
                                             ("../../x", "x.md"), ("..", "post.md"), ("LPT9.", "lpt9-post.md")])
def test_export_file_names_are_safe_on_every_system(ws, tmp_path, title, name):
    from wfdesk.db.models import Post

    (tmp_path / "d.md").write_text("## S\n\nText.\n")
    post_id = import_file(ws, tmp_path / "d.md")["post_id"]
    with ws.db.session() as s:
        s.get(Post, post_id).title = title
    exported = export_post(ws, post_id, "markdown", tmp_path / "out")
    assert exported.files[0] == tmp_path / "out" / name


def test_section_titles_written_in_the_app_survive_the_markdown_round_trip(ws, tmp_path):
    from wfdesk.db.models import PostSection

    titles = ["Intro ##", "Use `code` here", "*Stars*", "C# & F#", "snake_case_name", "[not](a link)",
              "<b>not bold</b>", "Q&amp;A", "100% \\ done", "Ends with a backslash \\"]
    (tmp_path / "d.md").write_text("".join(f"## S{n}\n\nText {n}.\n\n" for n in range(len(titles))))
    post_id = import_file(ws, tmp_path / "d.md")["post_id"]
    with ws.db.session() as s:
        for section, title in zip(post_detail(ws, post_id)["sections"], titles, strict=True):
            s.get(PostSection, section["id"]).title = title
    exported = export_post(ws, post_id, "markdown", tmp_path / "out")
    again = post_detail(ws, import_file(ws, exported.files[0])["post_id"])
    assert [s["title"] for s in again["sections"]] == titles
    assert [s["fields"]["draft"] for s in again["sections"]] == [f"Text {n}." for n in range(len(titles))]


def test_front_matter_with_dates_and_nested_values_round_trips(ws, tmp_path):
    text = ("---\ntitle: Dated\ndate: 2024-01-05T10:00:00+02:00\nlastmod: 2024-02-01\n"
            "publishDate: 2024-01-05T08:00:00Z\ntags: [a, b]\n"
            "params:\n  series: {name: Trips, part: 2}\n  empty: null\n  flag: true\n"
            "aliases:\n  - /old/path/\nweight: 1.5\n---\n## S\n\nText.\n")
    (tmp_path / "dated.md").write_text(text)
    first = import_file(ws, tmp_path / "dated.md")
    exported = export_post(ws, first["post_id"], "markdown", tmp_path / "out")
    again = import_file(ws, exported.files[0])
    original, back = (frontmatter.loads(text).metadata, frontmatter.loads(exported.files[0].read_text()).metadata)
    assert {k: v for k, v in back.items() if k != "status"} == original
    assert post_detail(ws, again["post_id"])["fields"]["front_matter"] == \
        post_detail(ws, first["post_id"])["fields"]["front_matter"]


def test_a_folder_that_cannot_be_written_is_a_plain_message(ws, tmp_path, imported):
    from wfdesk.content.draft_read import DraftError

    result, _ = imported
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    with pytest.raises(DraftError) as err:
        export_post(ws, result["post_id"], "markdown", tmp_path / "notes.txt" / "out")
    message = str(err.value)
    assert "cannot write" in message.lower()
    assert "notes.txt" in message
    assert "Errno" not in message
    assert "Error" not in message
    assert not list(tmp_path.glob("**/a-week-in-the-highlands*"))


def test_the_self_contained_page_carries_no_script_from_a_hostile_draft(ws, tmp_path):
    # Everything an attacker can put in a draft: raw HTML in Markdown, event handlers, javascript: links (also
    # disguised), a title and front matter that try to close their tags.
    (tmp_path / "x.md").write_text(
        "---\ntitle: '</title><script>alert(1)</script>'\nlang: 'en\"><script>alert(2)</script>'\n"
        "description: '\"><img src=x onerror=alert(3)>'\n---\n## <b onmouseover=alert(4)>Hi</b>\n\n"
        "<script>alert(5)</script> <img src=x onerror=alert(6)>\n\n[a](javascript:alert(7)) [b](JaVaScRiPt:alert(8)) "
        "[c](jav&#x09;ascript:alert(9)) [d](vbscript:x) [e](data:text/html;base64,PHNjcmlwdD4=) "
        "![f](javascript:alert(10)) <javascript:alert(11)>\n")
    post_id = import_file(ws, tmp_path / "x.md")["post_id"]
    page = export_post(ws, post_id, "html", tmp_path / "out").files[0].read_text()
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, "html.parser")  # as a browser reads it: elements and attributes, not text
    assert soup.find_all(["script", "iframe", "object", "embed"]) == []
    assert [(t.name, a) for t in soup.find_all(True) for a in t.attrs if a.lower().startswith("on")] == []
    for tag in soup.find_all(href=True) + soup.find_all(src=True):
        url = re.sub(r"[\x00-\x20]", "", tag.get("href") or tag.get("src")).lower()
        assert not url.startswith(("javascript:", "vbscript:", "data:text")), tag
    assert soup.title.string == "</title><script>alert(1)</script>"  # the title, as text
    assert "<script>alert(5)</script>" in soup.get_text()  # raw HTML in the draft is shown as the text it was
