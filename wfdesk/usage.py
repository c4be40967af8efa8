"""What a request used (tokens, images): reported by providers and handlers, priced and budgeted by the runs."""

from __future__ import annotations

import math
from dataclasses import dataclass

CHARS_PER_TOKEN = 4  # English text, roughly; only used when a server does not say


@dataclass(frozen=True)
class Usage:
    model: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    estimated: bool = False  # some of the tokens were counted by us, not reported by the server


def estimate_tokens(text: str | None) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN)) if text else 0
