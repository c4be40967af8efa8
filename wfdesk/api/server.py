"""uvicorn serving the API on a socket bound beforehand: in the foreground (`wfdesk serve`) or on a thread of its
own (the desktop app, tests)."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Sequence

import uvicorn
from fastapi import FastAPI


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def allowed_hosts(host: str, names: Sequence[str] = ()) -> list[str]:
    """The Host header values a request may carry. Loopback: this computer's own names only, so a web page whose
    name an attacker points at 127.0.0.1 (DNS rebinding) is refused. Another interface (--allow-remote): also the
    bound address and the names other machines use for this one (configured)."""
    wanted = list(LOOPBACK_NAMES)
    if not is_loopback(host):
        bare = host.strip("[]")
        wanted += [bare, f"[{bare}]"] if ":" in bare else [bare]
        wanted += [n.strip().lower() for n in names if n.strip()]
    return list(dict.fromkeys(wanted))


def check_bind_address(host: str, allow_remote: bool) -> str | None:
    """Why `host` may not be served on, in words; None when it may."""
    if is_loopback(host) or allow_remote:
        return None
    return (f"{host} is not this computer's loopback address: other machines could reach the API. Add "
            "--allow-remote to serve on it anyway (the token is still required).")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts: with port 0 the system picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not socket.create_server's 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it every answer on a kept-alive connection waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://[{host.strip('[]')}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()


class ApiServer:
    """One uvicorn server on `host:port` (0: a free port). `url` is known once constructed."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False) -> None:
        self.sock = bind(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.url = url_of(host, self.port)
        self.started = threading.Event()
        # A request waiting for a long run must not hold the server's end: after 2 s it is cut.
        # log_config=None: uvicorn's loggers go where the process's own logging goes (the app's log file, the
        # command's stderr) instead of uvicorn installing handlers of its own.
        config = uvicorn.Config(app, log_level="info" if verbose else "warning", access_log=verbose,
                                log_config=None, lifespan="off", server_header=False, timeout_graceful_shutdown=2)
        self._server = _Server(config, self.started.set)
        self._thread: threading.Thread | None = None

    def run(self, on_started: Callable[[], None] | None = None) -> None:
        """In the foreground until SIGINT/SIGTERM."""
        if on_started is not None:
            def announce() -> None:
                self.started.set()
                on_started()

            self._server.on_started = announce
        try:
            self._server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start_in_thread(self, timeout_s: float = 15.0) -> ApiServer:
        self._thread = threading.Thread(target=self._serve_quietly, daemon=True, name=f"api-server-{self.port}")
        self._thread.start()
        if not self.started.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"the API server did not start on {self.url}")
        return self

    def _serve_quietly(self) -> None:
        try:
            self._server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.sock.close()
