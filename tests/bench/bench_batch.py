"""Batch throughput: N sections against a loopback provider with fixed latency, side by side with the
reference's synchronous way (one section after another). Prints ratios; exits 1 when a target is missed.

    .venv/bin/python tests/bench/bench_batch.py [--sections 200] [--latency 0.2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import ProviderProcess, workspace_with_sections  # noqa: E402

CLIENT_CPU = [0.0]
_lock = threading.Lock()


def attribute_client_cpu() -> None:
    """Count the CPU spent inside the provider call (the openai SDK and httpx) on each worker thread, so the
    engine's own share can be told apart from the HTTP client library's."""
    from wfdesk.providers import openai_compat

    original = openai_compat.call

    def timed(*args, **kwargs):
        t0 = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            with _lock:
                CLIENT_CPU[0] += time.thread_time() - t0

    openai_compat.call = timed
    import wfdesk.scripts.llm_actions as llm

    llm.provider_call = timed


def timed_run(step: int, ids: list[int], concurrency: int) -> tuple[float, float, float, dict]:
    from wfdesk.scripts.registry import execute_step_script

    CLIENT_CPU[0] = 0.0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = execute_step_script(step, 53, {"section_ids": ids, "parameters": {"concurrency": concurrency}})
    return time.perf_counter() - wall0, time.process_time() - cpu0, CLIENT_CPU[0], result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    provider = ProviderProcess(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ws, ids = workspace_with_sections(Path(tmp), args.sections, provider.base_url, args.concurrency)
            attribute_client_cpu()
            timed_run(1, ids[:4], args.concurrency)  # warm up: imports, connections
            wall, cpu, client_cpu, result = timed_run(1, ids, args.concurrency)
            assert result["success"], result
            seq_wall, _, _, seq = timed_run(1, ids, 1)
            assert seq["success"]
            ws.close()
    finally:
        provider.close()
    n, c, lat = args.sections, args.concurrency, args.latency
    ideal = math.ceil(n / c) * lat
    rows = [
        ("wall / ideal ceil(N/C) x latency", wall / ideal, "<= 1.25", wall / ideal <= 1.25),
        ("sequential / concurrent", seq_wall / wall, ">= 6", seq_wall / wall >= 6),
        ("engine's own CPU per section (ms)", own := (cpu - client_cpu) / n * 1000, "<= 5", own <= 5),
    ]
    print(f"batch: {n} sections, latency {lat * 1000:.0f} ms, concurrency {c}: concurrent {wall:.2f} s, "
          f"ideal {ideal:.2f} s, sequential {seq_wall:.2f} s")
    print(f"  CPU per section: {cpu / n * 1000:.2f} ms in all, of which {client_cpu / n * 1000:.2f} ms inside the "
          f"openai SDK and httpx (the HTTP client), {(cpu - client_cpu) / n * 1000:.2f} ms the engine's own")
    # This machine's speed swings by up to 1.8x from one hour to the next (the HTTP client's CPU for the same
    # requests, 2.6-4.7 ms a section); the engine's share beside the client's, measured in the same run, does not.
    print(f"  engine's own CPU / the HTTP client's: {(cpu - client_cpu) / client_cpu:.2f} "
          "(no target: for comparing runs)")
    for name, value, target, ok in rows:
        print(f"  {name:<36} {value:8.2f}   target {target:<8} {'ok' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
