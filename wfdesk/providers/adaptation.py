"""Parameters a provider refused, remembered per provider + model so the next request is shaped right at once.

A server that answers 400/422 "unknown parameter 'x'" gets one retry without x (or with the name it suggests:
"Use 'max_completion_tokens' instead"); so an OpenAI-compatible server nobody has seen before works without a code
change. Qt-free, thread-safe: every worker of every run shares one memory per workspace, and what is learned is kept
in the data folder (provider-adaptations.json), so the next run's process (or CLI call) asks right at once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfdesk.fileio import atomic_write_bytes

log = logging.getLogger(__name__)
FILE_NAME = "provider-adaptations.json"

# Never dropped: without them the request means something else (or nothing).
PROTECTED = frozenset({"model", "messages", "prompt", "n", "stream"})
# Parameters a server may refuse by *value* ("Unsupported value: 'temperature' does not support 0.7 with this
# model. Only the default (1) value is supported."): leaving them out gives the model's default, which is fine.
# A refused value of anything else (a size, a quality) is the editor's to fix, never silently dropped.
DROPPABLE_VALUES = frozenset({"temperature", "top_p", "presence_penalty", "frequency_penalty", "stop"})
REFUSAL_CODES = frozenset({"unknown_parameter", "unsupported_parameter", "unrecognized_parameter"})

# Wordings of "this parameter is not known here", from OpenAI, Azure OpenAI, vLLM/pydantic, llama.cpp and proxies.
_PARAM_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (
    r"unknown parameter:?\s*'?\"?([a-z_][a-z0-9_.]*)",
    r"unsupported parameter:?\s*'?\"?([a-z_][a-z0-9_.]*)",
    r"unrecognized request argument supplied:?\s*'?\"?([a-z_][a-z0-9_.]*)",
    r"unrecognized (?:parameter|field|argument):?\s*'?\"?([a-z_][a-z0-9_.]*)",
    r"unexpected keyword argument '([a-z_][a-z0-9_]*)'",
    r"'?([a-z_][a-z0-9_]*)'? is not (?:a )?(?:supported|valid|allowed) (?:parameter|argument|field)",
    r"'([a-z_][a-z0-9_]*)' is not supported with this model",
    r"setting `([a-z_][a-z0-9_]*)` is not supported",  # LiteLLM's UnsupportedParamsError
)]
# LiteLLM: "openai does not support parameters: ['reasoning_effort', 'x'], for model=…"
_PARAM_LIST = re.compile(r"does not support parameters:?\s*\[([^\]]*)\]", re.IGNORECASE)
# LiteLLM, by value: "O-series models don't support temperature=0.7", "gpt-5-mini doesn't support temperature=0.7
# while reasoning is active"
_VALUE_EQUALS = re.compile(r"(?:don't|doesn't|does not|do not) support ([a-z_][a-z0-9_]*)=", re.IGNORECASE)
# pydantic (vLLM, FastAPI servers): [{'type': 'extra_forbidden', 'loc': ('body', 'x'), 'msg': 'Extra inputs ...'}]
_EXTRA_LOC = re.compile(r"""[\[(]\s*['"]body['"]\s*,\s*['"]([a-z_][a-z0-9_]*)['"]""", re.IGNORECASE)
_EXTRA_MARK = re.compile(r"extra_forbidden|extra (?:inputs|fields) (?:are|is) not permitted", re.IGNORECASE)
_VALUE_PATTERN = re.compile(r"unsupported value:?\s*'([a-z_][a-z0-9_]*)'", re.IGNORECASE)
_INSTEAD = re.compile(r"use '([a-z_][a-z0-9_]*)' instead", re.IGNORECASE)


@dataclass(frozen=True)
class Refusal:
    param: str
    replacement: str | None = None  # the name the server asks for instead, if it says


def refused_parameter(status: int, body: Any, request: dict[str, Any]) -> Refusal | None:
    """The optional parameter of `request` that the server refused as unknown/unsupported, if that is what
    this error says. A name the request does not carry is never trusted (the message may be about something else)."""
    if status not in (400, 422):
        return None
    err = body.get("error", body) if isinstance(body, dict) else body
    code = param = None
    if isinstance(err, dict):
        code, param = err.get("code"), err.get("param")
        message = str(err.get("message") or err.get("detail") or err)
    else:
        message = str(err or "")
    candidates: list[str] = []
    if code in REFUSAL_CODES and isinstance(param, str):
        candidates.append(param)
    value = _VALUE_PATTERN.search(message)
    if code == "unsupported_value" and isinstance(param, str) and param in DROPPABLE_VALUES:
        candidates.append(param)
    elif value and value.group(1) in DROPPABLE_VALUES:
        candidates.append(value.group(1))
    for pattern in _PARAM_PATTERNS:
        candidates += [m.group(1) for m in pattern.finditer(message)]
    for listed in _PARAM_LIST.finditer(message):
        candidates += re.findall(r"[a-z_][a-z0-9_]*", listed.group(1), re.IGNORECASE)
    candidates += [m.group(1) for m in _VALUE_EQUALS.finditer(message) if m.group(1) in DROPPABLE_VALUES]
    if _EXTRA_MARK.search(message):
        candidates += [m.group(1) for m in _EXTRA_LOC.finditer(message)]
    instead = _INSTEAD.search(message)
    for name in candidates:
        name = name.strip(".").split(".")[-1]
        if name in request and name not in PROTECTED:
            replacement = instead.group(1) if instead and instead.group(1) != name else None
            return Refusal(name, replacement)
    return None


@dataclass
class _Learned:
    dropped: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)


class Adaptations:
    """provider + model -> parameters to leave out (or rename); kept in `path` when one is given."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._learned: dict[tuple[str, str], _Learned] = {}
        self.path = path
        if path is not None:
            self._merge(_read(path))

    def learn(self, provider: str, model: str, refusal: Refusal) -> None:
        with self._lock:
            if self.path is not None:
                self._merge(_read(self.path))  # what other processes learned meanwhile is kept too
            learned = self._learned.setdefault((provider, model), _Learned())
            target = refusal.replacement
            if target and target not in learned.dropped and target not in learned.renamed:
                learned.renamed[refusal.param] = target
            else:
                learned.dropped.add(refusal.param)
                learned.renamed.pop(refusal.param, None)
            if self.path is not None:
                _write(self.path, [{"provider": p, "model": m, "left_out": sorted(v.dropped), "renamed": v.renamed}
                                   for (p, m), v in sorted(self._learned.items())])

    def _merge(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            learned = self._learned.setdefault((entry["provider"], entry["model"]), _Learned())
            learned.dropped |= set(entry["left_out"])
            for param, target in entry["renamed"].items():
                if param not in learned.dropped:
                    learned.renamed.setdefault(param, target)

    def shape(self, provider: str, model: str, request: dict[str, Any]) -> dict[str, Any]:
        """A copy of the request without what this provider + model refused before."""
        with self._lock:
            learned = self._learned.get((provider, model))
            if learned is None:
                return dict(request)
            dropped, renamed = set(learned.dropped), dict(learned.renamed)
        out: dict[str, Any] = {}
        for key, value in request.items():
            if key in dropped:
                continue
            target = renamed.get(key)
            if target is not None and target not in dropped and target not in request:
                out[target] = value
            elif target is None:
                out[key] = value
        return out

    def learned(self, provider: str, model: str) -> dict[str, Any]:
        """What was learned, for a run's metadata and the log."""
        with self._lock:
            learned = self._learned.get((provider, model))
            if learned is None:
                return {}
            return {"left_out": sorted(learned.dropped), "renamed": dict(learned.renamed)}


def _read(path: Path) -> list[dict[str, Any]]:
    """The kept adaptations; a missing or damaged file is an empty memory (it only costs one refusal to relearn)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return [{"provider": str(e["provider"]), "model": str(e["model"]),
                 "left_out": [str(p) for p in e.get("left_out", []) if _optional(str(p))],
                 "renamed": {str(k): str(v) for k, v in dict(e.get("renamed", {})).items()
                             if _optional(str(k)) and _optional(str(v))}} for e in entries]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("ignoring %s, which cannot be read: %s", path.name, exc)
        return []


def _optional(name: str) -> bool:
    """A parameter name a kept adaptation may leave out or rename to: one a refusal could have named, never one the
    request cannot do without (a damaged or hand-edited file must not break every request)."""
    return re.fullmatch(r"[a-z_][a-z0-9_]*", name, re.IGNORECASE) is not None and name not in PROTECTED


def _write(path: Path, entries: list[dict[str, Any]]) -> None:
    """Whole or not at all (fileio's temporary file renamed over it, removed on failure): a crash never leaves half
    a file, a failure never a stray temporary one."""
    try:
        atomic_write_bytes(path, json.dumps(entries, indent=1).encode("utf-8"))
    except OSError as exc:  # a read-only folder, a full disk, (Windows) the file open elsewhere: this process only
        log.warning("cannot keep what %s learned: %s", path.name, exc)
