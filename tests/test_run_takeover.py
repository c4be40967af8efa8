"""Second pass on run ownership: clocks that disagree between hosts, and an owner that wakes up after a takeover."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import update

from wfdesk.db import content
from wfdesk.db.models import Run, utcnow
from wfdesk.runs import ledger, units
from wfdesk.runs.engine import RunOptions, execute_step
from wfdesk.scripts.registry import execute_step_script

SECTIONS = [711, 712, 713]
OTHER_HOST_OWNER = "another-host.example:4242:1764662400:0badcafe"  # pid checks cannot apply: only the heartbeat


def _running_run_elsewhere(ws, loopback) -> int:
    run_id = execute_step_script(1, 53, {"section_ids": [711]})["run_id"]
    loopback.reset()
    with ws.db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(status="running", owner=OTHER_HOST_OWNER,
                                                             finished_at=None))
    return run_id


def _skewed(monkeypatch, by: timedelta) -> None:
    """This host's clock is `by` off (an NTP-less laptop): everything the app reads from it is."""
    monkeypatch.setattr(ledger, "utcnow", lambda: utcnow() + by)


def test_a_heartbeat_from_a_host_whose_clock_is_behind_is_still_fresh(demo, loopback, monkeypatch):
    run_id = _running_run_elsewhere(demo, loopback)
    with monkeypatch.context() as m:  # the owner's host runs 5 minutes slow and has just written its heartbeat
        _skewed(m, -timedelta(minutes=5))
        assert ledger.heartbeat(demo, run_id, OTHER_HOST_OWNER)
    assert ledger.mark_interrupted(demo) == []  # checked from a host with the right time
    assert ledger.run_detail(demo, run_id)["status"] == "running"


def test_a_checker_whose_clock_is_ahead_does_not_take_a_live_run(demo, loopback, monkeypatch):
    run_id = _running_run_elsewhere(demo, loopback)
    assert ledger.heartbeat(demo, run_id, OTHER_HOST_OWNER)
    _skewed(monkeypatch, timedelta(minutes=5))
    assert ledger.mark_interrupted(demo) == []
    assert ledger.run_detail(demo, run_id)["status"] == "running"


def test_a_really_stale_heartbeat_is_still_noticed(demo, loopback):
    run_id = _running_run_elsewhere(demo, loopback)
    with demo.db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow() - timedelta(minutes=3)))
    assert ledger.mark_interrupted(demo) == [run_id]


def test_an_owner_that_wakes_up_after_a_takeover_starts_no_further_section(demo, loopback, monkeypatch):
    """SIGSTOP for longer than the heartbeat allows, then SIGCONT: the frozen process finishes (and may save) the
    answer it was waiting for, but it must not send the sections the new owner is now responsible for."""
    monkeypatch.setattr(units, "_concurrency", lambda *a: 1)  # one section at a time: the order is known
    loopback.latency = 1.0
    run_ids: list[int] = []
    results: list[dict] = []
    first = threading.Thread(target=lambda: results.append(execute_step(
        demo, 1, 53, {"section_ids": SECTIONS}, RunOptions(on_run_id=run_ids.append))), daemon=True)
    first.start()
    deadline = time.monotonic() + 30
    while loopback.count("/v1/chat/completions") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with demo.db.session() as s:  # no sign of life for minutes, as far as anyone else can tell
        s.execute(update(Run).where(Run.id == run_ids[0]).values(heartbeat_at=utcnow() - timedelta(minutes=10)))
    assert ledger.mark_interrupted(demo) == run_ids
    ledger.reopen_run(demo, run_ids[0])  # another process claims it (and will resume it)
    first.join(60)
    assert not first.is_alive()
    assert loopback.count("/v1/chat/completions") == 1  # the frozen owner sent nothing after it woke up
    assert results[0]["status"] == "running"  # the claim stands: the frozen owner did not end the run
    with demo.db.session() as s:  # its answer in flight was kept: the new owner need not pay for it again
        assert len(content.versions_of(s, 53, SECTIONS[0], "polished")) == 1


def _fail_run_updates(ws, times: int, pattern: str):
    """The database drops the connection on the next `times` statements matching `pattern` (a restart)."""
    import re

    from sqlalchemy import event

    left = [times]
    dbapi = ws.db.engine.dialect.loaded_dbapi

    def hook(conn, cursor, statement, parameters, context, executemany):
        if left[0] > 0 and re.search(pattern, statement, re.IGNORECASE | re.DOTALL):
            left[0] -= 1
            raise dbapi.OperationalError("server closed the connection unexpectedly")

    event.listen(ws.db.engine, "before_cursor_execute", hook)

    def remove() -> None:
        event.remove(ws.db.engine, "before_cursor_execute", hook)
        assert left[0] == 0, "the statement the outage was meant for never ran"
    return remove


def test_an_outage_during_the_finish_write_is_ridden_out(demo, loopback):
    remove = _fail_run_updates(demo, 2, r"^\s*UPDATE workflow_run SET status=.*finished_at")
    try:
        result = execute_step_script(1, 53, {"section_ids": SECTIONS})
    finally:
        remove()
    assert result["status"] == "succeeded"
    assert result["success"] is True
    assert ledger.run_detail(demo, result["run_id"])["status"] == "succeeded"


def test_an_outage_during_the_claim_leaves_the_run_resumable(demo, loopback):
    import pytest
    from sqlalchemy.exc import OperationalError

    from wfdesk.runs.engine import resume_run

    loopback.fail = lambda i, req: (400, {}, b'{"error": {"message": "no"}}')
    run_id = execute_step_script(1, 53, {"section_ids": SECTIONS})["run_id"]
    loopback.reset()
    remove = _fail_run_updates(demo, 1, r"^\s*UPDATE workflow_run SET status=.*owner=")
    try:
        with pytest.raises(OperationalError):
            resume_run(demo, run_id)
    finally:
        remove()
    assert loopback.count("/v1/chat/completions") == 0
    assert ledger.run_detail(demo, run_id)["status"] == "failed"
    assert resume_run(demo, run_id)["status"] == "succeeded"


def test_a_model_name_longer_than_the_ledger_column_never_loses_the_answer(demo, loopback):
    """The model a provider names in its answer is stored with the section; an unusually long one (a path-like id
    of a local server) must not make PostgreSQL refuse the whole section after the answer was paid for."""
    model = "local-models/" + "x" * 250
    result = execute_step_script(1, 53, {"section_ids": [711], "parameters": {"model": model}})
    assert loopback.count("/v1/chat/completions") == 1
    assert result["status"] == "succeeded", result
    unit = ledger.run_detail(demo, result["run_id"])["units"][0]
    assert unit["status"] == "success"
    assert model.startswith(unit["model"])


def test_an_answer_holding_a_lone_surrogate_is_saved_not_lost(demo, loopback):
    """A provider's JSON may spell half a character ("\\ud83d" of a cut emoji); no database stores it as text. The
    paid answer is saved with the broken character replaced, never lost to an encoding error."""
    from wfdesk.db import content

    loopback.chat_reply = lambda req: "Grinning \ud83d face"
    result = execute_step_script(1, 53, {"section_ids": [711]})
    assert result["status"] == "succeeded", result
    with demo.db.session() as s:
        assert content.get_field(s, 53, 711, "polished").value == "Grinning \ufffd face"


def test_run_settings_holding_a_nul_are_refused_in_words_before_anything_is_sent(demo, loopback):
    """`run-step --llm-settings '{"note": "a\\u0000b"}'`: PostgreSQL refused the run's row ("unsupported Unicode escape
    sequence"); now it is refused like any invalid setting, naming it."""
    import pytest

    from wfdesk.errors import ConfigError

    with pytest.raises(ConfigError, match=r"parameters\.note") as info:
        execute_step_script(1, 53, {"section_ids": [711], "parameters": {"note": "a\x00b"}})
    assert "cannot be stored" in str(info.value)
    assert loopback.count() == 0
    assert ledger.list_runs(demo) == []
