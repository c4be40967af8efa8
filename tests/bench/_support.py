"""Shared pieces of the benchmarks: a loopback provider in its own process and a workspace with many sections."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

SERVER = """
import sys, time
sys.path.insert(0, {tests!r})
from loopback import LoopbackServer
s = LoopbackServer().start()
s.latency = {latency}
s.stream_delay = {stream_delay}
print(s.root_url, flush=True)
sys.stdin.read()
"""


class ProviderProcess:
    """The loopback provider in a separate process, so its CPU time is not counted as the engine's."""

    def __init__(self, latency: float, stream_delay: float = 0.0) -> None:
        code = SERVER.format(tests=str(ROOT / "tests"), latency=latency, stream_delay=stream_delay)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.root_url = self.proc.stdout.readline().strip()
        self.base_url = self.root_url + "/v1"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(10)


def workspace_with_sections(tmp: Path, n: int, base_url: str, concurrency: int = 8):
    from wfdesk.db import content
    from wfdesk.db.models import PostSection
    from wfdesk.services.transfer import import_bundle
    from wfdesk.settings import ProviderProfile, Settings
    from wfdesk.workspace import open_workspace, set_current

    profile = ProviderProfile(name="default", base_url=base_url, concurrency=concurrency, max_retries=0)
    ws = open_workspace(database_url=f"sqlite:///{tmp / 'bench.db'}", data_dir=tmp / "data",
                        settings=Settings(providers={"default": profile}))
    set_current(ws)
    with ws.db.session() as s:
        import_bundle(s, json.loads((ROOT / "wfdesk" / "resources" / "reference-steps.json").read_text()))
    with ws.db.session() as s:
        rows = [PostSection(post_id=53, position=100 + i, title=f"Section {i}") for i in range(n)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
        for i, sid in enumerate(ids):
            content.write_text(s, 53, sid, "draft", f"draft {i} " + "words " * 40, source="import")
            content.write_text(s, 53, sid, "image_prompts", f"picture {i}", source="import")
    return ws, ids
