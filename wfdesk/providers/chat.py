"""Chat completions shaped per model family, sent plain or streamed, read into a ChatAnswer (not yet judged:
answers.finished_text decides whether it is finished text)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from wfdesk.cancel import CancelledError, CancelToken
from wfdesk.providers.answers import MAX_TEXT_CHARS, AnswerRefusedError, ChatAnswer
from wfdesk.providers.models import is_reasoning_model, uses_max_completion_tokens
from wfdesk.providers.resilience import AnswerReadError, MalformedAnswerError, error_in_answer, not_an_api_answer

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)
MB = 1024 * 1024
# The HTTP body may hold more than the text: JSON escaping, and in a stream an envelope around every token.
PLAIN_BODY_CAP = 8 * MB
STREAM_BODY_CAP = 96 * MB


def chat_request(model: str, prompt: str, *, temperature: float | None, max_tokens: int | None,
                 reasoning_effort: str | None = None) -> dict[str, Any]:
    """The request as this model family wants it. Reasoning models (o-series, gpt-5 on) refuse `max_tokens`
    and any temperature but the default; what a server refuses beyond this is learned (adaptation.py)."""
    request: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if temperature is not None and not is_reasoning_model(model):
        request["temperature"] = temperature
    if max_tokens:
        request["max_completion_tokens" if uses_max_completion_tokens(model) else "max_tokens"] = max_tokens
    if reasoning_effort:
        request["reasoning_effort"] = reasoning_effort
    return request


def ask(client: openai.OpenAI, request: dict[str, Any]) -> ChatAnswer:
    answer = client.chat.completions.create(**request)
    if (problem := not_an_api_answer(answer)) is not None:
        raise problem
    extra = getattr(answer, "model_extra", None) or {}
    if extra.get("error") and not getattr(answer, "choices", None):
        raise error_in_answer(extra)  # a proxy passing an upstream failure on as a 200
    choices = getattr(answer, "choices", None)
    if not choices or choices[0].message is None:
        raise MalformedAnswerError("sent an answer without a message")
    choice, message = choices[0], choices[0].message
    return ChatAnswer(text=message.content or "", finish_reason=choice.finish_reason,
                      refusal=getattr(message, "refusal", None), reasoning=_reasoning_of(message),
                      model=answer.model, usage=answer.usage)


def ask_streaming(client: openai.OpenAI, request: dict[str, Any], cancel: CancelToken,
                  on_text: Callable[[str], None] | None = None) -> ChatAnswer:
    """A streamed answer; stream_options is part of the request so a server that refuses it gets it left out.
    `on_text` gets each piece of the answer as it arrives (live text). A cancel closes the stream at once, even
    while the server is silent between two pieces."""
    import httpx2
    import openai

    pieces = _Pieces(on_text)
    stream = client.chat.completions.create(**request, stream=True)
    forget = cancel.on_cancel(lambda: _close_quietly(stream))
    try:
        with stream:
            for chunk in stream:
                if cancel.cancelled:
                    raise CancelledError()  # closing the stream stops the server's work too
                pieces.add(chunk)
    except openai.APIError as exc:
        _raise_api_failure(exc, cancel)
    except (httpx2.TransportError, httpx2.StreamError) as exc:
        _raise_transport_failure(exc, cancel)
    finally:
        forget()
    if cancel.cancelled:
        raise CancelledError()
    return pieces.answer()


class _Pieces:
    """What a stream's chunks brought so far: text, refusal and reasoning pieces, model, usage, finish reason."""

    def __init__(self, on_text: Callable[[str], None] | None) -> None:
        self._on_text = on_text
        self._parts: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        self._answer = ChatAnswer()
        self._size = 0

    def add(self, chunk: Any) -> None:
        self._answer.model = chunk.model or self._answer.model
        if getattr(chunk, "usage", None) is not None:
            self._answer.usage = chunk.usage
        for choice in chunk.choices or []:
            if choice.delta is not None:
                self._add_delta(choice.delta)
            if choice.finish_reason:
                self._answer.finish_reason = choice.finish_reason
        if self._size > MAX_TEXT_CHARS:
            raise AnswerRefusedError(f"the answer is larger than {MAX_TEXT_CHARS // MB} MB of text; refused")

    def _add_delta(self, delta: Any) -> None:
        if delta.content:
            self._parts.append(delta.content)
            self._size += len(delta.content)
            if self._on_text is not None:
                self._on_text(delta.content)
        if getattr(delta, "refusal", None):
            self._refusal.append(delta.refusal)
        if text := _reasoning_of(delta):
            self._reasoning.append(text)

    def answer(self) -> ChatAnswer:
        self._answer.text = "".join(self._parts)
        self._answer.refusal = "".join(self._refusal) or None
        self._answer.reasoning = "".join(self._reasoning)
        return self._answer


def _raise_api_failure(exc: openai.APIError, cancel: CancelToken) -> NoReturn:
    import openai

    if cancel.cancelled:
        raise CancelledError() from None
    if isinstance(exc, openai.APIStatusError | openai.APIConnectionError):
        raise exc
    raise error_in_answer(exc.body if exc.body is not None else exc.message) from exc  # an error event


def _raise_transport_failure(exc: Exception, cancel: CancelToken) -> NoReturn:
    import httpx2

    from wfdesk.providers.resilience import is_capped

    if cancel.cancelled:
        raise CancelledError() from None  # our own close, from the cancel
    if is_capped(exc) or not isinstance(exc, httpx2.TransportError):
        raise exc
    # The server had answered: the connection dropped mid-answer. Worth a retry, never "offline".
    raise AnswerReadError(f"the connection dropped in the middle of the answer ({exc})") from exc


def _close_quietly(stream: Any) -> None:
    """Close a stream from the cancelling thread: the reading thread's next (or current) read ends."""
    try:
        # Closing the response alone leaves a read in another thread blocked until the server's next bytes:
        # shutting the socket down ends that read now.
        network = stream.response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        stream.response.close()
    except Exception:  # noqa: BLE001 - closing is best effort; the reading thread checks the cancel anyway
        log.debug("could not close the stream", exc_info=True)


def _reasoning_of(message: Any) -> str:
    """reasoning_content (DeepSeek, vLLM, LM Studio) or reasoning (Ollama, OpenRouter): extra fields."""
    extra = getattr(message, "model_extra", None) or {}
    for key in ("reasoning_content", "reasoning"):
        value = extra.get(key)
        if isinstance(value, str) and value:
            return value
    return ""
