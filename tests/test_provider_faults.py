"""Provider faults: 5xx, 429 with Retry-After, malformed answers, timeouts, a provider that is down."""

from __future__ import annotations

import threading
import time

import pytest

from wfdesk.db.models import Post, PostSection
from wfdesk.providers.openai_compat import gate_for
from wfdesk.providers.resilience import ProviderGate
from wfdesk.runs import ledger
from wfdesk.scripts.base import CancelToken
from wfdesk.scripts.registry import execute_step_script
from wfdesk.settings import ProviderProfile


@pytest.fixture
def db_url(tmp_path):
    """Provider behaviour does not depend on the database: SQLite only keeps these tests quick."""
    return f"sqlite:///{tmp_path / 'faults.db'}"


@pytest.fixture
def default_policy(demo, loopback):
    """The shipped retry policy (the shared fixture turns retries off to keep other tests short)."""
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url)
    return demo


def _add_sections(ws, n: int) -> list[int]:
    with ws.db.session() as s:
        post = s.get(Post, 53)
        sections = [PostSection(post_id=post.id, position=100 + i, title=f"Extra {i}") for i in range(n)]
        s.add_all(sections)
        s.flush()
        ids = [x.id for x in sections]
    from wfdesk.db import content

    with ws.db.session() as s:
        for i, sid in enumerate(ids):
            content.write_text(s, 53, sid, "draft", f"draft number {i}", source="editor")
    return ids


def test_twenty_sections_survive_500s_and_429s(default_policy, loopback):
    ids = _add_sections(default_policy, 20)

    def flaky(i, req):
        if i % 5 == 0:
            return 429, {"Retry-After": "1"}, b'{"error": {"message": "rate limited"}}'
        if i % 3 == 0:
            return 500, {}, b'{"error": {"message": "internal error"}}'
        return None

    loopback.fail = flaky
    result = execute_step_script(1, 53, {"section_ids": ids})
    assert [r["status"] for r in result["results"]] == ["success"] * 20, result
    chats = loopback.count("/v1/chat/completions")
    assert chats > 20  # failures were retried
    gate = gate_for(default_policy, default_policy.settings.provider(None))
    assert gate.pauses >= 1  # and 429s paused the whole provider


def test_a_provider_that_is_down_fails_fast_with_one_clear_message(default_policy, loopback):
    ids = _add_sections(default_policy, 20)
    dead = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
    default_policy.settings.providers["default"] = ProviderProfile(name="default", base_url=dead)
    started = time.monotonic()
    result = execute_step_script(1, 53, {"section_ids": ids})
    elapsed = time.monotonic() - started
    assert elapsed < 30
    assert [r["status"] for r in result["results"]] == ["error"] * 20
    for r in result["results"]:
        assert r["error"].startswith(f"cannot reach {dead}"), r["error"]
        assert "Traceback" not in r["error"]
    assert ledger.run_detail(default_policy, result["run_id"])["status"] == "failed"


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"choices": []}', b"[]"])
def test_malformed_answers_are_retried_then_reported(default_policy, loopback, body):
    loopback.fail = lambda i, req: (200, {}, body) if i <= 2 else None
    result = execute_step_script(1, 53, {"section_ids": [711]})
    assert result["results"][0]["status"] == "success"
    assert loopback.count("/v1/chat/completions") == 3


def test_malformed_answers_every_time_end_in_a_clear_error(demo, loopback):
    loopback.fail = lambda i, req: (200, {}, b"{not json")
    entry = execute_step_script(1, 53, {"section_ids": [711]})["results"][0]
    assert entry["status"] == "error"
    assert "malformed JSON" in entry["error"]
    assert loopback.base_url in entry["error"]


def test_read_timeout_is_a_clear_section_error(demo, loopback):
    loopback.latency = 3
    entry = execute_step_script(1, 53, {"section_ids": [711], "parameters": {"timeout": 0.5}})["results"][0]
    assert entry["status"] == "error"
    assert "did not answer in time" in entry["error"]


def test_empty_chat_answer_is_an_error(demo, loopback):
    loopback.chat_reply = lambda body: "   "
    entry = execute_step_script(1, 53, {"section_ids": [711]})["results"][0]
    assert entry["status"] == "error"
    assert "empty answer" in entry["error"]


def test_gate_pause_holds_back_every_worker():
    gate = ProviderGate("p", concurrency=4)
    gate.pause_for(0.3)
    resume_at = time.monotonic() + gate.paused_for()
    entered: list[float] = []

    def worker():
        with gate.slot(CancelToken()):
            entered.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(entered) == 3
    assert min(entered) >= resume_at - 0.01


def test_gate_caps_concurrency_across_runs():
    gate = ProviderGate("p", concurrency=2)
    active, peak, lock = [0], [0], threading.Lock()

    def worker():
        with gate.slot(CancelToken()):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            threading.Event().wait(0.02)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 2


def test_cancel_interrupts_a_rate_limit_wait(default_policy, loopback):
    loopback.fail = lambda i, req: (429, {"Retry-After": "30"}, b'{"error": {"message": "slow down"}}')
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()
    started = time.monotonic()
    result = execute_step_script(1, 53, {"section_ids": [711, 712]}, cancel=cancel)
    assert time.monotonic() - started < 10
    assert [r["status"] for r in result["results"]] == ["cancelled", "cancelled"]


def test_a_read_timeout_is_retried_once_not_eight_times(default_policy, loopback):
    loopback.latency = 3
    entry = execute_step_script(1, 53, {"section_ids": [711], "parameters": {"timeout": 0.3}})["results"][0]
    assert entry["status"] == "error"
    assert "did not answer in time" in entry["error"]
    assert loopback.count("/v1/chat/completions") == 2  # each retry re-sends a billed request


def test_local_presets_never_receive_the_openai_key(monkeypatch):
    from wfdesk.settings import PRESET_PROFILES, get_api_key

    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    assert get_api_key(PRESET_PROFILES["ollama"]) is None
    assert get_api_key(PRESET_PROFILES["lmstudio"]) is None
    assert get_api_key(PRESET_PROFILES["openai"]) == "sk-real-openai-key"
