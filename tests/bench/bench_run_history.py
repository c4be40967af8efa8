"""The runs view's history with 10,000 runs (30,000 sections): how long a page takes, first and deep (keyset), with
filters, and the runs in progress and one run's detail. Prints milliseconds (median of 20); SQLite, and PostgreSQL
when WFDESK_TEST_POSTGRES_URL is set.

    .venv/bin/python tests/bench/bench_run_history.py [--runs 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run_history_support import seed_runs  # noqa: E402

from wfdesk.services import run_history  # noqa: E402
from wfdesk.services.run_history import RunFilter  # noqa: E402
from wfdesk.states import RunState  # noqa: E402
from wfdesk.workspace import open_workspace  # noqa: E402


def median_ms(fn, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def measure(url: str, tmp: Path, n: int) -> None:
    ws = open_workspace(database_url=url, data_dir=tmp / "data")
    t0 = time.perf_counter()
    ids = seed_runs(ws, n)
    print(f"  seeded {n:,} runs in {time.perf_counter() - t0:.1f} s")
    deep = ids["oldest"] + 200  # near the end of the history: a keyset page costs what the first costs
    cases = {
        "first page (50 runs)": lambda: run_history.list_runs(ws),
        "a page 9,800 runs deep": lambda: run_history.list_runs(ws, before_id=deep),
        "filtered: status failed": lambda: run_history.list_runs(ws, RunFilter(status=RunState.FAILED)),
        "filtered: post title words": lambda: run_history.list_runs(ws, RunFilter(post="number 7")),
        "filtered: step + only mine": lambda: run_history.list_runs(ws, RunFilter(step_id=ids["steps"],
                                                                                  mine_only=True)),
        "runs in progress": lambda: run_history.runs_in_progress(ws),
        "one run's detail": lambda: run_history.run_detail(ws, ids["newest"]),
    }
    for name, fn in cases.items():
        print(f"  {name:<30} {median_ms(fn):7.2f} ms")
    ws.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite")
        measure(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), args.runs)
        pg = os.environ.get("WFDESK_TEST_POSTGRES_URL")
        if pg:
            from sqlalchemy import create_engine, text

            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(pg)
            with admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            try:
                print("PostgreSQL")
                sep = "&" if "?" in pg else "?"
                measure(f"{pg}{sep}options=-csearch_path%3D{schema}", Path(tmp), args.runs)
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
