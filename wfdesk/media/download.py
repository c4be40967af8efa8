"""Downloading an image a provider answered with as a URL.

Redirects are followed only within the URL's own origin (scheme, host and port) and only over http(s): a provider's
answer must not be able to steer a request at another service, on this machine or elsewhere.

Messages name the address without its user, password or query: a signed URL's signature is a secret for a while.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

if TYPE_CHECKING:
    from wfdesk.cancel import CancelToken

MAX_REDIRECTS = 5


class DownloadError(ValueError):
    """The image could not be downloaded; the message is meant for the editor."""


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port); raises DownloadError for an address that cannot be one (a bad port, a broken host)."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        raise DownloadError(f"the image's address {shown(url)} is not a usable address") from None
    if not parts.hostname:
        raise DownloadError(f"the image's address {shown(url)} is not a usable address (it names no server)")
    return parts.scheme.lower(), parts.hostname.lower(), port


def shown(url: str) -> str:
    """The address for a message: scheme, host, port and path only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return repr(url.split("?", 1)[0][:80])
    return f"{parts.scheme}://{host}{port}{parts.path}"[:200]


def download_image(url: str, *, timeout: float, max_bytes: int, cancel: CancelToken | None = None) -> bytes:
    """The image's bytes. A cancel (the editor's Esc) ends a download whose body is under way at once, however
    silent the server has gone; the wait for the first byte is bounded by `timeout`."""
    if _scheme(url) not in ("http", "https"):
        raise DownloadError(f"unsupported image URL scheme: {url[:40]!r}")
    start = origin(url)
    current = url
    with requests.Session() as session, _CancelWatch(cancel) as watch:
        for _ in range(MAX_REDIRECTS + 1):
            watch.check()
            resp = _get(session, current, url, timeout)
            with resp, watch.tracking(resp):  # untracked before it is closed: its socket is never shut after
                if resp.is_redirect:
                    target = urljoin(current, resp.headers.get("location", ""))
                    if _scheme(target) not in ("http", "https") or origin(target) != start:
                        raise DownloadError(f"the image at {shown(url)} redirected to another address "
                                            f"({shown(target)[:80]}); only redirects within {start[1]} are followed")
                    current = target
                    continue
                if resp.status_code >= 400:
                    raise DownloadError(f"cannot download the image from {shown(url)}: HTTP {resp.status_code}")
                try:
                    data = _read_limited(resp, url, max_bytes, timeout)
                except DownloadError:
                    watch.check()  # a cancel is what broke the read off
                    raise
                watch.check()  # a shut socket may also read as the end: cut short, not whole
                return data
    raise DownloadError(f"the image at {shown(url)} redirected more than {MAX_REDIRECTS} times")


class _CancelWatch:
    """While a download runs, a small thread waits for the cancel; when it comes, it shuts the socket of the
    response being read, so a read blocked on a silent server returns at once."""

    def __init__(self, cancel: CancelToken | None) -> None:
        self.cancel = cancel
        self._response: requests.Response | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self) -> _CancelWatch:
        if self.cancel is not None:
            threading.Thread(target=self._watch, args=(self.cancel,), name="download-cancel", daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()

    @contextmanager
    def tracking(self, response: requests.Response) -> Iterator[None]:
        with self._lock:
            self._response = response
        if self.cancel is not None and self.cancel.cancelled:
            self._shut()
        try:
            yield
        finally:
            with self._lock:  # waits for a shutdown under way: the descriptor stays this response's until then
                self._response = None

    def check(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            from wfdesk.cancel import CancelledError

            raise CancelledError()

    def _watch(self, cancel: CancelToken) -> None:
        while not self._done.is_set():
            if cancel.wait(0.2):
                self._shut()
                return

    def _shut(self) -> None:
        with self._lock:  # held throughout, so `with resp` cannot close the response meanwhile
            sock = _socket_of(self._response) if self._response is not None else None
            if sock is None:
                return  # already closed: the read has ended anyway
            with contextlib.suppress(OSError):
                # Wakes the blocked read; closing the descriptor would not. Through the socket object, never its
                # descriptor number: the read may close it on its own at this very moment (urllib3 on a read error,
                # http.client at the end of a `Connection: close` body), and a closed socket object refuses (its
                # number is -1) where the number may already be another thread's socket. The plain socket's
                # shutdown, also for TLS: SSLSocket.shutdown would drop the TLS state under the reading thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket http.client reads the response from (its buffered file's raw SocketIO), None once it let go."""
    reader = getattr(getattr(response.raw, "_fp", None), "fp", None)  # http.client's makefile("rb"), or None
    sock = getattr(getattr(reader, "raw", None), "_sock", None)
    sock = getattr(sock, "socket", sock)  # urllib3's TLS-in-TLS transport (HTTPS through an HTTPS proxy)
    return sock if isinstance(sock, socket.socket) else None


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        raise DownloadError(f"the image's address {shown(url)} is not a usable address") from None


def _get(session: requests.Session, current: str, url: str, timeout: float) -> requests.Response:
    host = "{1}:{2}".format(*origin(current))
    try:
        return session.get(current, timeout=timeout, stream=True, allow_redirects=False)
    except requests.Timeout:
        raise DownloadError(f"{host} did not answer within {timeout:g} s with the image {shown(url)}") from None
    except requests.ConnectionError:
        raise DownloadError(f"cannot reach {host} to download the image {shown(url)}") from None
    except requests.RequestException:
        raise DownloadError(f"cannot download the image from {shown(url)}: the address is not usable") from None


def _read_limited(resp: requests.Response, url: str, max_bytes: int, timeout: float) -> bytes:
    """The body, at most max_bytes, within `timeout` seconds for the whole of it: each read returns what has
    arrived (read1), so a server that trickles a byte at a time is stopped at the deadline too."""
    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    try:
        while chunk := resp.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise DownloadError(f"the image at {shown(url)} is larger than {max_bytes // 2**20} MB")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise DownloadError(f"the image at {shown(url)} did not arrive within {timeout:g} s")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        raise DownloadError(f"the download of the image {shown(url)} broke off (or stalled for {timeout:g} s)") \
            from None
    return b"".join(chunks)
