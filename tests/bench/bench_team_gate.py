"""The team's provider budget on PostgreSQL (wfdesk/providers/shared_gate.py): what sharing a cap between machines
costs, and whether machines take turns. Two "machines" are two shared gates with their own connections (PostgreSQL
cannot tell them from two processes); a request is a sleep inside the slot. Side by side with one machine's in-process
gate. Prints ratios; exits 1 when a target is missed; needs PostgreSQL (skipped without it).

    WFDESK_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1/test .venv/bin/python tests/bench/bench_team_gate.py
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid

from sqlalchemy import create_engine, text

from wfdesk.cancel import CancelToken
from wfdesk.db.engine import Database
from wfdesk.db.migrate import upgrade
from wfdesk.providers.resilience import ProviderGate
from wfdesk.providers.shared_gate import SharedProviderGate


class Meter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def drive(gates: list[ProviderGate], threads: int, latency: float, *, total: int = 0, seconds: float = 0.0,
          gap: float = 0.0) -> tuple[float, list[int], int]:
    """threads workers per gate send requests (a sleep of `latency` in a slot) until `total` are done, or for
    `seconds`; returns (wall, done per gate, most in flight at once)."""
    meter, done, left = Meter(), [0] * len(gates), [total]
    stop = time.monotonic() + seconds if seconds else float("inf")

    def worker(i: int) -> None:
        cancel = CancelToken()
        while time.monotonic() < stop:
            with meter.lock:
                if total and left[0] <= 0:
                    return
                left[0] -= 1
            with gates[i].slot(cancel), meter:
                time.sleep(latency)
            done[i] += 1
            time.sleep(gap)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(len(gates)) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started, done, meter.peak


def per_slot_ms(gate: ProviderGate, n: int = 300) -> float:
    cancel = CancelToken()
    started = time.perf_counter()
    for _ in range(n):
        with gate.slot(cancel):
            pass
    return (time.perf_counter() - started) / n * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--cap", type=int, default=4)
    args = ap.parse_args()
    url = os.environ.get("WFDESK_TEST_POSTGRES_URL")
    if not url:
        print("team gate: skipped (set WFDESK_TEST_POSTGRES_URL to a PostgreSQL database)")
        return 0
    schema = f"bench_gate_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    dbs = [Database(f"{url}{sep}options=-csearch_path%3D{schema}") for _ in range(2)]
    try:
        upgrade(dbs[0])
        shared = [SharedProviderGate(db, "bench", "https://provider.example/v1", args.cap) for db in dbs]
        n, cap, lat = args.requests, args.cap, args.latency
        per_slot_ms(shared[0], 20)  # warm up: connections
        local_ms, shared_ms = per_slot_ms(ProviderGate("bench", cap)), per_slot_ms(shared[0])
        local_wall, _, local_peak = drive([ProviderGate("bench", cap)], cap, lat, total=n)
        wall, done, peak = drive(shared, cap, lat, total=n)
        _, turns, _ = drive(shared, cap, lat, seconds=3.0)  # no pause between a machine's requests: the worst case
        for gate in shared:
            gate.close()
    finally:
        for db in dbs:
            db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    ideal = n * lat / cap
    fairness = min(turns) / max(max(turns), 1)
    rows = [
        ("two machines: wall / ideal N x latency / cap", wall / ideal, "<= 1.2", wall / ideal <= 1.2),
        ("two machines / one machine in-process", wall / local_wall, "<= 1.15", wall / local_wall <= 1.15),
        ("most in flight, two machines (cap)", peak, f"== {cap}", peak == cap),
        ("turns: fewer / more requests of the two", fairness, ">= 0.7", fairness >= 0.7),
        ("ms per slot taken and given back, shared", shared_ms, "<= 5", shared_ms <= 5),
    ]
    print(f"team gate: {n} requests of {lat * 1000:.0f} ms, cap {cap}: two machines sharing it {wall:.2f} s "
          f"({done[0]} + {done[1]}), one machine alone {local_wall:.2f} s (peak {local_peak}), ideal {ideal:.2f} s; "
          f"turns in 3 s {turns[0]} / {turns[1]}; per slot {shared_ms:.2f} ms shared, {local_ms:.3f} ms in-process")
    for name, value, target, ok in rows:
        print(f"  {name:<46} {value:8.2f}   target {target:<8} {'ok' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
