"""Retries with backoff and one gate per provider shared by every worker of every run.

The gate caps how many requests are in flight to a provider at once, and a 429 pauses everyone (not just the
worker that got it) until the provider's Retry-After has passed. The SDK's own retries are off (max_retries=0)
so that this is the one place that decides. On PostgreSQL the gate is the team's (shared_gate.py): the same cap and
pauses across every machine on the database.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from wfdesk.cancel import CancelledError, CancelToken
from wfdesk.errors import UnitError

log = logging.getLogger(__name__)
T = TypeVar("T")


class MalformedAnswerError(UnitError):
    """The provider answered, but not with what the API promises (empty, wrong shape). Worth a retry."""


class AnswerReadError(UnitError):
    """The connection dropped after the server had answered (mid-stream): worth a retry, and no sign that the
    provider is offline."""


class AnswerBodyError(UnitError):
    """A 200 whose body, or a stream's event, is an error: LiteLLM, vLLM and other proxies pass an upstream's
    failure on this way. Worth a retry only when the error says the server is busy or broken."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class NotAnAPIAnswerError(UnitError):
    """A web page (or other text) where the API's JSON was expected: a wrong base URL; asking again cannot help."""


_TRANSIENT_WORDS = ("server", "overload", "rate_limit", "ratelimit", "throttl", "timeout", "unavailable",
                    "internal", "capacity", "busy")


def error_in_answer(body: Any) -> AnswerBodyError:
    """The provider's own words from {"error": {...}} (or {"error": "..."}), and whether a retry may help."""
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        words = str(err.get("message") or err.get("detail") or err.get("msg") or "no details given")
        kind = f"{err.get('code') or ''} {err.get('type') or ''}".lower()
    else:
        words, kind = str(err or "no details given"), ""
    status = re.search(r"\b([45]\d\d)\b", kind)  # LiteLLM puts the upstream's status in code: "429", "500"
    retryable = (any(word in kind for word in _TRANSIENT_WORDS)
                 or (status is not None and (status.group(1) in ("408", "429") or status.group(1) >= "500")))
    return AnswerBodyError(f"answered with an error: {' '.join(words.split())[:300]}", retryable=retryable)


def not_an_api_answer(answer: Any) -> NotAnAPIAnswerError | None:
    """The SDK hands back the text itself when a 200 is not JSON: most often a web UI at the base URL."""
    if not isinstance(answer, str | bytes):
        return None
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
    if "<html" in text[:2000].lower() or "<!doctype" in text[:2000].lower():
        return NotAnAPIAnswerError("answered with a web page, not the API: check the base URL (OpenAI-compatible "
                              "servers usually end in /v1)")
    return NotAnAPIAnswerError("answered with something that is not the API's JSON: check the base URL")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # failed attempts (5xx, timeouts, malformed answers) before a section gives up
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    rate_limit_budget: float = 300.0  # 429s don't use up attempts: the server asked us to wait, so we wait
    max_wait: float = 120.0  # the longest Retry-After honoured; a provider asking for more fails the section

    def delay(self, attempt: int) -> float:
        raw: float = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return raw * random.uniform(1 - self.jitter, 1 + self.jitter)


class ProviderGate:
    BREAKER_THRESHOLD = 3  # consecutive "cannot connect" failures, from any worker, that mean "offline"
    BREAKER_COOL_OFF = 30.0

    def __init__(self, name: str, concurrency: int) -> None:
        self.name = name
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self.pauses = 0  # how often a 429 paused everyone (for tests and the status bar)
        self._connect_failures = 0
        self._down_until = 0.0
        self.down_reason: str | None = None
        self._no_credit_until = 0.0
        self._no_credit_reason: str | None = None

    def record_success(self) -> None:
        with self._lock:
            self._connect_failures = 0
            self._down_until, self.down_reason = 0.0, None

    def record_connect_failure(self, reason: str) -> None:
        """A provider that cannot be reached a few times in a row is offline: every section fails at once
        with that message instead of each one retrying into a dead address."""
        with self._lock:
            self._connect_failures += 1
            if self._connect_failures >= self.BREAKER_THRESHOLD:
                self._down_until = time.monotonic() + self.BREAKER_COOL_OFF
                self.down_reason = reason

    NO_CREDIT_HOLD = 60.0

    def record_out_of_credit(self, reason: str) -> None:
        """An account without credit stays so for a while: every other section fails at once with the same
        message instead of each sending a request that is bound to be refused."""
        with self._lock:
            self._no_credit_until = time.monotonic() + self.NO_CREDIT_HOLD
            self._no_credit_reason = reason

    def out_of_credit_reason(self) -> str | None:
        with self._lock:
            return self._no_credit_reason if time.monotonic() < self._no_credit_until else None

    def offline_reason(self) -> str | None:
        with self._lock:
            return self.down_reason if time.monotonic() < self._down_until else None

    def pause_for(self, seconds: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)
            self.pauses += 1

    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._resume_at - time.monotonic())

    def wait_until_open(self, cancel: CancelToken) -> None:
        while (remaining := self.paused_for()) > 0:
            if cancel.wait(min(remaining, 0.25)):
                raise CancelledError()

    @contextmanager
    def slot(self, cancel: CancelToken) -> Iterator[None]:
        while not self._slots.acquire(timeout=0.25):
            if cancel.cancelled:
                raise CancelledError()
        try:
            self.wait_until_open(cancel)
            yield
        finally:
            self._slots.release()


def error_code(exc: Exception) -> str | None:
    """The provider's machine-readable error code (OpenAI: error.code, else error.type)."""
    body = getattr(exc, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type")
        return str(code) if code else None
    return None


def is_out_of_credit(exc: Exception) -> bool:
    """429 insufficient_quota: the account has no credit left; waiting cannot help."""
    return getattr(exc, "status_code", None) == 429 and error_code(exc) == "insufficient_quota"


# OpenAI's x-ratelimit-reset-requests / -tokens: "1s", "6m0s", "120ms", "1h2m3.5s".
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?")


def _duration(value: str) -> float | None:
    match = _DURATION.fullmatch(value.strip())
    if not value.strip() or match is None or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def ratelimit_reset_seconds(exc: Exception) -> float | None:
    """When OpenAI's x-ratelimit-reset-* headers (or, without them, the message's "try again in 20s") say the
    exhausted limit is whole again. A hint, not a demand: it may be far longer than the wait before one more request
    is allowed."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    resets = {}
    for kind in ("requests", "tokens"):
        wait = _duration(headers.get(f"x-ratelimit-reset-{kind}") or "")
        if wait is not None:
            resets[kind] = wait
    exhausted = [w for kind, w in resets.items() if headers.get(f"x-ratelimit-remaining-{kind}") == "0"]
    waits = exhausted or list(resets.values())
    if not waits:  # a proxy that drops these headers: the same hint is in the message's words
        return worded_wait_seconds(str(getattr(exc, "message", "") or ""))
    return max(waits)


# The wait in a refusal's words, when no header carries it: OpenAI's "Please try again in 20s" / "in 6m0s" / "in
# 120ms", Azure's "Please retry after 20 seconds".
_WORDED_WAIT = re.compile(r"(?:try again|retry) (?:in|after) (\d+(?:\.\d+)?) ?(seconds?|secs?|milliseconds?)\b"
                          r"|try again in ((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)\b", re.IGNORECASE)


def worded_wait_seconds(message: str) -> float | None:
    match = _WORDED_WAIT.search(message or "")
    if match is None:
        return None
    if match.group(3):
        return _duration(match.group(3))
    amount = float(match.group(1))
    return amount / 1000 if match.group(2).lower().startswith("milli") else amount


def retry_after_seconds(exc: Exception) -> float | None:
    """The wait the provider asked for: retry-after-ms, Retry-After in seconds or as an HTTP date (one in the
    past means 0)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if ms := headers.get("retry-after-ms"):
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _cause(exc: Exception) -> BaseException | None:
    return exc.__cause__ or exc.__context__


def is_connect_failure(exc: Exception) -> bool:
    """Only a failure to connect says "offline": a connection that drops after the server answered does not."""
    import httpx2
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return isinstance(_cause(exc), httpx2.ConnectTimeout)  # a slow model is not an offline one
    if isinstance(exc, openai.APIConnectionError):
        return isinstance(_cause(exc), httpx2.ConnectError | httpx2.ConnectTimeout)
    return False


def is_capped(exc: Exception) -> bool:
    """An answer stopped by our own size or time cap: asking again would only do it again."""
    from wfdesk.providers.limits import AnswerTooLarge, AnswerTooSlow

    return isinstance(exc, AnswerTooLarge | AnswerTooSlow) or isinstance(_cause(exc), AnswerTooLarge | AnswerTooSlow)


def is_retryable(exc: Exception) -> bool:
    import openai

    if is_capped(exc):
        return False
    if isinstance(exc, AnswerBodyError):
        return exc.retryable
    if isinstance(exc, openai.APIConnectionError | MalformedAnswerError | AnswerReadError | json.JSONDecodeError):
        return True  # includes timeouts and connections dropped mid-answer
    if isinstance(exc, openai.APIStatusError):
        if is_out_of_credit(exc):
            return False
        if exc.status_code in (501, 505):  # "not implemented": a wrong server, asking again cannot help
            return False
        return exc.status_code == 429 or exc.status_code >= 500 or exc.status_code == 408
    return False


@dataclass
class _Tally:
    """One request's failures so far, against its policy."""

    policy: RetryPolicy
    deadline: float  # for 429s: the rate-limit budget
    failures: int = 0
    read_timeouts: int = 0
    rate_limited: int = 0


def call_with_retries(gate: ProviderGate, policy: RetryPolicy, fn: Callable[[], T], cancel: CancelToken,
                      describe: Callable[[Exception], str]) -> T:
    """fn() until it succeeds, a non-retryable error happens, or the attempts run out (then a UnitError)."""
    tally = _Tally(policy, time.monotonic() + policy.rate_limit_budget)
    while True:
        if (reason := gate.offline_reason()) is not None:
            raise UnitError(f"{reason}; the provider looks offline, try again later")
        if (reason := gate.out_of_credit_reason()) is not None:
            raise UnitError(reason)
        with gate.slot(cancel):
            try:
                result = fn()
            except CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below
                # Judged before the slot is given back: a 429's pause is in force (on every machine, when the gate
                # is shared) before anyone can take this slot and send.
                wait = _retry_wait(gate, tally, exc, describe)
                said = describe(exc)
            else:
                gate.record_success()
                return result
        log.info("provider %s: %s; retrying in %.1f s", gate.name, said, wait)
        if cancel.wait_to_retry(wait):
            raise CancelledError() from None


def _retry_wait(gate: ProviderGate, tally: _Tally, exc: Exception, describe: Callable[[Exception], str]) -> float:
    """How long to wait before trying again after exc (a 429 pauses the whole gate); a UnitError when giving up."""
    import openai  # only ever called once a request has been made

    policy = tally.policy
    if not is_retryable(exc):
        if is_out_of_credit(exc):
            gate.record_out_of_credit(describe(exc))
        raise UnitError(describe(exc), details=getattr(exc, "details", None)) from None
    asked = retry_after_seconds(exc)
    if asked is not None and asked > policy.max_wait:
        # Retrying earlier than asked only earns another refusal (and may count against the account).
        raise UnitError(f"{describe(exc)}; it asked to wait {asked:.0f} s, longer than the "
                        f"{policy.max_wait:.0f} s allowed for this provider; try again later") from None
    if isinstance(exc, openai.RateLimitError):
        tally.rate_limited += 1
        # No wait asked (or 0, or a date in the past): the x-ratelimit-reset-* hint when it is within the
        # longest wait, else a growing back-off; never an instant retry.
        reset = ratelimit_reset_seconds(exc)
        backoff = policy.delay(tally.rate_limited)
        wait = asked if asked else (max(reset, backoff) if reset is not None and reset <= policy.max_wait
                                    else backoff)
        if time.monotonic() + wait > tally.deadline:
            raise UnitError(f"{describe(exc)}; still refused after waiting "
                            f"{policy.rate_limit_budget:.0f} s") from None
        gate.pause_for(wait)  # everyone waits, so the provider sees the whole batch slow down
        return wait
    tally.failures += 1
    if is_connect_failure(exc):
        gate.record_connect_failure(describe(exc))
    elif isinstance(exc, openai.APITimeoutError):
        tally.read_timeouts += 1  # a slow model stays slow: each retry costs a whole read timeout
    if tally.failures >= policy.attempts or tally.read_timeouts > 1:
        suffix = f" (gave up after {tally.failures} attempts)" if tally.failures > 1 else ""
        raise UnitError(describe(exc) + suffix, details=getattr(exc, "details", None)) from None
    return max(policy.delay(tally.failures), asked or 0.0)
