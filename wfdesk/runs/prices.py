"""What a model costs: the editor's own price first, then the genai-prices library, then a short list of image
models that are priced per picture (which the library, priced per token, does not cover).

genai-prices ships its price data inside the package: a lookup never touches the network (its optional
auto-update is never started here). Upgrading the package updates the prices.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from wfdesk.settings import ModelPrice, Settings

LIBRARY = "genai-prices"
# Priced per picture (1024x1024, standard quality), not per token, so not in the library.
PER_IMAGE: dict[str, float] = {"dall-e-3": 0.04, "dall-e-2": 0.02}
# gpt-image models bill images as output tokens; an answer without usage counts this many per image
# (OpenAI's figure for one 1024x1024 image at medium quality).
IMAGE_OUTPUT_TOKENS = 1056
# The rows the price table starts with, so the editor sees what the common models cost.
STARTER_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-image-1", "dall-e-3", "dall-e-2")


# A snapshot's date at the end of a model id: answers name the snapshot ("gpt-4o-2024-08-06") of the model asked for.
DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


@dataclass(frozen=True)
class Quote:
    price: ModelPrice  # per 1k tokens and per image, for showing; costs use library_cost for tiered prices
    source: str  # "yours" | "genai-prices" | "per image"


def quote(settings: Settings, model: str | None) -> Quote | None:
    """Where a model's price comes from, or None when no price is known for it."""
    if not model:
        return None
    own = own_price(settings, model)
    if own is not None:
        return Quote(own, "yours")
    if model in PER_IMAGE:
        return Quote(ModelPrice(per_image=PER_IMAGE[model]), "per image")
    per_1k = library_per_1k(model)
    return Quote(per_1k, LIBRARY) if per_1k is not None else None


def own_price(settings: Settings, model: str | None) -> ModelPrice | None:
    """The editor's price for the model, or for the model the snapshot is of (their "gpt-4o" covers
    "gpt-4o-2024-08-06"); a snapshot priced in its own row wins."""
    if not model:
        return None
    own = settings.price(model)
    return own if own is not None else settings.price(DATED.sub("", model))


def known_price(model: str | None) -> ModelPrice | None:
    """The price without the editor's own: what a row of the price table goes back to."""
    if not model:
        return None
    if model in PER_IMAGE:
        return ModelPrice(per_image=PER_IMAGE[model])
    return library_per_1k(model)


def priced_by_tokens(model: str) -> bool:
    return model not in PER_IMAGE and library_per_1k(model) is not None


@functools.lru_cache(maxsize=512)
def library_per_1k(model: str) -> ModelPrice | None:
    prompt = library_cost(model, 1000, 0)
    completion = library_cost(model, 0, 1000)
    if prompt is None or completion is None:
        return None
    return ModelPrice(prompt_per_1k=prompt, completion_per_1k=completion)


def library_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars for these tokens by the library's bundled prices; None when it does not know the model."""
    import genai_prices  # imported on first use: the price data is a large module

    usage = genai_prices.Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens)
    try:
        return float(genai_prices.calc_price(usage, model).total_price)
    except LookupError:
        return None
