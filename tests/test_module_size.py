"""Every product module stays small enough to read: at most MAX_LINES lines and a maintainability index (radon) of at
least MIN_MI. The modules not yet split are listed below; the lists can only shrink (a listed module that now fits
fails the test until it is taken off its list)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wfdesk"
MAX_LINES = 400
MIN_MI = 20.0

# Over MAX_LINES today, each waiting for its split (issue 14, item 5). Remove a module once it fits; never add one.
TOO_LONG_YET: set[str] = set()
# Under MIN_MI today, the same way.
HARD_TO_MAINTAIN_YET: set[str] = set()


def _product_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_product_module_is_over_the_line_limit():
    too_long = {_name(p): _lines(p) for p in _product_modules() if _lines(p) > MAX_LINES}
    unlisted = {name: n for name, n in too_long.items() if name not in TOO_LONG_YET}
    assert not unlisted, f"modules over {MAX_LINES} lines (split them along their seams): {unlisted}"


def test_the_line_limit_allow_list_only_shrinks():
    stale = sorted(name for name in TOO_LONG_YET if not (ROOT / name).exists() or _lines(ROOT / name) <= MAX_LINES)
    assert not stale, f"these fit now (or are gone): take them off TOO_LONG_YET: {stale}"


def _mi() -> dict[str, float]:
    metrics = pytest.importorskip("radon.metrics")
    return {_name(p): metrics.mi_visit(p.read_text(encoding="utf-8"), True) for p in _product_modules()}


def test_every_product_module_is_maintainable():
    low = {name: round(mi, 2) for name, mi in _mi().items() if mi < MIN_MI and name not in HARD_TO_MAINTAIN_YET}
    assert not low, f"maintainability index under {MIN_MI} (radon mi -s): {low}"


def test_the_maintainability_allow_list_only_shrinks():
    scores = _mi()
    stale = sorted(name for name in HARD_TO_MAINTAIN_YET if scores.get(name, MIN_MI) >= MIN_MI)
    assert not stale, f"these score {MIN_MI} or more now (or are gone): take them off HARD_TO_MAINTAIN_YET: {stale}"
