"""What each model family accepts, as OpenAI documents it (checked against the installed openai SDK's types:
types/image_model.py, types/image_generate_params.py, types/shared/chat_model.py, types/shared/reasoning_effort.py).

Servers other than OpenAI's reuse these names loosely (LocalAI serves Stable Diffusion as "dall-e-3"), so only the
request *shape* follows the family everywhere; the documented limits are checked only against OpenAI's own API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# OpenAI's reasoning models: the o-series and gpt-5 onwards (gpt-6 included). They refuse `max_tokens`
# ("Use 'max_completion_tokens' instead") and any temperature but 1, and take `reasoning_effort`.
_REASONING = re.compile(r"^(o\d+(-|$)|gpt-[5-9])")
# Chat variants of the gpt-5 family behave like the older chat models: no reasoning_effort.
_CHAT_VARIANT = re.compile(r"-chat(-latest)?$")

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def bare_name(model: str | None) -> str:
    """"openai/o3" (OpenRouter, LiteLLM) and "O3" name the same model as "o3"."""
    return (model or "").rsplit("/", 1)[-1].strip().lower()


def is_reasoning_model(model: str | None) -> bool:
    name = bare_name(model)
    return bool(_REASONING.match(name)) and not _CHAT_VARIANT.search(name)


def uses_max_completion_tokens(model: str | None) -> bool:
    """gpt-5 chat variants refuse max_tokens too, although they take no reasoning_effort."""
    return bool(_REASONING.match(bare_name(model)))


# --- images ---------------------------------------------------------------------------------------------------

STANDARD_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
GPT_QUALITIES = ("low", "medium", "high", "auto")


@dataclass(frozen=True)
class ImageModelSpec:
    family: str  # "gpt-image", "dall-e-3", "dall-e-2" or "other" (a name only some other server knows)
    sizes: tuple[str, ...] | None  # None: any WIDTHxHEIGHT within free_size's rules
    qualities: tuple[str, ...] | None
    max_n: int
    retired: str | None = None  # when OpenAI stopped serving it
    free_size: bool = False  # gpt-image-2 and 2.5: any size, both sides divisible by 16, ratio <= 3:1

    @property
    def takes_response_format(self) -> bool:
        # GPT image models always answer base64 and refuse the parameter ("Unknown parameter: 'response_format'").
        return self.family != "gpt-image"

    @property
    def gpt_options(self) -> bool:
        """background, output_format and output_compression exist only for GPT image models."""
        return self.family == "gpt-image"


def image_model_spec(model: str | None) -> ImageModelSpec:
    name = bare_name(model)
    if name.startswith(("gpt-image-2.5", "gpt-image-2-")) or name == "gpt-image-2":
        qualities = GPT_QUALITIES + (("xhigh", "max") if name.startswith("gpt-image-2.5") else ())
        return ImageModelSpec("gpt-image", None, qualities, 10, free_size=True)
    if name == "gpt-image-1" or name.startswith("gpt-image-1-2"):
        return ImageModelSpec("gpt-image", STANDARD_GPT_SIZES, GPT_QUALITIES, 10, retired="2026-10-23")
    if name.startswith(("gpt-image", "chatgpt-image")):  # 1.5, 1-mini, 2.6 and the -latest alias
        return ImageModelSpec("gpt-image", STANDARD_GPT_SIZES, GPT_QUALITIES, 10)
    if name.startswith("dall-e-3"):
        return ImageModelSpec("dall-e-3", ("1024x1024", "1792x1024", "1024x1792"), ("standard", "hd"), 1,
                              retired="2026-05-12")
    if name.startswith("dall-e-2"):
        return ImageModelSpec("dall-e-2", ("256x256", "512x512", "1024x1024"), ("standard",), 10,
                              retired="2026-05-12")
    return ImageModelSpec("other", None, None, 10)


MAX_EDGE, MAX_PIXELS = 3840, 3840 * 2160


def size_problem(spec: ImageModelSpec, size: str) -> str | None:
    """Why OpenAI would refuse this size for this model, or None."""
    if spec.sizes is not None:
        return None if size in spec.sizes else f"must be one of {', '.join(spec.sizes)} for this model"
    if not spec.free_size or size == "auto":
        return None
    width, height = (int(x) for x in size.split("x"))
    if width % 16 or height % 16:
        return "width and height must both be divisible by 16"
    if max(width, height) > 3 * min(width, height):
        return "the aspect ratio must be between 1:3 and 3:1"
    if max(width, height) > MAX_EDGE or width * height > MAX_PIXELS:
        return "is larger than the largest size this model makes (3840x2160)"
    return None
