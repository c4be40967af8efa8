"""The names editors know fields by: the labels the step configs give them (`"label": "Polished Content"` for the
`polished` field). Qt-free; the sections view reads them with the post."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def labels_by_field(steps: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """db_field -> label, in workflow order (each step's inputs, then its outputs); the first step that names a
    field gives its label. Two fields with the same label keep their field name beside it, so they stay apart."""
    labels: dict[str, str] = {}
    for step in steps:
        config = step.get("config") or {}
        for kind in ("inputs", "outputs"):
            specs = config.get(kind) or {}
            if not isinstance(specs, dict):
                continue
            for spec in specs.values():
                if not isinstance(spec, dict) or not isinstance(spec.get("db_field"), str):
                    continue
                label = spec.get("label") if isinstance(spec.get("label"), str) and spec["label"].strip() else None
                labels.setdefault(spec["db_field"], (label or spec["db_field"]).strip())
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {name: label if seen[label] == 1 or label == name else f"{label} ({name})"
            for name, label in labels.items()}
