"""What every command of the command line shares: exit codes, the bad-request error, JSON in and out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_REQUEST = 0, 1, 2


class BadRequestError(Exception):
    pass


def json_arg(text: str | None, name: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequestError(f"{name} must be a JSON object")
    return value


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def read_json(path: Path) -> Any:
    from wfdesk.services.transfer import ImportRefusedError, read_json

    try:
        return read_json(path.read_text(encoding="utf-8"))
    except ImportRefusedError as exc:  # not JSON, or nested too deeply: said in words
        raise BadRequestError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise BadRequestError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"{path}: cannot read: {exc}") from None
