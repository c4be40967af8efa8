"""`wordpress_publish`: the post's sections as a WordPress **draft**, created once and updated on re-publish.

One unit for the whole post. Its accepted images are uploaded as media once per site (the sha256 → media id map is
kept on the post; one deleted from the site's media library since is uploaded again), the first one is the
featured image. The remote post's id and modified_gmt are kept on the post;
a remote post changed since our last publish is reported, never overwritten silently. The post is rendered as the
content exporters render it (wfdesk.rendering, below this layer); the REST client is wfdesk.providers.wordpress.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from wfdesk.errors import Problem, UnitError
from wfdesk.rendering import post_fields as pf
from wfdesk.scripts.base import CancelToken, Job, OutputWrite, SectionHandler, UnitOutcome, UnitPlan
from wfdesk.scripts.config import Parameters, StepConfig
from wfdesk.workspace import Workspace


class WordPressParameters(Parameters):
    site_url: str = Field("", description="The site's address, e.g. https://blog.example.com")
    username: str = Field("", description="The WordPress user (its application password is kept in the keyring)")
    body_field: str | None = Field(None, description="The section field that is the body (default: the "
                                                     "workflow's text outputs in order, then draft)")
    timeout: float = Field(30, gt=0, le=600, description="Seconds per request")
    overwrite_remote_changes: bool = Field(False, description="Update even if the post was changed on the site")


class WordPressPublishHandler(SectionHandler[WordPressParameters]):
    script_type = "wordpress_publish"
    description = "Creates or updates a draft of the post on a WordPress site (REST API)."
    parameters_model = WordPressParameters
    default_concurrency = 1

    def check_config(self, ws: Workspace, config: StepConfig, params: WordPressParameters) -> list[Problem]:
        problems = []
        url = urlsplit(params.site_url or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(Problem("script_config.parameters.site_url",
                                    "must be the site's address, such as https://blog.example.com"))
        if not (params.username or "").strip():
            problems.append(Problem("script_config.parameters.username", "is required (the WordPress user)"))
        return problems

    def check(self, job: Job[WordPressParameters]) -> list[Problem]:
        from wfdesk.providers.wordpress_auth import PASSWORD_ENV, get_app_password

        params: WordPressParameters = job.parameters
        if not get_app_password(params.site_url, params.username):
            return [Problem("application password", f"no application password is kept for {params.username} on "
                                                    f"{params.site_url}: set it in the step's panel (or "
                                                    f"{PASSWORD_ENV})")]
        return []

    def plan(self, job: Job[WordPressParameters]) -> list[UnitPlan]:
        return [UnitPlan(section_id=None)]  # the whole post, whatever sections were ticked

    def execute(self, job: Job[WordPressParameters], unit: UnitPlan, cancel: CancelToken) -> UnitOutcome:
        from wfdesk.providers.wordpress import RemoteNotFoundError, WordPressClient
        from wfdesk.providers.wordpress_auth import get_app_password
        from wfdesk.rendering.html import sections_html
        from wfdesk.rendering.post_read import read_post

        params: WordPressParameters = job.parameters
        ws = job.workspace
        site = params.site_url.rstrip("/")
        post = read_post(ws, job.post.id, params.body_field)
        kept = post.post_fields
        same_site = kept.get(pf.WORDPRESS_SITE) == site
        remote_id = _int(kept.get(pf.WORDPRESS_POST_ID)) if same_site else None
        media = _media_map(kept.get(pf.WORDPRESS_MEDIA), site)
        client = WordPressClient(site, params.username, get_app_password(site, params.username) or "",
                                 params.timeout)
        notes: list[str] = []
        try:
            if remote_id:
                try:
                    remote = client.get_post(remote_id)
                except RemoteNotFoundError:
                    notes.append(f"the earlier draft (id {remote_id}) is gone from the site; a new draft was made")
                    remote_id = None
                if remote_id and remote.status == "trash":
                    notes.append(f"the earlier draft (id {remote_id}) is in the site's trash; a new draft was made")
                    remote_id = None
                elif remote_id:
                    remembered = kept.get(pf.WORDPRESS_MODIFIED_GMT)
                    if remembered and remote.modified_gmt != remembered and not params.overwrite_remote_changes:
                        raise UnitError(
                            f"The post was changed on {client.host} since wfdesk last published it (there at "
                            f"{remote.modified_gmt} UTC, ours at {remembered} UTC). Nothing was sent. Look at it "
                            f"on the site; to replace it anyway, tick “Replace changes made on the site”.")
            uploaded = 0
            for image in post.images():
                if cancel.cancelled:
                    raise UnitError("cancelled")
                if image.sha256 in media:
                    if client.media_exists(media[image.sha256].get("id", 0)):
                        continue
                    del media[image.sha256]  # deleted from the site's media library: uploaded again
                media[image.sha256] = client.upload_media(image.name.rsplit("/", 1)[-1], image.path.read_bytes(),
                                                          image.mime, image.alt)
                uploaded += 1
                _remember_media(job, site, media)  # kept at once: a later failure must not upload it again
            content = sections_html(post, lambda image: media[image.sha256]["url"])
            # WordPress keeps the title as HTML and themes print it unescaped: ours is text, so it is escaped.
            fields: dict[str, Any] = {"title": html.escape(post.title, quote=False), "content": content}
            featured = next((s.image for s in post.sections if s.image is not None), None) \
                or next(iter(post.images()), None)
            if featured is not None:
                fields["featured_media"] = media[featured.sha256]["id"]
            if remote_id:
                remote = client.update_post(remote_id, fields)  # its status stays what it is on the site
            else:
                remote = client.create_post({**fields, "status": "draft"})
        finally:
            client.close()
        writes = [OutputWrite(pf.WORDPRESS_SITE, site), OutputWrite(pf.WORDPRESS_POST_ID, str(remote.id)),
                  OutputWrite(pf.WORDPRESS_MODIFIED_GMT, remote.modified_gmt),
                  OutputWrite(pf.WORDPRESS_LINK, remote.link), OutputWrite(pf.WORDPRESS_STATUS, remote.status)]
        fell_back = [s.title for s in post.fell_back]
        metadata = {"site": site, "remote_id": remote.id, "status": remote.status, "uploaded": uploaded,
                    "images": len(post.images()), "fell_back": fell_back, "notes": notes}
        return UnitOutcome(outputs=writes, entry={"output": remote.link, "link": remote.link,
                                                  "remote_status": remote.status}, metadata=metadata)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _media_map(text: str | None, site: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return dict(data.get(site) or {}) if isinstance(data, dict) else {}


def _remember_media(job: Job[WordPressParameters], site: str, media: dict[str, dict[str, Any]]) -> None:
    from wfdesk.db import content

    with job.workspace.db.session() as s:
        field = content.get_field(s, job.post.id, None, pf.WORDPRESS_MEDIA)
        try:
            data = json.loads(field.value) if field is not None and field.value else {}
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        data[site] = media
        content.write_text(s, job.post.id, None, pf.WORDPRESS_MEDIA, json.dumps(data, sort_keys=True),
                           run_id=job.run_id)


execute_wordpress_publish = WordPressPublishHandler()
PLUGIN = execute_wordpress_publish.as_plugin(panel="wfdesk.ui.panels.wordpress_publish:WordPressPublishPanel")
