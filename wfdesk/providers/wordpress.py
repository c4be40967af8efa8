"""A small client for the WordPress REST API's posts and media endpoints (application-password auth, requests).

Every call has a timeout; every failure becomes one plain sentence naming the site and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from wfdesk.errors import UnitError

API = "/wp-json/wp/v2"


@dataclass
class RemotePost:
    id: int
    link: str
    status: str
    modified_gmt: str
    featured_media: int = 0

    @classmethod
    def from_json(cls, data: Any, site: str) -> RemotePost:
        try:
            link = str(data.get("link") or "")
            # The panel shows it as a link to click: only a web address, never file:, javascript: or a share.
            link = link if urlsplit(link).scheme in ("http", "https") else ""
            return cls(id=int(data["id"]), link=link, status=str(data.get("status") or ""),
                       modified_gmt=str(data.get("modified_gmt") or ""),
                       featured_media=int(data.get("featured_media") or 0))
        except (KeyError, TypeError, ValueError):
            raise UnitError(f"{site} did not answer like a WordPress site (is the address right?)") from None


class RemoteNotFoundError(UnitError):
    """The remote post (or media) is gone."""


class WordPressClient:
    def __init__(self, site_url: str, username: str, app_password: str, timeout: float = 30) -> None:
        self.site = site_url.rstrip("/")
        self.host = urlsplit(self.site).netloc or self.site
        self.timeout = timeout
        # WordPress shows it in groups of four; copied from a page the gaps may be tabs or no-break spaces.
        secret = "".join(app_password.split())
        if not secret.isascii():  # Basic auth sends Latin-1; WordPress's own are letters and digits
            raise UnitError(f"The application password kept for “{username}” has characters WordPress never puts in "
                            f"one (such as curly quotes): paste it again in the WordPress panel.")
        self.session = requests.Session()
        self.session.auth = (username, secret)
        self.session.headers["Accept"] = "application/json"
        self.username = username

    def close(self) -> None:
        self.session.close()

    # --- posts ----------------------------------------------------------------------------------------------

    def get_post(self, post_id: int) -> RemotePost:
        data = self._call("GET", f"/posts/{post_id}", "read the post", params={"context": "edit"})
        return RemotePost.from_json(data, self.host)

    def create_post(self, fields: dict[str, Any]) -> RemotePost:
        return RemotePost.from_json(self._call("POST", "/posts", "create the draft", json=fields), self.host)

    def update_post(self, post_id: int, fields: dict[str, Any]) -> RemotePost:
        data = self._call("POST", f"/posts/{post_id}", "update the post", json=fields)
        return RemotePost.from_json(data, self.host)

    # --- media ----------------------------------------------------------------------------------------------

    def media_exists(self, media_id: int) -> bool:
        """Still in the site's media library (someone may have deleted it there since it was uploaded)?"""
        try:
            self._call("GET", f"/media/{int(media_id)}", "check an uploaded image")
        except RemoteNotFoundError:
            return False
        return True

    def upload_media(self, filename: str, data: bytes, mime: str, alt: str) -> dict[str, Any]:
        """Upload one image (raw body with Content-Disposition, as the media endpoint takes it); {"id", "url"}."""
        headers = {"Content-Type": mime, "Content-Disposition": f'attachment; filename="{filename}"'}
        answer = self._call("POST", "/media", f"upload the image {filename}", data=data, headers=headers)
        try:
            media = {"id": int(answer["id"]), "url": str(answer.get("source_url") or answer.get("link") or "")}
        except (KeyError, TypeError, ValueError):
            raise UnitError(f"{self.host} did not answer like a WordPress site while trying to upload the image "
                            f"{filename} (is the address right?)") from None
        if alt:
            self._call("POST", f"/media/{media['id']}", f"set the alt text of {filename}", json={"alt_text": alt})
        return media

    # --- plumbing -------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        url = f"{self.site}{API}{path}"
        try:
            # Redirects are not followed: a POST would turn into a GET (nothing saved, a puzzling answer) and the
            # application password is not for another address. The editor is told where the site went.
            resp = self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise UnitError(f"{self.host} did not answer within {self.timeout:g} s while trying to {what}; "
                            f"try again later") from None
        except requests.ConnectionError:
            raise UnitError(f"cannot reach {self.host} to {what}: check the site address and the network") from None
        except requests.RequestException as exc:
            raise UnitError(f"could not {what} on {self.host}: {exc}") from None
        if resp.is_redirect:
            target = _site_of(urljoin(url, resp.headers.get("location", "")))
            raise UnitError(f"{self.host} sends its requests on to {target}, so wfdesk could not {what}. If that is "
                            f"where the site now is, put that address as the site address in the step; nothing was "
                            f"sent there.")
        if resp.status_code >= 400:
            raise self._error(resp, what)
        try:
            return resp.json()
        except ValueError:
            raise UnitError(f"{self.host} did not answer like a WordPress site while trying to {what} "
                            f"(is the address right?)") from None

    def _error(self, resp: requests.Response, what: str) -> UnitError:
        code, message = "", ""
        try:
            body = resp.json()
            if isinstance(body, dict):
                code, message = str(body.get("code") or ""), str(body.get("message") or "")
        except ValueError:
            pass
        status = resp.status_code
        said = f" WordPress said: “{message}”" if message else ""
        if status == 401:
            return UnitError(f"{self.host} refused the user name “{self.username}” or its application password, "
                             f"so wfdesk could not {what}. Check both in the WordPress panel.{said}")
        if status == 403:
            return UnitError(f"The WordPress user “{self.username}” is not allowed to {what} on {self.host}. "
                             f"Ask the site's administrator for the Author or Editor role.{said}")
        if status == 413:
            return UnitError(f"{self.host} refused to {what}: it is larger than the site accepts. Make the image "
                             f"smaller or ask the site's administrator to raise the upload limit.")
        if status == 404 and code in ("rest_post_invalid_id", "rest_no_route", ""):
            if code == "rest_no_route" or not code:
                return UnitError(f"{self.host} has no WordPress REST API at {API} (is the address right, and is the "
                                 f"REST API enabled?)")
            return RemoteNotFoundError(f"The post is no longer on {self.host}.{said}")
        return UnitError(f"{self.host} answered {status} when trying to {what}.{said or _plain(resp)}")


def _plain(resp: requests.Response) -> str:
    """An error page in a few plain words (a PHP fatal error page, a proxy's 502), never its HTML."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(resp.text[:20000], "html.parser")
    for tag in soup(["head", "style", "script", "title"]):
        tag.decompose()
    words = " ".join(soup.get_text(" ").split())
    return f" The site said: “{words[:200]}”" if words else ""


def _site_of(url: str) -> str:
    """The site's address in a redirect's target: what comes before its REST API path."""
    head, sep, _ = url.partition(API.split("/v2")[0])
    if sep:
        return head.rstrip("/")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url[:200]
