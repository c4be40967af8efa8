"""The cost ledger: estimated cost per section unit from a price table, totals, and budgets checked up front."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from wfdesk.db.models import Run, RunUnit
from wfdesk.errors import WfdeskError
from wfdesk.settings import Settings
from wfdesk.workspace import Workspace


class BudgetError(WfdeskError):
    """A run that would go over a budget; refused before anything is sent."""


@dataclass(frozen=True)
class Usage:
    model: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0


def cost_of(settings: Settings, usage: Usage) -> float:
    price = settings.price(usage.model)
    if price is None:
        return 0.0
    return (usage.prompt_tokens / 1000 * price.prompt_per_1k + usage.completion_tokens / 1000
            * price.completion_per_1k + usage.images * price.per_image)


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


def enforce_budget(ws: Workspace, post_id: int, estimate: list[Usage]) -> float:
    """The estimated cost of a planned run; raises BudgetError when it would exceed a budget."""
    cost = sum(cost_of(ws.settings, u) for u in estimate)
    settings = ws.settings
    if cost <= 0 or (settings.budget_per_post is None and settings.budget_per_month is None):
        return cost
    if settings.budget_per_post is not None:
        used = spent(ws, post_id=post_id)
        if used + cost > settings.budget_per_post:
            raise BudgetError(f"This run would cost about ${cost:.4f}; post {post_id} has used ${used:.4f} of its "
                              f"${settings.budget_per_post:.2f} budget. Nothing was sent.")
    if settings.budget_per_month is not None:
        used = spent(ws, since=month_start())
        if used + cost > settings.budget_per_month:
            raise BudgetError(f"This run would cost about ${cost:.4f}; this month has used ${used:.4f} of the "
                              f"${settings.budget_per_month:.2f} monthly budget. Nothing was sent.")
    return cost


def totals(ws: Workspace, by: str, *, post_id: int | None = None) -> list[dict[str, Any]]:
    """Cost, tokens and images grouped by step, post, month or model (successful units only)."""
    if by not in ("step", "post", "month", "model"):
        raise ValueError(f"cannot group costs by {by!r}")
    stmt = (select(Run.step_id, Run.step_name, Run.post_id, RunUnit.model, RunUnit.finished_at, RunUnit.cost,
                   RunUnit.prompt_tokens, RunUnit.completion_tokens, RunUnit.images)
            .join(Run, Run.id == RunUnit.run_id).where(RunUnit.status == "success"))
    if post_id is not None:
        stmt = stmt.where(Run.post_id == post_id)
    groups: dict[Any, dict[str, Any]] = defaultdict(lambda: {"cost": 0.0, "prompt_tokens": 0,
                                                             "completion_tokens": 0, "images": 0, "units": 0})
    with ws.db.session() as s:
        for step_id, step_name, pid, model, finished, cost, pt, ct, images in s.execute(stmt):
            key = {"step": (step_id, step_name), "post": pid, "model": model or "(unknown)",
                   "month": finished.strftime("%Y-%m") if finished else "(unfinished)"}[by]
            g = groups[key]
            g["cost"] += cost or 0.0
            g["prompt_tokens"] += pt or 0
            g["completion_tokens"] += ct or 0
            g["images"] += images or 0
            g["units"] += 1
    out = []
    for key, g in groups.items():
        label = {"step": lambda k: {"step_id": k[0], "step": k[1]}, "post": lambda k: {"post_id": k},
                 "model": lambda k: {"model": k}, "month": lambda k: {"month": k}}[by](key)
        out.append({**label, **g, "cost": round(g["cost"], 6)})
    return sorted(out, key=lambda r: str(r.get("month", "")) if by == "month" else -r["cost"])
