"""Caps on one provider answer: its size and its overall time, enforced while the bytes arrive.

A read timeout only bounds the gap between two bytes, so a server dripping one byte every two seconds would hold a
section forever, and the SDK would buffer a 100 MB answer whole. The HTTP transport below counts bytes and time as
they arrive and stops the transfer as soon as a cap is passed; its sockets never wait past the request's deadline,
headers included. The caps of the request in flight come from a context variable set around each call (the SDK
offers no per-request hook for this).
"""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore2
import httpx2
from httpcore2 import SOCKET_OPTION, NetworkBackend, NetworkStream

MB = 1024 * 1024
TIMER_SLACK = 0.05  # a socket timeout may wake a hair before the deadline it was cut to


@dataclass(frozen=True)
class AnswerLimits:
    max_bytes: int  # of the HTTP body once decoded (base64 and JSON escaping included; gzip undone)
    seconds: float  # the whole exchange, from sending the request to the last byte
    what: str = "answer"  # "text answer", "image answer": for the message


_current: ContextVar[AnswerLimits | None] = ContextVar("wfdesk_answer_limits", default=None)
_deadline: ContextVar[float | None] = ContextVar("wfdesk_answer_deadline", default=None)  # time.monotonic()


class _DeadlineStream(NetworkStream):
    """A socket that never waits past the deadline of the request reading from it (the same thread: the transport
    is synchronous), however slowly the bytes come."""

    def __init__(self, inner: NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _deadline.get()
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpcore2.ReadTimeout("past the answer's deadline")
            timeout = left if timeout is None else min(timeout, left)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(NetworkBackend):
    def __init__(self, inner: NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[SOCKET_OPTION] | None = None) -> NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[SOCKET_OPTION] | None = None) -> NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AnswerTooLarge(httpx2.ReadError):
    """Raised inside the transfer; the SDK wraps it (APIConnectionError) with this as the cause."""

    def __init__(self, limits: AnswerLimits) -> None:
        self.limits = limits
        super().__init__(f"the {limits.what} is larger than {limits.max_bytes / MB:.0f} MB")


class AnswerTooSlow(httpx2.ReadError):
    def __init__(self, limits: AnswerLimits) -> None:
        self.limits = limits
        super().__init__(f"the {limits.what} took longer than {limits.seconds:g} s")


@contextmanager
def answer_limits(limits: AnswerLimits) -> Iterator[None]:
    token = _current.set(limits)
    try:
        yield
    finally:
        _current.reset(token)


# The encodings this transport undoes itself, counting the decoded bytes (20 MB of text gzips to 20 KB, so a cap on
# the bytes on the wire would let a small compressed answer grow past it). zlib's wbits: gzip, or zlib-wrapped.
DECODED = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPT_ENCODING = "gzip, deflate"


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, limits: AnswerLimits, deadline: float,
                 encoding: str | None = None) -> None:
        self._inner, self._limits, self._deadline = inner, limits, deadline
        self._decoder = zlib.decompressobj(DECODED[encoding]) if encoding else None

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for raw in self._under_deadline():
            if time.monotonic() > self._deadline:
                raise AnswerTooSlow(self._limits)
            for chunk in self._decoded(raw):
                received += len(chunk)
                if received > self._limits.max_bytes:
                    raise AnswerTooLarge(self._limits)
                yield chunk
        if self._decoder is not None and (tail := self._decoder.flush()):
            received += len(tail)
            if received > self._limits.max_bytes:
                raise AnswerTooLarge(self._limits)
            yield tail

    def _under_deadline(self) -> Iterator[bytes]:
        """The inner chunks, each read with the deadline in force (the caller's context, only while reading)."""
        chunks = iter(self._inner)
        while True:
            token = _deadline.set(self._deadline)
            try:
                raw = next(chunks)
            except StopIteration:
                return
            except httpx2.ReadTimeout as exc:
                if time.monotonic() >= self._deadline - TIMER_SLACK:
                    raise AnswerTooSlow(self._limits) from exc
                raise
            finally:
                _deadline.reset(token)
            yield raw

    def _decoded(self, raw: bytes) -> Iterator[bytes]:
        if self._decoder is None:
            yield raw
            return
        try:
            data = raw
            while data:  # bounded pieces: one small compressed chunk may hold megabytes
                yield self._decoder.decompress(data, 1024 * 1024)
                data = self._decoder.unconsumed_tail
        except zlib.error as exc:
            raise httpx2.ReadError(f"the answer's compressed body is damaged ({exc})") from exc

    def close(self) -> None:
        self._inner.close()


class CappedTransport(httpx2.HTTPTransport):
    """httpx2's own transport; answers go through the caps of the calling context, if any."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpx2's transport does not take a network backend, its httpcore2 pool does: set before any connection.
        self._pool._network_backend = _DeadlineBackend(self._pool._network_backend)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        limits = _current.get()
        started = time.monotonic()
        if limits is None:
            return super().handle_request(request)
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING  # only what the caps below can count decoded
        deadline = started + limits.seconds
        token = _deadline.set(deadline)
        try:
            response = super().handle_request(request)
        except httpx2.ReadTimeout as exc:
            if time.monotonic() >= deadline - TIMER_SLACK:
                raise AnswerTooSlow(limits) from exc
            raise
        finally:
            _deadline.reset(token)
        if time.monotonic() > deadline:
            response.close()
            raise AnswerTooSlow(limits)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            response.close()
            raise AnswerTooLarge(limits)
        encoding: str | None = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            encoding = None
        elif encoding in DECODED:
            # Decoded here, so the client must not decode again.
            del response.headers["content-encoding"]
            response.headers.pop("content-length", None)
        else:
            response.close()
            raise httpx2.ReadError(f"the answer came in an encoding that was not asked for ({encoding})")
        # arg-type: httpx types a response's stream as sync or async; a sync transport's is always sync.
        response.stream = _CappedStream(response.stream, limits, deadline, encoding)  # type: ignore[arg-type]
        return response
