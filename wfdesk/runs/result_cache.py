"""The result cache: a section whose request is identical to an earlier successful unit's reuses that answer.

What decides an answer is described by the handler (`SectionHandler.reusable_request`: the provider's address —
never its key —, the model, the parameters that change the answer and the rendered prompt); its sha256, over a
canonical JSON, is the unit's `cache_key`. Handlers that do not describe their request (image steps, custom
scripts, most plugins) are never cached.

The default rule: only a deterministic request is reused — one asked at temperature 0 (or carrying a fixed seed,
which no built-in text step sends yet). An answer sampled at a higher temperature is one of many an editor may want
to see, so it is never handed out again. The editor asks for fresh answers with "Reuse earlier identical answers"
unticked in the step panel (the run context's `fresh_answers`, kept with the run for its resume), or `--no-cache`
in the CLI (`RunOptions.fresh_answers`).

The engine asks once per run, before any section starts (`probe_units`: one query for all sections), and its budget
check counts only the sections that will be sent (`to_send`). A reused answer is written like a new one (a new
version of each output field) but sends nothing and costs nothing: the unit records `cache_hit`, 0 tokens, cost 0,
and where the answer came from in its metadata.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wfdesk.db.models import ContentVersion, RunUnit
from wfdesk.scripts.base import Job, OutputWrite, UnitOutcome, UnitPlan
from wfdesk.states import UnitState

if TYPE_CHECKING:
    from wfdesk.scripts.base import SectionHandler
    from wfdesk.workspace import Workspace

FRESH_ANSWERS = "fresh_answers"  # run context key: true = always ask the provider (the editor wants new answers)
CHUNK = 500  # keys (and versions) per query: under every database's limit of bound parameters
log = logging.getLogger(__name__)


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
    return (isinstance(temperature, int | float) and temperature == 0) or request.get("seed") is not None


def probe_units(ws: Workspace, handler: SectionHandler[Any], job: Job[Any], units: list[tuple[int, UnitPlan]], *,
                fresh: bool) -> dict[int, Probe]:
    """Unit id -> its key and, where the rule allows reuse and there is an earlier answer, that answer. Asked once
    per run, before any section starts (one query for all of them). The cache only saves: when the database cannot
    answer here, every section simply asks the provider."""
    keys: dict[int, str] = {}
    reusable: set[str] = set()
    for unit_id, plan in units:
        try:
            described = handler.reusable_request(job, plan)
        except Exception:  # noqa: BLE001 - a plugin's faulty description costs the cache, never the run
            log.warning("%s: no result cache for this section", handler.script_type, exc_info=True)
            described = None
        if described is None:
            continue
        keys[unit_id] = key = cache_key(handler.script_type, described)
        if not fresh and deterministic(described):
            reusable.add(key)
    try:
        answers = earlier_answers(ws, reusable)
    except SQLAlchemyError as exc:
        log.warning("earlier answers could not be looked up, every section asks the provider: %s", exc)
        answers = {}
    return {unit_id: _reused(job, key, answers[key]) if key in answers else Probe(key)
            for unit_id, key in keys.items()}


def to_send(ws: Workspace, handler: SectionHandler[Any], job: Job[Any], plans: list[UnitPlan], *,
            fresh: bool) -> list[UnitPlan]:
    """The planned sections that will ask the provider: a budget counts only these (a reused answer is free)."""
    probes = probe_units(ws, handler, job, list(enumerate(plans)), fresh=fresh)
    return [plan for i, plan in enumerate(plans) if not probes.get(i, NOT_CACHED).hit]


def _reused(job: Job[Any], key: str, earlier: Earlier) -> Probe:
    metadata = {"model": earlier.model, "reused": True, "reused_from_run": earlier.run_id,
                "reused_from_unit": earlier.unit_id, "prompt_tokens": 0, "completion_tokens": 0}
    outcome = UnitOutcome(outputs=[OutputWrite(field=f, text=earlier.text) for f in job.output_fields()],
                          entry={"output": earlier.text}, metadata=metadata)
    return Probe(key, outcome, earlier.model)


@dataclass(frozen=True)
class Earlier:
    run_id: int
    unit_id: int
    text: str
    model: str | None


def earlier_answers(ws: Workspace, keys: set[str]) -> dict[str, Earlier]:
    """Key -> the newest successful unit's answer. Failed, cancelled and unfinished units are never reused; neither
    is one whose answer's version was deleted with its section."""
    found: dict[str, Earlier] = {}
    ordered = sorted(keys)
    if not ordered:
        return found
    with ws.db.session() as s:
        for i in range(0, len(ordered), CHUNK):
            rows = s.execute(select(RunUnit.cache_key, RunUnit.run_id, RunUnit.id, RunUnit.result, RunUnit.model)
                             .where(RunUnit.cache_key.in_(ordered[i:i + CHUNK]),
                                    RunUnit.status == UnitState.SUCCESS)
                             .order_by(RunUnit.id.desc())).all()
            versions = _versions(s, [r.result.get("output_version_id") for r in rows if isinstance(r.result, dict)])
            for key, run_id, unit_id, result, model in rows:
                if key not in found and (text := _answer(versions, run_id, unit_id, result)) is not None:
                    found[key] = Earlier(run_id, unit_id, text, model)
    return found


def _versions(session: Session, ids: list[Any]) -> dict[int, ContentVersion]:
    wanted = sorted({i for i in ids if isinstance(i, int)})
    out: dict[int, ContentVersion] = {}
    for i in range(0, len(wanted), CHUNK):
        out.update((v.id, v) for v in session.scalars(select(ContentVersion).where(
            ContentVersion.id.in_(wanted[i:i + CHUNK]))))
    return out


def _answer(versions: dict[int, ContentVersion], run_id: int, unit_id: int, result: Any) -> str | None:
    """The unit's answer, from the version that stores it — only if that version is still the one this unit wrote
    (SQLite hands a deleted row's id to the next row, so an id alone may point at another text)."""
    if not isinstance(result, dict):
        return None
    if isinstance(result.get("output"), str):
        return str(result["output"])
    version = versions.get(result.get("output_version_id") or 0)
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
