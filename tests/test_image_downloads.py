"""Images a provider answers with a `url`: redirects stay on that address's origin and on http(s); a section whose
result is not kept leaves no file behind."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wfdesk.db import content
from wfdesk.scripts.base import CancelledError, CancelToken

from loopback import LoopbackServer, make_png


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'downloads.db'}"


@pytest.fixture
def other_service():
    """Another service on this machine that a redirect must never reach."""
    with LoopbackServer() as server:
        yield server


def redirect_files_to(location):
    def hook(index, request):
        if request.method == "GET" and request.path.startswith("/files/"):
            return 302, {"Location": location(request)}, b""
        return None

    return hook


def stored_files(ws) -> list[Path]:
    return [p for p in (ws.data_dir / "content").rglob("*") if p.is_file()] if (ws.data_dir / "content").exists() \
        else []


def run_images(**parameters):
    from wfdesk.scripts.registry import execute_step_script

    return execute_step_script(2, 53, {"section_ids": [711], "parameters": parameters})


def test_a_redirect_to_another_port_is_not_followed(demo, loopback, other_service):
    loopback.image_mode = "url"
    loopback.fail = redirect_files_to(lambda r: f"{other_service.root_url}/internal/admin")
    entry = run_images()["results"][0]
    assert entry["status"] == "error"
    assert "redirected" in entry["error"]
    assert "another address" in entry["error"]
    assert other_service.count() == 0
    assert stored_files(demo) == []


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x.png", "gopher://127.0.0.1:70/"])
def test_a_redirect_to_another_scheme_is_refused(demo, loopback, location):
    loopback.image_mode = "url"
    loopback.fail = redirect_files_to(lambda r: location)
    entry = run_images()["results"][0]
    assert entry["status"] == "error"
    assert "redirected" in entry["error"]
    assert stored_files(demo) == []


def test_a_redirect_within_the_same_origin_is_followed(demo, loopback):
    loopback.image_mode = "url"

    def hook(index, request):
        if request.path.startswith("/files/") and "moved" not in request.path:
            return 302, {"Location": request.path.replace("/files/", "/files/moved/")}, b""
        if request.path.startswith("/files/moved/"):
            name = request.path.rsplit("/", 1)[1]
            return 200, {"Content-Type": "image/png"}, loopback.files[name]
        return None

    loopback.fail = hook
    result = run_images()
    assert result["success"], result
    assert loopback.count("/files/moved/") == 1
    assert (demo.data_dir / result["results"][0]["image_url"]).is_file()


def two_images_second_bad(index, request):
    if request.path != "/v1/images/generations":
        return None
    good = base64.b64encode(make_png("good", 0, 16, 16)).decode()
    bad = base64.b64encode(make_png("bad", 1, 16, 16)[:40]).decode()  # cut short
    body = {"created": 0, "data": [{"b64_json": good}, {"b64_json": bad}]}
    return 200, {}, json.dumps(body).encode()


def test_a_section_whose_second_image_is_bad_leaves_no_file(demo, loopback):
    loopback.fail = two_images_second_bad
    entry = run_images(n=2)["results"][0]
    assert entry["status"] == "error"
    assert "image 2" in entry["error"]
    assert stored_files(demo) == []
    with demo.db.session() as s:
        assert content.versions_of(s, 53, 711, "generated_image_url") == []


def test_an_answer_discarded_after_cancel_leaves_no_file(demo, loopback):
    from wfdesk.scripts.registry import execute_step_script

    cancel = CancelToken()

    def cancel_while_answering(index, request):
        if request.path == "/v1/images/generations":
            cancel.cancel()  # the editor cancels while the image is on its way: the answer is discarded
        return None

    loopback.fail = cancel_while_answering
    result = execute_step_script(2, 53, {"section_ids": [711]}, cancel=cancel)
    assert result["results"][0]["status"] == "cancelled"
    assert stored_files(demo) == []


def test_a_redirect_loop_on_the_same_origin_ends_with_a_message(demo, loopback):
    loopback.image_mode = "url"
    loopback.fail = redirect_files_to(lambda r: r.path)  # the image's address redirects to itself, forever
    entry = run_images()["results"][0]
    assert entry["status"] == "error"
    assert "redirected more than 5 times" in entry["error"]
    assert loopback.count("/files/") == 6  # the first request and five redirects, then it stops
    assert stored_files(demo) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/x.png", "http://[::1/x.png", "http:///x.png"])
def test_a_malformed_image_address_is_a_download_error(url):
    from wfdesk.media.download import DownloadError, download_image

    with pytest.raises(DownloadError, match="not a usable address"):
        download_image(url, timeout=2, max_bytes=1024)


def test_download_errors_are_plain_and_keep_secrets_of_the_address_out(loopback):
    from wfdesk.media.download import DownloadError, download_image

    signed = "http://reader:hunter2@127.0.0.1:9/files/a.png?se=2026&sig=SECRETSIGNATURE"  # nothing listens on :9
    with pytest.raises(DownloadError) as err:
        download_image(signed, timeout=2, max_bytes=1024)
    message = str(err.value)
    assert "cannot reach 127.0.0.1:9" in message
    assert "http://127.0.0.1:9/files/a.png" in message
    assert "SECRETSIGNATURE" not in message
    assert "hunter2" not in message
    assert "HTTPConnectionPool" not in message
    assert "Errno" not in message
    loopback.fail = lambda index, request: (404, {}, b"gone") if request.path.startswith("/files/") else None
    with pytest.raises(DownloadError) as err:
        download_image(f"{loopback.root_url}/files/b.png?sig=SECRETSIGNATURE", timeout=2, max_bytes=1024)
    assert "HTTP 404" in str(err.value)
    assert "SECRETSIGNATURE" not in str(err.value)


@contextmanager
def image_server(send_body, name: str) -> Iterator[str]:
    """A server whose GET answers the headers of a 100 KB PNG, then send_body(wfile, stop) sends what it likes
    until the test ends (stop is set). Yields the image's address."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            with suppress(OSError):
                send_body(self.wfile, stop)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def dripping_server():
    """Sends a 'PNG' one byte at a time, each well within the read timeout, for at most 30 s."""
    def drip(wfile, stop: threading.Event) -> None:
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            wfile.write(b"\x89")
            wfile.flush()
            stop.wait(0.1)

    with image_server(drip, "slow.png") as url:
        yield url


def test_an_image_that_trickles_in_ends_at_the_timeout(dripping_server):
    # Every byte comes within the read timeout, so only a deadline for the whole image ends it.
    from wfdesk.media.download import DownloadError, download_image

    with pytest.raises(DownloadError, match="did not arrive within 1 s"):
        download_image(dripping_server, timeout=1, max_bytes=1024 * 1024)


@pytest.fixture
def stalled_server():
    """A CDN that sends the headers of an image and its first bytes, then nothing more (until the test ends)."""
    def stall(wfile, stop: threading.Event) -> None:
        wfile.write(b"\x89PNG")
        wfile.flush()
        stop.wait(60)

    with image_server(stall, "stalled.png") as url:
        yield url


def test_cancel_stops_a_download_that_stalled(stalled_server):
    """The editor's Cancel (Esc) ends a download waiting on a silent server at once, not after the step's timeout."""
    from wfdesk.media.download import download_image

    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(CancelledError):
        download_image(stalled_server, timeout=60, max_bytes=1024 * 1024, cancel=cancel)
    assert time.monotonic() - started < 20  # a generous bound: without it, 60 s


def test_cancel_stops_a_run_whose_image_download_stalled(demo, loopback, stalled_server):
    """Through the engine: the provider answers with an address whose server then goes silent; Cancel ends the
    section as cancelled at once (the step's timeout is 180 s) and keeps no file."""
    from wfdesk.scripts.registry import execute_step_script

    cancel = CancelToken()

    def answer_with_the_stalled_address(index, request):
        if request.path == "/v1/images/generations":
            threading.Timer(0.5, cancel.cancel).start()  # the editor presses Esc while the image downloads
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"created": 0, "data": [{"url": stalled_server}]}).encode()
        return None

    loopback.fail = answer_with_the_stalled_address
    started = time.monotonic()
    result = execute_step_script(2, 53, {"section_ids": [711], "parameters": {"model": "dall-e-3"}}, cancel=cancel)
    assert result["results"][0]["status"] == "cancelled", result
    assert time.monotonic() - started < 30  # a generous bound: without the cancel reaching the download, 180 s
    assert stored_files(demo) == []


def test_a_cancel_racing_the_reads_own_close_never_shuts_another_socket(stalled_server, monkeypatch):
    """The read may end on its own (urllib3 closes the connection on a read error, http.client when the body of a
    `Connection: close` answer is complete) in the very moment the cancel comes, outside the watcher's lock. Its
    descriptor number may then already be another thread's socket (a database connection, another download): that
    socket must not be shut down."""
    import socket

    import requests

    from wfdesk.media.download import _CancelWatch

    others: list[socket.socket] = []
    responses: list = []
    real_shutdown = socket.socket.shutdown

    def the_read_ends_first(self, how):
        if responses and not others:
            # The reader thread, just before: its read broke off and urllib3 closed the response and its connection...
            raw = responses[0].raw
            raw._fp.close()
            raw._connection.close()
            # ...and another thread opened a socket, which the system gave the lowest free number: the freed one.
            others.extend(socket.socketpair())
        return real_shutdown(self, how)

    cancel = CancelToken()
    watch = _CancelWatch(cancel)  # not entered: no watcher thread, the cancel is played by hand below
    with requests.Session() as session:
        resp = session.get(stalled_server, timeout=10, stream=True)
        responses.append(resp)
        with resp, watch.tracking(resp):
            monkeypatch.setattr(socket.socket, "shutdown", the_read_ends_first)
            cancel.cancel()
            watch._shut()  # what the watcher thread does when the cancel comes
            monkeypatch.undo()
    assert len(others) == 2, "the watcher never shut a socket"
    a, b = others
    try:
        a.sendall(b"still mine")
        assert b.recv(32) == b"still mine"
        b.sendall(b"both ways")
        assert a.recv(32) == b"both ways"
    finally:
        a.close()
        b.close()
