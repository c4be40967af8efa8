"""The result cache: a section whose request is identical to an earlier successful unit's reuses that answer.

What decides an answer is described by the handler (`SectionHandler.reusable_request`: the provider's address —
never its key —, the model, the parameters that change the answer and the rendered prompt); its sha256, over a
canonical JSON, is the unit's `cache_key`. Handlers that do not describe their request (image steps, custom
scripts, most plugins) are never cached.

The default rule: only a deterministic request is reused — one asked at temperature 0, or with a fixed seed. An
answer sampled at a higher temperature is one of many an editor may want to see, so it is never handed out again
unless asked for anew. The editor asks for fresh answers with "Reuse earlier identical answers" unchecked in the
step panel (the run context's `fresh_answers`), or `--no-cache` in the CLI.

A reused answer is written like a new one (a new version of each output field) but sends nothing and costs
nothing: the unit records `cache_hit`, 0 tokens, cost 0, and where the answer came from in its metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wfdesk.db.models import ContentVersion, RunUnit
from wfdesk.scripts.base import Job, OutputWrite, UnitOutcome, UnitPlan
from wfdesk.states import UnitState

if TYPE_CHECKING:
    from wfdesk.scripts.base import SectionHandler
    from wfdesk.workspace import Workspace

FRESH_ANSWERS = "fresh_answers"  # run context key: true = always ask the provider (the editor wants new answers)
CANDIDATES = 5  # earlier units looked at for a key: one whose answer's version is gone is skipped


@dataclass(frozen=True)
class Probe:
    """What the cache knows about one unit before it runs."""

    key: str | None = None  # None: this unit is never cached
    outcome: UnitOutcome | None = None  # the reused answer, on a hit
    model: str | None = None  # the model that gave the reused answer

    @property
    def hit(self) -> bool:
        return self.outcome is not None


NOT_CACHED = Probe()


def wants_fresh(job: Job[Any], fresh: bool = False) -> bool:
    """True when this run must ask the provider even for an answer it already has."""
    return fresh or bool(job.context.get(FRESH_ANSWERS))


def cache_key(script_type: str, described: dict[str, Any]) -> str:
    """sha256 of a canonical JSON (sorted keys, no spaces): the same request always gives the same key."""
    canonical = json.dumps({"script_type": script_type, **described}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def deterministic(described: dict[str, Any]) -> bool:
    """The default rule: reuse only what the provider would answer the same way again (temperature 0, or a seed).
    A request without a temperature gets the provider's default (1 at OpenAI): sampled, so not reused."""
    request = described.get("request")
    if not isinstance(request, dict):
        return False
    temperature = request.get("temperature")
    return (temperature is not None and float(temperature) == 0.0) or request.get("seed") is not None


def probe(ws: Workspace, handler: SectionHandler[Any], job: Job[Any], plan: UnitPlan, *, fresh: bool) -> Probe:
    """The unit's key, and the earlier answer it reuses when the rule allows one and there is one."""
    described = handler.reusable_request(job, plan)
    if described is None:
        return NOT_CACHED
    key = cache_key(handler.script_type, described)
    if fresh or not deterministic(described):
        return Probe(key)
    earlier = earlier_answer(ws, key)
    if earlier is None:
        return Probe(key)
    run_id, unit_id, text, model = earlier
    metadata = {"model": model, "reused": True, "reused_from_run": run_id, "reused_from_unit": unit_id,
                "prompt_tokens": 0, "completion_tokens": 0}
    outcome = UnitOutcome(outputs=[OutputWrite(field=f, text=text) for f in job.output_fields()],
                          entry={"output": text}, metadata=metadata)
    return Probe(key, outcome, model)


def earlier_answer(ws: Workspace, key: str) -> tuple[int, int, str, str | None] | None:
    """(run id, unit id, answer, model) of the newest successful unit with this key. Failed, cancelled and
    unfinished units are never reused; neither is one whose answer's version was deleted with its section."""
    stmt = (select(RunUnit.run_id, RunUnit.id, RunUnit.result, RunUnit.model)
            .where(RunUnit.cache_key == key, RunUnit.status == UnitState.SUCCESS)
            .order_by(RunUnit.id.desc()).limit(CANDIDATES))
    with ws.db.session() as s:
        for run_id, unit_id, result, model in s.execute(stmt).all():
            text = _answer(s, run_id, unit_id, result)
            if text is not None:
                return run_id, unit_id, text, model
    return None


def _answer(session: Session, run_id: int, unit_id: int, result: Any) -> str | None:
    """The unit's answer, from the version that stores it — only if that version is still the one this unit wrote
    (SQLite hands a deleted row's id to the next row, so an id alone may point at another text)."""
    if not isinstance(result, dict):
        return None
    if isinstance(result.get("output"), str):
        return str(result["output"])
    version = session.get(ContentVersion, result.get("output_version_id") or 0)
    if version is None or version.unit_id != unit_id or version.run_id != run_id or version.kind != "text":
        return None
    return version.value


def ledger_values(found: Probe, values: dict[str, Any], flags: dict[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unit row's values with its cache key; a reused answer sent nothing, so it has no tokens and no cost
    (and nothing was estimated)."""
    if found.key is None:
        return values, flags
    if not found.hit:
        return {**values, "cache_key": found.key}, flags
    return ({**values, "cache_key": found.key, "cache_hit": True, "prompt_tokens": 0, "completion_tokens": 0,
             "images": 0, "cost": 0.0, "model": found.model}, {})
