"""Whether a chat answer is finished text: cut, filtered and refused answers never become a field's value.

finish_reason "length" = cut at the token limit; "content_filter" = filtered (maybe after some text); a refusal
comes in `message.refusal` / `delta.refusal` with `content` null; a stream that ends without any finish reason was
cut too. Local reasoning models (llama.cpp, LM Studio without a reasoning parser) put their thinking in the
content as <think>…</think>: it is kept in the run's metadata, never in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wfdesk.errors import UnitError

MAX_TEXT_CHARS = 1024 * 1024  # 1 MB of text: far beyond any section, small enough to never flood the database
MAX_THINKING_CHARS = 20_000  # kept for inspection only
PARTIAL_CHARS = 20_000  # how much of a cut or filtered answer the failed unit keeps

_THINK = re.compile(r"<(think|thinking|reasoning)>(.*?)</\1>\s*", re.DOTALL | re.IGNORECASE)
_OPEN_THINK = re.compile(r"^\s*<(think|thinking|reasoning)>", re.IGNORECASE)


@dataclass
class ChatAnswer:
    text: str = ""
    finish_reason: str | None = None
    refusal: str | None = None
    reasoning: str = ""  # reasoning_content / reasoning fields of servers that parse it out
    model: str | None = None
    usage: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class AnswerRefusedError(UnitError):
    """The provider answered, but not with finished text. Not worth a retry: the same prompt gets the same end."""


def split_thinking(text: str) -> tuple[str, str]:
    """(text without <think> blocks, the thinking). An unclosed <think> at the start is all thinking."""
    thinking = [m.group(2).strip() for m in _THINK.finditer(text)]
    rest = _THINK.sub("", text)
    if _OPEN_THINK.match(rest):
        thinking.append(_OPEN_THINK.sub("", rest, count=1).strip())
        rest = ""
    return rest.strip(), "\n\n".join(t for t in thinking if t)


def finished_text(answer: ChatAnswer, where: str, max_tokens: int | None, *, streamed: bool
                  ) -> tuple[str, dict[str, Any]]:
    """The answer's text and metadata worth keeping, or AnswerRefusedError with the partial text in its details.

    A whole (non-streamed) answer without a finish reason is taken as finished: some local servers leave it out.
    A stream without one ended early."""
    text, thinking = split_thinking(answer.text)
    thinking = "\n\n".join(t for t in (answer.reasoning.strip(), thinking) if t)
    meta: dict[str, Any] = {"finish_reason": answer.finish_reason}
    if thinking:
        meta["thinking"] = thinking[:MAX_THINKING_CHARS]
        meta["thinking_truncated"] = len(thinking) > MAX_THINKING_CHARS
    partial = {**meta, "partial_output": answer.text[:PARTIAL_CHARS],
               "partial_truncated": len(answer.text) > PARTIAL_CHARS}
    if answer.refusal:
        raise AnswerRefusedError(f"the model refused: \u201c{answer.refusal.strip()[:500]}\u201d", details=partial)
    reason = answer.finish_reason
    if reason == "length" or (reason is None and streamed):
        tokens = max_tokens or getattr(answer.usage, "completion_tokens", None)
        at = f" at {tokens} tokens" if tokens else ""
        cause = "; raise max tokens" if max_tokens else " (the model's own limit)"
        if reason is None:
            raise AnswerRefusedError(f"{where} ended the answer without finishing it: it was cut off; try again",
                                details=partial)
        raise AnswerRefusedError(f"the answer was cut off{at}{cause}", details=partial)
    if reason == "content_filter":
        raise AnswerRefusedError(f"the answer was stopped by {where}'s content filter", details=partial)
    if reason in ("tool_calls", "function_call"):
        raise AnswerRefusedError(f"the model asked to call a tool instead of answering ({reason})", details=partial)
    if len(text) > MAX_TEXT_CHARS:
        raise AnswerRefusedError(f"the answer is larger than {MAX_TEXT_CHARS // 1024 // 1024} MB of text; refused",
                            details={"finish_reason": reason})
    if not text.strip():
        suffix = " (only thinking, no answer; raise max tokens)" if thinking else ""
        raise UnitError(f"{where} sent an empty answer{suffix}", details=meta)
    return text, meta
