"""What no database keeps as text, found before anything is written (both the editor's Save and a run check it)."""

from __future__ import annotations

import re
from typing import Any

from wfdesk.errors import Problem

UNSTORABLE = ("cannot be stored: it holds a NUL character or half of a character (a lone surrogate), which no "
              "database keeps as text")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_text(value: Any, prefix: str = "") -> list[Problem]:
    """A problem per string (or key) no database can store: PostgreSQL refuses a NUL in text and JSON alike."""
    out: list[Problem] = []
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                if isinstance(key, str) and _UNSTORABLE.search(key):
                    out.append(Problem(path or "config", f"has a key that {UNSTORABLE}"))
                else:
                    stack.append((f"{path}.{key}" if path else str(key), child))
        elif isinstance(node, list):
            stack.extend((f"{path}.{i}" if path else str(i), child) for i, child in enumerate(node))
        elif isinstance(node, str) and _UNSTORABLE.search(node):
            out.append(Problem(path, UNSTORABLE))
    return sorted(out, key=lambda p: p.field)
