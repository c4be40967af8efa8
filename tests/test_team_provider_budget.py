"""One provider budget for the team (issue 17, item 2): on PostgreSQL the concurrency cap and the 429 pauses of a
provider hold across machines. Two "machines" are two `wfdesk run-step` processes with their own data folders and
settings, on one PostgreSQL schema, sending to one loopback provider; each carries its own API key, so the loopback
tells their requests apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT
from sqlalchemy import create_engine, func, select, text

from wfdesk.db import content
from wfdesk.db.models import Post, PostSection, ProviderPause
from wfdesk.providers.openai_compat import gate_for
from wfdesk.providers.resilience import ProviderGate
from wfdesk.providers.shared_gate import APPLICATION_NAME, SharedProviderGate, provider_address, slot_key
from wfdesk.runs import ledger
from wfdesk.scripts.registry import execute_step_script
from wfdesk.settings import ProviderProfile, Settings

from loopback import rate_limited

CAP = 4
WAIT_S = 60  # a safety net for every wait below: a broken gate fails the test instead of hanging it
on_postgres = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


def _add_sections(ws, n: int) -> list[int]:
    with ws.db.session() as s:
        sections = [PostSection(post_id=s.get(Post, 53).id, position=100 + i, title=f"Extra {i}") for i in range(n)]
        s.add_all(sections)
        s.flush()
        ids = [x.id for x in sections]
    with ws.db.session() as s:
        for i, sid in enumerate(ids):
            content.write_text(s, 53, sid, "draft", f"draft number {i}", source="editor")
    return ids


class Machine:
    """A `wfdesk run-step` process with its own settings and data folder (another editor's laptop)."""

    def __init__(self, name: str, demo, loopback, tmp_path: Path, sections: list[int]) -> None:
        self.key = f"key-{name}"
        config = tmp_path / f"config-{name}"
        config.mkdir()
        profile = ProviderProfile(name="default", base_url=loopback.base_url, concurrency=CAP, read_timeout=30)
        settings = Settings(providers={"default": profile}, custom_script_base_url=loopback.root_url)
        (config / "settings.json").write_text(settings.model_dump_json())
        env = {**os.environ, "WFDESK_CONFIG_DIR": str(config), "WFDESK_DATABASE_URL": demo.db.url,
               "WFDESK_DATA_DIR": str(tmp_path / f"data-{name}"), "OPENAI_API_KEY": self.key}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wfdesk", "run-step", "--step", "1", "--post", "53",
             "--sections", ",".join(map(str, sections))],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self) -> dict:
        out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err
        return json.loads(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


def _waiting_for_a_slot(demo, loopback) -> bool:
    """Some machine's gate connection holds no slot and its last question was for one of this schema's slots
    (a machine holding slots asks about the pause next, so this is the one left waiting)."""
    with demo.db.engine.connect() as conn:
        database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
        keys = [str(slot_key(f"{database}\0{schema}", provider_address(loopback.base_url), s)) for s in range(CAP)]
        rows = conn.execute(text(
            "SELECT query FROM pg_stat_activity WHERE application_name = :app AND datname = current_database() "
            "AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"),
            {"app": APPLICATION_NAME}).scalars().all()
    return any(f"pg_try_advisory_lock({key})" in query for query in rows for key in keys)


def _requests_of(loopback, key: str) -> list:
    return [r for r in loopback.requests if loopback.client_of(r) == key and r.path.endswith("/chat/completions")]


@pytest.fixture
def machines(demo, loopback, tmp_path):
    started: list[Machine] = []

    def start(name: str, sections: list[int]) -> Machine:
        started.append(Machine(name, demo, loopback, tmp_path, sections))
        return started[-1]

    yield start
    for machine in started:
        machine.kill()


@on_postgres
def test_two_machines_never_exceed_the_shared_cap_and_both_progress(demo, loopback, machines):
    ids = _add_sections(demo, 32)
    loopback.latency = 0.3
    a, b = machines("a", ids[:16]), machines("b", ids[16:])
    results = [a.result(), b.result()]
    for result in results:
        assert [r["status"] for r in result["results"]] == ["success"] * 16
    assert loopback.max_in_flight == CAP  # never more, and the cap was reached (with a cap each, they sent 8 at once)
    assert len(_requests_of(loopback, a.key)) == len(_requests_of(loopback, b.key)) == 16


@on_postgres
def test_a_429_answered_to_one_machine_pauses_the_other(demo, loopback, machines):
    ids = _add_sections(demo, 16)
    refuse, release = threading.Event(), threading.Event()
    seen_a: list[int] = []
    lock = threading.Lock()

    def hook(i, rec):
        if loopback.client_of(rec) != "key-a":
            return None
        with lock:
            seen_a.append(i)
            nth = len(seen_a)
        if nth == 1:  # machine a's first request: refused with a Retry-After once the test says so
            refuse.wait(WAIT_S)
            return rate_limited(3)
        if nth <= CAP:  # its other three: answered only after the pause is in the database
            release.wait(WAIT_S)
        return None

    loopback.fail = hook
    a = machines("a", ids[:8])
    _until(lambda: loopback.in_flight_by.get("key-a") == CAP, "machine a to hold every slot")
    b = machines("b", ids[8:])
    _until(lambda: _waiting_for_a_slot(demo, loopback), "machine b to ask for a slot")
    refuse.set()
    with demo.db.engine.connect() as conn:
        def pause_left():
            return conn.execute(text("SELECT EXTRACT(EPOCH FROM paused_until - clock_timestamp()) "
                                     "FROM provider_pause")).scalar()

        _until(lambda: pause_left() is not None, "the pause to reach the database")
        asked_at = time.monotonic()
        left = float(pause_left())
        pause_ends = asked_at + left  # no later than the database's own end of the pause
    assert 0 < left <= 3  # the Retry-After the provider asked for
    release.set()
    for result in (a.result(), b.result()):
        assert [r["status"] for r in result["results"]] == ["success"] * 8
    sent_by_b = _requests_of(loopback, "key-b")
    assert len(sent_by_b) == 8
    assert min(r.time for r in sent_by_b) >= pause_ends  # b sent nothing while a's 429 paused the provider
    held_then = 4
    assert all(r.time >= pause_ends for r in _requests_of(loopback, "key-a")[held_then:])


@on_postgres
def test_a_killed_machine_leaks_no_slot(demo, loopback, machines):
    ids = _add_sections(demo, 16)
    loopback.latency = 0.5
    stuck = threading.Event()

    def hook(i, rec):
        if loopback.client_of(rec) == "key-a":
            stuck.wait(WAIT_S)  # a's requests never come back while a lives
        return None

    loopback.fail = hook
    a = machines("a", ids[:8])
    _until(lambda: loopback.in_flight_by.get("key-a") == CAP, "machine a to hold every slot")
    b = machines("b", ids[8:])
    _until(lambda: _waiting_for_a_slot(demo, loopback), "machine b to ask for a slot")
    assert _requests_of(loopback, "key-b") == []  # a holds the team's four slots: b waits
    a.kill()  # SIGKILL mid-run: no chance to give anything back
    result = b.result()
    stuck.set()
    assert [r["status"] for r in result["results"]] == ["success"] * 8
    assert loopback.max_in_flight_by["key-b"] == CAP  # every slot a held came back


@on_postgres
def test_schemas_on_one_server_never_share_a_budget(demo, loopback, db_url):
    from conftest import PG_URL, _pg_schema_url

    from wfdesk.cancel import CancelledError, CancelToken
    from wfdesk.db.engine import Database
    from wfdesk.db.migrate import upgrade

    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text("CREATE SCHEMA t_other_gate_ns"))
    other = Database(_pg_schema_url(PG_URL, "t_other_gate_ns"))
    upgrade(other)
    here = SharedProviderGate(demo.db, "default", provider_address(loopback.base_url), 1)
    there = SharedProviderGate(other, "default", provider_address(loopback.base_url), 1)
    colleague = SharedProviderGate(Database(demo.db.url), "default", provider_address(loopback.base_url), 1)
    cancel = CancelToken()
    timer = threading.Timer(WAIT_S, cancel.cancel)
    timer.start()
    try:
        with here.slot(cancel), there.slot(cancel):  # the other schema's one slot is its own
            blocked = CancelToken()
            threading.Timer(0.5, blocked.cancel).start()
            with pytest.raises(CancelledError), colleague.slot(blocked):
                pass  # the same schema's only slot is taken: this never gets in
        with colleague.slot(cancel):  # given back: now it does
            pass
    finally:
        timer.cancel()
        for gate in (here, there, colleague):
            gate.close()
        other.dispose()
        with admin.begin() as conn:
            conn.execute(text("DROP SCHEMA t_other_gate_ns CASCADE"))
        admin.dispose()


def test_a_provider_on_this_machine_is_this_machines_own():
    import socket

    assert provider_address("http://localhost:11434/v1/").startswith(socket.gethostname() + ":")
    assert provider_address("http://127.0.0.1:11434/v1") != provider_address("http://10.0.0.5:11434/v1")
    assert provider_address(None) == provider_address("https://API.openai.com:443/v1/")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_gates_stay_in_this_process(demo, loopback):
    demo.settings.providers["default"] = ProviderProfile(name="default", base_url=loopback.base_url, concurrency=2)
    ids = _add_sections(demo, 6)
    loopback.latency = 0.2
    loopback.fail = lambda i, rec: rate_limited(0.2) if i == 1 else None
    result = execute_step_script(1, 53, {"section_ids": ids})
    assert [r["status"] for r in result["results"]] == ["success"] * 6
    gate = gate_for(demo, demo.settings.provider(None))
    assert type(gate) is ProviderGate
    assert gate.pauses == 1
    assert loopback.max_in_flight == 2
    with demo.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ProviderPause)) == 0  # the pause stayed in memory
    assert ledger.run_detail(demo, result["run_id"])["status"] == "succeeded"


def _holds_the_only_slot(holder_slot, colleague) -> bool:
    """While holder_slot is entered, the colleague (cap 1 on the same schema) cannot get in."""
    from wfdesk.cancel import CancelledError, CancelToken

    blocked = CancelToken()
    threading.Timer(0.5, blocked.cancel).start()
    with holder_slot:
        try:
            with colleague.slot(blocked):
                return False
        except CancelledError:
            return True


@on_postgres
def test_a_database_restart_falls_back_to_this_machines_cap_and_back(demo, loopback, monkeypatch):
    from sqlalchemy.engine import make_url
    from tcp_proxy import TcpProxy

    from wfdesk.cancel import CancelToken
    from wfdesk.db.engine import Database
    from wfdesk.providers import shared_gate

    monkeypatch.setattr(shared_gate, "AWAY_RETRY_S", 0.0)  # ask the database again at once once it is back
    parsed = make_url(demo.db.url)
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432)).start()
    via_proxy = Database(parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    address = provider_address(loopback.base_url)
    gate = SharedProviderGate(via_proxy, "default", address, 1)
    colleague = SharedProviderGate(Database(demo.db.url), "default", address, 1)
    cancel = CancelToken()
    safety = threading.Timer(WAIT_S, cancel.cancel)
    safety.start()
    try:
        assert _holds_the_only_slot(gate.slot(cancel), colleague)
        with gate.slot(cancel):
            proxy.cut()  # the server restarts while a request is in flight: its slot goes with the connection
            with colleague.slot(cancel):
                pass
        with gate.slot(cancel):  # the database away: this machine's own cap, no error
            pass
        proxy.restore()
        assert _holds_the_only_slot(gate.slot(cancel), colleague)  # back on the team's budget
        proxy.cut()
        gate.pause_for(30)  # away again: a 429 still pauses this machine
        assert gate.paused_for() > 0
    finally:
        safety.cancel()
        for g in (gate, colleague):
            g.close()
        proxy.cut()


@on_postgres
def test_machines_get_their_turns_in_the_order_they_asked(demo, loopback):
    """Three machines, one slot: the one that asked first gets it next, however long the second waits in line
    (longer than one lock_timeout piece, so its queueing is cut and taken up again)."""
    from wfdesk.cancel import CancelToken
    from wfdesk.db.engine import Database
    from wfdesk.providers.shared_gate import QUEUE_WAIT_S, TURNSTILE

    address = provider_address(loopback.base_url)
    holder, first, second = (SharedProviderGate(Database(demo.db.url), "default", address, 1) for _ in range(3))
    cancel = CancelToken()
    safety = threading.Timer(WAIT_S, cancel.cancel)
    safety.start()
    order: list[str] = []
    leave = threading.Event()

    def take(gate, name):
        with gate.slot(cancel):
            order.append(name)
            leave.wait(WAIT_S)

    with demo.db.engine.connect() as conn:
        database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    unsigned = slot_key(f"{database}\0{schema}", address, TURNSTILE) % (1 << 64)

    def turnstile(granted: bool) -> int:
        """How many hold the turnstile (granted), or wait in line for it."""
        with demo.db.engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = :granted "
                "AND classid::bigint = :hi AND objid::bigint = :lo"),
                {"granted": granted, "hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).scalar()

    threads = []
    try:
        with holder.slot(cancel):
            threads.append(threading.Thread(target=take, args=(first, "first"), daemon=True))
            threads[-1].start()
            _until(lambda: turnstile(granted=True) == 1, "the first machine to take its turn")
            threads.append(threading.Thread(target=take, args=(second, "second"), daemon=True))
            threads[-1].start()
            _until(lambda: turnstile(granted=False) == 1, "the second machine to wait in line")
            time.sleep(QUEUE_WAIT_S * 2.5)  # not an assertion: lets the second one's wait be cut and resumed
        _until(lambda: order == ["first"], "the first machine to get the slot")
        leave.set()
        for t in threads:
            t.join(WAIT_S)
        assert order == ["first", "second"]
    finally:
        leave.set()
        safety.cancel()
        for gate in (holder, first, second):
            gate.close()
