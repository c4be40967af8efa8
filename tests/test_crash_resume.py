"""kill -9 in the middle of a run: nothing finished is lost, nothing is sent twice, the rest resumes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

from conftest import ROOT
from PIL import Image
from sqlalchemy import select

from wfdesk.db import content
from wfdesk.db.models import ContentVersion, Post, PostSection, RunUnit
from wfdesk.runs import ledger


def _sections(ws, n: int) -> list[int]:
    with ws.db.session() as s:
        post = s.get(Post, 53)
        rows = [PostSection(post_id=post.id, position=10 + i, title=f"Part {i}") for i in range(n)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    with ws.db.session() as s:
        for sid in ids:
            content.write_text(s, 53, sid, "draft", f"draft of section {sid}", source="editor")
            content.write_text(s, 53, sid, "image_prompts", f"picture of section {sid}", source="editor")
    return ids


def _cli_env(ws, loopback) -> dict:
    return {**os.environ, "WFDESK_DATABASE_URL": ws.db.url, "WFDESK_DATA_DIR": str(ws.data_dir),
            "OPENAI_BASE_URL": loopback.base_url, "WFDESK_CUSTOM_SCRIPT_BASE_URL": loopback.root_url}


def _succeeded(ws) -> set[int]:
    with ws.db.session() as s:
        return set(s.scalars(select(RunUnit.section_id).where(RunUnit.status == "success")))


def _requests_per_section(loopback, key: str) -> Counter:
    counts: Counter = Counter()
    for r in loopback.requests:
        match = re.search(rf"{key} of section (\d+)", json.dumps(r.json or {}))
        if match:
            counts[int(match.group(1))] += 1
    return counts


def _kill_mid_run(ws, loopback, step: int, ids: list[int], finished_before_kill: int) -> int:
    loopback.latency = 0.4
    proc = subprocess.Popen(
        [sys.executable, "-m", "wfdesk", "run-step", "--step", str(step), "--post", "53",
         "--sections", ",".join(map(str, ids)), "--llm-settings", '{"concurrency": 2}'],
        env=_cli_env(ws, loopback), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(_succeeded(ws)) < finished_before_kill:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    loopback.latency = 0
    return proc.pid


def _cli(ws, loopback, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wfdesk", *args], env=_cli_env(ws, loopback), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_kill_9_then_resume_llm_run(demo, loopback):
    ids = _sections(demo, 8)
    _kill_mid_run(demo, loopback, 1, ids, finished_before_kill=2)
    done_before = _succeeded(demo)
    sent_before = _requests_per_section(loopback, "draft")
    assert 2 <= len(done_before) < 8

    runs = json.loads(_cli(demo, loopback, "runs", "list", "--json").stdout)
    assert runs[0]["status"] == "interrupted"
    run_id = runs[0]["id"]
    with demo.db.session() as s:  # every finished section's output is there, once
        for sid in done_before:
            versions = content.versions_of(s, 53, sid, "polished")
            assert len(versions) == 1
            assert content.get_field(s, 53, sid, "polished").value == versions[0].value

    proc = _cli(demo, loopback, "runs", "resume", str(run_id))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["run_id"] == run_id
    assert result["success"] is True
    assert [r["status"] for r in result["results"]] == ["success"] * 8

    sent_after = _requests_per_section(loopback, "draft")
    for sid in done_before:
        assert sent_after[sid] == sent_before[sid] == 1, f"section {sid} was sent again"
    for sid in set(ids) - done_before:
        assert sent_after[sid] >= 1
    assert ledger.run_detail(demo, run_id)["status"] == "succeeded"
    with demo.db.session() as s:
        assert all(len(content.versions_of(s, 53, sid, "polished")) == 1 for sid in ids)


def test_kill_9_during_image_run_leaves_no_broken_file_referenced(demo, loopback):
    ids = _sections(demo, 6)
    _kill_mid_run(demo, loopback, 2, ids, finished_before_kill=2)
    with demo.db.session() as s:
        for version in s.scalars(select(ContentVersion).where(ContentVersion.kind == "image")):
            with Image.open(demo.data_dir / version.value) as img:
                img.load()  # every referenced image decodes completely
    run_id = json.loads(_cli(demo, loopback, "runs", "list", "--json").stdout)[0]["id"]
    result = json.loads(_cli(demo, loopback, "runs", "resume", str(run_id)).stdout)
    assert [r["status"] for r in result["results"]] == ["success"] * 6
    with demo.db.session() as s:
        per_section = Counter(v.section_id for v in s.scalars(
            select(ContentVersion).where(ContentVersion.kind == "image")))
    assert per_section == Counter({sid: 1 for sid in ids})


def test_only_one_process_can_claim_a_run_for_resuming(demo, loopback):
    import pytest

    from wfdesk.scripts.registry import execute_step_script

    loopback.fail = lambda i, req: (400, {}, b'{"error": {"message": "no"}}')
    run_id = execute_step_script(1, 53, {"section_ids": [711]})["run_id"]
    ledger.reopen_run(demo, run_id)  # the first claim wins
    with pytest.raises(ledger.RunBusyError):
        ledger.reopen_run(demo, run_id)  # a second editor's Resume at the same moment is refused


def test_kill_9_cycles_with_racing_resumes_never_write_a_section_twice(demo, loopback):
    """Killed again and again while two resumes race and other commands mark runs interrupted: every section ends
    written exactly once; a section is sent again only if its answer was in flight at a kill (at-least-once)."""
    import threading

    ids = _sections(demo, 12)
    _kill_mid_run(demo, loopback, 1, ids, finished_before_kill=2)
    kills, busy = 1, 0
    run_id = json.loads(_cli(demo, loopback, "runs", "list", "--json").stdout)[0]["id"]
    stop = threading.Event()

    def other_commands():  # every CLI command marks interrupted runs
        while not stop.is_set():
            _cli(demo, loopback, "runs", "list")

    marker = threading.Thread(target=other_commands, daemon=True)
    marker.start()
    try:
        for _ in range(3):
            before = len(_succeeded(demo))
            if before == len(ids):
                break
            loopback.latency = 0.4
            resumes = [subprocess.Popen([sys.executable, "-m", "wfdesk", "runs", "resume", str(run_id)],
                                        env=_cli_env(demo, loopback), cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True) for _ in range(2)]
            deadline = time.monotonic() + 60
            while len(_succeeded(demo)) < min(len(ids), before + 2) and any(p.poll() is None for p in resumes):
                assert time.monotonic() < deadline, "the resume made no progress"
                time.sleep(0.05)
            for p in resumes:
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
                    kills += 1
                _, err = p.communicate(timeout=30)
                busy += "being resumed elsewhere" in err or "still running" in err
    finally:
        stop.set()
        marker.join(120)
    loopback.latency = 0
    ledger.mark_interrupted(demo)
    final = _cli(demo, loopback, "runs", "resume", str(run_id))
    assert final.returncode == 0, final.stderr
    assert ledger.run_detail(demo, run_id)["status"] == "succeeded"
    with demo.db.session() as s:
        assert [len(content.versions_of(s, 53, sid, "polished")) for sid in ids] == [1] * len(ids)
    sent = _requests_per_section(loopback, "draft")
    again = sum(n - 1 for n in sent.values())
    assert set(sent) == set(ids)
    assert again <= 2 * kills  # at most the (2) sections in flight at each kill
    print(f"{kills} kills, {busy} resumes refused as busy, {again} section(s) sent again, 0 written twice")


def _settled_count(loopback, path: str) -> int:
    """What the server has received once requests already on their way (sent just before a freeze, still in the
    kernel's buffers) have arrived: the count no longer changes for half a second."""
    count, since = loopback.count(path), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
        now = loopback.count(path)
        if now != count:
            count, since = now, time.monotonic()
    return count


def test_sigstop_past_the_heartbeat_then_sigcont_sends_nothing_the_new_owner_sent(demo, loopback):
    """A run process frozen (SIGSTOP, a suspended laptop) until its heartbeat is stale: another process marks the run
    interrupted and resumes it to the end. Woken up (SIGCONT), the frozen one sends no further section and writes
    nothing twice; only the answers it had in flight at the freeze may have been sent twice (at-least-once)."""
    from datetime import timedelta

    from sqlalchemy import update

    from wfdesk.db.models import Run, utcnow

    ids = _sections(demo, 8)
    loopback.latency = 0.4
    frozen = subprocess.Popen(
        [sys.executable, "-m", "wfdesk", "run-step", "--step", "1", "--post", "53",
         "--sections", ",".join(map(str, ids)), "--llm-settings", '{"concurrency": 2}'],
        env=_cli_env(demo, loopback), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(_succeeded(demo)) < 2:
            assert frozen.poll() is None, frozen.stderr.read()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        os.kill(frozen.pid, signal.SIGSTOP)
        sent_at_freeze = _settled_count(loopback, "/v1/chat/completions")
        run_id = json.loads(_cli(demo, loopback, "runs", "list", "--json").stdout)[0]["id"]
        with demo.db.session() as s:  # minutes pass without a heartbeat
            s.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow() - timedelta(minutes=10)))
        loopback.latency = 0
        resumed = _cli(demo, loopback, "runs", "resume", str(run_id))
        assert resumed.returncode == 0, resumed.stderr
        sent_by_resume = loopback.count("/v1/chat/completions") - sent_at_freeze
        os.kill(frozen.pid, signal.SIGCONT)
        frozen.wait(60)
    finally:
        if frozen.poll() is None:
            os.kill(frozen.pid, signal.SIGCONT)
            frozen.kill()
            frozen.wait(10)
    assert ledger.run_detail(demo, run_id)["status"] == "succeeded"
    # After the wake-up no new section starts; only the (2) requests already on their way at the freeze may go out.
    assert loopback.count("/v1/chat/completions") <= sent_at_freeze + sent_by_resume + 2
    with demo.db.session() as s:
        assert [len(content.versions_of(s, 53, sid, "polished")) for sid in ids] == [1] * len(ids)
    sent = _requests_per_section(loopback, "draft")
    assert set(sent) == set(ids)
    assert sum(n - 1 for n in sent.values()) <= 2  # the two in flight at the freeze
