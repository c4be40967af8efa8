"""`wordpress_publish` against a loopback server that speaks the WordPress REST API (posts and media)."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from typing import ClassVar

import pytest

from wfdesk.content import post_fields as pf
from wfdesk.content.post_import import import_file
from wfdesk.db.models import WorkflowStepEntity
from wfdesk.errors import ConfigError
from wfdesk.scripts.registry import SCRIPT_TYPES, execute_step_script
from wfdesk.services import editing
from wfdesk.services.queries import post_detail

from content_drafts import draft_folder
from loopback_wordpress import WordPressServer

PASSWORD = "abcd EFGH 1234 ijkl MNOP 6789"


@pytest.fixture(scope="module")
def wp_server():
    with WordPressServer() as server:
        yield server


@pytest.fixture
def wp(wp_server, monkeypatch):
    wp_server.reset()
    wp_server.add_user("editor", PASSWORD)
    monkeypatch.setenv("WFDESK_WORDPRESS_APP_PASSWORD", PASSWORD)
    return wp_server


def _step(ws, site: str, **params) -> int:
    config = {"inputs": {}, "outputs": {},
              "script_config": {"type": "wordpress_publish",
                                "parameters": {"site_url": site, "username": "editor", "timeout": 10, **params}}}
    with ws.db.session() as s:
        step = WorkflowStepEntity(name="publish_to_wordpress", stage="Publishing", position=9, config=config)
        s.add(step)
        s.flush()
        return step.id


@pytest.fixture
def post(ws, tmp_path):
    return import_file(ws, draft_folder(tmp_path) / "highlands.md")


def _fields(ws, post_id: int) -> dict:
    return post_detail(ws, post_id)["fields"]


def test_first_publish_creates_a_draft_with_media_and_featured_image(ws, wp, post):
    step = _step(ws, wp.site_url)
    result = execute_step_script(step, post["post_id"], {})
    assert result["success"], result
    assert list(wp.posts)
    assert len(wp.posts) == 1
    remote = next(iter(wp.posts.values()))
    assert remote["status"] == "draft"
    assert remote["title"]["raw"] == "A Week in the Highlands"
    html = remote["content"]["raw"]
    assert "<h2>Glen Affric</h2>" in html
    assert "<strong>Caledonian pines</strong>" in html
    assert "<table>" in html
    assert len(wp.media) == 2
    urls = {m["source_url"] for m in wp.media.values()}
    assert all(url in html for url in urls)  # the images in the content are the uploaded media
    glen = next(m for m in wp.media.values() if m["alt_text"] == "Pines above the loch")
    assert remote["featured_media"] == glen["id"]  # the first section image is the featured image
    for call in wp.calls("POST", "/wp-json/wp/v2/media"):
        if call["path"] == "/wp-json/wp/v2/media":
            assert call["headers"]["content-disposition"].startswith('attachment; filename="')
            assert call["headers"]["content-type"] == "image/png"
        assert call["headers"]["authorization"].startswith("Basic ")
    fields = _fields(ws, post["post_id"])
    assert fields[pf.WORDPRESS_POST_ID] == str(remote["id"])
    assert fields[pf.WORDPRESS_LINK] == remote["link"]
    assert fields[pf.WORDPRESS_STATUS] == "draft"
    assert fields[pf.WORDPRESS_MODIFIED_GMT] == remote["modified_gmt"]
    assert result["results"][0]["link"] == remote["link"]


def test_republish_updates_the_same_post_without_uploading_again(ws, wp, post):
    step = _step(ws, wp.site_url)
    assert execute_step_script(step, post["post_id"], {})["success"]
    uploads = len([c for c in wp.calls("POST", "/wp-json/wp/v2/media") if c["path"] == "/wp-json/wp/v2/media"])
    section = post_detail(ws, post["post_id"])["sections"][2]
    editing.save_field(ws, post["post_id"], section["id"], "draft", "A new text for the coast.",
                       section["locks"]["draft"])
    result = execute_step_script(step, post["post_id"], {})
    assert result["success"], result
    assert len(wp.posts) == 1
    remote = next(iter(wp.posts.values()))
    assert "A new text for the coast." in remote["content"]["raw"]
    assert len([c for c in wp.calls("POST", "/wp-json/wp/v2/media")
                if c["path"] == "/wp-json/wp/v2/media"]) == uploads == 2
    assert _fields(ws, post["post_id"])[pf.WORDPRESS_MODIFIED_GMT] == remote["modified_gmt"]


def test_a_post_changed_on_the_site_is_reported_not_overwritten(ws, wp, post):
    step = _step(ws, wp.site_url)
    assert execute_step_script(step, post["post_id"], {})["success"]
    remote_id = next(iter(wp.posts))
    wp.edit_on_site(remote_id, "Fixed a typo in wp-admin.")
    posts_before = len(wp.calls("POST", "/wp-json/wp/v2/posts"))
    result = execute_step_script(step, post["post_id"], {})
    assert not result["success"]
    error = result["results"][0]["error"]
    assert "changed on 127.0.0.1" in error
    assert "Nothing was sent" in error
    assert wp.posts[remote_id]["content"]["raw"] == "Fixed a typo in wp-admin."
    assert len(wp.calls("POST", "/wp-json/wp/v2/posts")) == posts_before
    # The editor decides to replace it.
    result = execute_step_script(step, post["post_id"], {"parameters": {"overwrite_remote_changes": True}})
    assert result["success"], result
    assert "<h2>Glen Affric</h2>" in wp.posts[remote_id]["content"]["raw"]


def test_a_remote_post_deleted_on_the_site_gets_a_new_draft(ws, wp, post):
    step = _step(ws, wp.site_url)
    assert execute_step_script(step, post["post_id"], {})["success"]
    wp.posts.clear()
    result = execute_step_script(step, post["post_id"], {})
    assert result["success"]
    assert "is gone from the site" in result["results"][0]["metadata"]["notes"][0]
    assert _fields(ws, post["post_id"])[pf.WORDPRESS_POST_ID] == str(next(iter(wp.posts)))


def _failed(ws, wp, post, step) -> str:
    result = execute_step_script(step, post["post_id"], {})
    assert not result["success"]
    assert pf.WORDPRESS_POST_ID not in _fields(ws, post["post_id"])
    return result["results"][0]["error"]


def test_wrong_application_password_is_401(ws, wp, post, monkeypatch):
    monkeypatch.setenv("WFDESK_WORDPRESS_APP_PASSWORD", "wrong pass word here")
    error = _failed(ws, wp, post, _step(ws, wp.site_url))
    assert "refused the user name “editor” or its application password" in error
    assert "invalid application password" in error
    assert not wp.posts
    assert not wp.media


def test_user_without_the_right_role_is_403(ws, wp, post):
    wp.add_user("editor", PASSWORD, caps={"read"})
    error = _failed(ws, wp, post, _step(ws, wp.site_url))
    assert "is not allowed to upload the image" in error
    assert "Author or Editor role" in error
    assert not wp.posts
    assert not wp.media


def test_an_image_too_large_for_the_site_is_413(ws, wp, post):
    wp.max_upload = 50  # bytes: the front server refuses every image
    error = _failed(ws, wp, post, _step(ws, wp.site_url))
    assert "larger than the site accepts" in error
    assert not wp.posts


def test_a_site_that_does_not_answer_in_time(ws, wp, post):
    wp.delay = 2.0
    error = _failed(ws, wp, post, _step(ws, wp.site_url, timeout=0.3))
    assert "did not answer within 0.3 s" in error


def test_media_uploaded_before_a_failure_is_not_uploaded_again(ws, wp, post):
    wp.add_user("editor", PASSWORD, caps={"upload_files"})  # may upload, may not write posts
    step = _step(ws, wp.site_url)
    error = _failed(ws, wp, post, step)
    assert "not allowed to create the draft" in error
    assert len(wp.media) == 2, [(r["method"], r["path"]) for r in wp.requests]
    wp.add_user("editor", PASSWORD, caps={"upload_files", "edit_posts"})
    assert execute_step_script(step, post["post_id"], {})["success"]
    assert len(wp.media) == 2
    assert len(wp.posts) == 1


def test_without_an_application_password_nothing_is_sent(ws, wp, post, monkeypatch):
    monkeypatch.delenv("WFDESK_WORDPRESS_APP_PASSWORD")
    with pytest.raises(ConfigError) as err:
        execute_step_script(_step(ws, wp.site_url), post["post_id"], {})
    assert "no application password is kept for editor" in str(err.value)
    assert wp.requests == []


def test_site_address_and_user_are_checked(ws, wp, post):
    with pytest.raises(ConfigError) as err:
        execute_step_script(_step(ws, "blog.example.com", username=""), post["post_id"], {})
    assert "site_url" in str(err.value)
    assert "username" in str(err.value)


def test_the_application_password_comes_from_the_keyring(ws, wp, post, monkeypatch):
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1
        store: ClassVar[dict[tuple[str, str], str]] = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        from wfdesk.content.wordpress_auth import set_app_password

        monkeypatch.delenv("WFDESK_WORDPRESS_APP_PASSWORD")
        set_app_password(wp.site_url, "editor", PASSWORD)
        assert ("wfdesk", f"wordpress:editor@{wp.site_url.split('//')[1]}") in MemoryKeyring.store
        assert execute_step_script(_step(ws, wp.site_url), post["post_id"], {})["success"]
    finally:
        keyring.set_keyring(previous)


def test_registered_through_the_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group="wfdesk.script_types")}
    assert names["wordpress_publish"] == "wfdesk.scripts.wordpress_publish:PLUGIN"
    info = SCRIPT_TYPES["wordpress_publish"]
    assert info.source.startswith("wfdesk ")
    assert info.panel.endswith(":WordPressPublishPanel")


def test_media_map_is_kept_per_site(ws, wp, post):
    assert execute_step_script(_step(ws, wp.site_url), post["post_id"], {})["success"]
    media = json.loads(_fields(ws, post["post_id"])[pf.WORDPRESS_MEDIA])
    assert list(media) == [wp.site_url]
    assert len(media[wp.site_url]) == 2


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_site_that_redirects_elsewhere_is_named_and_nothing_follows_it(ws, wp, post, status):
    # Another site that would accept the same user: neither the password nor the post may reach it.
    with WordPressServer() as other:
        other.add_user("editor", PASSWORD)
        wp.redirect = (status, other.site_url)
        error = _failed(ws, wp, post, _step(ws, wp.site_url))
        assert other.requests == []
        assert not other.posts
        assert not other.media
    assert f"sends its requests on to {other.site_url}" in error
    assert "site address" in error
    assert PASSWORD not in error
    assert PASSWORD.replace(" ", "") not in error
    assert pf.WORDPRESS_POST_ID not in _fields(ws, post["post_id"])


PHP_FATAL = (b"<!DOCTYPE html>\n<html><head><title>WordPress &rsaquo; Error</title><style>body{color:#444}</style>"
             b"</head><body id=\"error-page\"><div class=\"wp-die-message\"><p>There has been a critical error on this "
             b"website.</p></div></body></html>")


@pytest.mark.parametrize(("answer", "words"), [
    ((200, "text/html; charset=UTF-8", b"<html><body>Welcome to my blog</body></html>"),
     "did not answer like a WordPress site"),
    ((200, "application/json", b'"ok"'), "did not answer like a WordPress site"),
    ((200, "application/json", b"[1, 2, 3]"), "did not answer like a WordPress site"),
    ((500, "text/html; charset=UTF-8", PHP_FATAL), "answered 500 when trying to upload the image"),
    ((502, "text/html", b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
                        b"</h1></center><hr><center>nginx</center></body></html>"), "answered 502"),
])
def test_answers_that_are_not_wordpress_json_are_plain_messages(ws, wp, post, answer, words):
    wp.answer = answer
    error = _failed(ws, wp, post, _step(ws, wp.site_url))
    assert words in error
    assert "<" not in error, error
    assert "{" not in error, error
    assert "Error:" not in error, error
    if answer[0] == 500:
        assert "There has been a critical error on this website." in error


@pytest.mark.parametrize("link", ["file:///home/editor/.bashrc", "javascript:alert(1)", "smb://host/share/x.exe"])
def test_a_post_link_that_is_not_a_web_address_is_not_kept(ws, wp, post, link):
    # The panel shows the link as a clickable link: only a web address may be opened from it.
    wp.link_for = lambda item: link
    result = execute_step_script(_step(ws, wp.site_url), post["post_id"], {})
    assert result["success"], result
    fields = _fields(ws, post["post_id"])
    assert fields[pf.WORDPRESS_POST_ID] == str(next(iter(wp.posts)))
    assert fields.get(pf.WORDPRESS_LINK, "") == ""
    assert link not in json.dumps(result)


def test_an_image_deleted_from_the_media_library_is_uploaded_again(ws, wp, post):
    step = _step(ws, wp.site_url)
    assert execute_step_script(step, post["post_id"], {})["success"]
    remote = next(iter(wp.posts.values()))
    featured = remote["featured_media"]
    del wp.media[featured]  # someone tidied the media library on the site
    result = execute_step_script(step, post["post_id"], {})
    assert result["success"], result
    remote = next(iter(wp.posts.values()))
    assert remote["featured_media"] in wp.media
    assert remote["featured_media"] != featured
    assert len(wp.media) == 2  # only the deleted one went up again
    assert all(m["source_url"] in remote["content"]["raw"] for m in wp.media.values())
    assert result["results"][0]["metadata"]["uploaded"] == 1


def test_a_remote_post_in_the_trash_gets_a_new_draft(ws, wp, post):
    step = _step(ws, wp.site_url)
    assert execute_step_script(step, post["post_id"], {})["success"]
    trashed = next(iter(wp.posts))
    wp.posts[trashed]["status"] = "trash"  # moved to the bin in wp-admin: updating it would hide the work there
    result = execute_step_script(step, post["post_id"], {})
    assert result["success"], result
    assert "in the site's trash" in result["results"][0]["metadata"]["notes"][0]
    new_id = int(_fields(ws, post["post_id"])[pf.WORDPRESS_POST_ID])
    assert new_id != trashed
    assert wp.posts[new_id]["status"] == "draft"
    assert wp.posts[trashed]["status"] == "trash"


def test_the_title_is_sent_as_text_not_html(ws, wp, tmp_path):
    # WordPress keeps a title as HTML and themes print it as it is: a title that came in with a draft from the web
    # must arrive as the words it is, not as markup (an administrator's account does not filter it).
    (tmp_path / "t.md").write_text("---\ntitle: '<img src=x onerror=alert(1)> Q&A'\n---\n## S\n\nText.\n")
    post = import_file(ws, tmp_path / "t.md")
    assert execute_step_script(_step(ws, wp.site_url), post["post_id"], {})["success"]
    remote = next(iter(wp.posts.values()))
    assert remote["title"]["raw"] == "&lt;img src=x onerror=alert(1)&gt; Q&amp;A"


@pytest.mark.parametrize("pasted", [PASSWORD.replace(" ", "\u00a0"), f"  {PASSWORD}\n", PASSWORD.replace(" ", "\t")])
def test_an_application_password_pasted_with_odd_spaces_works(ws, wp, post, monkeypatch, pasted):
    # Copied from a web page, the groups may be separated by no-break spaces (or the copy picks up a line end).
    monkeypatch.setenv("WFDESK_WORDPRESS_APP_PASSWORD", pasted)
    result = execute_step_script(_step(ws, wp.site_url), post["post_id"], {})
    assert result["success"], result


def test_an_application_password_with_characters_wordpress_never_uses_is_named(ws, wp, post, monkeypatch):
    monkeypatch.setenv("WFDESK_WORDPRESS_APP_PASSWORD", "‘" + PASSWORD + "’")  # smart quotes picked up in a copy
    error = _failed(ws, wp, post, _step(ws, wp.site_url))
    assert "application password" in error
    assert "paste it again" in error
    assert PASSWORD not in error
    assert "Error" not in error
    assert "latin" not in error
    assert wp.requests == []
