"""Result cache: a second identical run of N sections (temperature 0) against a loopback provider with a fixed
latency. Prints both runs' wall time, their ratio and the requests the provider saw; exits 1 when a target is missed
(second run <= 10% of the first one's time, 0 requests).

    .venv/bin/python tests/bench/bench_result_cache.py [--sections 200] [--latency 1.0] [--concurrency 8]

The latency stands for a model's answer time (a polished section takes a cloud model one to several seconds).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import ROOT, workspace_with_sections  # noqa: E402

COUNTING_SERVER = """
import sys
sys.path.insert(0, {tests!r})
from loopback import LoopbackServer
s = LoopbackServer().start()
s.latency = {latency}
print(s.root_url, flush=True)
for line in sys.stdin:
    print(s.count("/v1/chat/completions"), flush=True)
"""


class CountingProvider:
    """The loopback provider in its own process (its CPU time is not the engine's), asked for its request count."""

    def __init__(self, latency: float) -> None:
        code = COUNTING_SERVER.format(tests=str(ROOT / "tests"), latency=latency)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip() + "/v1"

    def requests(self) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def timed_run(ids: list[int], concurrency: int) -> tuple[float, dict]:
    from wfdesk.scripts.registry import execute_step_script

    t0 = time.perf_counter()
    result = execute_step_script(1, 53, {"section_ids": ids, "parameters": {"concurrency": concurrency},
                                         "llm_settings": {"temperature": 0}})
    return time.perf_counter() - t0, result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", type=int, default=200)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    provider = CountingProvider(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws, ids = workspace_with_sections(Path(tmp), args.sections + 1, provider.base_url, args.concurrency)
            timed_run(ids[-1:], args.concurrency)  # warm up (imports, connections) on a section not measured
            ids = ids[:-1]
            before = provider.requests()
            first, result = timed_run(ids, args.concurrency)
            assert result["success"], result
            first_requests = provider.requests() - before
            second, again = timed_run(ids, args.concurrency)
            assert again["success"], again
            second_requests = provider.requests() - before - first_requests
            hits = sum(bool(r["metadata"].get("reused")) for r in again["results"])
            ws.close()
    finally:
        provider.close()
    ratio = second / first
    rows = [("second / first run time", ratio, "<= 0.10", ratio <= 0.10),
            ("requests in the second run", second_requests, "0", second_requests == 0)]
    print(f"result cache: {args.sections} sections, latency {args.latency * 1000:.0f} ms, concurrency "
          f"{args.concurrency}: first run {first:.2f} s ({first_requests} requests), second run {second:.2f} s "
          f"({second_requests} requests, {hits} answers reused), {second / args.sections * 1000:.1f} ms a section")
    for name, value, target, ok in rows:
        print(f"  {name:<28} {value:8.3f}   target {target:<8} {'ok' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
