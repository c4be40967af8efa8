"""Passwords written into addresses (`https://user:pass@host/v1`) never reach a message, an answer or a log.

One place for it: error messages built from a provider's base URL call `redact_text`, and the app's log
handlers carry `RedactingFilter`, which also covers the lines copied from the run process and httpx's request
lines. Only the standard library: the app's first paint imports it.
"""

from __future__ import annotations

import logging
import re

MASK = "***"
# scheme://user:password@ — the password is anything up to the last "@" before the host (no "/", space or quote).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:'\"<>]*:)(?P<password>[^\s/'\"<>]+)@")


def redact_text(text: str) -> str:
    """`text` with the password of every address in it replaced by ***; the user name and host stay."""
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)


def redact_url(url: str | None) -> str | None:
    """An address as it may be shown: its password, if any, replaced by ***."""
    return None if url is None else redact_text(url)


class RedactingFilter(logging.Filter):
    """On a handler: the record's message (and its traceback's text) as it will be written, without passwords.

    The record is changed in place, once: the message is formatted here, so later handlers see it redacted too."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def redact_handlers(logger: logging.Logger | None = None) -> None:
    """Every handler of `logger` (the root logger by default) redacts what it writes; twice is once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
