"""The cost ledger: estimated cost per section unit (prices: wfdesk.runs.prices), totals, and budgets checked
up front."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from wfdesk.db.models import Post, Run, RunUnit
from wfdesk.errors import WfdeskError
from wfdesk.runs import prices
from wfdesk.settings import Settings
from wfdesk.states import UnitState
from wfdesk.usage import Usage, estimate_tokens
from wfdesk.workspace import Workspace

log = logging.getLogger(__name__)


class BudgetError(WfdeskError):
    """A run that would go over a budget; refused before anything is sent."""


def complete_usage(usage: Usage, prompt: str | None = None, output: str | None = None) -> Usage:
    """The usage with what the answer did not report estimated (many local servers send no `usage`)."""
    if usage.prompt_tokens or usage.completion_tokens or not usage.model:
        return usage  # reported, or no model at all (a custom script): nothing to estimate
    if output:
        return replace(usage, prompt_tokens=estimate_tokens(prompt), completion_tokens=estimate_tokens(output),
                       estimated=True)
    if usage.images and prices.priced_by_tokens(usage.model):
        return replace(usage, completion_tokens=usage.images * prices.IMAGE_OUTPUT_TOKENS, estimated=True)
    return usage


def price_of(settings: Settings, usage: Usage) -> float | None:
    """Dollars for this usage; None when no price is known for its model."""
    usage = complete_usage(usage)
    own = prices.own_price(settings, usage.model)
    if own is not None:
        return (usage.prompt_tokens / 1000 * own.prompt_per_1k + usage.completion_tokens / 1000
                * own.completion_per_1k + usage.images * own.per_image)
    if not usage.model:
        return None
    if usage.model in prices.PER_IMAGE:
        return usage.images * prices.PER_IMAGE[usage.model]
    return prices.library_cost(usage.model, usage.prompt_tokens, usage.completion_tokens)


def cost_of(settings: Settings, usage: Usage) -> float:
    """Dollars, counting a model without a known price as nothing (the ledger marks it)."""
    return price_of(settings, usage) or 0.0


def month_start(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent(ws: Workspace, *, post_id: int | None = None, since: datetime | None = None) -> float:
    stmt = select(func.coalesce(func.sum(RunUnit.cost), 0.0)).join(Run, Run.id == RunUnit.run_id)
    if post_id is not None:
        stmt = stmt.where(Run.post_id == post_id)
    if since is not None:
        stmt = stmt.where(RunUnit.finished_at >= since)
    with ws.db.session() as s:
        return float(s.scalar(stmt) or 0.0)


def enforce_budget(ws: Workspace, post_id: int, estimate: list[Usage]) -> None:
    """Raises BudgetError when a planned run would exceed a budget. With no budget set nothing is priced (pricing
    is a good part of a run's own CPU: a few hundred microseconds a section in genai-prices).

    A model without a known price cannot be checked against a budget: the `unpriced_models` setting says
    whether such a run is refused or goes ahead with a warning."""
    settings = ws.settings
    if settings.budget_per_post is None and settings.budget_per_month is None:
        return
    priced = [(u, price_of(settings, u)) for u in estimate]
    cost = sum(p or 0.0 for _, p in priced)
    unpriced = sorted({u.model or "(no model)" for u, p in priced if p is None})
    if unpriced:
        names = ", ".join(unpriced)
        if settings.unpriced_models == "refuse":
            raise BudgetError(f"no price is known for {names}, so this run cannot be checked against your budget. "
                              "Add its price in Settings → Costs & budgets. Nothing was sent.")
        log.warning("no price is known for %s: the budget counts it as free", names)
    if cost <= 0:
        return
    if settings.budget_per_post is not None:
        used = spent(ws, post_id=post_id)
        if used + cost > settings.budget_per_post:
            raise BudgetError(f"This run would cost about {money(cost)}; “{_post_title(ws, post_id)}” has used "
                              f"{money(used)} of its {money(settings.budget_per_post)} budget. Nothing was sent.")
    if settings.budget_per_month is not None:
        used = spent(ws, since=month_start())
        if used + cost > settings.budget_per_month:
            raise BudgetError(f"This run would cost about {money(cost)}; this month has used {money(used)} of the "
                              f"{money(settings.budget_per_month)} monthly budget. Nothing was sent.")


def money(dollars: float) -> str:
    """Dollars as an editor reads them: cents, and "less than $0.01" rather than $0.0084."""
    if 0 < dollars < 0.005:
        return "less than $0.01"
    return f"${dollars:,.2f}"


def _post_title(ws: Workspace, post_id: int) -> str:
    with ws.db.session() as s:
        post = s.get(Post, post_id)
        return post.title if post is not None else "this post"


def ledger_values(settings: Settings, usage: Usage, prompt: str | None,
                  output: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(unit row values, metadata flags) for a finished unit: tokens estimated where the answer had none,
    the cost, and marks for what was estimated or could not be priced."""
    usage = complete_usage(usage, prompt, output)
    cost = price_of(settings, usage)
    flags: dict[str, Any] = {}
    if usage.estimated:
        flags["tokens_estimated"] = True
    if cost is None and usage.model:
        flags["price_known"] = False
    values = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
              "images": usage.images, "model": usage.model, "cost": cost or 0.0}
    return values, flags


def totals(ws: Workspace, by: str, *, post_id: int | None = None) -> list[dict[str, Any]]:
    """Cost, tokens and images grouped by step, post, month or model (successful units only)."""
    if by not in ("step", "post", "month", "model"):
        raise ValueError(f"cannot group costs by {by!r}")
    stmt = (select(Run.step_id, Run.step_name, Run.post_id, RunUnit.model, RunUnit.finished_at, RunUnit.cost,
                   RunUnit.prompt_tokens, RunUnit.completion_tokens, RunUnit.images, RunUnit.result)
            .join(Run, Run.id == RunUnit.run_id).where(RunUnit.status == UnitState.SUCCESS))
    if post_id is not None:
        stmt = stmt.where(Run.post_id == post_id)
    groups: dict[Any, dict[str, Any]] = defaultdict(lambda: {"cost": 0.0, "prompt_tokens": 0,
                                                             "completion_tokens": 0, "images": 0, "units": 0,
                                                             "estimated_units": 0, "unpriced_units": 0})
    with ws.db.session() as s:
        for step_id, step_name, pid, model, finished, cost, pt, ct, images, result in s.execute(stmt):
            key = {"step": (step_id, step_name), "post": pid, "model": model or "(unknown)",
                   "month": finished.strftime("%Y-%m") if finished else "(unfinished)"}[by]
            g = groups[key]
            g["cost"] += cost or 0.0
            g["prompt_tokens"] += pt or 0
            g["completion_tokens"] += ct or 0
            g["images"] += images or 0
            g["units"] += 1
            meta = (result or {}).get("metadata") or {} if isinstance(result, dict) else {}
            g["estimated_units"] += bool(meta.get("tokens_estimated"))
            g["unpriced_units"] += meta.get("price_known") is False
    out = []
    for key, g in groups.items():
        label = {"step": lambda k: {"step_id": k[0], "step": k[1]}, "post": lambda k: {"post_id": k},
                 "model": lambda k: {"model": k}, "month": lambda k: {"month": k}}[by](key)
        out.append({**label, **g, "cost": round(g["cost"], 6)})
    return sorted(out, key=lambda r: str(r.get("month", "")) if by == "month" else -r["cost"])
