"""Caps on one provider answer: its size and its overall time, enforced while the bytes arrive.

A read timeout only bounds the gap between two bytes, so a server dripping one byte every two seconds would hold a
section forever, and the SDK would buffer a 100 MB answer whole. The HTTP transport below counts bytes and time as
they arrive and stops the transfer as soon as a cap is passed. The caps of the request in flight come from a
context variable set around each call (the SDK offers no per-request hook for this).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx2

MB = 1024 * 1024


@dataclass(frozen=True)
class AnswerLimits:
    max_bytes: int  # of the HTTP body as sent (base64 and JSON escaping included)
    seconds: float  # the whole exchange, from sending the request to the last byte
    what: str = "answer"  # "text answer", "image answer": for the message


_current: ContextVar[AnswerLimits | None] = ContextVar("wfdesk_answer_limits", default=None)


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


class _CappedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, limits: AnswerLimits, deadline: float) -> None:
        self._inner, self._limits, self._deadline = inner, limits, deadline

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self._inner:
            received += len(chunk)
            if received > self._limits.max_bytes:
                raise AnswerTooLarge(self._limits)
            if time.monotonic() > self._deadline:
                raise AnswerTooSlow(self._limits)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class CappedTransport(httpx2.HTTPTransport):
    """httpx2's own transport; answers go through the caps of the calling context, if any."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        limits = _current.get()
        started = time.monotonic()
        response = super().handle_request(request)
        if limits is None:
            return response
        deadline = started + limits.seconds
        if time.monotonic() > deadline:
            response.close()
            raise AnswerTooSlow(limits)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            response.close()
            raise AnswerTooLarge(limits)
        response.stream = _CappedStream(response.stream, limits, deadline)  # type: ignore[arg-type]
        return response
