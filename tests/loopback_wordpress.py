"""A loopback HTTP server that answers like a WordPress site's REST API: /wp-json/wp/v2/posts and /media.

Shapes follow the REST API handbook and WordPress's controllers: application passwords over Basic auth (a wrong one
is 401 `incorrect_password`, none is 401 `rest_cannot_create`), a user without the capability gets 403
`rest_cannot_create`, an upload without Content-Disposition is 400 `rest_upload_no_content_disposition`, a missing
post is 404 `rest_post_invalid_id`, an unknown route 404 `rest_no_route`; bodies above `max_upload` get the HTML 413
page a front nginx sends (`client_max_body_size`); `delay` makes every answer slow (timeouts);
`redirect` sends every request elsewhere (a site that moved), `answer` gives every request the same raw
answer, `link_for` sets the link a post reports. Dates are GMT `YYYY-MM-DDTHH:MM:SS` and `modified_gmt` moves on
every change. Standard library only.

    with WordPressServer() as wp:
        wp.add_user("editor", "abcd EFGH 1234 ijkl MNOP 6789")
        ...  # wp.site_url, wp.posts, wp.media, wp.requests
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NGINX_413 = (b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 "
             b"Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


class WordPressServer:
    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.reset()

    # --- life ---------------------------------------------------------------------------------------------

    @property
    def site_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> WordPressServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="loopback-wordpress")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WordPressServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self.lock:
            self.generation = getattr(self, "generation", 0) + 1
            self.users: dict[str, tuple[str, set[str]]] = {}
            self.posts: dict[int, dict[str, Any]] = {}
            self.media: dict[int, dict[str, Any]] = {}
            self.requests: list[dict[str, Any]] = []
            self.next_id = 100
            self.clock = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
            self.max_upload: int | None = None
            self.delay = 0.0
            self.redirect: tuple[int, str] | None = None  # (status, address): every request is sent there
            self.answer: tuple[int, str, bytes] | None = None  # (status, content type, body) for every request
            self.link_for: Any = None  # post id -> the `link` the site reports (a hostile or odd site)

    def add_user(self, name: str, app_password: str, caps: set[str] | None = None) -> None:
        """An application password as WordPress shows it (groups of four); it is accepted with or without spaces."""
        self.users[name] = (app_password.replace(" ", ""), caps if caps is not None else {"edit_posts",
                                                                                          "upload_files"})

    def edit_on_site(self, post_id: int, content: str) -> None:
        """Someone changes the post in wp-admin."""
        with self.lock:
            post = self.posts[post_id]
            post["content"] = {"raw": content, "rendered": content, "protected": False}
            post["modified_gmt"] = self._tick()

    def calls(self, method: str, prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"].startswith(prefix)]

    # --- the API ------------------------------------------------------------------------------------------

    def _tick(self) -> str:
        self.clock += timedelta(seconds=37)
        return self.clock.strftime("%Y-%m-%dT%H:%M:%S")

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
               ) -> tuple[int, dict[str, str], bytes]:
        generation = self.generation
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            if generation != self.generation:  # a slow request of an earlier test must not land in this one
                return 503, {"Content-Type": "text/plain"}, b"reset"
            self.requests.append({"method": method, "path": path, "headers": headers, "size": len(body)})
            if self.answer is not None:  # a site that is not (or not only) WordPress: a cache page, a PHP error
                status, ctype, payload = self.answer
                return status, {"Content-Type": ctype}, payload
            if self.redirect is not None:  # a site that moved (http → https, another host), as its server says
                status, target = self.redirect
                return status, {"Location": f"{target.rstrip('/')}{path}", "Content-Type": "text/html"}, b""
            if self.max_upload is not None and len(body) > self.max_upload:
                return 413, {"Content-Type": "text/html"}, NGINX_413
            m = re.fullmatch(r"/wp-json/wp/v2/(posts|media)(?:/(\d+))?/?", path)
            if m is None:
                return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
            kind, item = m.group(1), int(m.group(2)) if m.group(2) else None
            user, problem = self._auth(headers)
            if problem is not None:
                return problem
            if method == "GET" and item is not None:
                return self._read(kind, item, user, query)
            if method != "POST":
                return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
            if kind == "posts":
                return self._save_post(item, user, body)
            return self._save_media(item, user, headers, body)

    def _auth(self, headers: dict[str, str]) -> tuple[str | None, tuple[int, dict[str, str], bytes] | None]:
        auth = headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return None, None
        name, _, password = base64.b64decode(auth[6:]).decode("utf-8", "replace").partition(":")
        if name not in self.users:
            return None, _error(401, "invalid_username", "Unknown username. Check again or try your email address.")
        if self.users[name][0] != password.replace(" ", ""):
            return None, _error(401, "incorrect_password", "The provided password is an invalid application "
                                                            "password.")
        return name, None

    def _caps(self, user: str | None) -> set[str]:
        return self.users[user][1] if user else set()

    def _read(self, kind: str, item: int, user: str | None, query: dict[str, list[str]]):
        store = self.posts if kind == "posts" else self.media
        if item not in store:
            return _error(404, "rest_post_invalid_id", "Invalid post ID.")
        if query.get("context") == ["edit"] and "edit_posts" not in self._caps(user):
            return _error(401 if user is None else 403, "rest_forbidden_context",
                          "Sorry, you are not allowed to edit this post.")
        return _json(200, store[item])

    def _save_post(self, item: int | None, user: str | None, body: bytes):
        if "edit_posts" not in self._caps(user):
            verb = "create posts" if item is None else "edit this post"
            return _error(401 if user is None else 403, "rest_cannot_create" if item is None else "rest_cannot_edit",
                          f"Sorry, you are not allowed to {verb} as this user.")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        if item is not None and item not in self.posts:
            return _error(404, "rest_post_invalid_id", "Invalid post ID.")
        featured = data.get("featured_media")
        if featured and featured not in self.media:
            return _error(400, "rest_invalid_featured_media", "Invalid featured media ID.")
        now = self._tick()
        if item is None:
            item = self.next_id
            self.next_id += 1
            self.posts[item] = {"id": item, "date": None, "date_gmt": None, "guid": {"rendered": ""},
                                "modified": now, "modified_gmt": now, "slug": "", "status": "draft", "type": "post",
                                "link": f"{self.site_url}/?p={item}", "title": {"raw": "", "rendered": ""},
                                "content": {"raw": "", "rendered": "", "protected": False}, "author": 1,
                                "featured_media": 0, "categories": [1], "tags": []}
            code = 201
        else:
            code = 200
        post = self.posts[item]
        if "title" in data:
            post["title"] = {"raw": data["title"], "rendered": data["title"]}
        if "content" in data:
            post["content"] = {"raw": data["content"], "rendered": data["content"], "protected": False}
        if "status" in data:
            post["status"] = data["status"]
        if "featured_media" in data:
            post["featured_media"] = data["featured_media"]
        post["modified"] = post["modified_gmt"] = now
        if self.link_for is not None:
            post["link"] = self.link_for(item)
        return _json(code, post)

    def _save_media(self, item: int | None, user: str | None, headers: dict[str, str], body: bytes):
        if "upload_files" not in self._caps(user):
            return _error(401 if user is None else 403, "rest_cannot_create",
                          "Sorry, you are not allowed to upload files.")
        if item is not None:  # an update of the attachment's fields (alt text)
            if item not in self.media:
                return _error(404, "rest_post_invalid_id", "Invalid post ID.")
            self.media[item]["alt_text"] = json.loads(body or b"{}").get("alt_text", "")
            return _json(200, self.media[item])
        if not body:
            return _error(400, "rest_upload_no_data", "No data supplied.")
        if not headers.get("content-type"):
            return _error(400, "rest_upload_no_content_type", "No Content-Type supplied.")
        disposition = headers.get("content-disposition", "")
        if not disposition:
            return _error(400, "rest_upload_no_content_disposition", "No Content-Disposition supplied.")
        m = re.search(r'filename="?([^";]+)"?', disposition)
        if not m:
            return _error(400, "rest_upload_invalid_disposition", "Invalid Content-Disposition supplied. "
                                                                   "Content-Disposition needs to be formatted as "
                                                                   "`attachment; filename=\"image.png\"` or similar.")
        item = self.next_id
        self.next_id += 1
        now = self._tick()
        url = f"{self.site_url}/wp-content/uploads/2026/12/{m.group(1)}"
        self.media[item] = {"id": item, "date": now, "date_gmt": now, "modified": now, "modified_gmt": now,
                            "slug": m.group(1).rsplit(".", 1)[0], "status": "inherit", "type": "attachment",
                            "link": f"{self.site_url}/?attachment_id={item}", "title": {"rendered": m.group(1)},
                            "author": 1, "alt_text": "", "media_type": "image",
                            "mime_type": headers["content-type"], "source_url": url, "size": len(body)}
        return _json(201, self.media[item])


def _json(status: int, data: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(data).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"code": code, "message": message, "data": {"status": status}})


def _handler_for(server: WordPressServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
            pass

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, payload = server.handle(method, parts.path, parse_qs(parts.query), headers, body)
            try:
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler
