"""Downloading an image a provider answered with as a URL.

Redirects are followed only within the URL's own origin (scheme, host and port) and only over http(s): a provider's
answer must not be able to steer a request at another service, on this machine or elsewhere.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

MAX_REDIRECTS = 5


class DownloadError(ValueError):
    """The image could not be downloaded; the message is meant for the editor."""


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def download_image(url: str, *, timeout: float, max_bytes: int) -> bytes:
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"unsupported image URL scheme: {url[:40]!r}")
    start = origin(url)
    current = url
    with requests.Session() as session:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                resp = session.get(current, timeout=timeout, stream=True, allow_redirects=False)
            except requests.RequestException as exc:
                raise DownloadError(f"cannot download the image from {url}: {exc}") from None
            with resp:
                if resp.is_redirect:
                    target = urljoin(current, resp.headers.get("location", ""))
                    if urlsplit(target).scheme not in ("http", "https") or origin(target) != start:
                        raise DownloadError(f"the image at {url} redirected to another address "
                                            f"({target[:80]}); only redirects within {start[1]} are followed")
                    current = target
                    continue
                if resp.status_code >= 400:
                    raise DownloadError(f"cannot download the image from {url}: HTTP {resp.status_code}")
                return _read_limited(resp, url, max_bytes)
    raise DownloadError(f"the image at {url} redirected more than {MAX_REDIRECTS} times")


def _read_limited(resp: requests.Response, url: str, max_bytes: int) -> bytes:
    chunks, size = [], 0
    try:
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise DownloadError(f"the image at {url} is larger than {max_bytes // 2**20} MB")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise DownloadError(f"cannot download the image from {url}: {exc}") from None
    return b"".join(chunks)
