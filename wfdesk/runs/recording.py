"""Recording a unit's answer: versions, field values and the unit's row, in one transaction."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from wfdesk.db import content
from wfdesk.db.text_record import record_text
from wfdesk.errors import ConflictError
from wfdesk.runs import costs, ledger, result_cache
from wfdesk.runs.run_life import RunContext
from wfdesk.scripts.base import Job, UnitOutcome, UnitPlan
from wfdesk.states import UnitState
from wfdesk.usage import Usage
from wfdesk.workspace import Workspace

log = logging.getLogger("wfdesk.runs.engine")  # one logger for the engine, whichever module of it writes
PERSIST_ATTEMPTS = 3


_HALF_CHARACTER = re.compile("[\ud800-\udfff]")


def _text(value: Any) -> Any:
    """A provider's JSON may spell half a character ("\\ud83d" of a cut emoji), which no database stores as text:
    it becomes U+FFFD, so the paid answer is saved instead of lost to an encoding error."""
    if isinstance(value, str):
        return _HALF_CHARACTER.sub("\ufffd", value) if not value.isascii() else value
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return value


def storable(outcome: UnitOutcome) -> UnitOutcome:
    for write in outcome.outputs:
        write.text = _text(write.text)
    outcome.entry, outcome.metadata = _text(outcome.entry), _text(outcome.metadata)
    return outcome


def persist(rc: RunContext, unit_id: int, plan: UnitPlan, outcome: UnitOutcome, started_at: datetime,
             duration_ms: int, cached: result_cache.Probe = result_cache.NOT_CACHED) -> dict[str, Any]:
    """Versions, field values and the unit's row in one transaction: all of it or none of it.

    Another run or editor may write the same field at the same moment (optimistic locking, or two first writes
    racing on the unique index): a run's output is never a stale overwrite, so it simply tries again on top.
    A database outage is ridden out by the run's gate, the answer kept in memory meanwhile.
    """
    job = rc.job
    for attempt in range(1, PERSIST_ATTEMPTS + 1):
        try:
            entry = rc.gate.call(lambda: _persist_once(rc.ws, job, unit_id, plan, outcome, started_at, duration_ms,
                                                       cached), f"the result of section {plan.section_id}")
            break
        except (ConflictError, IntegrityError):
            if attempt == PERSIST_ATTEMPTS:
                raise
            log.info("run %s section %s: concurrent write, retrying", job.run_id, plan.section_id)
    log.info("run %s section %s: success in %d ms", job.run_id, plan.section_id, duration_ms)
    return entry


def _persist_once(ws: Workspace, job: Job[Any], unit_id: int, plan: UnitPlan, outcome: UnitOutcome,
                  started_at: datetime, duration_ms: int,
                  cached: result_cache.Probe = result_cache.NOT_CACHED) -> dict[str, Any]:
    entry: dict[str, Any] = {"section_id": plan.section_id, "unit_id": unit_id,
                             "status": UnitState.SUCCESS, **outcome.entry, "metadata": dict(outcome.metadata)}
    with ws.db.session() as s:
        version_ids = []
        images = []
        output_version_id = None
        for write in outcome.outputs:
            if write.image is not None:
                img = write.image
                asset = content.get_or_create_asset(
                    s, sha256=img.sha256, path=img.rel_path, mime=img.info.mime, width=img.info.width,
                    height=img.info.height, size_bytes=img.size_bytes)
                v = content.add_image(s, job.post.id, plan.section_id, write.field, asset, accept=write.accept,
                                      run_id=job.run_id, unit_id=unit_id, meta=outcome.metadata)
                images.append({"version_id": v.id, "image_url": img.image_url, "status": v.status})
                version_ids.append(v.id)
            else:
                version_id = record_text(s, job.post.id, plan.section_id, write.field, write.text or "",
                                         run_id=job.run_id, unit_id=unit_id, meta=outcome.metadata)
                if output_version_id is None and write.text == entry.get("output"):
                    output_version_id = version_id
                version_ids.append(version_id)
        if version_ids:
            entry["version_ids"] = version_ids
        if images:
            entry["images"] = images
        usage = Usage(outcome.metadata.get("model"), outcome.prompt_tokens, outcome.completion_tokens,
                      outcome.images)
        values, flags = costs.ledger_values(ws.settings, usage, plan.payload.get("prompt"), outcome.entry.get("output"))
        values, flags = result_cache.ledger_values(cached, values, flags)  # its key; a reused answer costs nothing
        entry["metadata"].update(flags)
        stored = entry
        if output_version_id is not None:
            # The text is stored once, in its version; the unit's result points at it (ledger rebuilds "output").
            stored = {k: v for k, v in entry.items() if k != "output"}
            stored["output_version_id"] = output_version_id
        if not ledger.record_unit(s, unit_id, "success", stored, started_at=started_at, duration_ms=duration_ms,
                                  **values):
            raise AlreadySavedError()  # rolls back this section's versions: its first answer is already in
    return entry


class AlreadySavedError(Exception):
    """Another execution of the run saved this section first."""


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
